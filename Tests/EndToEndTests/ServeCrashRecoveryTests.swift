import DeliveryCore
import Foundation
import HooktopLab
import HooktopTesting
import PostgresNIO
import Testing
@testable import DeliveryCore

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The engines a log can be in, for tests that run on each.
enum TestEngine: String, CaseIterable, Sendable {
    case sqlite, postgres

    /// A new, empty log: its `--db` value, and a way to open it.
    func makeLog() async throws -> TestLog {
        switch self {
        case .sqlite:
            let database = try TemporaryDatabase()
            return TestLog(location: database.path, keep: database) { try SQLiteEngine(path: database.path, readOnly: true) }
        case .postgres:
            let url = try await PostgresServer.shared.makeDatabase()
            return TestLog(location: url.full, keep: nil) { try await PostgresEngine.open(url, logger: quietLogger) }
        }
    }
}

/// A log made for a test.
struct TestLog: Sendable {
    var location: String
    /// Keeps a temporary SQLite folder alive while the test runs.
    var keep: TemporaryDatabase?
    var open: @Sendable () async throws -> any DeliveryEngine
}

/// The real `hooktop serve` as a subprocess: killed with SIGKILL part-way, restarted, and nothing is lost.
struct ServeCrashRecoveryTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    @Test(.timeLimit(.minutes(3)), arguments: TestEngine.allCases)
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
        let engine = try await log.open()
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

    /// Two `serve` processes on one PostgreSQL database: both deliver; one is killed part-way; the other finishes its
    /// work once the dead one's heartbeat is stale; every event arrives signed, and each delivery is counted once.
    @Test(.timeLimit(.minutes(3)))
    func twoServesShareAPostgresLogAndSurviveOneKilled() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let log = try await TestEngine.postgres.makeLog()
        let sink = try await ScriptedReceiver.start(routes: ["sink": .slow(milliseconds: 5)])
        defer { Task { await sink.stop() } }
        try await addSinkEndpoint(executable, sink, log)
        let first = try await ServeProcess.start(executable, database: log.location)
        let second = try await ServeProcess.start(executable, database: log.location, token: first.token)
        defer { first.child.signal(SIGKILL) }
        var published: [String] = []
        for index in 0..<1500 {
            let serve = index % 2 == 0 ? first : second
            published.append(try await publish(port: serve.port, token: serve.token, index: index))
        }
        let partWay = await eventually(timeout: .seconds(60)) { sink.count >= 300 }
        #expect(partWay)
        second.child.signal(SIGKILL)
        #expect(await second.child.waitForExit(timeout: .seconds(10)) != 0)
        let all = await eventually(timeout: .seconds(90)) {
            Set(sink.requests.compactMap { $0.header("webhook-id") }).count >= 1500
        }
        #expect(all, "received \(Set(sink.requests.compactMap { $0.header("webhook-id") }).count) of 1500")
        let key = try WebhookSignature.key(fromSecret: Self.secret)
        for request in sink.requests {
            try WebhookSignature.verify(
                id: request.header("webhook-id"), timestamp: request.header("webhook-timestamp"),
                signatureHeader: request.header("webhook-signature"), body: request.body, key: key, tolerance: 3600)
        }
        #expect(Set(sink.requests.compactMap { $0.header("webhook-id") }) == Set(published))
        let engine = try #require(try await log.open() as? PostgresEngine)
        let settled = await eventually(timeout: .seconds(30)) { (try? await engine.statusTotals().delivered) == 1500 }
        #expect(settled)
        // Both delivered (each writer's attempts are its own rows); nothing stays queued or leased; the counters
        // summed over writers match the log, so no delivery was counted delivered twice.
        let writers = try await engine.rows("SELECT count(DISTINCT writer_id) FROM stats_minute WHERE attempts > 0")
        #expect(try writers.first?.int(0) == 2)
        #expect(try await engine.rows("SELECT 1 FROM delivery_queue").isEmpty)
        let findings = try await engine.checkup(now: Date()).filter { $0.verdict == .problem && $0.check != "leases" }
        #expect(findings.isEmpty, "\(findings.map(\.detail))")
        await engine.close()
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
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/events")!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(#"{"type":"order.created","payload":{"n":\#(index)}}"#.utf8)
        request.timeoutInterval = 10
        let (data, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 202)
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return try #require(object?["id"] as? String)
    }
}
