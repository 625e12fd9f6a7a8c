import DeliveryCore
import Foundation
import HooktopLab
import HooktopReceivers
import HooktopTesting
import PostgresNIO
import Testing
@testable import DeliveryCore

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The real `hooktop serve` as a subprocess: killed with SIGKILL part-way, restarted, and nothing is lost.
struct ServeCrashRecoveryTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    @Test(.timeLimit(.minutes(5)), arguments: TestEngine.allCases)
    func everyEventArrivesDespiteKill9(engine kind: TestEngine) async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let log = try await kind.makeLog()
        let sink = try await ScriptedReceiver.start(routes: ["sink": .slow(milliseconds: 5)])
        defer { Task { await sink.stop() } }
        try await addSinkEndpoint(executable, sink, log)

        var serve = try await ServeProcess.start(executable, database: log.location)
        var (port, token) = (serve.port, serve.token)
        var published: [String] = []
        for index in 0..<1000 {
            published.append(try await publish(port: port, token: token, index: index))
        }
        // Kill the daemon while it is delivering.
        let partWay = await eventually(timeout: .seconds(60)) { sink.count >= 200 }
        #expect(partWay)
        serve.child.signal(SIGKILL)
        #expect(await serve.child.waitForExit(timeout: .seconds(10)) != 0)
        let beforeRestart = Set(sink.requests.compactMap { $0.header("webhook-id") }).count
        #expect(beforeRestart < 2000)

        serve = try await ServeProcess.start(executable, database: log.location, token: token)
        (port, token) = (serve.port, serve.token)
        for index in 1000..<2000 {
            published.append(try await publish(port: port, token: token, index: index))
        }
        let all = await eventually(timeout: .seconds(90)) {
            Set(sink.requests.compactMap { $0.header("webhook-id") }).count >= 2000
        }
        #expect(all, "received \(Set(sink.requests.compactMap { $0.header("webhook-id") }).count) of 2000")

        // Every published event arrived at least once, every request is validly signed, duplicates share ids.
        let key = try WebhookSignature.key(fromSecret: Self.secret)
        let received = sink.requests
        var ids = Set<String>()
        for request in received {
            let id = request.header("webhook-id")
            try WebhookSignature.verify(
                id: id, timestamp: request.header("webhook-timestamp"),
                signatureHeader: request.header("webhook-signature"), body: request.body, key: key, tolerance: 3600)
            if let id { ids.insert(id) }
        }
        #expect(ids == Set(published))
        #expect(received.count >= 2000)

        // The restarted daemon released the killed one's leases at once (its pid is gone) and settled everything.
        let engine = try await log.open(readOnly: true)
        let settled = await eventually(timeout: .seconds(30)) {
            (try? await engine.statusTotals().delivered) == 2000
        }
        #expect(settled)
        serve.child.signal(SIGTERM)
        #expect(await serve.child.waitForExit(timeout: .seconds(20)) == 0)
        let totals = try await engine.statusTotals()
        #expect(totals.delivered == 2000)
        #expect(totals.inflight == 0)
        await engine.close()
    }

    /// Two `serve` processes on one PostgreSQL database take events from publishers posting to both at once; one is
    /// killed with SIGKILL while its publishers post and its dispatcher delivers. Every event a serve acknowledged
    /// arrives with a signature PyPI's `standardwebhooks` accepts; once the dead one's leases are gone nothing stays
    /// leased or queued; each delivery is delivered and counted delivered once (a fenced finisher moved nothing); and
    /// each dispatcher's share of the attempts shows in `stats --json`, the survivor's also in its `/metrics`.
    @Test(.timeLimit(.minutes(5)))
    func twoServesShareAPostgresLogAndSurviveOneKilled() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let log = try await TestEngine.postgres.makeLog()
        let sink = try await ScriptedReceiver.start(routes: ["sink": .slow(milliseconds: 20)])
        defer { Task { await sink.stop() } }
        try await addSinkEndpoint(executable, sink, log)
        let survivor = try await ServeProcess.start(executable, database: log.location)
        let victim = try await ServeProcess.start(executable, database: log.location, token: survivor.token)
        defer {
            survivor.child.signal(SIGKILL)
            victim.child.signal(SIGKILL)
        }

        // Two publishers per serve; the victim is killed once its publishers have 200 events acknowledged and the
        // sink has taken 100 deliveries. A publish it did not acknowledge is not promised (it may still arrive).
        let (bySurvivor, byVictim) = (AcknowledgedIDs(), AcknowledgedIDs())
        let killer = Task { [child = victim.child] in
            let due = await eventually(timeout: .seconds(60)) { byVictim.count >= 200 && sink.count >= 100 }
            child.signal(SIGKILL)
            return due
        }
        await withTaskGroup(of: Void.self) { group in
            for publisher in 0..<4 {
                let (serve, ids) = publisher % 2 == 0 ? (survivor, bySurvivor) : (victim, byVictim)
                group.addTask { [port = serve.port, token = serve.token] in
                    for n in 0..<500 {
                        guard let id = await Self.acknowledged(port: port, token: token, index: publisher * 1000 + n)
                        else { return }
                        ids.add([id])
                    }
                }
            }
        }
        #expect(await killer.value, "the victim was killed mid-run")
        #expect(await victim.child.waitForExit(timeout: .seconds(10)) != 0)
        #expect(bySurvivor.count == 1000)
        #expect(byVictim.count >= 200 && byVictim.count < 1000, "\(byVictim.count)")
        let acknowledged = bySurvivor.all.union(byVictim.all)

        let all = await eventually(timeout: .seconds(90)) {
            acknowledged.isSubset(of: Set(sink.requests.compactMap { $0.header("webhook-id") }))
        }
        #expect(all, "\(acknowledged.subtracting(sink.requests.compactMap { $0.header("webhook-id") }).count) not received")
        let rejected = try await Self.rejectedByReferenceLibrary(sink.requests, secret: Self.secret)
        #expect(rejected.isEmpty, "\(rejected)")

        // The dead dispatcher's leases run out (its heartbeat goes stale): nothing stays leased, nothing queued.
        let engine = try #require(try await log.open() as? PostgresEngine)
        func count(_ sql: String) async throws -> Int {
            try await engine.rows(PostgresQuery(unsafeSQL: sql)).first?.int(0) ?? -1
        }
        let drained = await eventually(timeout: .seconds(60)) {
            (try? await count("SELECT count(*) FROM delivery_queue")) == 0
        }
        #expect(drained)
        #expect(try await count("SELECT count(*) FROM delivery_queue WHERE lease_owner IS NOT NULL") == 0)
        // Every delivery delivered, and counted delivered once over all writers.
        let deliveries = try await count("SELECT count(*) FROM deliveries")
        #expect(deliveries >= acknowledged.count)
        #expect(try await count("SELECT count(*) FROM deliveries WHERE status = 'delivered'") == deliveries)
        #expect(try await count("SELECT sum(n)::bigint FROM delivery_counts WHERE status = 'delivered'") == deliveries)
        #expect(try await engine.statusTotals().inflight == 0)
        let findings = try await engine.checkup(now: Date()).filter { $0.verdict == .problem && $0.check != "leases" }
        #expect(findings.isEmpty, "\(findings.map(\.detail))")

        // Both delivered: each dispatcher's attempts, which together are every attempt of the log; the survivor's
        // `/metrics` counts the same attempts as its row.
        let stats = try await runProcess(executable, ["stats", "--json", "--db", log.location])
        #expect(stats.status == 0, "\(stats.output)")
        let object = try JSONSerialization.jsonObject(with: Data(stats.output.utf8)) as? [String: Any]
        let dispatchers = try #require(object?["dispatchers"] as? [[String: Any]])
        let alive = try #require(dispatchers.first { $0["pid"] as? Int == Int(survivor.child.pid) })
        let dead = try #require(dispatchers.first { $0["pid"] as? Int == Int(victim.child.pid) })
        #expect(alive["alive"] as? Bool == true && dead["alive"] as? Bool == false)
        let aliveAttempts = try #require(alive["attempts_last_5m"] as? Int)
        let deadAttempts = try #require(dead["attempts_last_5m"] as? Int)
        #expect(aliveAttempts > 0 && deadAttempts > 0, "\(dispatchers)")
        #expect(aliveAttempts + deadAttempts == (try await count("SELECT count(*) FROM attempts")))
        let metrics = try await Self.metrics(port: survivor.port)
        #expect(metrics["outcome=\"success\""].map { $0 > 0 } == true, "\(metrics)")
        #expect((metrics["outcome=\"success\""] ?? 0) + (metrics["outcome=\"failure\""] ?? 0) == aliveAttempts)

        survivor.child.signal(SIGTERM)
        #expect(await survivor.child.waitForExit(timeout: .seconds(20)) == 0)
        await engine.close()
    }

    /// Publishes one event; its id when the serve acknowledged it (2xx), nil when it did not answer so.
    private static func acknowledged(port: Int, token: String, index: Int) async -> String? {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/events")!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(#"{"type":"order.created","payload":{"n":\#(index)}}"#.utf8)
        request.timeoutInterval = 10
        guard let (data, response) = try? await URLSession.shared.data(for: request),
            let status = (response as? HTTPURLResponse)?.statusCode, (200..<300).contains(status),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return object["id"] as? String
    }

    /// What PyPI's `standardwebhooks` says of each request: the ids (and reasons) of those it rejects.
    private static func rejectedByReferenceLibrary(_ requests: [ReceivedRequest], secret: String) async throws -> [String] {
        let exchanges = requests.map { request in
            [
                "headers": request.headers.map { [$0.name.lowercased(), $0.value] },
                "body": String(decoding: request.body, as: UTF8.self),
            ] as [String: Any]
        }
        let result = try await runPython(
            """
            import json, sys
            from standardwebhooks.webhooks import Webhook
            hook = Webhook(sys.argv[1])
            exchanges = json.load(sys.stdin)
            for exchange in exchanges:
                headers = {name: value for name, value in exchange["headers"]}
                try:
                    hook.verify(exchange["body"].encode(), headers)
                except Exception as error:
                    print(headers.get("webhook-id"), error)
            print("verified", len(exchanges))
            """, arguments: [secret], input: Array(try JSONSerialization.data(withJSONObject: exchanges)))
        guard result.status == 0, result.output.hasSuffix("verified \(requests.count)\n") else {
            return ["python3 with standardwebhooks: \(result.output.suffix(2000)) \(result.error.suffix(2000))"]
        }
        return result.output.split(separator: "\n").dropLast().map(String.init)
    }

    /// The survivor's `hooktop_dispatcher_attempts_total` samples, by label.
    private static func metrics(port: Int) async throws -> [String: Int] {
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        var samples: [String: Int] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n")
        where line.hasPrefix("hooktop_dispatcher_attempts_total{") {
            let label = line.drop { $0 != "{" }.dropFirst().prefix { $0 != "}" }
            samples[String(label)] = Int(line.split(separator: " ").last ?? "")
        }
        return samples
    }

    /// Registers the sink as the log's endpoint, with the secret the checks verify.
    private func addSinkEndpoint(_ executable: String, _ sink: ScriptedReceiver, _ log: TestLog) async throws {
        let add = try await runProcess(
            executable,
            ["endpoint", "add", sink.url("sink"), "--secret", Self.secret, "--allow-private-destinations",
             "--db", log.location])
        #expect(add.status == 0, "\(add.output)")
    }

    private func publish(port: Int, token: String, index: Int) async throws -> String {
        try #require(await Self.acknowledged(port: port, token: token, index: index), "event \(index) not acknowledged")
    }
}
