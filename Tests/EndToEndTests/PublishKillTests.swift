import DeliveryCore
import Foundation
import HooktopLab
import HooktopReceivers
import HooktopTesting
import Synchronization
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A 202 is a promise: `hooktop serve` killed with SIGKILL while clients publish (one event per request and in
/// batches) loses no event it acknowledged.
struct PublishKillTests {
    @Test(.timeLimit(.minutes(3)))
    func everyAcknowledgedEventIsDeliveredDespiteKill9() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let database = try TemporaryDatabase()
        let sink = try await ScriptedReceiver.start(routes: ["sink": .healthy])
        defer { Task { await sink.stop() } }
        let add = try await runProcess(
            executable, ["endpoint", "add", sink.url("sink"), "--allow-private-destinations", "--db", database.path])
        #expect(add.status == 0, "\(add.output)")

        var serve = try await ServeProcess.start(executable, database: database.path)
        let acknowledged = AcknowledgedIDs()
        // Eight clients publish concurrently, each a request every 10 ms: five one event per request, three ten per
        // batch (paced, so the rest of the suite running beside this test keeps its share of the machine).
        let clients = (0..<8).map { client in
            Task { [port = serve.port, token = serve.token] in
                var sent = 0
                while !Task.isCancelled {
                    let batch = client >= 5
                    let ids = try? await Self.publish(
                        port: port, token: token, client: client, first: sent, batch: batch)
                    guard let ids else { return }  // the daemon is gone: unanswered events promise nothing
                    acknowledged.add(ids)
                    sent += ids.count
                    try? await Task.sleep(for: .milliseconds(10))
                }
            }
        }
        let enough = await eventually(timeout: .seconds(60)) { acknowledged.count >= 600 }
        #expect(enough)
        serve.child.signal(SIGKILL)
        #expect(await serve.child.waitForExit(timeout: .seconds(10)) != 0)
        for client in clients { await client.value }
        let promised = acknowledged.all

        // Every acknowledged event is in the log the moment the daemon is gone...
        let store = try Store(path: database.path, readOnly: true)
        let missing = try promised.filter { try store.message(id: $0) == nil }
        #expect(missing.isEmpty, "\(missing.count) acknowledged events are not in the log")

        // ...and a restarted daemon delivers every one of them.
        serve = try await ServeProcess.start(executable, database: database.path)
        let all = await eventually(timeout: .seconds(90)) {
            promised.isSubset(of: Set(sink.requests.compactMap { $0.header("webhook-id") }))
        }
        let received = Set(sink.requests.compactMap { $0.header("webhook-id") })
        #expect(all, "\(promised.subtracting(received).count) of \(promised.count) acknowledged events never arrived")
        serve.child.signal(SIGTERM)
        #expect(await serve.child.waitForExit(timeout: .seconds(20)) == 0)
    }

    /// One request: a single event or a batch of ten. Returns the acknowledged message ids, nil when unanswered.
    private static func publish(
        port: Int, token: String, client: Int, first: Int, batch: Bool
    ) async throws -> [String]? {
        let event = { (n: Int) in #"{"type":"order.created","payload":{"client":\#(client),"n":\#(n)}}"# }
        var request = URLRequest(
            url: URL(string: "http://127.0.0.1:\(port)/v1/events\(batch ? "/batch" : "")")!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(
            (batch ? #"{"events":[\#((first..<first + 10).map(event).joined(separator: ","))]}"# : event(first)).utf8)
        request.timeoutInterval = 10
        let (data, response) = try await URLSession.shared.data(for: request)
        guard (response as? HTTPURLResponse)?.statusCode == 202 else { return nil }
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        if batch { return (object?["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } }
        return (object?["id"] as? String).map { [$0] }
    }
}

/// Message ids the API acknowledged, from concurrent clients.
final class AcknowledgedIDs: Sendable {
    private let ids = Mutex<Set<String>>([])
    func add(_ new: [String]) { ids.withLock { $0.formUnion(new) } }
    var count: Int { ids.withLock { $0.count } }
    var all: Set<String> { ids.withLock { $0 } }
}
