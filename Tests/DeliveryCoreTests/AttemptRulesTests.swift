@testable import DeliveryCore
import Foundation
import HooktopTesting
import Testing

/// The delivery rules on plain values: no database, no socket.
struct AttemptRulesTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let owner = "w:self"
    /// The standard schedule without jitter: exact times.
    static let exact = RetryPolicy(delays: RetryPolicy.standard.delays, jitter: 0)

    /// An attempt that finished `duration` ms after `startedAt`.
    static func outcome(
        status: Int?, retryAfter: TimeInterval? = nil, startedAt: Date = now, duration: Int = 100,
        endpointId: String = "ep_a"
    ) -> AttemptOutcome {
        AttemptOutcome(
            deliveryId: 1, endpointId: endpointId, trigger: .scheduled, startedAt: startedAt,
            durationMilliseconds: duration, requestHeaders: [], responseStatus: status, responseHeaders: [],
            responseBodyExcerpt: nil,
            errorClass: status == nil ? .connectRefused : ((200..<300).contains(status!) ? nil : .httpStatus),
            errorMessage: status == nil ? "connection refused" : nil, retryAfter: retryAfter)
    }

    /// A failed answer's summary (a delivery's and an endpoint's last error) carries the start of what the receiver
    /// said, on one line, made safe and cut short; an empty or blank body adds nothing.
    @Test func aFailedAnswerIsSummarisedWithTheStartOfItsBody() {
        func summary(_ status: Int, _ body: String?) -> String? {
            var outcome = Self.outcome(status: status)
            outcome.responseBodyExcerpt = body
            return outcome.summary
        }
        #expect(summary(500, nil) == "http 500")
        #expect(summary(500, "") == "http 500")
        #expect(summary(503, " \n\t ") == "http 503")
        #expect(summary(500, #"{"error":"internal"}"#) == #"http 500: {"error":"internal"}"#)
        #expect(summary(429, "slow\r\n  down\n") == "http 429: slow down")
        #expect(summary(502, "\u{1B}]0;owned\u{7}bad \u{1B}[2Jgateway") == "http 502: ^[bad ^[gateway")
        let long = summary(500, String(repeating: "é", count: 500))
        #expect(long == "http 500: " + String(repeating: "é", count: 99) + "…")
        // Only the first KiB is read: a long run of blanks leaves nothing.
        #expect(summary(500, String(repeating: " ", count: 2000) + "late") == "http 500")
        #expect(summary(200, "fine") == nil, "a success has no summary")
        #expect(Self.outcome(status: nil).summary == "connect_refused: connection refused")
    }

    /// A delivery in flight under this dispatcher's lease, after `attempts` attempts.
    static func leased(attempts: Int, manualCount: Int = 0, manual: ManualMode = .scheduled)
        -> AttemptRules.DeliveryState
    {
        AttemptRules.DeliveryState(
            status: .inflight, attemptCount: attempts, manualCount: manualCount, manual: manual, leaseOwner: owner)
    }

    static func decide(
        _ delivery: AttemptRules.DeliveryState, _ outcome: AttemptOutcome, policy: RetryPolicy = exact, seed: UInt64 = 1
    ) -> AttemptRules.DeliveryDecision {
        var random = SeededGenerator(seed: seed)
        return AttemptRules.decide(delivery, outcome: outcome, owner: owner, policy: policy, now: now, random: &random)
    }

    // MARK: Deliveries

    @Test func aSuccessDelivers() throws {
        let decision = Self.decide(Self.leased(attempts: 2), Self.outcome(status: 204))
        #expect(decision.attemptNumber == 3)
        #expect(!decision.endpointGone)
        #expect(
            decision.update
                == AttemptRules.DeliveryUpdate(
                    status: .delivered, attemptCount: 3, manualCount: 0, nextAttemptAt: nil, lastError: nil,
                    lastErrorClass: nil))
    }

    /// Attempt number → the delay the standard schedule waits after it fails.
    @Test(arguments: [(1, 5.0), (2, 300.0), (3, 1800.0), (7, 36000.0)] as [(Int, TimeInterval)])
    func aFailureWithAttemptsLeftRetriesOnSchedule(attempt: Int, delay: TimeInterval) throws {
        let decision = Self.decide(Self.leased(attempts: attempt - 1), Self.outcome(status: 500))
        let update = try #require(decision.update)
        #expect(decision.attemptNumber == attempt)
        #expect(update.status == .retrying)
        #expect(update.attemptCount == attempt)
        #expect(update.nextAttemptAt == Self.now.addingTimeInterval(delay))
        #expect(update.lastError == "http 500")
        #expect(update.lastErrorClass == .httpStatus)
        #expect(!decision.endpointGone)
    }

    @Test func theScheduleJittersDeterministicallyWithTheGenerator() throws {
        let delivery = Self.leased(attempts: 1)
        let outcome = Self.outcome(status: nil)
        let first = try #require(Self.decide(delivery, outcome, policy: .standard, seed: 9).update?.nextAttemptAt)
        let again = try #require(Self.decide(delivery, outcome, policy: .standard, seed: 9).update?.nextAttemptAt)
        let other = try #require(Self.decide(delivery, outcome, policy: .standard, seed: 10).update?.nextAttemptAt)
        #expect(first == again, "the same generator, the same time")
        #expect(first != other)
        for next in [first, other] {
            let wait = next.timeIntervalSince(Self.now)
            #expect(wait >= 300 * 0.8 && wait <= 300 * 1.2, "\(wait)")
        }
    }

    @Test func theLastAttemptsFailureIsDead() throws {
        let decision = Self.decide(Self.leased(attempts: 7), Self.outcome(status: nil))
        let update = try #require(decision.update)
        #expect(decision.attemptNumber == 8)
        #expect(update.status == .dead)
        #expect(update.nextAttemptAt == nil)
        #expect(update.lastError == "connect_refused: connection refused")
        #expect(update.lastErrorClass == .connectRefused)
        #expect(!decision.endpointGone)
    }

    @Test func goneKillsTheDeliveryAndTheEndpoint() throws {
        let decision = Self.decide(Self.leased(attempts: 0), Self.outcome(status: 410))
        #expect(decision.update?.status == .dead)
        #expect(decision.update?.nextAttemptAt == nil)
        #expect(decision.endpointGone)
    }

    @Test(arguments: [429, 503])
    func aLongerRetryAfterIsHonouredUpToTheCap(status: Int) throws {
        // The schedule says 5 s; the receiver asks for 2 minutes.
        let asked = Self.decide(Self.leased(attempts: 0), Self.outcome(status: status, retryAfter: 120))
        #expect(asked.update?.status == .retrying)
        #expect(asked.update?.nextAttemptAt == Self.now.addingTimeInterval(120))
        // Asking for a day gets the policy's cap (1 hour).
        let capped = Self.decide(Self.leased(attempts: 0), Self.outcome(status: status, retryAfter: 86400))
        #expect(capped.update?.nextAttemptAt == Self.now.addingTimeInterval(3600))
    }

    @Test func aShorterRetryAfterIsHonouredToo() throws {
        // The schedule says 30 min after the third attempt; the receiver asks for 10 s.
        let decision = Self.decide(Self.leased(attempts: 2), Self.outcome(status: 503, retryAfter: 10))
        #expect(decision.update?.nextAttemptAt == Self.now.addingTimeInterval(10))
    }

    /// The wait counts from when the attempt ended, so a recorder running late (a busy machine, a batch) does not
    /// stretch it; an attempt that seems to end after it is recorded (clocks) counts from the recording.
    @Test func theWaitCountsFromTheEndOfTheAttemptNotItsRecording() throws {
        let ended = Self.now.addingTimeInterval(-9.5)
        let limited = Self.decide(
            Self.leased(attempts: 0),
            Self.outcome(status: 429, retryAfter: 30, startedAt: Self.now.addingTimeInterval(-10), duration: 500))
        #expect(limited.update?.nextAttemptAt == ended.addingTimeInterval(30))
        let failed = Self.decide(
            Self.leased(attempts: 0), Self.outcome(status: 500, startedAt: Self.now.addingTimeInterval(-10), duration: 500))
        #expect(failed.update?.nextAttemptAt == ended.addingTimeInterval(5))
        let ahead = Self.decide(
            Self.leased(attempts: 0), Self.outcome(status: 500, startedAt: Self.now.addingTimeInterval(60)))
        #expect(ahead.update?.nextAttemptAt == Self.now.addingTimeInterval(5))
    }

    @Test func retryAfterCountsOnlyOn429And503AndNeverRevivesTheLastAttempt() throws {
        let other = Self.decide(Self.leased(attempts: 0), Self.outcome(status: 500, retryAfter: 120))
        #expect(other.update?.nextAttemptAt == Self.now.addingTimeInterval(5), "a 500's Retry-After is ignored")
        let last = Self.decide(Self.leased(attempts: 7), Self.outcome(status: 429, retryAfter: 10))
        #expect(last.update?.status == .dead)
        #expect(last.update?.nextAttemptAt == nil)
    }

    @Test func aManualAttemptOfAWaitingDeliveryKeepsItsSchedule() throws {
        // Two scheduled attempts failed; an operator sends it again and that fails too: the schedule goes on from
        // the second scheduled attempt (5 min), not the third.
        let failed = Self.decide(Self.leased(attempts: 2, manual: .fromWaiting), Self.outcome(status: 500))
        #expect(failed.attemptNumber == 3)
        #expect(
            failed.update
                == AttemptRules.DeliveryUpdate(
                    status: .retrying, attemptCount: 3, manualCount: 1,
                    nextAttemptAt: Self.now.addingTimeInterval(300), lastError: "http 500",
                    lastErrorClass: .httpStatus))
        // The next scheduled attempt is the third of the schedule.
        let next = Self.decide(Self.leased(attempts: 3, manualCount: 1), Self.outcome(status: 500))
        #expect(next.update?.manualCount == 1)
        #expect(next.update?.nextAttemptAt == Self.now.addingTimeInterval(1800))
        // A manual attempt does not use up the last scheduled one either.
        let afterSeven = Self.decide(Self.leased(attempts: 7, manual: .fromWaiting), Self.outcome(status: 500))
        #expect(afterSeven.update?.status == .retrying)
        #expect(afterSeven.update?.nextAttemptAt == Self.now.addingTimeInterval(36000))
        // A manual first attempt fails: the schedule starts at its first delay.
        let first = Self.decide(Self.leased(attempts: 0, manual: .fromWaiting), Self.outcome(status: 500))
        #expect(first.update?.nextAttemptAt == Self.now.addingTimeInterval(5))
    }

    @Test func aManualAttemptOfAWaitingDeliveryThatSucceedsDelivers() throws {
        let decision = Self.decide(Self.leased(attempts: 2, manual: .fromWaiting), Self.outcome(status: 200))
        #expect(decision.update?.status == .delivered)
        #expect(decision.update?.manualCount == 1)
        #expect(decision.update?.nextAttemptAt == nil)
    }

    @Test func aManualAttemptOfAFinishedDeliveryDoesNotRestartTheSchedule() throws {
        // Dead after eight attempts, sent again by an operator, failing again: dead, no retry.
        let failed = Self.decide(Self.leased(attempts: 8, manual: .fromFinished), Self.outcome(status: 500))
        #expect(failed.attemptNumber == 9)
        #expect(
            failed.update
                == AttemptRules.DeliveryUpdate(
                    status: .dead, attemptCount: 9, manualCount: 1, nextAttemptAt: nil, lastError: "http 500",
                    lastErrorClass: .httpStatus))
        // The same for a delivered one whose redelivery fails after a single attempt.
        let delivered = Self.decide(Self.leased(attempts: 1, manual: .fromFinished), Self.outcome(status: nil))
        #expect(delivered.update?.status == .dead)
        #expect(delivered.update?.nextAttemptAt == nil)
        #expect(!delivered.endpointGone)
    }

    @Test func aManualAttemptOfAFinishedDeliveryThatSucceedsDelivers() throws {
        let decision = Self.decide(
            Self.leased(attempts: 8, manualCount: 2, manual: .fromFinished), Self.outcome(status: 200))
        #expect(
            decision.update
                == AttemptRules.DeliveryUpdate(
                    status: .delivered, attemptCount: 9, manualCount: 3, nextAttemptAt: nil, lastError: nil,
                    lastErrorClass: nil))
    }

    @Test func aManualAttemptThatGetsGoneDisablesTheEndpoint() throws {
        let decision = Self.decide(Self.leased(attempts: 3, manual: .fromWaiting), Self.outcome(status: 410))
        #expect(decision.update?.status == .dead)
        #expect(decision.update?.manualCount == 1)
        #expect(decision.endpointGone)
    }

    @Test(arguments: [
        AttemptRules.DeliveryState(status: .inflight, attemptCount: 2, leaseOwner: "w:other"),
        AttemptRules.DeliveryState(status: .inflight, attemptCount: 2, leaseOwner: nil),
        AttemptRules.DeliveryState(status: .retrying, attemptCount: 2, leaseOwner: nil),
        AttemptRules.DeliveryState(status: .cancelled, attemptCount: 2, leaseOwner: "w:self"),
    ])
    func anAttemptWhoseLeaseWasLostLeavesTheDeliveryAlone(delivery: AttemptRules.DeliveryState) throws {
        for status in [200, 410, 500] {
            let decision = Self.decide(delivery, Self.outcome(status: status))
            #expect(decision.attemptNumber == 3, "still logged, as the next attempt")
            #expect(decision.update == nil)
            #expect(!decision.endpointGone, "a lost attempt disables nothing")
        }
    }

    @Test func applyingAnUpdateLeavesTheDeliveryOutOfFlight() throws {
        let delivery = Self.leased(attempts: 2, manual: .fromWaiting)
        let update = try #require(Self.decide(delivery, Self.outcome(status: 500)).update)
        let after = delivery.applying(update)
        #expect(
            after
                == AttemptRules.DeliveryState(
                    status: .retrying, attemptCount: 3, manualCount: 1, manual: .scheduled, leaseOwner: nil))
        // Another outcome for it in the same batch finds its lease gone.
        #expect(Self.decide(after, Self.outcome(status: 200)).update == nil)
    }

    // MARK: Endpoints

    static let day: TimeInterval = 86400

    static func attempts(_ outcomes: [(AttemptOutcome, gone: Bool)]) -> AttemptRules.EndpointAttempts {
        var attempts = AttemptRules.EndpointAttempts()
        for (outcome, gone) in outcomes { attempts.add(outcome, gone: gone) }
        return attempts
    }

    @Test func attemptsAreSummedUpByWhenTheyFinished() throws {
        let t = Self.now
        let seen = Self.attempts([
            (Self.outcome(status: 500, startedAt: t.addingTimeInterval(5), duration: 1000), false),
            (Self.outcome(status: 200, startedAt: t, duration: 2000), false),
            (Self.outcome(status: nil, startedAt: t.addingTimeInterval(1), duration: 500), false),
            (Self.outcome(status: 200, startedAt: t.addingTimeInterval(-10), duration: 100), false),
        ])
        #expect(seen.lastAttemptAt == t.addingTimeInterval(6))
        #expect(seen.lastSuccessAt == t.addingTimeInterval(2))
        #expect(seen.firstFailureAt == t.addingTimeInterval(1.5))
        #expect(seen.lastError == "connect_refused: connection refused", "the last one added")
        #expect(!seen.gone)
        #expect(Self.attempts([(Self.outcome(status: 410), true)]).gone)
    }

    @Test func aSuccessClearsTheFailingState() throws {
        let endpoint = AttemptRules.EndpointHealth(
            status: .active, lastAttemptAt: Self.now.addingTimeInterval(-60),
            lastSuccessAt: Self.now.addingTimeInterval(-3 * Self.day),
            failingSince: Self.now.addingTimeInterval(-2 * Self.day), lastError: "http 500")
        let decision = AttemptRules.endpoint(
            endpoint, after: Self.attempts([(Self.outcome(status: 200), false)]), autoDisableAfter: Self.day,
            now: Self.now)
        let finished = Self.now.addingTimeInterval(0.1)
        #expect(
            decision.health
                == AttemptRules.EndpointHealth(
                    status: .active, lastAttemptAt: finished, lastSuccessAt: finished, failingSince: nil,
                    lastError: "http 500"))
        #expect(decision.disableReason == nil, "a success never disables, even long after failing began")
    }

    @Test func aFirstFailureStartsTheFailingStateAndLaterOnesKeepIt() throws {
        let healthy = AttemptRules.EndpointHealth(status: .active, lastSuccessAt: Self.now.addingTimeInterval(-60))
        let failed = Self.attempts([
            (Self.outcome(status: 500, startedAt: Self.now.addingTimeInterval(-2)), false),
            (Self.outcome(status: 502, startedAt: Self.now.addingTimeInterval(-1)), false),
        ])
        let first = AttemptRules.endpoint(healthy, after: failed, autoDisableAfter: Self.day, now: Self.now)
        let firstFailure = Self.now.addingTimeInterval(-2).addingTimeInterval(0.1)
        #expect(first.health.failingSince == firstFailure)
        #expect(first.health.lastError == "http 502")
        #expect(first.health.lastSuccessAt == Self.now.addingTimeInterval(-60), "kept")
        #expect(first.disableReason == nil)
        let later = AttemptRules.endpoint(
            first.health, after: Self.attempts([(Self.outcome(status: 500, startedAt: Self.now), false)]),
            autoDisableAfter: Self.day, now: Self.now.addingTimeInterval(60))
        #expect(later.health.failingSince == firstFailure, "still failing since the first")
    }

    @Test func aBatchWithSuccessesAndFailuresStaysFailing() throws {
        let mixed = Self.attempts([
            (Self.outcome(status: 500, startedAt: Self.now), false),
            (Self.outcome(status: 200, startedAt: Self.now.addingTimeInterval(1)), false),
        ])
        let healthy = AttemptRules.endpoint(
            AttemptRules.EndpointHealth(status: .active), after: mixed, autoDisableAfter: Self.day, now: Self.now)
        #expect(healthy.health.failingSince == Self.now.addingTimeInterval(0.1))
        let failing = AttemptRules.EndpointHealth(status: .active, failingSince: Self.now.addingTimeInterval(-60))
        #expect(
            AttemptRules.endpoint(failing, after: mixed, autoDisableAfter: Self.day, now: Self.now).health.failingSince
                == Self.now.addingTimeInterval(-60))
    }

    @Test func timesOnlyMoveForward() throws {
        let endpoint = AttemptRules.EndpointHealth(
            status: .active, lastAttemptAt: Self.now.addingTimeInterval(60),
            lastSuccessAt: Self.now.addingTimeInterval(60), lastError: nil)
        let decision = AttemptRules.endpoint(
            endpoint, after: Self.attempts([(Self.outcome(status: 200), false)]), autoDisableAfter: nil, now: Self.now)
        #expect(decision.health.lastAttemptAt == Self.now.addingTimeInterval(60))
        #expect(decision.health.lastSuccessAt == Self.now.addingTimeInterval(60))
    }

    @Test func goneDisablesTheEndpointWithItsReason() throws {
        let seen = Self.attempts([(Self.outcome(status: 410), true)])
        for status in [EndpointStatus.active, .paused] {
            let decision = AttemptRules.endpoint(
                AttemptRules.EndpointHealth(status: status), after: seen, autoDisableAfter: nil, now: Self.now)
            #expect(decision.disableReason == "endpoint answered 410 Gone", "\(status)")
            #expect(decision.health.failingSince == Self.now.addingTimeInterval(0.1))
            #expect(decision.health.lastError == "http 410")
        }
        let disabled = AttemptRules.endpoint(
            AttemptRules.EndpointHealth(status: .disabled), after: seen, autoDisableAfter: nil, now: Self.now)
        #expect(disabled.disableReason == nil, "already disabled")
        // A 410 whose lease was lost is logged but disables nothing.
        let lost = AttemptRules.endpoint(
            AttemptRules.EndpointHealth(status: .active), after: Self.attempts([(Self.outcome(status: 410), false)]),
            autoDisableAfter: nil, now: Self.now)
        #expect(lost.disableReason == nil)
    }

    @Test func failingForTheWholeWindowDisablesTheEndpoint() throws {
        let failed = Self.attempts([(Self.outcome(status: 500), false)])
        let since = Self.now.addingTimeInterval(-5 * Self.day)
        let reached = AttemptRules.endpoint(
            AttemptRules.EndpointHealth(status: .active, failingSince: since), after: failed,
            autoDisableAfter: 5 * Self.day, now: Self.now)
        #expect(reached.disableReason == "no successful delivery for 5d")
        #expect(reached.health.failingSince == since)
        #expect(reached.health.status == .active, "the status is the store's to change, with the reason")
    }

    @Test func failingForLessThanTheWindowKeepsTheEndpoint() throws {
        let failed = Self.attempts([(Self.outcome(status: 500), false)])
        let notYet = AttemptRules.endpoint(
            AttemptRules.EndpointHealth(status: .active, failingSince: Self.now.addingTimeInterval(-5 * Self.day + 1)),
            after: failed, autoDisableAfter: 5 * Self.day, now: Self.now)
        #expect(notYet.disableReason == nil)
        // The first failure starts the window: never enough by itself (unless the window is zero).
        let fresh = AttemptRules.endpoint(
            AttemptRules.EndpointHealth(status: .active), after: failed, autoDisableAfter: 5 * Self.day, now: Self.now)
        #expect(fresh.disableReason == nil)
    }

    @Test func theWindowAppliesOnlyToActiveEndpointsThatFailedAgainWithAutoDisableOn() throws {
        let since = Self.now.addingTimeInterval(-10 * Self.day)
        let failed = Self.attempts([(Self.outcome(status: 500), false)])
        for status in [EndpointStatus.paused, .disabled] {
            let decision = AttemptRules.endpoint(
                AttemptRules.EndpointHealth(status: status, failingSince: since), after: failed,
                autoDisableAfter: Self.day, now: Self.now)
            #expect(decision.disableReason == nil, "\(status)")
        }
        let off = AttemptRules.endpoint(
            AttemptRules.EndpointHealth(status: .active, failingSince: since), after: failed, autoDisableAfter: nil,
            now: Self.now)
        #expect(off.disableReason == nil, "auto-disable off")
        let succeeded = AttemptRules.endpoint(
            AttemptRules.EndpointHealth(status: .active, failingSince: since),
            after: Self.attempts([(Self.outcome(status: 200), false)]), autoDisableAfter: Self.day, now: Self.now)
        #expect(succeeded.disableReason == nil)
        #expect(succeeded.health.failingSince == nil)
    }
}
