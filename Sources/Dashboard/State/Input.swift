import DeliveryCore
import Foundation

/// A key press or mouse event, decoded from the terminal.
public enum Key: Sendable, Equatable, Hashable {
    case char(Character)
    case ctrl(Character)
    case up, down, left, right, pageUp, pageDown, home, end
    case enter, escape, tab, backTab, backspace, delete
    case resize
    case mouseClick(x: Int, y: Int)
    case wheelUp, wheelDown
    /// A function key or sequence the dashboard does not use.
    case unknown(Int)
}

/// Everything that can change the state: keys, loaded data, operation results, time, terminal size.
public enum Action: Sendable {
    case key(Key)
    case command(Command)
    case dataLoaded(DataSnapshot)
    case operationFinished(OperatorAction, Result<OperationOutcome, OperationError>)
    case recoverableCounted(endpointId: String, since: Date, Result<Int, OperationError>)
    /// A replay's dry run arrived.
    case replayCounted(DeliveryFilter, Result<Int, OperationError>)
    case clock(Date)
    case resize(width: Int, height: Int)
}

/// An error from an operation, as the line the footer shows.
public struct OperationError: Error, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// What a key means in the list views (the key bindings map keys to these).
public enum Command: Sendable, Equatable {
    case switchView(ViewKind)
    case nextView, previousView
    case moveUp, moveDown, pageUp, pageDown, top, bottom
    case open, back, expand, collapse
    /// Space: follow the newest deliveries, or stop following. `f`: follow.
    case toggleFollow, follow
    case filter, cycleSort, help, quit, redraw
    case pause, disable, redeliver, recover, cancelRetry
    /// `t`: send the selected endpoint a test ping.
    case testPing
    /// `L`: set or clear the selected endpoint's rate limit.
    case rateLimit
    case previousAttempt, nextAttempt
    /// `o`: the detail's request and response in `$PAGER`. `y`: copy the selected id.
    case openInPager, copyId
    /// `A`: who did what, when and from where.
    case audit
    /// `!`: the alerts serve raised.
    case alerts
    /// `D`: every dispatcher, alive or stale.
    case dispatchers
    /// `n` / `N` in the detail: the next / previous line holding the filter's text.
    case nextMatch, previousMatch
}
