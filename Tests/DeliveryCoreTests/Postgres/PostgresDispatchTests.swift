@testable import DeliveryCore
import Foundation
import HooktopReceivers
import HooktopTesting
import Logging
import PostgresNIO
import Testing

/// The PostgreSQL engine's write path under the real dispatcher: publish and fan-out, claims under a lease with a
/// claim counter, batched recording, per-writer counters, failure groups, 410s, and several engines claiming at once.
struct PostgresDispatchTests {
    /// Runs `body` with an engine on a new database.
    func withEngine<T: Sendable>(_ body: (PostgresEngine) async throws -> T) async throws -> T {
        try await withPostgresEngine(body)
    }

    func addEndpoint(_ engine: PostgresEngine, _ url: String, events: [String] = []) async throws -> Endpoint {
        try await engine.addEndpoint(
            url: url, changes: EndpointChanges(eventTypes: events, timeoutMilliseconds: 5000), secret: nil,
            allowPrivateDestination: true, id: nil, now: Date(), by: testActor)
    }

    func publish(_ engine: PostgresEngine, _ count: Int, type: String = "user.created") async throws {
        let requests = (0..<count).map { PublishRequest(eventType: type, payload: #"{"n":\#($0)}"#) }
        let results = try await engine.publish(groups: [requests], now: Date())
        _ = try results[0].get()
    }

    /// Per status, the deliveries of the log, and the counters summed over writers: they must agree.
    func statuses(_ engine: PostgresEngine) async throws -> (log: [String: Int], counted: [String: Int]) {
        var log: [String: Int] = [:]
        for row in try await engine.rows("SELECT status, count(*) FROM deliveries GROUP BY status") {
            log[try row.text(0)] = try row.int(1)
        }
        var counted: [String: Int] = [:]
        for row in try await engine.rows("SELECT status, sum(n)::bigint FROM delivery_counts GROUP BY status") {
            let n = try row.int(1)
            if n != 0 { counted[try row.text(0)] = n }
        }
        return (log, counted)
    }

    func outcome(_ job: DeliveryJob, status: Int, at: Date = Date()) -> AttemptOutcome {
        var outcome = AttemptOutcome(
            deliveryId: job.deliveryId, endpointId: job.endpoint.id, trigger: job.trigger, startedAt: at,
            durationMilliseconds: 12, requestHeaders: [Header(name: "webhook-id", value: job.message.id)],
            responseStatus: status, responseHeaders: [], responseBodyExcerpt: "body\u{0}with a NUL",
            errorClass: (200..<300).contains(status) ? nil : .httpStatus, errorMessage: nil, retryAfter: nil)
        outcome.claim = job.claim
        return outcome
    }

    @Test(.timeLimit(.minutes(5)))
    func theDispatcherDeliversEverythingOnceAndTheCountersAgree() async throws {
        try await withEngine { engine in
            try await withReceiver(["ok": .healthy, "flaky": .flaky(failureRate: 0.3)]) { receiver in
                let healthy = try await addEndpoint(engine, receiver.url("ok"))
                _ = try await addEndpoint(engine, receiver.url("flaky"), events: ["user.*"])
                _ = try await addEndpoint(engine, receiver.url("ok"), events: ["invoice.*"])  // gets none
                try await publish(engine, 60)
                try await withSender { sender in
                    var configuration = testDispatcherConfiguration(policy: RetryPolicy(delays: Array(repeating: 0.05, count: 20), jitter: 0))
                    configuration.maxInFlight = 16
                    let dispatcher = Dispatcher(log: engine, sender: sender, configuration: configuration, logger: quietLogger)
                    let task = Task { try await dispatcher.run() }
                    let done = try await eventually(timeout: .seconds(60)) {
                        try await engine.rows("SELECT 1 FROM delivery_queue LIMIT 1").isEmpty
                    }
                    dispatcher.stop()
                    try await task.value
                    #expect(done, "the queue emptied")
                }
                let (log, counted) = try await statuses(engine)
                #expect(log == ["delivered": 120], "\(log)")
                #expect(counted == log, "counters summed over writers match the log")
                // Every delivered delivery has exactly one successful attempt, numbered after its failures.
                let doubles = try await engine.rows(
                    """
                    SELECT delivery_id FROM attempts WHERE response_status BETWEEN 200 AND 299
                    GROUP BY delivery_id HAVING count(*) > 1
                    """)
                #expect(doubles.isEmpty)
                let stats = try await engine.rows("SELECT sum(attempts)::bigint FROM stats_minute")
                let logged = try await engine.rows("SELECT count(*) FROM attempts")
                #expect(try stats.first?.int(0) == logged.first?.int(0))
                let health = try await engine.rows(
                    "SELECT last_success_at FROM endpoint_health WHERE endpoint_id = \(healthy.id)")
                #expect(try health.first?.optionalInt64(0) != nil)
                #expect(try await engine.changeCounter() > 0)
            }
        }
    }

    @Test func aFinisherWhoseLeaseRanOutAndWasClaimedAgainIsFenced() async throws {
        try await withEngine { engine in
            let endpoint = try await addEndpoint(engine, "http://127.0.0.1:9/a")
            try await publish(engine, 1)
            let start = Date()
            // A claims with a lease that has already run out (its process stalled); B claims the same delivery.
            let first = try #require(try await engine.claimDue(
                [ClaimRequest(endpoint: endpoint, limit: 5)], owner: "w:a", now: start, lease: -10).first)
            let second = try #require(try await engine.claimDue(
                [ClaimRequest(endpoint: endpoint, limit: 5)], owner: "w:b", now: start.addingTimeInterval(1), lease: 60).first)
            #expect(first.deliveryId == second.deliveryId && second.claim == first.claim + 1)
            // A finishes late: its attempt is logged, the delivery is left to B.
            try await engine.record(
                [outcome(first, status: 200)], owner: "w:a", policy: RetryPolicy(delays: []), autoDisableAfter: nil,
                now: start.addingTimeInterval(2))
            var (log, _) = try await statuses(engine)
            #expect(log == ["pending": 1])
            #expect(try await engine.rows("SELECT lease_owner FROM delivery_queue").first?.optionalText(0) == "w:b")
            // Even A claiming again cannot complete B's claim with its old claim number.
            try await engine.record(
                [outcome(first, status: 200)], owner: "w:b", policy: RetryPolicy(delays: []), autoDisableAfter: nil,
                now: start.addingTimeInterval(2))
            (log, _) = try await statuses(engine)
            #expect(log == ["pending": 1])
            try await engine.record(
                [outcome(second, status: 200)], owner: "w:b", policy: RetryPolicy(delays: []), autoDisableAfter: nil,
                now: start.addingTimeInterval(3))
            let counted: [String: Int]
            (log, counted) = try await statuses(engine)
            #expect(log == ["delivered": 1] && counted == log)
            #expect(try await engine.rows("SELECT count(*) FROM attempts").first?.int(0) == 3)
            #expect(try await engine.rows("SELECT 1 FROM delivery_queue").isEmpty)
            // The NUL a response carried is stored as a replacement character.
            #expect(try await engine.rows("SELECT response_body FROM attempts LIMIT 1").first?.text(0) == "body\u{FFFD}with a NUL")
        }
    }

    @Test func failuresRetryThenDieIntoFailureGroupsAnd410DisablesTheEndpoint() async throws {
        try await withEngine { engine in
            let failing = try await addEndpoint(engine, "http://127.0.0.1:9/failing")
            try await publish(engine, 3)
            let policy = RetryPolicy(delays: [0], jitter: 0)
            var now = Date()
            var jobs = try await engine.claimDue([ClaimRequest(endpoint: failing, limit: 10)], owner: "w:a", now: now, lease: 60)
            #expect(jobs.count == 3)
            try await engine.record(jobs.map { outcome($0, status: 500) }, owner: "w:a", policy: policy, autoDisableAfter: nil, now: now)
            var (log, counted) = try await statuses(engine)
            #expect(log == ["retrying": 3] && counted == log)
            var groups = try await engine.rows(
                "SELECT error_class, status_code, sum(dead)::bigint, sum(retrying)::bigint FROM failure_groups GROUP BY 1, 2")
            #expect(try groups.map { [try $0.text(0), String(try $0.int(1)), String(try $0.int(2)), String(try $0.int(3))] }
                == [["http_status", "500", "0", "3"]])
            now = now.addingTimeInterval(1)
            jobs = try await engine.claimDue([ClaimRequest(endpoint: failing, limit: 10)], owner: "w:a", now: now, lease: 60)
            #expect(jobs.map(\.attemptNumber) == [2, 2, 2])
            // Two die of a 500; one is answered 410: dead, and the endpoint is disabled by the dispatcher.
            try await engine.record(
                [outcome(jobs[0], status: 500), outcome(jobs[1], status: 500), outcome(jobs[2], status: 410)],
                owner: "w:a", policy: policy, autoDisableAfter: nil, now: now)
            (log, counted) = try await statuses(engine)
            #expect(log == ["dead": 3] && counted == log)
            groups = try await engine.rows(
                """
                SELECT status_code, sum(dead)::bigint, sum(retrying)::bigint FROM failure_groups
                GROUP BY 1 HAVING sum(dead) <> 0 OR sum(retrying) <> 0 ORDER BY 1
                """)
            #expect(try groups.map { [try $0.int(0), try $0.int(1), try $0.int(2)] } == [[410, 1, 0], [500, 2, 0]])
            let endpoint = try #require(try await engine.endpoint(id: failing.id))
            #expect(endpoint.status == .disabled && endpoint.disabledReason == "endpoint answered 410 Gone")
            #expect(try await engine.rows("SELECT via FROM audit WHERE action = 'endpoint.disable'").first?.text(0) == "dispatcher")
            #expect(try await engine.claimDue([ClaimRequest(endpoint: failing, limit: 10)], owner: "w:a", now: now, lease: 60).isEmpty)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func severalEnginesClaimingAtOnceNeverShareADelivery() async throws {
        try await PostgresServer.shared.withDatabase { url in
            let engines = try await (0..<3).asyncMap { _ in try await PostgresEngine.open(url, logger: quietLogger) }
            let endpoint = try await addEndpoint(engines[0], "http://127.0.0.1:9/a")
            try await publish(engines[0], 600)
            let claimed = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for (n, engine) in engines.enumerated() {
                    group.addTask {
                        var mine: [Int64] = []
                        while true {
                            let jobs = try await engine.claimDue(
                                [ClaimRequest(endpoint: endpoint, limit: 25)], owner: "w:\(n)", now: Date(), lease: 60)
                            if jobs.isEmpty { return mine }
                            mine += jobs.map(\.deliveryId)
                        }
                    }
                }
                return try await group.reduce(into: [Int64]()) { $0 += $1 }
            }
            #expect(claimed.count == 600 && Set(claimed).count == 600)
            for engine in engines { await engine.close() }
        }
    }

    @Test func aCleanStopReleasesItsLeasesAndPublishKeepsIdsAndKeysUnique() async throws {
        try await withEngine { engine in
            let endpoint = try await addEndpoint(engine, "http://127.0.0.1:9/a")
            let first = try await engine.publish(
                groups: [[PublishRequest(eventType: "a.b", payload: "{}", idempotencyKey: "k1", id: "msg_chosen1")]],
                now: Date())
            #expect(try first[0].get()[0].deliveryCount == 1)
            let again = try await engine.publish(
                groups: [
                    [PublishRequest(eventType: "a.b", payload: "{}", idempotencyKey: "k1")],
                    [PublishRequest(eventType: "a.b", payload: "{}", id: "msg_chosen1")],
                    [PublishRequest(eventType: "a.b", payload: "{}")],
                ], now: Date())
            #expect(try again[0].get()[0].duplicate && again[0].get()[0].message.id == "msg_chosen1")
            #expect(throws: HooktopError.self) { try again[1].get() }
            #expect(try again[2].get()[0].deliveryCount == 1)
            let jobs = try await engine.claimDue([ClaimRequest(endpoint: endpoint, limit: 10)], owner: "w:a", now: Date(), lease: 600)
            #expect(jobs.count == 2)
            #expect(try await engine.hasDueWork(now: Date()) == false)
            #expect(try await engine.releaseLeases(owner: "w:a", now: Date()) == 2)
            #expect(try await engine.hasDueWork(now: Date().addingTimeInterval(0.01)))
            let one = try #require(try await engine.claimOne(
                deliveryId: jobs[0].deliveryId, owner: "w:b", now: Date(), leaseUntil: Date().addingTimeInterval(60)))
            #expect(one.claim == jobs[0].claim + 1 && one.message.id == jobs[0].message.id)
            #expect(try await engine.claimOne(
                deliveryId: jobs[0].deliveryId, owner: "w:c", now: Date(), leaseUntil: Date().addingTimeInterval(60)) == nil)
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
