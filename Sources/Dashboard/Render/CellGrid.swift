/// One screen cell: a grapheme cluster, how many columns it takes, and its style.
///
/// A wide character occupies its cell (width 2) and the next one, which holds an empty continuation (width 0).
public struct Cell: Sendable, Equatable {
    public var text: String
    public var width: UInt8
    public var style: Style

    public init(text: String = " ", width: UInt8 = 1, style: Style = .normal) {
        self.text = text
        self.width = width
        self.style = style
    }

    public static let blank = Cell()
}

/// An in-memory screen: what a view draws into, what the terminal backend copies out, what snapshots dump.
public struct CellGrid: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public private(set) var cells: [Cell]
    /// Drawn in the last cell of text cut short by `put`, so clipped text never passes for whole.
    public var ellipsis = "…"
    /// The terminal shows ASCII only: `put` spells the dashboard's own symbols in ASCII (`→` as `->`).
    public var asciiOnly = false

    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: .blank, count: self.width * self.height)
    }

    public subscript(x: Int, y: Int) -> Cell {
        cells[y * width + x]
    }

    /// Writes `text` (already sanitised) at column `x` of row `y`, clipped at `x + maxWidth` and the right edge; text
    /// cut short ends with `ellipsis`. Control characters are dropped; a wide character that would cross the limit is
    /// replaced by spaces (and the ellipsis).
    /// - Returns: the column after the last one written.
    @discardableResult
    public mutating func put(_ text: String, x: Int, y: Int, style: Style = .normal, maxWidth: Int? = nil) -> Int {
        guard y >= 0, y < height else { return x }
        let limit = min(width, maxWidth.map { x + max(0, $0) } ?? width)
        var column = x
        if DisplayWidth.printableASCIIWidth(text) != nil {
            // One byte, one cell (the common case): no grapheme breaking, no width lookups.
            let strings = Self.asciiText
            for byte in text.utf8 {
                if column + 1 > limit {
                    markCut(at: column - 1, from: x, y: y, style: style)
                    break
                }
                if column >= 0 { set(column, y, Cell(text: strings[Int(byte)], width: 1, style: style)) }
                column += 1
            }
            return column
        }
        if asciiOnly, text.contains(where: { Glyphs.asciiSymbols[$0] != nil }) {
            let spelled = text.map { Glyphs.asciiSymbols[$0] ?? String($0) }.joined()
            return put(spelled, x: x, y: y, style: style, maxWidth: maxWidth)
        }
        for character in text {
            let w = DisplayWidth.of(character)
            if w == 0 {
                // Combining marks join the previous cell; other zero-width things are dropped.
                if column > x, column - 1 < limit, let scalar = character.unicodeScalars.first,
                    scalar.properties.generalCategory == .nonspacingMark
                        || scalar.properties.generalCategory == .enclosingMark
                {
                    var previous = column - 1
                    if previous > 0, cells[y * width + previous].width == 0 { previous -= 1 }
                    cells[y * width + previous].text.append(character)
                }
                continue
            }
            if column + w > limit {
                while column < limit {
                    set(column, y, Cell(text: " ", width: 1, style: style))
                    column += 1
                }
                markCut(at: column - 1, from: x, y: y, style: style)
                break
            }
            if column >= 0 {
                set(column, y, Cell(text: String(character), width: UInt8(w), style: style))
                if w == 2 { set(column + 1, y, Cell(text: "", width: 0, style: style)) }
            }
            column += w
        }
        return column
    }

    /// Puts the ellipsis in the last written cell of text that did not fit (`column`), when there is one.
    private mutating func markCut(at column: Int, from start: Int, y: Int, style: Style) {
        guard column >= max(0, start), column < width else { return }
        set(column, y, Cell(text: ellipsis, width: 1, style: style))
    }

    /// One-character strings for the ASCII bytes.
    private static let asciiText: [String] = (0..<128).map { String(UnicodeScalar(UInt8($0))) }

    /// Sets the style of `count` cells from (x, y), keeping their text (highlights a row).
    public mutating func restyle(x: Int, y: Int, count: Int, style: Style) {
        guard y >= 0, y < height else { return }
        for column in max(0, x)..<min(width, x + count) { cells[y * width + column].style = style }
    }

    /// Fills a rectangle with blanks of `style`.
    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, style: Style = .normal) {
        for row in max(0, y)..<min(height, y + h) {
            for column in max(0, x)..<min(width, x + w) { cells[row * width + column] = Cell(style: style) }
        }
    }

    private mutating func set(_ x: Int, _ y: Int, _ cell: Cell) {
        guard x >= 0, x < width else { return }
        // Overwriting half of a wide character blanks its other half.
        let old = cells[y * width + x]
        if old.width == 2, x + 1 < width { cells[y * width + x + 1] = Cell(style: old.style) }
        if old.width == 0, x > 0, cells[y * width + x - 1].width == 2 {
            cells[y * width + x - 1] = Cell(style: old.style)
        }
        cells[y * width + x] = cell
    }

    /// The rows as text (continuation cells skipped, trailing spaces trimmed): what snapshots compare.
    public func textLines() -> [String] {
        (0..<height).map { row in
            var line = ""
            for column in 0..<width {
                let cell = cells[row * width + column]
                if cell.width > 0 { line += cell.text }
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }
    }

    /// `textLines()` joined with newlines.
    public func text() -> String { textLines().joined(separator: "\n") }
}
