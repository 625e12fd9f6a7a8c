import Foundation

/// What a finished attempt does to its delivery and to its endpoint: the delivery rules as pure functions of plain
/// values, free of any storage engine. The clock's reading and the randomness are passed in; a store reads the
/// values these rules need, asks them, and writes what they decided.
///
/// - A 2xx delivers.
/// - `410 Gone` kills the delivery and disables its endpoint.
/// - A failed manual attempt of a finished delivery leaves it dead: it does not restart the retry schedule.
/// - Any other failure retries at the schedule's next time (or the `Retry-After` of a 429 or 503, capped by the
///   policy), counting scheduled attempts only, and is dead after the last one.
/// - An attempt whose lease was lost (released, claimed by another dispatcher) is logged, and its delivery left alone.
/// - An endpoint failing for `autoDisableAfter` without a success is disabled; a success clears its failing state.
enum AttemptRules {
    /// A delivery as the rules see it when one of its attempts finishes.
    struct DeliveryState: Sendable, Equatable {
        var status: DeliveryStatus
        /// Attempts recorded so far, scheduled and manual.
        var attemptCount: Int
        /// Of those, manual ones (which the retry schedule does not count).
        var manualCount: Int
        /// How the delivery was queued for the attempt that finished.
        var manual: ManualMode
        /// Who holds its lease, if anyone.
        var leaseOwner: String?

        init(
            status: DeliveryStatus, attemptCount: Int, manualCount: Int = 0, manual: ManualMode = .scheduled,
            leaseOwner: String?
        ) {
            self.status = status
            self.attemptCount = attemptCount
            self.manualCount = manualCount
            self.manual = manual
            self.leaseOwner = leaseOwner
        }

        /// The state once `update` is written: out of flight, out of the manual queue, without a lease.
        func applying(_ update: DeliveryUpdate) -> DeliveryState {
            DeliveryState(
                status: update.status, attemptCount: update.attemptCount, manualCount: update.manualCount,
                manual: .scheduled, leaseOwner: nil)
        }
    }

    /// A delivery's new state after an attempt. Writing it also clears the lease and the manual mode.
    struct DeliveryUpdate: Sendable, Equatable {
        var status: DeliveryStatus
        var attemptCount: Int
        var manualCount: Int
        /// When the next attempt is due; `nil` unless retrying.
        var nextAttemptAt: Date?
        /// The one-line error shown in lists; `nil` after a success.
        var lastError: String?
        var lastErrorClass: ErrorClass?
    }

    /// What one finished attempt does to its delivery.
    struct DeliveryDecision: Sendable, Equatable {
        /// The number the attempt is logged under: the delivery's attempts so far plus one.
        var attemptNumber: Int
        /// The delivery's new state, or `nil` when its lease was lost: the attempt is logged, the delivery left alone.
        var update: DeliveryUpdate?
        /// The endpoint answered `410 Gone` to an attempt that held its lease: the endpoint is to be disabled.
        var endpointGone: Bool
    }

    /// Decides what `outcome` does to `delivery`.
    /// - Parameters:
    ///   - owner: the lease owner recording the attempt; a delivery no longer leased to it is left alone.
    ///   - now: when the outcome is recorded, the base of the next attempt's time.
    ///   - random: the retry schedule's jitter.
    static func decide(
        _ delivery: DeliveryState, outcome: AttemptOutcome, owner: String, policy: RetryPolicy, now: Date,
        random: inout some RandomNumberGenerator
    ) -> DeliveryDecision {
        let number = delivery.attemptCount + 1
        guard delivery.status == .inflight, delivery.leaseOwner == owner else {
            return DeliveryDecision(attemptNumber: number, update: nil, endpointGone: false)
        }
        let manualCount = delivery.manualCount + (delivery.manual == .scheduled ? 0 : 1)
        var update = DeliveryUpdate(
            status: .delivered, attemptCount: number, manualCount: manualCount, nextAttemptAt: nil,
            lastError: outcome.summary, lastErrorClass: outcome.errorClass)
        var gone = false
        if outcome.succeeded {
            update.lastErrorClass = nil
        } else if outcome.responseStatus == 410 {
            update.status = .dead
            gone = true
        } else if delivery.manual == .fromFinished {
            update.status = .dead
        } else {
            // Manual attempts do not advance the schedule.
            let scheduled = max(1, number - manualCount)
            let retryAfter = [429, 503].contains(outcome.responseStatus ?? 0) ? outcome.retryAfter : nil
            // Counted from when the attempt ended (when a Retry-After was said), not from when it is recorded: a
            // recorder running late must not stretch the wait.
            let ended = outcome.startedAt.addingTimeInterval(Double(outcome.durationMilliseconds) / 1000)
            update.nextAttemptAt = policy.nextAttempt(
                afterFailedAttempt: scheduled, retryAfter: retryAfter, now: min(ended, now), using: &random)
            update.status = update.nextAttemptAt == nil ? .dead : .retrying
        }
        return DeliveryDecision(attemptNumber: number, update: update, endpointGone: gone)
    }

    /// What the attempts recorded together saw of one endpoint.
    struct EndpointAttempts: Sendable, Equatable {
        /// When the latest attempt finished.
        var lastAttemptAt: Date?
        /// When the latest successful attempt finished.
        var lastSuccessAt: Date?
        /// When the earliest failed attempt finished.
        var firstFailureAt: Date?
        /// The error of the last failed attempt added.
        var lastError: String?
        /// One of them held its lease and got `410 Gone`.
        var gone = false

        init() {}

        /// Adds one attempt; `gone` is its decision's `endpointGone`.
        mutating func add(_ outcome: AttemptOutcome, gone: Bool = false) {
            let finished = outcome.startedAt.addingTimeInterval(Double(outcome.durationMilliseconds) / 1000)
            lastAttemptAt = max(lastAttemptAt ?? finished, finished)
            if outcome.succeeded {
                lastSuccessAt = max(lastSuccessAt ?? finished, finished)
            } else {
                firstFailureAt = min(firstFailureAt ?? finished, finished)
                lastError = outcome.summary
            }
            if gone { self.gone = true }
        }
    }

    /// An endpoint's status and health as the rules see them.
    struct EndpointHealth: Sendable, Equatable {
        var status: EndpointStatus
        var lastAttemptAt: Date?
        var lastSuccessAt: Date?
        /// Since when it has been failing without a success; `nil` while healthy.
        var failingSince: Date?
        var lastError: String?

        init(
            status: EndpointStatus, lastAttemptAt: Date? = nil, lastSuccessAt: Date? = nil, failingSince: Date? = nil,
            lastError: String? = nil
        ) {
            self.status = status
            self.lastAttemptAt = lastAttemptAt
            self.lastSuccessAt = lastSuccessAt
            self.failingSince = failingSince
            self.lastError = lastError
        }
    }

    /// What attempts recorded together do to their endpoint.
    struct EndpointDecision: Sendable, Equatable {
        /// The endpoint's new health; its status is left to `disableReason`.
        var health: EndpointHealth
        /// Why the endpoint is to be disabled now, or `nil` to leave its status alone.
        var disableReason: String?
    }

    /// Decides what `attempts` do to an endpoint in state `endpoint`.
    ///
    /// Times only move forward. A batch with successes and no failure clears the failing state; one with a failure
    /// starts it at its earliest failure unless it was already failing. An endpoint that answered `410 Gone` is
    /// disabled unless it already is; an active one failing since `autoDisableAfter` ago or longer is disabled when
    /// the batch failed again.
    static func endpoint(
        _ endpoint: EndpointHealth, after attempts: EndpointAttempts, autoDisableAfter: TimeInterval?, now: Date
    ) -> EndpointDecision {
        var health = endpoint
        health.lastAttemptAt = latest(endpoint.lastAttemptAt, attempts.lastAttemptAt)
        health.lastSuccessAt = latest(endpoint.lastSuccessAt, attempts.lastSuccessAt)
        if attempts.lastSuccessAt != nil && attempts.firstFailureAt == nil {
            health.failingSince = nil
        } else if let firstFailure = attempts.firstFailureAt, endpoint.failingSince == nil {
            health.failingSince = firstFailure
        }
        health.lastError = attempts.lastError ?? endpoint.lastError
        var reason: String?
        if endpoint.status != .disabled {
            if attempts.gone {
                reason = "endpoint answered 410 Gone"
            } else if let autoDisableAfter, attempts.firstFailureAt != nil, endpoint.status == .active,
                let failingSince = health.failingSince, failingSince <= now.addingTimeInterval(-autoDisableAfter)
            {
                reason = "no successful delivery for \(DurationText.format(autoDisableAfter))"
            }
        }
        return EndpointDecision(health: health, disableReason: reason)
    }

    /// The later of two optional times.
    private static func latest(_ a: Date?, _ b: Date?) -> Date? {
        guard let a else { return b }
        guard let b else { return a }
        return max(a, b)
    }
}
