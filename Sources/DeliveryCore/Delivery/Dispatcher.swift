import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Claims due deliveries, sends them and records every attempt: the loop behind `hooktop serve` and `hooktop demo`.
public final class Dispatcher: Service, Sendable {
    /// How the dispatcher paces itself.
    public struct Configuration: Sendable {
        /// Retry schedule (default: `RetryPolicy.standard`).
        public var retryPolicy = RetryPolicy.standard
        /// Deliveries in flight at once, across endpoints (default 512).
        public var maxInFlight = 512
        /// Lease length beyond the endpoint's timeout, in seconds (default 30).
        public var leaseMargin: TimeInterval = 30
        /// How often the log is checked for due work and other processes' changes (default 50 ms).
        public var pollInterval: Duration = .milliseconds(50)
        /// Disable an endpoint after this long without a success while failing, in seconds (default 5 days).
        public var autoDisableAfter: TimeInterval = 5 * 86400
        /// Time to let in-flight requests finish on shutdown before releasing them (default 10 s).
        public var shutdownGracePeriod: Duration = .seconds(10)

        public init() {}
    }

    public let store: Store
    public let sender: WebhookSender
    public let configuration: Configuration
    /// `w:` + random: the lease owner and `workers` row id.
    public let workerID: String
    private let logger: Logger
    private let wakeSignal = WakeSignal()
    private let shared = Mutex(Shared())
    private let started = Date()

    private struct Shared {
        var outcomes: [AttemptOutcome] = []
        var inFlight: [String: Int] = [:]
        var total = 0
        var stopping = false
        var discard = false
    }

    public init(store: Store, sender: WebhookSender, configuration: Configuration = Configuration(), logger: Logger) {
        self.store = store
        self.sender = sender
        self.configuration = configuration
        self.workerID = Identifier.make("w:", length: 12).replacingOccurrences(of: "w:_", with: "w:")
        self.logger = logger
    }

    /// Looks for due work now instead of at the next poll (after a publish or an operator action).
    public func wake() { wakeSignal.signal() }

    /// Stops claiming; in-flight work finishes or is released within the grace period, then `run` returns.
    public func stop() {
        shared.withLock { $0.stopping = true }
        wakeSignal.signal()
    }

    /// Deliveries being sent right now.
    public var inFlightCount: Int { shared.withLock { $0.total } }

    public func run() async throws {
        // A graceful shutdown (SIGTERM) and a cancellation (another service of the group failed) both stop it.
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await loop()
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
    }

    private func loop() async throws {
        var random = SystemRandomNumberGenerator()
        var endpoints: [Endpoint] = []
        var lastRefresh = Date.distantPast
        var lastHeartbeat = Date.distantPast
        var lastCounter: Int64 = -1
        var rotation = 0
        try? store.forgetDeadWorkers(host: ProcessInfo.processInfo.hostName, except: workerID)
        _ = try? store.releaseLeases(now: Date())
        logger.info("dispatcher started", metadata: ["worker": "\(workerID)"])
        await withDiscardingTaskGroup { group in
            while !shared.withLock({ $0.stopping }) {
                let now = Date()
                do {
                    if now.timeIntervalSince(lastHeartbeat) >= 1 {
                        try store.heartbeat(worker(now: now))
                        try store.releaseLeases(now: now)
                        lastHeartbeat = now
                    }
                    // Endpoint changes (pause, resume, new endpoints) come from any process: look at most every
                    // 50 ms when the database changed, and every second regardless.
                    let counter = try store.changeCounter()
                    let sinceRefresh = now.timeIntervalSince(lastRefresh)
                    if (counter != lastCounter && sinceRefresh >= 0.05) || sinceRefresh >= 1 {
                        endpoints = try store.endpoints().filter { $0.status == .active }
                        lastRefresh = now
                        lastCounter = counter
                    }
                    try flush(&random)
                    rotation = endpoints.isEmpty ? 0 : (rotation + 1) % endpoints.count
                    let requests = shared.withLock { state in
                        Self.allocate(
                            room: configuration.maxInFlight - state.total, endpoints: endpoints, start: rotation,
                            inFlight: state.inFlight)
                    }
                    let jobs = requests.isEmpty ? [] : try store.claimDue(
                        requests, owner: workerID, now: now, lease: configuration.leaseMargin)
                    for job in jobs {
                        shared.withLock { state in
                            state.inFlight[job.endpoint.id, default: 0] += 1
                            state.total += 1
                        }
                        group.addTask { await self.perform(job) }
                    }
                    if !jobs.isEmpty { continue }
                } catch {
                    logger.error("dispatcher: \(error)")
                }
                if shared.withLock({ $0.outcomes.isEmpty }) {
                    await wakeSignal.wait(timeout: configuration.pollInterval)
                }
            }
            await drain(&random)
            group.cancelAll()
        }
        _ = try? store.releaseLeases(owner: workerID, now: Date())
        try? store.removeWorker(id: workerID)
        logger.info("dispatcher stopped", metadata: ["worker": "\(workerID)"])
    }

    /// Shares the free in-flight slots among endpoints: an equal share each (at least one), within each endpoint's
    /// own limit, starting from a rotating position so no endpoint is always served last.
    static func allocate(room: Int, endpoints: [Endpoint], start: Int, inFlight: [String: Int]) -> [(endpoint: Endpoint, limit: Int)] {
        guard room > 0, !endpoints.isEmpty else { return [] }
        var remaining = room
        let share = max(1, room / endpoints.count)
        var result: [(endpoint: Endpoint, limit: Int)] = []
        for offset in 0..<endpoints.count where remaining > 0 {
            let endpoint = endpoints[(start + offset) % endpoints.count]
            let limit = min(share, remaining, endpoint.maxInFlight - inFlight[endpoint.id, default: 0])
            guard limit > 0 else { continue }
            remaining -= limit
            result.append((endpoint, limit))
        }
        return result
    }

    private func perform(_ job: DeliveryJob) async {
        let outcome = await sender.send(job)
        shared.withLock { state in
            state.inFlight[job.endpoint.id, default: 1] -= 1
            state.total -= 1
            if !state.discard { state.outcomes.append(outcome) }
        }
        wakeSignal.signal()
    }

    /// Records every finished attempt in one transaction.
    private func flush(_ random: inout SystemRandomNumberGenerator) throws {
        let outcomes = shared.withLock { state in
            defer { state.outcomes.removeAll(keepingCapacity: true) }
            return state.outcomes
        }
        guard !outcomes.isEmpty else { return }
        do {
            try store.record(
                outcomes, owner: workerID, policy: configuration.retryPolicy,
                autoDisableAfter: configuration.autoDisableAfter, now: Date(), random: &random)
        } catch {
            // Keep them for the next flush rather than lose attempts that happened.
            shared.withLock { $0.outcomes.insert(contentsOf: outcomes, at: 0) }
            throw error
        }
    }

    /// Lets in-flight sends finish within the grace period, recording them; the rest are released unrecorded.
    private func drain(_ random: inout SystemRandomNumberGenerator) async {
        let deadline = ContinuousClock.now + configuration.shutdownGracePeriod
        while shared.withLock({ $0.total > 0 }) && ContinuousClock.now < deadline {
            try? flush(&random)
            await wakeSignal.wait(timeout: .milliseconds(20))
        }
        try? flush(&random)
        shared.withLock { $0.discard = true }
    }

    private func worker(now: Date) -> WorkerInfo {
        WorkerInfo(
            id: workerID, pid: Int(getpid()), host: ProcessInfo.processInfo.hostName, startedAt: started,
            heartbeatAt: now, version: HooktopVersion.current, inFlight: inFlightCount)
    }
}
