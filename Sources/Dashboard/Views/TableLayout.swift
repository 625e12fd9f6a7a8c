import Foundation

/// A column of a list view.
struct Column {
    var title: String
    /// Width it needs; flexible columns may grow beyond it.
    var width: Int
    /// Share of the spare width (0: fixed).
    var flex: Int = 0
    /// Higher stays longer when the terminal is narrow.
    var priority: Int = 5
    var alignRight = false
}

/// Places columns across a width: drops the least important ones until the rest fit, then shares the slack.
struct TableLayout {
    /// `(column index, x, width)` of every column kept, left to right.
    let placed: [(index: Int, x: Int, width: Int)]

    init(columns: [Column], width: Int, gap: Int = 1, leftMargin: Int = 1) {
        var kept = Array(columns.indices)
        func needed(_ set: [Int]) -> Int {
            set.reduce(leftMargin) { $0 + columns[$1].width } + gap * max(0, set.count - 1)
        }
        while needed(kept) > width, kept.count > 1 {
            let drop = kept.min { (columns[$0].priority, -$0) < (columns[$1].priority, -$1) }!
            kept.removeAll { $0 == drop }
        }
        var widths = kept.map { columns[$0].width }
        var slack = width - needed(kept)
        let flexTotal = kept.reduce(0) { $0 + columns[$1].flex }
        if slack > 0, flexTotal > 0 {
            var given = 0
            for (i, index) in kept.enumerated() where columns[index].flex > 0 {
                let share = slack * columns[index].flex / flexTotal
                widths[i] += share
                given += share
            }
            slack -= given
            if let last = kept.indices.last(where: { columns[kept[$0]].flex > 0 }) { widths[last] += slack }
        } else if slack < 0, let last = widths.indices.last {
            widths[last] = max(1, widths[last] + slack)
        }
        var x = leftMargin
        var placed: [(Int, Int, Int)] = []
        for (i, index) in kept.enumerated() {
            placed.append((index, x, widths[i]))
            x += widths[i] + gap
        }
        self.placed = placed
    }
}

/// A cell of a table row: text (already sanitised) and its style.
struct TableCell {
    var text: String
    var style: Style

    init(_ text: String, _ style: Style = .normal) {
        self.text = text
        self.style = style
    }
}

extension CellGrid {
    /// Draws a table: column titles at `y`, then `rows` from `top`, highlighting `selected`.
    mutating func drawTable(
        columns: [Column], rowCount: Int, top: Int, selected: Int?, y: Int, height: Int, glyphs: Glyphs,
        cells: (Int) -> [TableCell], fullRow: ((Int) -> [TableCell]?)? = nil
    ) {
        let layout = TableLayout(columns: columns, width: width)
        fill(x: 0, y: y, width: width, height: 1, style: Style(.columnHeader))
        for (index, x, w) in layout.placed {
            let column = columns[index]
            put(
                DisplayWidth.pad(column.title, to: w, alignRight: column.alignRight, ellipsis: glyphs.ellipsis),
                x: x, y: y, style: Style(.columnHeader), maxWidth: w)
        }
        guard height > 1 else { return }
        for line in 0..<(height - 1) {
            let rowIndex = top + line
            guard rowIndex < rowCount else { break }
            let rowY = y + 1 + line
            let isSelected = rowIndex == selected
            if let free = fullRow?(rowIndex) {
                var x = 1
                for cell in free {
                    x = put(cell.text, x: x, y: rowY, style: cell.style, maxWidth: width - x)
                }
            } else {
                let values = cells(rowIndex)
                for (index, x, w) in layout.placed where index < values.count {
                    let value = values[index]
                    let text = DisplayWidth.pad(
                        value.text, to: w, alignRight: columns[index].alignRight, ellipsis: glyphs.ellipsis
                    )
                    put(text, x: x, y: rowY, style: value.style, maxWidth: w)
                }
            }
            if isSelected {
                restyle(x: 0, y: rowY, count: width, style: Style(.selected))
                put(glyphs.selected, x: 0, y: rowY, style: Style(.selected, bold: true), maxWidth: 1)
            }
        }
    }

    /// A framed box with a title (for overlays); returns the inner rectangle.
    @discardableResult
    mutating func drawBox(x: Int, y: Int, width w: Int, height h: Int, title: String, glyphs: Glyphs)
        -> (x: Int, y: Int, width: Int, height: Int)
    {
        fill(x: x, y: y, width: w, height: h, style: Style(.modal))
        let horizontal = String(repeating: glyphs.horizontal, count: max(0, w - 2))
        let corner = glyphs.horizontal == "─" ? ["┌", "┐", "└", "┘"] : ["+", "+", "+", "+"]
        put(corner[0] + horizontal + corner[1], x: x, y: y, style: Style(.modal), maxWidth: w)
        put(corner[2] + horizontal + corner[3], x: x, y: y + h - 1, style: Style(.modal), maxWidth: w)
        for row in (y + 1)..<max(y + 1, y + h - 1) {
            put(glyphs.vertical, x: x, y: row, style: Style(.modal))
            put(glyphs.vertical, x: x + w - 1, y: row, style: Style(.modal))
        }
        put(" \(title) ", x: x + 2, y: y, style: Style(.modalTitle, bold: true), maxWidth: max(0, w - 4))
        return (x + 2, y + 1, max(0, w - 4), max(0, h - 2))
    }
}
