@testable import DeliveryCore
import Foundation
import HooktopTesting
import Testing

/// `hooktop redeliver --status ... --dry-run`, the API's `POST /v1/deliveries/redeliver`, `--rate-limit`, and the
/// overdue gauge, as an operator meets them.
@Suite(.serialized)
struct ReplayCommandTests {
    @Test(.timeLimit(.minutes(2)))
    func replayByFilterFromTheCommandLineAndTheAPI() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let database = try TemporaryDatabase()
        let store = database.store
        let endpoint = try store.addEndpoint(url: "http://127.0.0.1:9/closed", allowPrivateDestination: true, by: testActor)
        for n in 0..<3 { _ = try store.publish(eventType: n == 2 ? "user.created" : "invoice.paid", payload: "{}") }
        var random = SeededGenerator(seed: 2)
        let jobs = try store.claimDue([ClaimRequest(endpoint: endpoint, limit: 10)], owner: "w:test", now: Date(), lease: 60)
        _ = try store.record(
            jobs.map { fakeOutcomeForCLI($0) }, owner: "w:test", policy: RetryPolicy(delays: [], jitter: 0),
            autoDisableAfter: nil, now: Date(), random: &random)
        func hooktop(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await runProcess(executable, arguments + ["--db", database.path])
        }
        var (status, output) = try await hooktop(
            ["redeliver", "--status", "dead", "--event-type", "invoice.*", "--since", "1h", "--dry-run"])
        #expect(status == 0, "\(output)")
        #expect(output == "2 deliveries match (dry run: nothing sent)\n", "\(output)")
        #expect(try store.deliveries(DeliveryQuery(statuses: [.dead])).count == 3)
        (status, output) = try await hooktop(["redeliver", "--status", "dead", "--error-class", "connect_refused"])
        #expect(output == "queued 3 deliveries for redelivery\n", "\(output)")
        #expect(try store.deliveries(DeliveryQuery(statuses: [.pending])).count == 3)
        (status, output) = try await hooktop(["audit", "--limit", "1"])
        #expect(output.contains("delivery.replay") && output.contains("error_class=connect_refused"), "\(output)")
        for arguments in [
            ["redeliver", "--status", "pending"], ["redeliver", "--status", "dead", "--error-class", "nope"],
            ["redeliver", "--event-type", "a.*"], ["redeliver", "--status", "dead", "--since", "soon"],
            ["redeliver", "--status", "dead", "--endpoint", "ep_missing"],
        ] {
            (status, output) = try await hooktop(arguments)
            #expect(status != 0, "\(arguments): \(output)")
            #expect(output.split(separator: "\n").count <= 3, "\(arguments): \(output)")
        }

        // The API: the same filter in the body.
        let serve = try await ServeProcess.start(executable, database: database.path)
        defer { serve.child.signal(SIGTERM) }
        try await Operations(store: store).pause(endpointId: endpoint.id, by: testActor)
        let (code, text) = RawHTTP.exchange(
            port: serve.port,
            RawHTTP.request(
                "POST", "/v1/deliveries/redeliver", headers: ["Authorization: Bearer \(serve.token)"],
                body: #"{"status":"dead","endpoint_id":"\#(endpoint.id)","dry_run":true}"#))
        #expect(code == 409, "a paused endpoint named: refused with the reason: \(text)")
        #expect(text.contains("is paused: resume it first"), "\(text)")
        try await Operations(store: store).resume(endpointId: endpoint.id, by: testActor)
        let (matched, matchedText) = RawHTTP.exchange(
            port: serve.port,
            RawHTTP.request(
                "POST", "/v1/deliveries/redeliver", headers: ["Authorization: Bearer \(serve.token)"],
                body: #"{"status":"pending","dry_run":true}"#))
        #expect(matched == 422, "pending is not replayable: \(matchedText)")
        let (queued, queuedText) = RawHTTP.exchange(
            port: serve.port,
            RawHTTP.request(
                "POST", "/v1/deliveries/redeliver", headers: ["Authorization: Bearer \(serve.token)"],
                body: #"{"status":"dead","endpoint_id":"\#(endpoint.id)","error_class":"connect_refused","dry_run":true}"#))
        #expect(queued == 200, "\(queuedText)")
        // Whatever serve's dispatcher has made of the three by now (a failed manual attempt leaves them dead), the
        // answer is a count and nothing was queued.
        #expect(queuedText.contains(#""matched":"#) && queuedText.contains(#""dry_run":true"#), "\(queuedText)")
        let (bad, badText) = RawHTTP.exchange(
            port: serve.port,
            RawHTTP.request(
                "POST", "/v1/deliveries/redeliver", headers: ["Authorization: Bearer \(serve.token)"],
                body: #"{"status":"delivered","until":"yesterday"}"#))
        #expect(bad == 422, "\(badText)")
    }

    @Test(.timeLimit(.minutes(2)))
    func rateLimitAndOverdueFromTheCommandLine() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let database = try TemporaryDatabase()
        func hooktop(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await runProcess(executable, arguments + ["--db", database.path])
        }
        var (status, output) = try await hooktop(
            ["endpoint", "add", "http://127.0.0.1:9/a", "--allow-private-destinations", "--rate-limit", "25"])
        #expect(status == 0, "\(output)")
        let id = output.trimmingCharacters(in: .whitespacesAndNewlines)
        (_, output) = try await hooktop(["endpoint", "show", id])
        #expect(output.contains("rate limit: 25/s"), "\(output)")
        (_, output) = try await hooktop(["endpoint", "show", id, "--json"])
        #expect(output.contains(#""rate_limit" : 25"#), "\(output)")
        (status, output) = try await hooktop(["endpoint", "update", id, "--rate-limit", "none"])
        #expect(status == 0, "\(output)")
        #expect(try database.store.endpoint(id: id)?.rateLimit == nil)
        for bad in ["0.5", "20000", "fast"] {
            (status, output) = try await hooktop(["endpoint", "update", id, "--rate-limit", bad])
            #expect(status == 1 && output.hasPrefix("hooktop: "), "\(bad): \(output)")
        }
        // Published 10 minutes ago with no dispatcher running: overdue.
        _ = try database.store.publish(eventType: "a.b", payload: "{}", now: Date().addingTimeInterval(-600))
        (_, output) = try await hooktop(["stats", "--json"])
        let stats = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        #expect((600...605).contains(stats["oldest_due_seconds"] as? Int ?? 0), "\(output)")
        (_, output) = try await hooktop(["stats"])
        #expect(output.contains("overdue: the oldest due delivery waits for 6"), "\(output)")
    }
}

/// A refused connection, as the sender reports it.
private func fakeOutcomeForCLI(_ job: DeliveryJob) -> AttemptOutcome {
    AttemptOutcome(
        deliveryId: job.deliveryId, endpointId: job.endpoint.id, trigger: job.trigger, startedAt: Date(),
        durationMilliseconds: 1, requestHeaders: [], responseStatus: nil, responseHeaders: [], responseBodyExcerpt: nil,
        errorClass: .connectRefused, errorMessage: "connection refused", retryAfter: nil)
}
