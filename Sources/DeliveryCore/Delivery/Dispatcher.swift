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

    /// Attempts a dispatcher recorded in the log, by outcome.
    public struct RecordedAttempts: Sendable, Equatable {
        /// Answered with a 2xx.
        public var successes = 0
        /// Every other outcome: an error status, a timeout, a refused connection.
        public var failures = 0

        public init() {}
    }

    /// The engine's side for dispatchers.
    public let log: any DispatchLog
    public let sender: WebhookSender
    public let configuration: Configuration
    /// `w:` + random: the lease owner and `workers` row id.
    public let workerID: String
    private let logger: Logger
    private let shared: Mutex<Shared>
    /// What iterations remember; only touched by the iteration running (one at a time).
    private let loopState = Mutex(LoopState())
    /// Iterations to run, one after the other, by the task `run` starts.
    private let work: AsyncStream<Work>
    private let workQueue: AsyncStream<Work>.Continuation
    /// The thread the iterations run on (not a cooperative one).
    private let executor = QueueTaskExecutor(label: "hooktop.dispatcher")

    /// What the iteration task does next.
    private enum Work: Sendable {
        /// Release what dead dispatchers held, then iterate.
        case begin
        /// An iteration; a delayed one carries its generation and is skipped when another ran since.
        case iterate(generation: Int?)
    }
    private let started = Date()
    /// The attempts recorded so far.
    private let recorded = Mutex(RecordedAttempts())
    /// The last error logged, and when (see `report`).
    private let lastError = Mutex<(message: String, at: ContinuousClock.Instant)?>(nil)

    /// The lifecycle, resuming `run`'s continuation when it finishes.
    private typealias Machine = DispatcherStateMachine<CheckedContinuation<Void, Never>>

    private struct Shared {
        /// The lifecycle: what runs when, and when `run` returns.
        var machine: Machine
        /// Finished attempts waiting to be recorded.
        var outcomes: [AttemptOutcome] = []
        var inFlight: [String: Int] = [:]
        var total = 0
    }

    public init(
        log: any DispatchLog, sender: WebhookSender, configuration: Configuration = Configuration(), logger: Logger
    ) {
        self.log = log
        (work, workQueue) = AsyncStream.makeStream(of: Work.self)
        self.sender = sender
        self.configuration = configuration
        self.workerID = Identifier.make("w:", length: 12).replacingOccurrences(of: "w:_", with: "w:")
        self.logger = logger
        let pacing = Machine.Pacing(
            gracePeriod: configuration.shutdownGracePeriod, pollInterval: configuration.pollInterval,
            batchSize: max(1, min(64, configuration.maxInFlight / 8)))
        self.shared = Mutex(Shared(machine: Machine(pacing: pacing)))
    }

    /// Looks for due work now instead of at the next poll (after a publish or an operator action).
    public func wake() { perform(shared.withLock { $0.machine.wake() }) }

    /// Stops claiming; in-flight work finishes or is released within the grace period, then `run` returns.
    public func stop() { perform(shared.withLock { $0.machine.stop() }) }

    /// Deliveries being sent right now.
    public var inFlightCount: Int { shared.withLock { $0.total } }

    /// The attempts this dispatcher recorded in the log so far, by outcome.
    public var recordedAttempts: RecordedAttempts { recorded.withLock { $0 } }

    /// Over an SQLite store.
    public convenience init(
        store: Store, sender: WebhookSender, configuration: Configuration = Configuration(), logger: Logger
    ) {
        self.init(log: SQLiteEngine(store: store), sender: sender, configuration: configuration, logger: logger)
    }

    /// Runs until stopped. One task runs the iterations one at a time (recording finished attempts, claiming due
    /// ones, heartbeats), awaiting the engine, and the HTTP exchanges run on the client's event loops; iterations
    /// are driven by finished attempts, wake-ups and a poll timer, so nothing is busy while nothing happens.
    public func run() async throws {
        // A graceful shutdown (SIGTERM) and a cancellation (another service of the group failed) both stop it.
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withCheckedContinuation { continuation in
                    switch shared.withLock({ $0.machine.start(continuation) }) {
                    case .begin:
                        workQueue.yield(.begin)
                        Task(executorPreference: executor) { await self.iterations() }
                    case .resume(let continuation): continuation.resume()
                    }
                }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
    }

    /// What iterations remember between them.
    private struct LoopState: Sendable {
        var endpoints: [Endpoint] = []
        var lastRefresh = Date.distantPast
        var lastHeartbeat = Date.distantPast
        var lastCounter: Int64 = -1
        var rotation = 0
        /// Endpoints' rate limits (per process: each dispatcher keeps its own).
        var limiter = RateLimiter()
    }

    /// Runs the queued work in order until the dispatcher finishes.
    private func iterations() async {
        for await item in work {
            switch item {
            case .begin: await begin()
            case .iterate(let generation): await iterate(generation: generation)
            }
        }
    }

    private func begin() async {
        // Work committed by other processes, as soon as they tell; the poll finds it otherwise.
        log.watchForWork { [weak self] in self?.wake() }
        do {
            try await log.forgetDeadWorkers(host: ProcessInfo.processInfo.hostName, except: workerID)
            try await log.releaseLeases(owner: nil, now: Date())
        } catch {
            report(error)
        }
        logger.info("dispatcher started", metadata: ["worker": "\(workerID)"])
        await iterate(generation: nil)
    }

    /// Queues an iteration as the machine asked.
    private func perform(_ action: Machine.ScheduleAction) {
        switch action {
        case .none: break
        case .iterateNow: workQueue.yield(.iterate(generation: nil))
        case .iterateAfter(let delay, let generation):
            Task(executorPreference: executor) { [workQueue] in
                try? await Task.sleep(for: delay)
                workQueue.yield(.iterate(generation: generation))
            }
        }
    }

    /// One iteration; a delayed one (`generation` given) is skipped when another ran since.
    private func iterate(generation: Int?) async {
        switch shared.withLock({ $0.machine.iterationBegins(generation: generation, now: .now) }) {
        case .skip: return
        case .drain: return await drainStep()
        case .claimAndRecord: break
        }
        do {
            let (state, jobs) = try await claimAndRecord(loopState.withLock { $0 })
            loopState.withLock { $0 = state }
            sender.start(jobs) { outcome in self.finished(outcome) }
        } catch {
            report(error)
        }
        // Finished attempts schedule the next iteration sooner; the poll keeps heartbeats, endpoint changes and
        // other processes' publishes coming when nothing finishes.
        perform(shared.withLock { $0.machine.iterationEnded(now: .now) })
    }

    /// A finished attempt, on an event loop: counted out of flight and queued to be recorded.
    private func finished(_ outcome: AttemptOutcome) {
        let action = shared.withLock { state -> Machine.ScheduleAction in
            state.inFlight[outcome.endpointId, default: 1] -= 1
            state.total -= 1
            let pending = state.outcomes.count + 1
            switch state.machine.attemptFinished(pendingOutcomes: pending, now: .now) {
            case .discard:
                return .none
            case .keep(let action):
                state.outcomes.append(outcome)
                return action
            }
        }
        perform(action)
    }

    /// One iteration's database work: heartbeat, endpoint refresh, recording finished attempts, claiming due ones.
    /// The claimed jobs are already counted in flight.
    private func claimAndRecord(_ previous: LoopState) async throws -> (LoopState, [DeliveryJob]) {
        var state = previous
        let now = Date()
        if now.timeIntervalSince(state.lastHeartbeat) >= 1 {
            try await log.heartbeat(worker(now: now))
            try await log.releaseLeases(owner: nil, now: now)
            state.lastHeartbeat = now
        }
        // Endpoint changes (pause, resume, new endpoints) come from any process: look every 50 ms whether the
        // database changed, and reload every second regardless.
        let sinceRefresh = now.timeIntervalSince(state.lastRefresh)
        if sinceRefresh >= 0.05 {
            let counter = try await log.changeCounter()
            if counter != state.lastCounter || sinceRefresh >= 1 {
                state.endpoints = try await log.activeEndpoints()
                state.limiter.retain(Set(state.endpoints.filter { $0.rateLimit != nil }.map(\.id)))
                state.lastRefresh = now
                state.lastCounter = counter
            }
        }
        state.rotation = state.endpoints.isEmpty ? 0 : (state.rotation + 1) % state.endpoints.count
        let allocated = shared.withLock { shared in
            Self.allocate(
                room: configuration.maxInFlight - shared.total, endpoints: state.endpoints, start: state.rotation,
                inFlight: shared.inFlight)
        }
        // A rate-limited endpoint claims no more than its limit lets start now; the 50 ms poll brings the rest.
        let uptime = ProcessInfo.processInfo.systemUptime
        let requests = allocated.compactMap { request -> ClaimRequest? in
            guard let limit = request.endpoint.rateLimit else { return request }
            let allowed = state.limiter.allowance(endpoint: request.endpoint.id, limit: limit, now: uptime)
            guard allowed > 0 else { return nil }
            return ClaimRequest(endpoint: request.endpoint, limit: min(request.limit, allowed))
        }
        let jobs = try await withOutcomes { outcomes -> [DeliveryJob] in
            if outcomes.isEmpty {
                // A read first: most idle polls find nothing due and then take no write lock at all.
                guard !requests.isEmpty, try await log.hasDueWork(now: now) else { return [] }
                return try await log.claimDue(requests, owner: workerID, now: now, lease: configuration.leaseMargin)
            }
            return try await log.recordAndClaim(
                outcomes, claiming: requests, owner: workerID, policy: configuration.retryPolicy,
                autoDisableAfter: configuration.autoDisableAfter, now: now, lease: configuration.leaseMargin)
        }
        shared.withLock { shared in
            for job in jobs {
                shared.inFlight[job.endpoint.id, default: 0] += 1
                shared.total += 1
            }
        }
        for job in jobs where job.endpoint.rateLimit != nil {
            state.limiter.started(endpoint: job.endpoint.id, count: 1, now: uptime)
        }
        return (state, jobs)
    }

    /// Stopping: records what finished; once nothing is in flight, or the grace period is over, releases the rest
    /// of its leases, removes its worker row and lets `run` return.
    private func drainStep() async {
        do { try await flush() } catch { report(error) }
        let action = shared.withLock { state in
            let inFlight = state.total
            return state.machine.drainCheck(now: .now, inFlight: inFlight)
        }
        switch action {
        case .none: return
        case .wait(let action): return perform(action)
        case .release: break
        }
        do { try await flush() } catch { report(error) }
        do {
            try await log.releaseLeases(owner: workerID, now: Date())
            try await log.removeWorker(id: workerID)
        } catch {
            report(error)
        }
        logger.info("dispatcher stopped", metadata: ["worker": "\(workerID)"])
        workQueue.finish()
        if case .resume(let continuation) = shared.withLock({ $0.machine.finish() }) {
            continuation.resume()
        }
    }

    /// Shares the free in-flight slots among endpoints: an equal share each (at least one), within each endpoint's
    /// own limit, starting from a rotating position so no endpoint is always served last.
    static func allocate(room: Int, endpoints: [Endpoint], start: Int, inFlight: [String: Int]) -> [ClaimRequest] {
        guard room > 0, !endpoints.isEmpty else { return [] }
        var remaining = room
        let share = max(1, room / endpoints.count)
        var result: [ClaimRequest] = []
        for offset in 0..<endpoints.count where remaining > 0 {
            let endpoint = endpoints[(start + offset) % endpoints.count]
            let limit = min(share, remaining, endpoint.maxInFlight - inFlight[endpoint.id, default: 0])
            guard limit > 0 else { continue }
            remaining -= limit
            result.append(ClaimRequest(endpoint: endpoint, limit: limit))
        }
        return result
    }

    /// Records every finished attempt in one transaction.
    private func flush() async throws {
        try await withOutcomes { outcomes in
            guard !outcomes.isEmpty else { return }
            try await log.record(
                outcomes, owner: workerID, policy: configuration.retryPolicy,
                autoDisableAfter: configuration.autoDisableAfter, now: Date())
        }
    }

    /// Hands the finished attempts to `body`; when it throws they are kept for the next iteration rather than lose
    /// attempts that happened.
    private func withOutcomes<T>(_ body: ([AttemptOutcome]) async throws -> T) async throws -> T {
        let outcomes = shared.withLock { state in
            defer { state.outcomes.removeAll(keepingCapacity: true) }
            return state.outcomes
        }
        do {
            let result = try await body(outcomes)
            guard !outcomes.isEmpty else { return result }
            let successes = outcomes.count { $0.succeeded }
            recorded.withLock { totals in
                totals.successes += successes
                totals.failures += outcomes.count - successes
            }
            return result
        } catch {
            shared.withLock { $0.outcomes.insert(contentsOf: outcomes, at: 0) }
            throw error
        }
    }

    /// Logs an error, but the same one at most once a minute: a persistent one (the file migrated by a newer version,
    /// a full disk) would otherwise be logged on every poll.
    private func report(_ error: any Error) {
        let message = "\(error)"
        let now = ContinuousClock.now
        let repeated = lastError.withLock { last -> Bool in
            if let last, last.message == message, now - last.at < .seconds(60) { return true }
            last = (message, now)
            return false
        }
        if !repeated { logger.error("dispatcher: \(message)") }
    }

    private func worker(now: Date) -> WorkerInfo {
        WorkerInfo(
            id: workerID, pid: Int(getpid()), host: ProcessInfo.processInfo.hostName, startedAt: started,
            heartbeatAt: now, version: HooktopVersion.current, inFlight: inFlightCount,
            retryDelays: configuration.retryPolicy.delays)
    }
}
