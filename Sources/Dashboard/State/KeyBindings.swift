import Foundation

/// The key map: one table that drives key handling, the footer and the help overlay.
public enum KeyBindings {
    /// One row of the help overlay.
    public struct Entry: Sendable {
        public var keys: String
        public var help: String
        /// Short footer label, or `nil` to keep it out of the footer.
        public var footer: String?
        /// Views where it applies (`nil`: all); `detail` marks keys of the detail overlay.
        public var views: Set<ViewKind>?
        public var detail: Bool
    }

    /// The command a key means outside of prompts, or `nil`.
    public static func command(for key: Key) -> Command? {
        switch key {
        case .char(let c):
            switch c {
            case "1", "2", "3", "4", "5":
                return c.wholeNumberValue.flatMap(ViewKind.init(rawValue:)).map(Command.switchView)
            case "j": return .moveDown
            case "k": return .moveUp
            case "g": return .top
            case "G": return .bottom
            case "l": return .expand
            case "h": return .collapse
            case " ": return .toggleFollow
            case "f": return .follow
            case "/": return .filter
            case "s": return .cycleSort
            case "?": return .help
            case "q": return .quit
            case "p": return .pause
            case "d": return .disable
            case "r": return .redeliver
            case "R": return .recover
            case "x": return .cancelRetry
            case "t": return .testPing
            case "L": return .rateLimit
            case "A": return .audit
            case "!": return .alerts
            case "D": return .dispatchers
            case "n": return .nextMatch
            case "N": return .previousMatch
            case "o": return .openInPager
            case "y": return .copyId
            case "[": return .previousAttempt
            case "]": return .nextAttempt
            default: return nil
            }
        case .ctrl("c"): return .quit
        case .ctrl("l"): return .redraw
        case .ctrl("d"): return .pageDown
        case .ctrl("u"): return .pageUp
        case .up, .wheelUp: return .moveUp
        case .down, .wheelDown: return .moveDown
        case .pageUp: return .pageUp
        case .pageDown: return .pageDown
        case .home: return .top
        case .end: return .bottom
        case .enter: return .open
        case .right: return .expand
        case .left: return .collapse
        case .escape, .backspace: return .back
        case .tab: return .nextView
        case .backTab: return .previousView
        default: return nil
        }
    }

    private static let lists: Set<ViewKind> = Set(ViewKind.allCases)
    private static let deliveryViews: Set<ViewKind> = [.deliveries, .failures, .retryQueue]

    /// Every key, in help order.
    public static let entries: [Entry] = [
        Entry(
            keys: "1..5", help: "switch view (Endpoints, Deliveries, Failures, Retry, Events)", footer: nil, views: nil,
            detail: false),
        Entry(keys: "Tab/S-Tab", help: "next / previous view", footer: nil, views: nil, detail: false),
        Entry(keys: "j k ↑ ↓", help: "move the selection (scrolls in detail)", footer: nil, views: nil, detail: true),
        Entry(keys: "g G Home End", help: "first / last row", footer: nil, views: nil, detail: true),
        Entry(keys: "PgUp PgDn", help: "page up / down (^U ^D)", footer: nil, views: nil, detail: true),
        Entry(
            keys: "Enter", help: "open: endpoint → its deliveries; delivery → detail", footer: "open", views: lists,
            detail: false),
        Entry(
            keys: "→ ←  l h", help: "expand / collapse a failure group", footer: "expand", views: [.failures],
            detail: false),
        Entry(keys: "[ ]", help: "previous / next attempt in the detail", footer: "attempt", views: [], detail: true),
        Entry(keys: "Esc", help: "back (close overlay, detail, filter)", footer: "back", views: [], detail: true),
        Entry(
            keys: "Space f", help: "follow the newest deliveries / stop (moving away stops; g or f follows)",
            footer: "follow", views: [.deliveries], detail: false),
        Entry(
            keys: "/", help: "filter: text, status:dead type:invoice.* ep:ep_… msg:msg_…", footer: "filter",
            views: lists, detail: false),
        Entry(
            keys: "s", help: "cycle sort (Endpoints, Failures; Deliveries: newest, oldest, slowest, most attempts)",
            footer: "sort", views: [.endpoints, .failures],
            detail: false),
        Entry(keys: "p", help: "pause / resume the endpoint", footer: "pause", views: lists, detail: true),
        Entry(
            keys: "d", help: "disable / enable the endpoint (confirm)", footer: "disable", views: [.endpoints],
            detail: false),
        Entry(
            keys: "L", help: "set or clear the endpoint's rate limit (requests per second)", footer: nil,
            views: [.endpoints], detail: false),
        Entry(
            keys: "t", help: "test ping the endpoint (hooktop.ping; answer in the footer)",
            footer: nil, views: [.endpoints], detail: false),
        Entry(
            keys: "r", help: "redeliver the selected delivery", footer: "redeliver", views: deliveryViews, detail: true),
        Entry(
            keys: "R", help: "recover an endpoint, or replay a failure group (confirm)", footer: "recover",
            views: lists,
            detail: true),
        Entry(
            keys: "x", help: "cancel a pending retry (confirm)", footer: "cancel", views: [.deliveries, .retryQueue],
            detail: true),
        Entry(
            keys: "o", help: "the request (as signed and sent) and the response in $PAGER", footer: "pager", views: [],
            detail: true),
        Entry(keys: "y", help: "copy the selected id to the clipboard (OSC 52)", footer: nil, views: nil, detail: true),
        Entry(
            keys: "n N", help: "in the detail: next / previous line with the filter's text", footer: nil, views: [],
            detail: true),
        Entry(
            keys: "A", help: "audit: who did what, when, from where (the selected endpoint's in view 1)",
            footer: nil, views: nil, detail: false),
        Entry(
            keys: "!", help: "alerts: endpoints disabled or failing, dead deliveries, overdue work, stale dispatchers",
            footer: nil, views: nil, detail: false),
        Entry(
            keys: "D", help: "dispatchers: host, pid, in flight, attempts, alive or stale",
            footer: nil, views: nil, detail: false),
        Entry(keys: "?", help: "this help", footer: "help", views: nil, detail: true),
        Entry(keys: "^L", help: "redraw the screen", footer: nil, views: nil, detail: false),
        Entry(keys: "q ^C", help: "quit", footer: "quit", views: nil, detail: true),
    ]

    /// `key label` pairs for the footer of a view (or of the detail overlay).
    public static func footer(view: ViewKind, detail: Bool) -> [(String, String)] {
        entries.compactMap { entry in
            guard let label = entry.footer else { return nil }
            let applies = detail ? entry.detail : (entry.views.map { $0.contains(view) } ?? true)
            guard applies else { return nil }
            let key = entry.keys.split(separator: " ").first.map(String.init) ?? entry.keys
            return (key, label)
        }
    }
}
