import DeliveryCore
import Foundation

/// The last two lines: the keys that work here, and a message line (results, errors, the filter editor).
enum FooterView {
    /// - Parameter rowCount: rows of the list, when the caller has them already (else they are worked out).
    static func draw(_ state: DashboardState, rowCount: Int? = nil, into grid: inout CellGrid) {
        let keysY = grid.height - 2
        let messageY = grid.height - 1
        grid.fill(x: 0, y: keysY, width: grid.width, height: 1, style: Style(.header))
        var x = 1
        // The keys say what they will do to the endpoint under the cursor: `p resume` on a paused one.
        let target = state.targetEndpointId.flatMap { state.endpointStatus($0) }
        let pairs = KeyBindings.footer(view: state.view, detail: state.detail != nil).map { key, label in
            switch (label, target) {
            case ("pause", .paused?): (key, "resume")
            case ("disable", .disabled?): (key, "enable")
            default: (key, label)
            }
        }
        let position = positionText(state, rowCount: rowCount)
        let limit = grid.width - DisplayWidth.of(position) - 2
        for (key, label) in pairs {
            let w = DisplayWidth.of(key) + 1 + DisplayWidth.of(label)
            guard x + w <= limit else { break }
            x = grid.put(key, x: x, y: keysY, style: Style(.key, bold: true))
            x = grid.put(" " + label, x: x, y: keysY, style: Style(.header))
            x += 2
        }
        if !position.isEmpty, limit > x {
            grid.put(position, x: grid.width - DisplayWidth.of(position) - 1, y: keysY, style: Style(.header))
        }

        if case .filter(let editor) = state.modal {
            drawEditor(prompt: "/", editor: editor, y: messageY, into: &grid, hint: "Enter apply · Esc cancel")
            return
        }
        guard let message = state.message else { return }
        let role: Role =
            switch message.kind {
            case .info: .normal
            case .success: .ok
            case .error: .error
            }
        grid.put(" " + message.text, x: 0, y: messageY, style: Style(role, bold: message.kind != .info))
    }

    /// `12/200` (row within the loaded page, plus `+` when more pages follow).
    private static func positionText(_ state: DashboardState, rowCount: Int?) -> String {
        guard state.detail == nil else { return "" }
        let count = rowCount ?? state.rows.count
        guard count > 0 else { return "" }
        let page = state.list.pages.isEmpty ? "" : " p\(state.list.pages.count + 1)"
        if state.list.lost { return "-/\(count)\(page)" }
        return "\(min(state.list.selectedIndex, count - 1) + 1)/\(count)\(page)"
    }

    /// A one-line editor with a visible cursor (the terminal cursor stays hidden).
    static func drawEditor(
        prompt: String, editor: LineEditor, y: Int, into grid: inout CellGrid, hint: String, x startX: Int = 0,
        width: Int? = nil
    ) {
        let limit = width ?? grid.width
        var x = grid.put(prompt, x: startX, y: y, style: Style(.accent, bold: true), maxWidth: limit)
        let text = Sanitizer.line(editor.text)
        let room = startX + limit - x - 1 - DisplayWidth.of(hint) - 2
        // Keep the cursor visible: show the tail when the text is longer than the room.
        var visible = Array(text)
        var cursor = min(editor.cursor, visible.count)
        while DisplayWidth.of(String(visible)) >= max(1, room), cursor > 0 {
            visible.removeFirst()
            cursor -= 1
        }
        for (i, character) in visible.enumerated() {
            x = grid.put(String(character), x: x, y: y, style: Style(i == cursor ? .selected : .normal))
        }
        if cursor >= visible.count { x = grid.put(" ", x: x, y: y, style: Style(.selected)) }
        if room > 0 { grid.put(hint, x: startX + limit - DisplayWidth.of(hint) - 1, y: y, style: Style(.dim)) }
    }
}
