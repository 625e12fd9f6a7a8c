/// Where frames go and keys come from: ncurses in the app, an in-memory screen in tests.
///
/// Used from one thread only (the UI loop).
public protocol Screen: AnyObject {
    /// Current size in cells.
    var size: (width: Int, height: Int) { get }
    /// Whether the terminal can show UTF-8 (otherwise views use ASCII glyphs).
    var supportsUnicode: Bool { get }
    /// Shows `grid`; `fullRedraw` repaints every cell (Ctrl-L).
    func draw(_ grid: CellGrid, fullRedraw: Bool)
    /// Waits up to `timeoutMilliseconds` for a key (0: just poll); `nil` on timeout.
    func readKey(timeoutMilliseconds: Int) -> Key?
    /// A quit signal (SIGINT, SIGTERM, SIGHUP) arrived since the last call.
    func takeQuitSignal() -> Bool
    /// Shows `text` in the operator's `$PAGER` and comes back; returns why that failed, or nil.
    func page(_ text: String) -> String?
    /// Puts `text` on the terminal's clipboard (OSC 52).
    func copyToClipboard(_ text: String)
}

/// A screen in memory: scripted keys in, frames out. For tests and headless runs.
public final class InMemoryScreen: Screen {
    public var size: (width: Int, height: Int)
    public let supportsUnicode: Bool
    /// Keys returned by `readKey`, in order; when empty, `readKey` returns `nil` (and `onIdle` runs).
    public var keys: [Key]
    /// Every frame drawn, oldest first.
    public private(set) var frames: [CellGrid] = []
    /// Called when `readKey` finds no scripted key (tests use it to wait or to inject more keys).
    public var onIdle: ((InMemoryScreen) -> Void)?
    public var quitSignal = false
    /// What `page` was given, oldest first.
    public private(set) var paged: [String] = []
    /// What `copyToClipboard` was given, oldest first.
    public private(set) var copied: [String] = []

    public init(width: Int, height: Int, keys: [Key] = [], supportsUnicode: Bool = true) {
        size = (width, height)
        self.keys = keys
        self.supportsUnicode = supportsUnicode
    }

    public func draw(_ grid: CellGrid, fullRedraw: Bool) { frames.append(grid) }

    public func readKey(timeoutMilliseconds: Int) -> Key? {
        if keys.isEmpty { onIdle?(self) }
        return keys.isEmpty ? nil : keys.removeFirst()
    }

    public func takeQuitSignal() -> Bool {
        defer { quitSignal = false }
        return quitSignal
    }

    public func page(_ text: String) -> String? {
        paged.append(text)
        return nil
    }

    public func copyToClipboard(_ text: String) { copied.append(text) }

    /// The last frame as text.
    public var lastFrameText: String { frames.last?.text() ?? "" }
}
