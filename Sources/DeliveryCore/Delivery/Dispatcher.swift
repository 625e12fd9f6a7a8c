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

    /// What the loop remembers between iterations.
    private struct LoopState: Sendable {
        var endpoints: [Endpoint] = []
        var lastRefresh = Date.distantPast
        var lastHeartbeat = Date.distantPast
        var lastCounter: Int64 = -1
        var rotation = 0
    }

    private func loop() async throws {
        var state = LoopState()
        _ = try? await store.offload { [self] in
            try store.forgetDeadWorkers(host: ProcessInfo.processInfo.hostName, except: workerID)
            return try store.releaseLeases(now: Date())
        }
        logger.info("dispatcher started", metadata: ["worker": "\(workerID)"])
        await withDiscardingTaskGroup { group in
            while !shared.withLock({ $0.stopping }) {
                await gatherBatch(endpoints: state.endpoints)
                let jobs: [DeliveryJob]
                do {
                    // The database work of one iteration runs on the store's thread, so Swift's few cooperative
                    // threads stay free to drive the HTTP requests.
                    (state, jobs) = try await store.offload { [self, state] in try iterate(state) }
                } catch {
                    logger.error("dispatcher: \(error)")
                    jobs = []
                }
                for job in jobs {
                    group.addTask { await self.perform(job) }
                }
                if !jobs.isEmpty { continue }
                if shared.withLock({ $0.outcomes.isEmpty }) {
                    await wakeSignal.wait(timeout: configuration.pollInterval)
                }
            }
            await drain()
            group.cancelAll()
        }
        _ = try? await store.offload { [self] in
            try store.releaseLeases(owner: workerID, now: Date())
            try store.removeWorker(id: workerID)
        }
        logger.info("dispatcher stopped", metadata: ["worker": "\(workerID)"])
    }

    /// One iteration's database work: heartbeat, endpoint refresh, recording finished attempts, claiming due ones.
    /// The claimed jobs are already counted in flight.
    private func iterate(_ previous: LoopState) throws -> (LoopState, [DeliveryJob]) {
        var state = previous
        let now = Date()
        if now.timeIntervalSince(state.lastHeartbeat) >= 1 {
            try store.heartbeat(worker(now: now))
            try store.releaseLeases(now: now)
            state.lastHeartbeat = now
        }
        // Endpoint changes (pause, resume, new endpoints) come from any process: look every 50 ms whether the
        // database changed, and reload every second regardless.
        let sinceRefresh = now.timeIntervalSince(state.lastRefresh)
        if sinceRefresh >= 0.05 {
            let counter = try store.changeCounter()
            if counter != state.lastCounter || sinceRefresh >= 1 {
                state.endpoints = try store.endpoints().filter { $0.status == .active }
                state.lastRefresh = now
                state.lastCounter = counter
            }
        }
        try flush()
        state.rotation = state.endpoints.isEmpty ? 0 : (state.rotation + 1) % state.endpoints.count
        let requests = shared.withLock { shared in
            Self.allocate(
                room: configuration.maxInFlight - shared.total, endpoints: state.endpoints, start: state.rotation,
                inFlight: shared.inFlight)
        }
        // A read first: most idle polls find nothing due and then take no write lock at all.
        guard !requests.isEmpty, try store.hasDueWork(now: now) else { return (state, []) }
        let jobs = try store.claimDue(requests, owner: workerID, now: now, lease: configuration.leaseMargin)
        shared.withLock { shared in
            for job in jobs {
                shared.inFlight[job.endpoint.id, default: 0] += 1
                shared.total += 1
            }
        }
        return (state, jobs)
    }

    /// Under load, waits up to 2 ms for several sends to finish, so that one transaction records and claims many
    /// deliveries instead of one per wake-up. Returns at once when idle or when a batch is ready.
    private func gatherBatch(endpoints: [Endpoint]) async {
        let batch = max(1, min(64, configuration.maxInFlight / 8))
        let deadline = ContinuousClock.now + .milliseconds(2)
        while ContinuousClock.now < deadline {
            let ready = shared.withLock { state -> Bool in
                if state.total == 0 || state.outcomes.count >= batch || state.stopping { return true }
                let claimable = Self.allocate(
                    room: configuration.maxInFlight - state.total, endpoints: endpoints, start: 0,
                    inFlight: state.inFlight
                ).reduce(0) { $0 + $1.limit }
                return claimable >= batch
            }
            if ready { return }
            await wakeSignal.wait(timeout: .milliseconds(1))
        }
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
    private func flush() throws {
        var random = SystemRandomNumberGenerator()
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
    private func drain() async {
        let deadline = ContinuousClock.now + configuration.shutdownGracePeriod
        while shared.withLock({ $0.total > 0 }) && ContinuousClock.now < deadline {
            _ = try? await store.offload { [self] in try flush() }
            await wakeSignal.wait(timeout: .milliseconds(20))
        }
        _ = try? await store.offload { [self] in try flush() }
        shared.withLock { $0.discard = true }
    }

    private func worker(now: Date) -> WorkerInfo {
        WorkerInfo(
            id: workerID, pid: Int(getpid()), host: ProcessInfo.processInfo.hostName, startedAt: started,
            heartbeatAt: now, version: HooktopVersion.current, inFlight: inFlightCount)
    }
}
