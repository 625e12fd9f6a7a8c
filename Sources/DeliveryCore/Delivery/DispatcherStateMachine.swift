/// The dispatcher's lifecycle and pacing as a value: which iteration to run and when, how a stop drains, when
/// finished attempts stop being recorded, and when `run` returns.
///
/// Each event is a mutating method that returns what the dispatcher should do; the machine does no I/O and reads
/// no clock (the instant is passed in), so every transition can be tested without sleeping. The dispatcher holds
/// it in its lock and performs the actions outside.
///
/// ```
/// idle ──start──▶ running ──stop──▶ stopping ──drainCheck: nothing in flight, or grace over──▶ releasing
///  │                                   ▲                                                           │ finish
///  └──stop, then start─────────────────┘                                                           ▼
///                                                                                              finished
/// ```
///
/// Iterations are queued at once (a wake-up, a batch of finished attempts, a stop) or after a delay (the poll,
/// a small batch, the drain's next look); a request is dropped when one is already queued as soon. Each iteration
/// that runs bumps the generation, so a delayed iteration that finds it changed has nothing left to do.
///
/// `Waiter` is what `run` waits on (a continuation); it is handed back, once, when the machine finishes.
struct DispatcherStateMachine<Waiter> {
    /// How the dispatcher paces itself.
    struct Pacing: Sendable, Equatable {
        /// Time in-flight attempts get to finish after a stop, counted from the first iteration after it.
        var gracePeriod: Duration
        /// The next iteration after one that ran, when nothing comes sooner.
        var pollInterval: Duration
        /// Finished attempts waiting to be recorded that make an iteration run at once.
        var batchSize: Int
        /// Under load, how long finished attempts may wait to be recorded together with others.
        var batchDelay: Duration = .milliseconds(5)
        /// While stopping, how often the dispatcher looks whether everything in flight finished.
        var drainInterval: Duration = .milliseconds(20)
    }

    /// The iterations queued on the store's thread.
    struct Queue: Sendable, Equatable {
        /// Iterations begun so far; a delayed iteration carries the generation it was queued in.
        var generation = 0
        /// An iteration is queued to run at once.
        var queuedNow = false
        /// When the earliest delayed iteration is queued to run.
        var queuedAt: ContinuousClock.Instant?

        /// Records an iteration request, at once (`nil`) or delayed; returns what to queue, `.none` when an
        /// iteration is queued as soon.
        fileprivate mutating func request(_ delayed: (delay: Duration, at: ContinuousClock.Instant)?) -> ScheduleAction {
            guard let delayed else {
                if queuedNow { return .none }
                queuedNow = true
                return .iterateNow
            }
            if queuedNow || (queuedAt.map { $0 <= delayed.at } ?? false) { return .none }
            queuedAt = delayed.at
            return .iterateAfter(delayed.delay, generation: generation)
        }

        /// An iteration's turn: `false` when it is a delayed one made pointless by an iteration since.
        fileprivate mutating func begin(_ queuedGeneration: Int?) -> Bool {
            if let queuedGeneration, queuedGeneration != generation { return false }
            generation += 1
            queuedNow = false
            queuedAt = nil
            return true
        }
    }

    enum State {
        /// `run` was not called yet; a stop may come first.
        case idle(stopRequested: Bool)
        /// Claiming, sending and recording.
        case running(Queue, waiter: Waiter)
        /// Claiming no more; recording what finishes until nothing is in flight or the deadline (set by the first
        /// iteration after the stop) passed.
        case stopping(Queue, deadline: ContinuousClock.Instant?, waiter: Waiter)
        /// Drained or out of time: attempts finishing now are discarded (their leases are being released).
        case releasing(waiter: Waiter)
        /// `run` returned.
        case finished
    }

    /// What to do about an iteration request.
    enum ScheduleAction: Equatable {
        case none
        /// Queue an iteration to run at once.
        case iterateNow
        /// Queue an iteration to run after `delay`, carrying `generation`.
        case iterateAfter(Duration, generation: Int)
    }

    /// What to do when `run` is called.
    enum StartAction {
        /// Begin on the store's thread (release dead workers' leases, then the first iteration).
        case begin
        /// The dispatcher already ran or runs: let this `run` return at once.
        case resume(Waiter)
    }

    /// What a queued iteration does when its turn comes.
    enum IterationAction: Equatable {
        /// Nothing: the dispatcher finished, or another iteration ran since this delayed one was queued.
        case skip
        /// Record finished attempts, claim due deliveries and send them.
        case claimAndRecord
        /// Record finished attempts, then `drainCheck`.
        case drain
    }

    /// What to do with an attempt that just finished.
    enum OutcomeAction: Equatable {
        /// Drop it: the leases are released (or being released) and the log no longer takes attempts from here.
        case discard
        /// Keep it to be recorded, and act on the iteration request it makes.
        case keep(ScheduleAction)
    }

    /// What a drain step does next.
    enum DrainAction: Equatable {
        /// Nothing: the machine is not stopping.
        case none
        /// Attempts are still in flight within the grace period: look again later.
        case wait(ScheduleAction)
        /// Record what finished, release the leases left, remove the worker row, then `finish`.
        case release
    }

    /// What to do once the leases are released.
    enum FinishAction {
        case none
        /// Let `run` return.
        case resume(Waiter)
    }

    let pacing: Pacing
    private(set) var state: State = .idle(stopRequested: false)

    init(pacing: Pacing) {
        self.pacing = pacing
    }

    /// `run` was called; `waiter` is resumed when the machine finishes.
    mutating func start(_ waiter: Waiter) -> StartAction {
        switch state {
        case .idle(let stopRequested):
            state = stopRequested ? .stopping(Queue(), deadline: nil, waiter: waiter) : .running(Queue(), waiter: waiter)
            return .begin
        case .running, .stopping, .releasing, .finished:
            return .resume(waiter)
        }
    }

    /// Look for due work at once.
    mutating func wake() -> ScheduleAction {
        schedule(at: nil)
    }

    /// Run an iteration after `delay`, unless one is queued as soon.
    mutating func scheduleAfter(_ delay: Duration, now: ContinuousClock.Instant) -> ScheduleAction {
        schedule(at: (delay, now + delay))
    }

    /// Claim no more: drain, then finish. A stop before `start` takes effect when it comes.
    mutating func stop() -> ScheduleAction {
        switch state {
        case .idle:
            state = .idle(stopRequested: true)
            return .none
        case .running(let queue, let waiter):
            state = .stopping(queue, deadline: nil, waiter: waiter)
            return schedule(at: nil)
        case .stopping:
            return schedule(at: nil)
        case .releasing, .finished:
            return .none
        }
    }

    /// A queued iteration's turn came: `generation` is the one it was queued with when delayed, `nil` when queued
    /// at once (or the first one).
    mutating func iterationBegins(generation: Int?, now: ContinuousClock.Instant) -> IterationAction {
        switch state {
        case .idle, .releasing, .finished:
            return .skip
        case .running(var queue, let waiter):
            guard queue.begin(generation) else { return .skip }
            state = .running(queue, waiter: waiter)
            return .claimAndRecord
        case .stopping(var queue, let deadline, let waiter):
            guard queue.begin(generation) else { return .skip }
            state = .stopping(queue, deadline: deadline ?? now + pacing.gracePeriod, waiter: waiter)
            return .drain
        }
    }

    /// An iteration that claimed and recorded is over: the next one comes with the poll unless something sooner.
    mutating func iterationEnded(now: ContinuousClock.Instant) -> ScheduleAction {
        scheduleAfter(pacing.pollInterval, now: now)
    }

    /// An attempt finished; `pendingOutcomes` is how many would wait to be recorded with it kept, itself included.
    mutating func attemptFinished(pendingOutcomes: Int, now: ContinuousClock.Instant) -> OutcomeAction {
        switch state {
        case .releasing, .finished:
            return .discard
        case .idle, .running, .stopping:
            return .keep(pendingOutcomes >= pacing.batchSize ? wake() : scheduleAfter(pacing.batchDelay, now: now))
        }
    }

    /// While stopping, after recording what finished: release once nothing is in flight or the grace period is over.
    mutating func drainCheck(now: ContinuousClock.Instant, inFlight: Int) -> DrainAction {
        guard case .stopping(_, let deadline, let waiter) = state else { return .none }
        guard inFlight == 0 || now >= deadline ?? now else {
            return .wait(scheduleAfter(pacing.drainInterval, now: now))
        }
        state = .releasing(waiter: waiter)
        return .release
    }

    /// The leases are released and the worker row removed: `run` may return.
    mutating func finish() -> FinishAction {
        guard case .releasing(let waiter) = state else { return .none }
        state = .finished
        return .resume(waiter)
    }

    /// Queues an iteration at once (`nil`) or at an instant, unless one is queued as soon.
    private mutating func schedule(at delayed: (delay: Duration, at: ContinuousClock.Instant)?) -> ScheduleAction {
        switch state {
        case .idle, .releasing, .finished:
            return .none
        case .running(var queue, let waiter):
            let action = queue.request(delayed)
            state = .running(queue, waiter: waiter)
            return action
        case .stopping(var queue, let deadline, let waiter):
            let action = queue.request(delayed)
            state = .stopping(queue, deadline: deadline, waiter: waiter)
            return action
        }
    }
}

extension DispatcherStateMachine: Sendable where Waiter: Sendable {}
extension DispatcherStateMachine.State: Sendable where Waiter: Sendable {}
extension DispatcherStateMachine.State: Equatable where Waiter: Equatable {}
extension DispatcherStateMachine.StartAction: Equatable where Waiter: Equatable {}
extension DispatcherStateMachine.FinishAction: Equatable where Waiter: Equatable {}
