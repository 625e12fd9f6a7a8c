import DeliveryCore
import Foundation

/// A one-line text editor for `/` filters and prompts.
public struct LineEditor: Sendable, Equatable {
    public var text: String
    /// Cursor position in characters.
    public var cursor: Int

    public init(_ text: String = "") {
        self.text = text
        cursor = text.count
    }

    /// Applies an editing key; returns `false` for keys it does not handle.
    public mutating func handle(_ key: Key) -> Bool {
        switch key {
        case .char(let c):
            guard !c.isNewline, c.asciiValue.map({ $0 >= 0x20 }) ?? true else { return false }
            let index = text.index(text.startIndex, offsetBy: cursor)
            text.insert(c, at: index)
            cursor += 1
        case .backspace:
            guard cursor > 0 else { return true }
            text.remove(at: text.index(text.startIndex, offsetBy: cursor - 1))
            cursor -= 1
        case .delete, .ctrl("d"):
            guard cursor < text.count else { return true }
            text.remove(at: text.index(text.startIndex, offsetBy: cursor))
        case .left: cursor = max(0, cursor - 1)
        case .right: cursor = min(text.count, cursor + 1)
        case .home, .ctrl("a"): cursor = 0
        case .end, .ctrl("e"): cursor = text.count
        case .ctrl("u"):
            text = ""
            cursor = 0
        case .ctrl("w"):
            let head = text.prefix(cursor)
            let trimmed = head.dropLast(head.count - (head.trimmingCharacters(in: .whitespaces).count))
            let cut = trimmed.lastIndex(of: " ").map { trimmed.index(after: $0) } ?? trimmed.startIndex
            let kept = String(head[..<cut])
            text = kept + text.dropFirst(cursor)
            cursor = kept.count
        default:
            return false
        }
        return true
    }
}

/// A confirmation: what will happen (naming the count), and the operation run on `y`/Enter.
public struct Confirmation: Sendable, Equatable {
    public var question: String
    public var operation: OperatorAction
}

/// What sits on top of the view and takes the keys first.
public enum Modal: Sendable, Equatable {
    case help(scroll: Int)
    /// The `/` line editor for `view`.
    case filter(LineEditor)
    /// The `R` prompt for how far back to recover `endpointId`.
    case recoverSince(endpointId: String, editor: LineEditor)
    /// Waiting for `recoverableCount` before asking.
    case counting(endpointId: String)
    /// The `R` prompt on a failure group: how far back to replay its dead deliveries.
    case replaySince(DeliveryFilter, editor: LineEditor)
    /// Waiting for the replay's dry run before asking.
    case countingReplay(DeliveryFilter)
    /// The `L` prompt: an endpoint's rate limit, or none.
    case rateLimit(endpointId: String, editor: LineEditor)
    case confirm(Confirmation)
    /// `A`: the newest operator actions (on the selected endpoint when `endpointId` is set).
    case audit(endpointId: String?, scroll: Int)
    /// `!`: the newest alerts.
    case alerts(scroll: Int)
    /// `D`: every dispatcher with a heartbeat row.
    case dispatchers(scroll: Int)
}

/// A recovery the footer follows: `recover Umbrella: 120/347 sent · 0 ok · 120 failed (connect_refused)`.
public struct RecoveryWatch: Sendable, Equatable {
    public var endpointId: String
    public var startedAt: Date
    /// When the last progress arrived (a recovery nothing sends for a minute says so).
    public var lastChange: Date
    public var lastSent: Int
}

/// The detail overlay of one delivery.
public struct DetailState: Sendable, Equatable {
    public var deliveryId: Int64
    public var scroll: Int = 0
    /// Index into the attempts shown in the request/response sections; `nil`: the latest.
    public var attemptIndex: Int?

    public init(deliveryId: Int64) { self.deliveryId = deliveryId }
}

/// Per-view selection, scroll position and page cursors.
public struct ListState: Sendable, Equatable {
    /// The selected row's key (stays on the same row as rows arrive).
    public var selectedKey: String?
    public var selectedIndex: Int = 0
    /// First row drawn.
    public var top: Int = 0
    /// Cursor stack: the last one is the current page; empty means the live head.
    public var pages: [PageCursor] = []
    /// The live log follows its newest row (Deliveries): new rows appear on top and stay selected. Moving away stops
    /// following; `f`, Space or `g` start it again.
    public var following = true
    /// Not following: the newest delivery when following stopped. The page stays anchored there (rows keep their
    /// place on screen while their statuses update); newer arrivals are counted, not shown.
    public var anchor: Int64?
    /// The selected row left the list (delivered out of the retry queue, say): nothing is highlighted and no action
    /// has a target until the operator selects again. The highlight never jumps to another row by itself.
    public var lost = false

    public init() {}
}

/// Where Esc goes back to (Enter on an endpoint pushes one).
public struct NavigationEntry: Sendable, Equatable {
    public var view: ViewKind
    public var filter: FilterQuery
    public var list: ListState
}
