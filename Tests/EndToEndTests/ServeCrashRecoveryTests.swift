import DeliveryCore
import Foundation
import HooktopLab
import HooktopTesting
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The real `hooktop serve` as a subprocess: killed with SIGKILL part-way, restarted, and nothing is lost.
struct ServeCrashRecoveryTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    @Test(.timeLimit(.minutes(3)))
    func everyEventArrivesDespiteKill9() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let database = try TemporaryDatabase()
        let sink = try await ScriptedReceiver.start(routes: ["sink": .slow(milliseconds: 5)])
        defer { Task { await sink.stop() } }
        let add = try await runProcess(
            executable,
            ["endpoint", "add", sink.url("sink"), "--secret", Self.secret, "--allow-private-destinations",
             "--db", database.path])
        #expect(add.status == 0, "\(add.output)")

        var serve = try await ServeProcess.start(executable, database: database.path)
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

        serve = try await ServeProcess.start(executable, database: database.path)
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
        let store = try Store(path: database.path, readOnly: true)
        let settled = await eventually(timeout: .seconds(30)) {
            (try? store.overview(now: Date()).totals.delivered) == 2000
        }
        #expect(settled)
        serve.child.signal(SIGTERM)
        #expect(await serve.child.waitForExit(timeout: .seconds(20)) == 0)
        let totals = try store.overview(now: Date()).totals
        #expect(totals.delivered == 2000)
        #expect(totals.inflight == 0)
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
