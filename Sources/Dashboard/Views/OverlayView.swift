import Foundation

/// Boxes drawn over the view: help, confirmations and prompts.
enum OverlayView {
    static func draw(_ state: DashboardState, into grid: inout CellGrid) {
        switch state.modal {
        case .help(let scroll)?: drawHelp(state, scroll: scroll, into: &grid)
        case .confirm(let confirmation)?:
            drawDialog(
                title: "Confirm", text: Sanitizer.line(confirmation.question), hint: "y/Enter yes · n/Esc no",
                state: state, into: &grid)
        case .recoverSince(let endpointId, let editor)?:
            let box = drawDialog(
                title: "Recover \(endpointId)", text: "Redeliver dead deliveries since how long ago? (30m, 2h, 1d)",
                hint: "Enter next · Esc cancel", state: state, into: &grid, extraLines: 1)
            FooterView.drawEditor(
                prompt: "since: ", editor: editor, y: box.y + box.height - 2, into: &grid, hint: "", x: box.x,
                width: box.width)
        case .counting(let endpointId)?:
            drawDialog(
                title: "Recover \(endpointId)", text: "Counting deliveries to recover…", hint: "Esc cancel",
                state: state,
                into: &grid)
        case .filter?, nil:
            break
        }
    }

    @discardableResult
    private static func drawDialog(
        title: String, text: String, hint: String, state: DashboardState, into grid: inout CellGrid, extraLines: Int = 0
    ) -> (x: Int, y: Int, width: Int, height: Int) {
        let width = min(grid.width - 4, max(40, min(70, DisplayWidth.of(text) + 6)))
        let wrapped = wrap(text, width: width - 4)
        let height = min(grid.height - 2, wrapped.count + 4 + extraLines)
        let x = (grid.width - width) / 2
        let y = max(1, (grid.height - height) / 2)
        let inner = grid.drawBox(x: x, y: y, width: width, height: height, title: title, glyphs: state.glyphs)
        for (i, line) in wrapped.prefix(max(0, inner.height - 2 - extraLines)).enumerated() {
            grid.put(line, x: inner.x, y: inner.y + i, style: Style(.modal, bold: true), maxWidth: inner.width)
        }
        grid.put(hint, x: inner.x, y: inner.y + inner.height - 1, style: Style(.key), maxWidth: inner.width)
        return inner
    }

    private static func drawHelp(_ state: DashboardState, scroll: Int, into grid: inout CellGrid) {
        let width = min(grid.width - 2, 78)
        let height = grid.height - 2
        let x = (grid.width - width) / 2
        grid.fill(x: 0, y: 1, width: grid.width, height: height)
        let inner = grid.drawBox(x: x, y: 1, width: width, height: height, title: "Keys", glyphs: state.glyphs)
        var lines: [[TableCell]] = KeyBindings.entries.map { entry in
            [
                TableCell(DisplayWidth.pad(entry.keys, to: 13), Style(.key, bold: true)),
                TableCell(entry.help, Style(.modal)),
            ]
        }
        lines.append([])
        lines.append([TableCell("Confirmations: y or Enter accepts, n or Esc cancels.", Style(.modal))])
        if state.options.readOnly { lines.append([TableCell("Read-only: every action is refused.", Style(.error))]) }
        let shown = min(scroll, max(0, lines.count - (inner.height - 2)))
        for (i, line) in lines.dropFirst(shown).prefix(max(0, inner.height - 2)).enumerated() {
            var cx = inner.x
            for cell in line {
                cx = grid.put(cell.text, x: cx, y: inner.y + i, style: cell.style, maxWidth: inner.x + inner.width - cx)
            }
        }
        grid.put(
            "Esc/?/q close · j/k scroll", x: inner.x, y: inner.y + inner.height - 1, style: Style(.dim),
            maxWidth: inner.width)
    }

    /// Word-wraps `text` into lines of at most `width` columns.
    static func wrap(_ text: String, width: Int) -> [String] {
        guard width > 0 else { return [] }
        var lines: [String] = []
        var current = ""
        for word in text.split(separator: " ") {
            let candidate = current.isEmpty ? String(word) : current + " " + word
            if DisplayWidth.of(candidate) <= width {
                current = candidate
            } else {
                if !current.isEmpty { lines.append(current) }
                current = DisplayWidth.truncate(String(word), to: width)
            }
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }
}
