/// What a cell means; the terminal backend maps roles to colours (or to bold/reverse/dim without colour).
public enum Role: UInt8, Sendable, CaseIterable {
    case normal
    case dim
    case title
    case header
    case tabActive
    case tabInactive
    case columnHeader
    case selected
    case ok
    case warning
    case error
    case accent
    case key
    case badge
    case badgeAlert
    case modal
    case modalTitle
}

/// A cell's look: its role plus optional emphasis.
public struct Style: Sendable, Equatable, Hashable {
    public var role: Role
    public var bold: Bool

    public init(_ role: Role = .normal, bold: Bool = false) {
        self.role = role
        self.bold = bold
    }

    public static let normal = Style()
}

/// The glyphs the views draw with: Unicode when the locale is UTF-8, ASCII otherwise.
public struct Glyphs: Sendable, Equatable {
    public var ellipsis: String
    public var sparks: [String]
    public var bullet: String
    public var hollowBullet: String
    public var check: String
    public var cross: String
    public var times: String
    public var arrowRight: String
    public var expanded: String
    public var collapsed: String
    public var vertical: String
    public var horizontal: String
    public var selected: String
    public var retry: String

    public static let unicode = Glyphs(
        ellipsis: "…", sparks: ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"], bullet: "●", hollowBullet: "○",
        check: "✓", cross: "✗", times: "×", arrowRight: "→", expanded: "▾", collapsed: "▸", vertical: "│",
        horizontal: "─", selected: "▌", retry: "↻"
    )

    public static let ascii = Glyphs(
        ellipsis: ">", sparks: ["_", ".", "-", "=", "+", "*", "#", "@"], bullet: "*", hollowBullet: "o",
        check: "+", cross: "x", times: "x", arrowRight: "->", expanded: "v", collapsed: ">", vertical: "|",
        horizontal: "-", selected: ">", retry: "~"
    )

    /// ASCII for the symbols the dashboard's own text uses (help, footers, dialogs, messages), for terminals without
    /// UTF-8, where they would show as `?`. Each is distinct from the others and from the ellipsis.
    static let asciiSymbols: [Character: String] = [
        "↑": "Up", "↓": "Down", "→": "->", "←": "<-", "·": "-", "…": "...", "▸": ">", "▾": "v", "●": "*", "○": "o",
        "✓": "+", "✗": "x", "×": "x", "↻": "~", "─": "-", "│": "|", "▌": ">", "—": "--", "–": "-", "▁": "_",
        "▂": ".", "▃": "-", "▄": "=", "▅": "+", "▆": "*", "▇": "#", "█": "@",
    ]
}
