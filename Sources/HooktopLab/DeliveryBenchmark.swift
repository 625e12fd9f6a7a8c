import DeliveryCore
import Foundation
import HooktopReceivers
import Logging

/// `hooktop bench`: publishes events to endpoints on a local sink through the real dispatcher and measures
/// sustained deliveries per second, publish-to-delivered latency and peak memory.
public struct DeliveryBenchmark: Sendable {
    public struct Result: Sendable {
        public var events: Int
        public var endpoints: Int
        public var deliveries: Int
        public var seconds: Double
        public var deliveriesPerSecond: Double
        public var p50Milliseconds: Double
        public var p99Milliseconds: Double
        public var peakMemoryMiB: Double
        /// CPU time (user and system) the whole process used during the run, in seconds: sender, sink, database and
        /// publisher together.
        public var cpuSeconds: Double
        /// Attempt rows found in the database afterwards (every delivery must have one).
        public var attemptsRecorded: Int
        public var delivered: Int
        public var sinkRequests: Int

        /// CPU time per delivery, in microseconds: how fast this machine ran (the same build costs more on a slower
        /// stretch).
        public var cpuMicrosecondsPerDelivery: Double { deliveries > 0 ? cpuSeconds * 1e6 / Double(deliveries) : 0 }
    }

    public var events: Int
    public var endpoints: Int
    public var maxInFlight: Int
    /// Deliveries allowed to wait in the queue before the publisher pauses (keeps the run steady-state).
    public var backlog: Int
    /// Events published per second; `nil` publishes as fast as the dispatcher keeps up (throughput).
    public var rate: Double?

    public init(events: Int, endpoints: Int, maxInFlight: Int = 512, backlog: Int = 20_000, rate: Double? = nil) {
        self.events = events
        self.endpoints = endpoints
        self.maxInFlight = maxInFlight
        self.backlog = backlog
        self.rate = rate
    }

    public func run(store: Store, progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Result {
        try await run(engine: SQLiteEngine(store: store), progress: progress)
    }

    /// A run on `engine`'s log (new and empty: the counts are the run's). Each of `otherLogs` (the same log, opened
    /// again: connections of its own) runs one more dispatcher, with its own sender, as another process would.
    package func run(
        engine: any DeliveryEngine & BenchmarkLog, otherLogs: [any DispatchLog] = [],
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws -> Result {
        let sink = try await BenchSink.start()
        let actor = Principal.current(via: "bench")
        for _ in 0..<endpoints {
            _ = try await Operations(engine: engine).addEndpoint(
                url: sink.url, changes: EndpointChanges(maxInFlight: maxInFlight), allowPrivateDestination: true,
                by: actor)
        }
        var logger = Logger(label: "hooktop.bench")
        logger.logLevel = .warning
        var configuration = Dispatcher.Configuration()
        configuration.maxInFlight = maxInFlight
        configuration.pollInterval = .milliseconds(20)
        var senderConfiguration = WebhookSender.Configuration()
        senderConfiguration.connectionsPerHost = maxInFlight
        let sender = WebhookSender(configuration: senderConfiguration)
        let dispatcher = Dispatcher(log: engine, sender: sender, configuration: configuration, logger: logger)
        let dispatching = Task { try await dispatcher.run() }
        let others = otherLogs.map { log in
            let sender = WebhookSender(configuration: senderConfiguration)
            let dispatcher = Dispatcher(log: log, sender: sender, configuration: configuration, logger: logger)
            return (sender: sender, dispatcher: dispatcher, task: Task { try await dispatcher.run() })
        }
        let operations = Operations(engine: engine, wake: { dispatcher.wake() })
        let total = events * endpoints
        let cpuBefore = Self.cpuSeconds()
        let started = ContinuousClock.now
        var published = 0
        let payload = #"{"invoice_id":"in_123","amount":4200,"currency":"eur","customer":{"id":"cus_9","email":"ada@example.com"}}"#
        var lastReport = ContinuousClock.now
        while true {
            let counts = try await engine.storedStatusTotals()
            var allowed = events - published
            if let rate {
                let elapsed = ContinuousClock.now - started
                let due = Int(rate * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
                allowed = min(allowed, due - published)
            }
            if allowed > 0, counts.queued + counts.inflight < backlog {
                // Transactions of about 100 deliveries (20 to 100 events): a long one would hold the store thread
                // while the dispatcher waits to record, and with few endpoints a short one makes the publisher's
                // round trips, not delivery, the limit.
                let count = min(max(1, backlog / max(endpoints, 1) / 4), allowed, min(100, max(20, 100 / max(endpoints, 1))))
                let events = Array(repeating: PublishRequest(eventType: "invoice.paid", payload: payload), count: count)
                _ = try await operations.publish(batch: events)
                published += count
                continue
            }
            if counts.delivered + counts.dead >= total { break }
            if ContinuousClock.now - lastReport > .seconds(2) {
                progress("published \(published)/\(events) events, \(counts.delivered)/\(total) delivered")
                lastReport = ContinuousClock.now
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let elapsed = ContinuousClock.now - started
        let cpu = Self.cpuSeconds() - cpuBefore
        dispatcher.stop()
        for other in others { other.dispatcher.stop() }
        try await dispatching.value
        for other in others {
            try await other.task.value
            await other.sender.shutdown()
        }
        await sender.shutdown()
        await sink.stop()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let latencies = try await engine.publishToDeliveredLatencies()
        let counts = try await engine.statusTotals()
        return Result(
            events: events, endpoints: endpoints, deliveries: total, seconds: seconds,
            deliveriesPerSecond: Double(total) / seconds, p50Milliseconds: Self.percentile(latencies, 0.5),
            p99Milliseconds: Self.percentile(latencies, 0.99), peakMemoryMiB: Self.peakMemoryMiB(),
            cpuSeconds: cpu, attemptsRecorded: try await engine.attemptCount(), delivered: counts.delivered,
            sinkRequests: sink.count)
    }

    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * q))]
    }

    /// User and system CPU time this process used so far, in seconds.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Peak resident memory of this process.
    public static func peakMemoryMiB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }
}

extension DeliveryBenchmark {
    /// The median, lowest and highest of one measure over several runs: on a machine whose speed drifts, one run
    /// says little.
    public struct Spread: Sendable {
        public var count: Int
        /// The middle value (the mean of the two middle ones for an even count); 0 for none.
        public var median: Double
        public var lowest: Double
        public var highest: Double

        public init(_ values: [Double]) {
            let sorted = values.sorted()
            count = sorted.count
            lowest = sorted.first ?? 0
            highest = sorted.last ?? 0
            let middle = sorted.count / 2
            median = sorted.isEmpty ? 0 : sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        }
    }

    /// The HTTP ceiling: signed POSTs from the same sender to the same sink with no database at all, `concurrency` at
    /// a time. Returns requests per second.
    public static func httpOnly(requests: Int, concurrency: Int) async throws -> Double {
        let sink = try await BenchSink.start()
        var configuration = WebhookSender.Configuration()
        configuration.connectionsPerHost = concurrency
        configuration.allowPrivateDestinations = true
        let sender = WebhookSender(configuration: configuration)
        let endpoint = Endpoint(
            id: "ep_bench", url: sink.url, secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", createdAt: Date(),
            updatedAt: Date())
        let message = Message(
            id: "msg_bench", eventType: "invoice.paid", payload: #"{"amount":4200}"#, idempotencyKey: nil,
            createdAt: Date())
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var index = worker
                    while index < requests {
                        let job = DeliveryJob(
                            deliveryId: Int64(index), endpoint: endpoint, message: message, attemptNumber: 1,
                            trigger: .scheduled)
                        let outcome = await sender.send(job)
                        guard outcome.succeeded else { throw HooktopError(.database, "sink failed: \(outcome.summary ?? "")") }
                        index += concurrency
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - started
        await sender.shutdown()
        await sink.stop()
        return Double(requests) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}
