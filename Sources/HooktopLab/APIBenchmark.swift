import AsyncHTTPClient
import DeliveryCore
import Foundation
import HookServer
import HooktopReceivers
import Hummingbird
import Logging
import ServiceLifecycle
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// `hooktop bench --via-api`: publishes through the HTTP API over loopback, as applications do, with `connections`
/// keep-alive connections, one event per request or `batch` per request; measures events accepted per second,
/// publish latency, and (with active endpoints) deliveries per second from the first request until every delivery
/// is delivered.
public struct APIBenchmark: Sendable {
    public struct Result: Sendable {
        public var events: Int
        public var endpoints: Int
        public var deliveries: Int
        /// First request to last answer.
        public var publishSeconds: Double
        public var eventsPerSecond: Double
        /// First request until every delivery is delivered (0 when the endpoints are paused).
        public var endToEndSeconds: Double
        public var deliveriesPerSecond: Double
        /// Per request, in milliseconds.
        public var latencyP50Milliseconds: Double
        public var latencyP99Milliseconds: Double
        /// Answers other than 202 (a 503 is counted and retried).
        public var refused: Int
        /// Messages found in the log afterwards: every acknowledged event.
        public var messagesRecorded: Int
        public var peakMemoryMiB: Double
    }

    public var events: Int
    public var endpoints: Int
    public var connections: Int
    /// Events per request; 1 posts to `/v1/events`, more to `/v1/events/batch`.
    public var batch: Int
    /// Endpoints paused: measures publishing alone.
    public var paused: Bool
    public var maxInFlight: Int

    public init(events: Int, endpoints: Int, connections: Int, batch: Int, paused: Bool, maxInFlight: Int = 512) {
        self.events = events
        self.endpoints = endpoints
        self.connections = connections
        self.batch = batch
        self.paused = paused
        self.maxInFlight = maxInFlight
    }

    /// About 1 KB, like a typical webhook payload.
    static let payload: String = {
        let items = (0..<8).map { #"{"sku":"SKU-\#($0)","name":"Item number \#($0)","quantity":\#($0 + 1),"unit_amount":1999}"# }
        return #"{"id":"evt_1","invoice_id":"in_123","amount":4200,"currency":"eur","customer":{"id":"cus_9","email":"ada@example.com","name":"Ada Lovelace"},"lines":[\#(items.joined(separator: ","))]}"#
    }()

    public func run(store: Store, progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Result {
        let sink = try await BenchSink.start()
        let actor = Principal.current(via: "bench")
        var logger = Logger(label: "hooktop.bench")
        logger.logLevel = .warning
        var configuration = Dispatcher.Configuration()
        configuration.maxInFlight = maxInFlight
        var senderConfiguration = WebhookSender.Configuration()
        senderConfiguration.connectionsPerHost = maxInFlight
        senderConfiguration.allowPrivateDestinations = true
        let sender = WebhookSender(configuration: senderConfiguration)
        let engine = SQLiteEngine(store: store)
        let dispatcher = Dispatcher(log: engine, sender: sender, configuration: configuration, logger: logger)
        let operations = Operations(engine: engine, sender: sender, wake: { dispatcher.wake() })
        for _ in 0..<endpoints {
            let endpoint = try await operations.addEndpoint(
                url: sink.url, changes: EndpointChanges(maxInFlight: min(maxInFlight, 1000)),
                allowPrivateDestination: true, by: actor)
            if paused { try await operations.pause(endpointId: endpoint.id, by: actor) }
        }
        let token = Identifier.make("htk", length: 40)
        let server = HookServer(operations: operations, token: token)
        let port = ListeningPort()
        let app = server.application(
            host: "127.0.0.1", port: 0, logger: logger,
            onServerRunning: { channel in port.value.withLock { $0 = channel.localAddress?.port } })
        let services = ServiceGroup(
            configuration: .init(services: [.init(service: app)], gracefulShutdownSignals: [], logger: logger))
        let serving = Task { try await services.run() }
        let dispatching = Task { try await dispatcher.run() }
        defer {
            serving.cancel()
            dispatching.cancel()
        }
        var waited = 0
        while port.value.withLock({ $0 }) == nil {
            guard waited < 500 else { throw HooktopError(.database, "the API did not start") }
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        let url = "http://127.0.0.1:\(port.value.withLock { $0 }!)"

        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let requests = (events + batch - 1) / batch
        let tally = Tally()
        let single = ByteBuffer(string: #"{"type":"invoice.paid","payload":\#(Self.payload)}"#)
        let batchBody = ByteBuffer(
            string: #"{"events":[\#(Array(repeating: #"{"type":"invoice.paid","payload":\#(Self.payload)}"#, count: batch).joined(separator: ","))]}"#)
        let lastBatch = events - (requests - 1) * batch
        let lastBody = ByteBuffer(
            string: #"{"events":[\#(Array(repeating: #"{"type":"invoice.paid","payload":\#(Self.payload)}"#, count: lastBatch).joined(separator: ","))]}"#)
        progress("publishing \(events) events over \(connections) connections, \(batch) per request")
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<connections {
                group.addTask { [batch] in
                    var mine: [Double] = []
                    while true {
                        let index = tally.next.add(1, ordering: .relaxed).oldValue
                        guard index < requests else { break }
                        var request = HTTPClientRequest(url: url + (batch == 1 ? "/v1/events" : "/v1/events/batch"))
                        request.method = .POST
                        request.headers.add(name: "Authorization", value: "Bearer \(token)")
                        request.headers.add(name: "Content-Type", value: "application/json")
                        request.body = .bytes(batch == 1 ? single : index == requests - 1 ? lastBody : batchBody)
                        while true {
                            let sent = ContinuousClock.now
                            let response = try await client.execute(request, timeout: .seconds(30))
                            _ = try await response.body.collect(upTo: 1 << 20)
                            let elapsed = ContinuousClock.now - sent
                            if response.status == .accepted {
                                mine.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
                                break
                            }
                            tally.refused.add(1, ordering: .relaxed)
                            guard response.status == .serviceUnavailable else {
                                throw HooktopError(.database, "the API answered \(response.status.code)")
                            }
                            try await Task.sleep(for: .milliseconds(50))
                        }
                    }
                    tally.latencies.withLock { $0.append(contentsOf: mine) }
                }
            }
            try await group.waitForAll()
        }
        let published = ContinuousClock.now - started
        try await client.shutdown()
        let total = paused ? 0 : events * endpoints
        if !paused {
            progress("waiting for \(total) deliveries")
            while true {
                let counts = try await engine.statusTotals()
                if counts.delivered + counts.dead >= total { break }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        let endToEnd = ContinuousClock.now - started
        dispatcher.stop()
        await services.triggerGracefulShutdown()
        try? await dispatching.value
        _ = try? await serving.value
        await sender.shutdown()
        await sink.stop()
        let sorted = tally.latencies.withLock { $0 }.sorted()
        let publishSeconds = Self.seconds(published)
        let endToEndSeconds = paused ? 0 : Self.seconds(endToEnd)
        let recorded = try store.messageCount()
        return Result(
            events: events, endpoints: endpoints, deliveries: total, publishSeconds: publishSeconds,
            eventsPerSecond: Double(events) / publishSeconds, endToEndSeconds: endToEndSeconds,
            deliveriesPerSecond: paused ? 0 : Double(total) / endToEndSeconds,
            latencyP50Milliseconds: DeliveryBenchmark.percentile(sorted, 0.5),
            latencyP99Milliseconds: DeliveryBenchmark.percentile(sorted, 0.99),
            refused: tally.refused.load(ordering: .relaxed), messagesRecorded: recorded,
            peakMemoryMiB: DeliveryBenchmark.peakMemoryMiB())
    }

    /// The port the API listens on, once it does.
    private final class ListeningPort: Sendable {
        let value = Mutex<Int?>(nil)
    }

    /// What the publishing connections share.
    private final class Tally: Sendable {
        /// The next request to send.
        let next = Atomic<Int>(0)
        let refused = Atomic<Int>(0)
        let latencies = Mutex<[Double]>([])
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
