import DeliveryCore
import Foundation

/// An operator action, performed off the UI thread through `DeliveryOperations`.
public enum OperatorAction: Sendable, Equatable {
    case pause(endpointId: String)
    case resume(endpointId: String)
    /// Pause or resume, whichever applies (when the dashboard has not loaded the endpoint's status).
    case togglePause(endpointId: String)
    case disable(endpointId: String)
    case enable(endpointId: String)
    /// `previousAttempts` lets the dashboard recognise the new attempt when it appears.
    case redeliver(deliveryId: Int64, previousAttempts: Int)
    case recover(endpointId: String, since: Date)
    case cancel(deliveryId: Int64)
    /// A test ping (`hooktop.ping`): not a delivery, audited.
    case testPing(endpointId: String)
    /// Replay what a filter matches (a failure group's dead deliveries since a time).
    case replay(DeliveryFilter)
    /// Set (or with nil remove) an endpoint's rate limit.
    case setRateLimit(endpointId: String, limit: Int?)

    /// A short description for messages: `pause ep_123`.
    public var summary: String {
        switch self {
        case .pause(let id): "pause \(id)"
        case .resume(let id): "resume \(id)"
        case .togglePause(let id): "pause/resume \(id)"
        case .disable(let id): "disable \(id)"
        case .enable(let id): "enable \(id)"
        case .redeliver(let id, _): "redeliver #\(id)"
        case .recover(let id, _): "recover \(id)"
        case .cancel(let id): "cancel #\(id)"
        case .testPing(let id): "ping \(id)"
        case .replay(let filter): "replay \(filter.summary)"
        case .setRateLimit(let id, let limit): "rate limit \(id) \(limit.map { "\($0)/s" } ?? "none")"
        }
    }
}

/// What an operation returned.
public enum OperationOutcome: Sendable, Equatable {
    case done
    case redelivery(RedeliveryOutcome)
    case recovered(Int)
    /// A test ping's answer: its status (nil without one), time and error.
    case pinged(status: Int?, milliseconds: Int, error: String?)
    case replayed(Int)
}

/// Side effects `update` asks the app loop to carry out; the state itself never performs I/O.
public enum Effect: Sendable, Equatable {
    /// Leave the loop and restore the terminal.
    case quit
    /// Repaint every cell (Ctrl-L).
    case redrawAll
    /// Run an operation; its result comes back as `.operationFinished`.
    case perform(OperatorAction)
    /// Count what `recover` would send; the count comes back as `.recoverableCounted`.
    case countRecoverable(endpointId: String, since: Date)
    /// Count what a replay would send; the count comes back as `.replayCounted`.
    case countReplay(DeliveryFilter)
    /// Show this text in the operator's `$PAGER`.
    case page(String)
    /// Put this text on the terminal's clipboard (OSC 52).
    case copy(String)
}

/// A one-line message in the footer.
public struct StatusMessage: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case info, success, error }
    public var text: String
    public var kind: Kind
    public var expiresAt: Date

    public init(text: String, kind: Kind, expiresAt: Date) {
        self.text = text
        self.kind = kind
        self.expiresAt = expiresAt
    }
}

/// A redelivery the dashboard waits on, to report the new attempt's status and latency.
public struct RedeliveryWatch: Sendable, Equatable {
    public var deliveryId: Int64
    public var previousAttempts: Int
    public var startedAt: Date
}
