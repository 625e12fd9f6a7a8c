import DeliveryCore
import Foundation
import HTTPTypes
import HookServer
import HooktopTesting
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// `/metrics` of a process that runs a dispatcher: the attempts that dispatcher recorded, by outcome, besides the
/// log's gauges.
struct MetricsTests {
    @Test(.timeLimit(.minutes(1)))
    func metricsCountTheOwnDispatchersAttemptsByOutcome() async throws {
        let database = try TemporaryDatabase()
        let healthy = try await LocalReceiver("receiver")
        let broken = try await LocalReceiver("receiver", ["--status", "500"])
        for receiver in [healthy, broken] {
            _ = try database.store.addEndpoint(
                url: "http://127.0.0.1:\(receiver.port)/hook", allowPrivateDestination: true, by: testActor)
        }
        var senderConfiguration = WebhookSender.Configuration()
        senderConfiguration.allowPrivateDestinations = true
        let sender = WebhookSender(configuration: senderConfiguration)
        var configuration = Dispatcher.Configuration()
        // One attempt each: the broken endpoint's deliveries are dead after it.
        configuration.retryPolicy = RetryPolicy(delays: [], jitter: 0)
        configuration.pollInterval = .milliseconds(20)
        let dispatcher = Dispatcher(store: database.store, sender: sender, configuration: configuration, logger: quietLogger)
        let server = HookServer(
            operations: Operations(store: database.store, wake: { dispatcher.wake() }), token: HookServerTests.token,
            dispatcher: dispatcher)
        let running = Task { try await dispatcher.run() }

        try await Application(router: server.router()).test(.router) { client in
            func metrics() async throws -> String {
                let response = try await client.execute(uri: "/metrics", method: .get)
                #expect(response.status == .ok)
                return String(buffer: response.body)
            }
            #expect(try await metrics().contains(#"hooktop_dispatcher_attempts_total{outcome="success"} 0"#))
            var headers = HTTPFields()
            headers[.authorization] = "Bearer \(HookServerTests.token)"
            headers[.contentType] = "application/json"
            for index in 0..<3 {
                let response = try await client.execute(
                    uri: "/v1/events", method: .post, headers: headers,
                    body: ByteBuffer(string: #"{"type":"order.created","payload":{"n":\#(index)}}"#))
                #expect(response.status == .accepted)
            }
            let settled = await eventually(timeout: .seconds(30)) {
                let totals = try? await SQLiteEngine(store: database.store).statusTotals()
                return totals?.delivered == 3 && totals?.dead == 3
            }
            #expect(settled)
            // Counted once however often it is scraped.
            for _ in 0..<2 {
                let text = try await metrics()
                #expect(text.contains(#"hooktop_dispatcher_attempts_total{outcome="success"} 3"#), "\(text)")
                #expect(text.contains(#"hooktop_dispatcher_attempts_total{outcome="failure"} 3"#), "\(text)")
                #expect(text.contains(#"hooktop_deliveries{status="dead"} 3"#))
            }
        }
        dispatcher.stop()
        try await running.value
        await sender.shutdown()
        await healthy.stop()
        await broken.stop()
    }

    /// A process without a dispatcher has no dispatcher attempts to count.
    @Test func metricsWithoutADispatcherHaveNoDispatcherAttempts() async throws {
        let fixture = try Fixture()
        try await fixture.test { client in
            let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(text.contains("hooktop_deliveries"))
            #expect(!text.contains("hooktop_dispatcher_attempts_total"))
        }
    }
}
