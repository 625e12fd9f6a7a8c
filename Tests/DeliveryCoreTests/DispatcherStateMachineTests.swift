@testable import DeliveryCore
import Testing

/// The dispatcher's lifecycle, event by event, with instants made up: no store, no socket, no sleeping.
struct DispatcherStateMachineTests {
    /// The waiter is a name: what `run` would wait on.
    typealias Machine = DispatcherStateMachine<String>
    typealias Queue = Machine.Queue

    static let pacing = Machine.Pacing(gracePeriod: .seconds(10), pollInterval: .milliseconds(50), batchSize: 4)
    let t0 = ContinuousClock.now

    /// A machine started by "run", its first iteration begun at `t0`.
    func running() -> Machine {
        var machine = Machine(pacing: Self.pacing)
        #expect(machine.start("run") == .begin)
        #expect(machine.iterationBegins(generation: nil, now: t0) == .claimAndRecord)
        return machine
    }

    /// A running machine stopped, its drain begun at `t0`.
    func stopping() -> Machine {
        var machine = running()
        #expect(machine.stop() == .iterateNow)
        #expect(machine.iterationBegins(generation: nil, now: t0) == .drain)
        return machine
    }

    // MARK: Starting

    @Test func startBeginsAndTheFirstIterationClaims() {
        var machine = Machine(pacing: Self.pacing)
        #expect(machine.state == .idle(stopRequested: false))
        #expect(machine.start("run") == .begin)
        #expect(machine.state == .running(Queue(), waiter: "run"))
        #expect(machine.iterationBegins(generation: nil, now: t0) == .claimAndRecord)
        #expect(machine.state == .running(Queue(generation: 1), waiter: "run"))
    }

    @Test func nothingIsScheduledBeforeStart() {
        var machine = Machine(pacing: Self.pacing)
        #expect(machine.wake() == .none)
        #expect(machine.scheduleAfter(.milliseconds(50), now: t0) == .none)
        #expect(machine.iterationEnded(now: t0) == .none)
        #expect(machine.iterationBegins(generation: nil, now: t0) == .skip)
        #expect(machine.drainCheck(now: t0, inFlight: 0) == .none)
        #expect(machine.finish() == .none)
        #expect(machine.state == .idle(stopRequested: false))
    }

    @Test func aSecondStartReturnsAtOnce() {
        var machine = running()
        #expect(machine.start("again") == .resume("again"))
        #expect(machine.state == .running(Queue(generation: 1), waiter: "run"), "the first run still waits")
    }

    @Test func aStopBeforeStartDrainsAsSoonAsItStarts() {
        var machine = Machine(pacing: Self.pacing)
        #expect(machine.stop() == .none)
        #expect(machine.state == .idle(stopRequested: true))
        #expect(machine.start("run") == .begin)
        #expect(machine.state == .stopping(Queue(), deadline: nil, waiter: "run"))
        #expect(machine.iterationBegins(generation: nil, now: t0) == .drain)
        #expect(machine.drainCheck(now: t0, inFlight: 0) == .release)
        #expect(machine.finish() == .resume("run"))
    }

    // MARK: Scheduling

    @Test func wakeUpsAreCoalesced() {
        var machine = running()
        #expect(machine.wake() == .iterateNow)
        #expect(machine.wake() == .none, "one is queued already")
        #expect(machine.scheduleAfter(.milliseconds(5), now: t0) == .none, "one is queued sooner")
        #expect(machine.state == .running(Queue(generation: 1, queuedNow: true), waiter: "run"))
        #expect(machine.iterationBegins(generation: nil, now: t0) == .claimAndRecord)
        #expect(machine.state == .running(Queue(generation: 2), waiter: "run"))
        #expect(machine.wake() == .iterateNow, "the queued one ran")
    }

    @Test func delayedIterationsAreQueuedOnlyWhenSooner() {
        var machine = running()
        #expect(machine.scheduleAfter(.milliseconds(50), now: t0) == .iterateAfter(.milliseconds(50), generation: 1))
        #expect(machine.scheduleAfter(.milliseconds(100), now: t0) == .none)
        #expect(machine.scheduleAfter(.milliseconds(40), now: t0 + .milliseconds(10)) == .none, "at the same instant")
        #expect(machine.scheduleAfter(.milliseconds(5), now: t0) == .iterateAfter(.milliseconds(5), generation: 1))
        #expect(machine.state == .running(Queue(generation: 1, queuedAt: t0 + .milliseconds(5)), waiter: "run"))
        #expect(machine.wake() == .iterateNow, "at once is sooner than any delay")
    }

    @Test func aDelayedIterationIsSkippedWhenAnotherRanSince() {
        var machine = running()
        #expect(machine.scheduleAfter(.milliseconds(50), now: t0) == .iterateAfter(.milliseconds(50), generation: 1))
        #expect(machine.wake() == .iterateNow)
        #expect(machine.iterationBegins(generation: nil, now: t0) == .claimAndRecord)
        #expect(machine.iterationBegins(generation: 1, now: t0 + .milliseconds(50)) == .skip)
        #expect(machine.state == .running(Queue(generation: 2), waiter: "run"), "a skipped one changes nothing")
        // A delayed one that is still current runs.
        #expect(machine.scheduleAfter(.milliseconds(50), now: t0) == .iterateAfter(.milliseconds(50), generation: 2))
        #expect(machine.iterationBegins(generation: 2, now: t0 + .milliseconds(50)) == .claimAndRecord)
        #expect(machine.state == .running(Queue(generation: 3), waiter: "run"))
    }

    @Test func anIterationThatRanQueuesThePoll() {
        var machine = running()
        #expect(machine.iterationEnded(now: t0) == .iterateAfter(.milliseconds(50), generation: 1))
        #expect(machine.iterationEnded(now: t0) == .none, "already queued")
    }

    @Test func finishedAttemptsAreBatched() {
        var machine = running()
        #expect(machine.attemptFinished(pendingOutcomes: 1, now: t0) == .keep(.iterateAfter(.milliseconds(5), generation: 1)))
        #expect(machine.attemptFinished(pendingOutcomes: 2, now: t0 + .milliseconds(1)) == .keep(.none), "queued sooner")
        #expect(machine.attemptFinished(pendingOutcomes: 4, now: t0 + .milliseconds(2)) == .keep(.iterateNow), "a full batch")
        #expect(machine.attemptFinished(pendingOutcomes: 5, now: t0 + .milliseconds(3)) == .keep(.none))
    }

    // MARK: Stopping

    @Test func aStopDrainsThenReleasesThenFinishes() {
        var machine = running()
        #expect(machine.stop() == .iterateNow)
        #expect(machine.state == .stopping(Queue(generation: 1, queuedNow: true), deadline: nil, waiter: "run"))
        #expect(machine.iterationBegins(generation: nil, now: t0) == .drain)
        #expect(machine.state == .stopping(Queue(generation: 2), deadline: t0 + .seconds(10), waiter: "run"))
        #expect(machine.drainCheck(now: t0, inFlight: 2) == .wait(.iterateAfter(.milliseconds(20), generation: 2)))
        #expect(machine.iterationBegins(generation: 2, now: t0 + .milliseconds(20)) == .drain)
        #expect(machine.drainCheck(now: t0 + .milliseconds(20), inFlight: 0) == .release)
        #expect(machine.state == .releasing(waiter: "run"))
        #expect(machine.finish() == .resume("run"))
        #expect(machine.state == .finished)
    }

    @Test func attemptsFinishingWhileDrainingAreKept() {
        var machine = stopping()
        #expect(machine.attemptFinished(pendingOutcomes: 1, now: t0) == .keep(.iterateAfter(.milliseconds(5), generation: 2)))
        #expect(machine.attemptFinished(pendingOutcomes: 4, now: t0) == .keep(.iterateNow))
    }

    @Test func theGracePeriodEndsTheDrainWithAttemptsInFlight() {
        var machine = stopping()
        #expect(machine.drainCheck(now: t0 + .seconds(9), inFlight: 3) == .wait(.iterateAfter(.milliseconds(20), generation: 2)))
        #expect(machine.drainCheck(now: t0 + .seconds(10), inFlight: 3) == .release)
    }

    @Test func theDeadlineIsSetByTheFirstIterationAfterTheStop() {
        var machine = running()
        #expect(machine.stop() == .iterateNow)
        #expect(machine.iterationBegins(generation: nil, now: t0 + .seconds(1)) == .drain)
        #expect(machine.iterationBegins(generation: nil, now: t0 + .seconds(5)) == .drain)
        #expect(machine.state == .stopping(Queue(generation: 3), deadline: t0 + .seconds(11), waiter: "run"))
    }

    @Test func stoppingTwiceOnlyLooksAgain() {
        var machine = running()
        #expect(machine.stop() == .iterateNow)
        #expect(machine.stop() == .none, "the first stop's iteration is queued")
        #expect(machine.iterationBegins(generation: nil, now: t0) == .drain)
        #expect(machine.stop() == .iterateNow, "another look, the same deadline")
        #expect(machine.state == .stopping(Queue(generation: 2, queuedNow: true), deadline: t0 + .seconds(10), waiter: "run"))
    }

    @Test func outcomesAfterTheDrainAreDiscarded() {
        var machine = stopping()
        #expect(machine.drainCheck(now: t0, inFlight: 0) == .release)
        #expect(machine.attemptFinished(pendingOutcomes: 1, now: t0) == .discard)
        #expect(machine.attemptFinished(pendingOutcomes: 64, now: t0) == .discard)
        #expect(machine.finish() == .resume("run"))
        #expect(machine.attemptFinished(pendingOutcomes: 1, now: t0) == .discard)
    }

    @Test func nothingIsScheduledWhileReleasing() {
        var machine = stopping()
        #expect(machine.drainCheck(now: t0, inFlight: 0) == .release)
        #expect(machine.wake() == .none)
        #expect(machine.stop() == .none)
        #expect(machine.scheduleAfter(.milliseconds(20), now: t0) == .none)
        #expect(machine.iterationEnded(now: t0) == .none)
        #expect(machine.iterationBegins(generation: nil, now: t0) == .skip)
        #expect(machine.drainCheck(now: t0, inFlight: 0) == .none, "released once")
        #expect(machine.state == .releasing(waiter: "run"))
    }

    @Test func nothingHappensAfterFinishing() {
        var machine = stopping()
        #expect(machine.drainCheck(now: t0, inFlight: 0) == .release)
        #expect(machine.finish() == .resume("run"))
        #expect(machine.wake() == .none)
        #expect(machine.stop() == .none)
        #expect(machine.scheduleAfter(.milliseconds(50), now: t0) == .none)
        #expect(machine.iterationBegins(generation: nil, now: t0) == .skip)
        #expect(machine.iterationBegins(generation: 2, now: t0) == .skip)
        #expect(machine.drainCheck(now: t0, inFlight: 0) == .none)
        #expect(machine.finish() == .none, "the waiter is resumed once")
        #expect(machine.start("late") == .resume("late"))
        #expect(machine.state == .finished)
    }

    @Test func drainingAndFinishingNeedAStop() {
        var machine = running()
        #expect(machine.drainCheck(now: t0 + .seconds(60), inFlight: 0) == .none)
        #expect(machine.finish() == .none)
        var stopped = stopping()
        #expect(stopped.finish() == .none, "not before the drain released")
        #expect(stopped.state == .stopping(Queue(generation: 2), deadline: t0 + .seconds(10), waiter: "run"))
    }
}
