/// When a process sends its wake-up notifications: at most one per window, the first at once and those asked for
/// within a window as one at its end.
///
/// A NOTIFY takes a lock across the whole server while its transaction commits, so a busy publisher must not send
/// one per publish. With a 100 ms window, a burst of publishes starting at 0 ms sends at 0 ms, 100 ms, 200 ms, …
/// while it lasts and once more after its last publish; a lone publish sends at once.
struct WakeupPacer: Sendable {
    /// What to do about work just committed.
    enum Action: Equatable {
        /// Nothing: a send already scheduled goes after this work's commit and covers it.
        case none
        /// Send now; the window starts.
        case sendNow
        /// Send at the end of the current window (`scheduledSendBegins` when it goes).
        case sendAt(ContinuousClock.Instant)
    }

    /// The shortest time between two sends.
    let window: Duration
    /// When the next send may go at the earliest; nil before the first.
    private var nextAllowed: ContinuousClock.Instant?
    /// A send is scheduled and has not begun.
    private var scheduled = false

    init(window: Duration) {
        self.window = window
    }

    /// Work that other processes may claim was committed at `now`.
    mutating func workCommitted(now: ContinuousClock.Instant) -> Action {
        if scheduled { return .none }
        if let nextAllowed, now < nextAllowed {
            scheduled = true
            self.nextAllowed = nextAllowed + window
            return .sendAt(nextAllowed)
        }
        nextAllowed = now + window
        return .sendNow
    }

    /// The scheduled send is going out: work committed from now on needs another.
    mutating func scheduledSendBegins() {
        scheduled = false
    }
}
