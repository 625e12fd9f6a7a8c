import DeliveryCore
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
            drawPrompt(
                title: "Recover \(state.endpointName(endpointId))", text: "Redeliver dead deliveries since how long ago? (30m, 2h, 1d)",
                hint: "Enter next · Esc cancel", prompt: "since: ", editor: editor, state: state, into: &grid)
        case .replaySince(let filter, let editor)?:
            drawPrompt(
                title: "Replay \(DashboardState.groupName(filter)) failures of \(state.endpointName(filter.endpointId ?? ""))",
                text: "Redeliver this group's dead deliveries since how long ago? (30m, 2h, 1d)",
                hint: "Enter next · Esc cancel", prompt: "since: ", editor: editor, state: state, into: &grid)
        case .rateLimit(let endpointId, let editor)?:
            drawPrompt(
                title: "Rate limit of \(state.endpointName(endpointId))",
                text: "Requests per second at most (1 to 10000), or none. Held and queued deliveries drain at it.",
                hint: "Enter set · Esc cancel", prompt: "per second: ", editor: editor, state: state, into: &grid)
        case .countingReplay(let filter)?:
            drawDialog(
                title: filter.errorClass == nil ? "Replay the filtered deliveries" : "Replay \(DashboardState.groupName(filter)) failures",
                text: "Counting deliveries to replay…",
                hint: "Esc cancel", state: state, into: &grid)
        case .counting(let endpointId)?:
            drawDialog(
                title: "Recover \(state.endpointName(endpointId))", text: "Counting deliveries to recover…", hint: "Esc cancel",
                state: state,
                into: &grid)
        case .audit(let endpointId, let scroll)?:
            drawAudit(state, endpointId: endpointId, scroll: scroll, into: &grid)
        case .alerts(let scroll)?:
            drawAlerts(state, scroll: scroll, into: &grid)
        case .dispatchers(let scroll)?:
            drawDispatchers(state, scroll: scroll, into: &grid)
        case .filter?, nil:
            break
        }
    }

    /// A dialog with a one-line editor at its foot.
    private static func drawPrompt(
        title: String, text: String, hint: String, prompt: String, editor: LineEditor, state: DashboardState,
        into grid: inout CellGrid
    ) {
        let box = drawDialog(title: title, text: text, hint: hint, state: state, into: &grid, extraLines: 1)
        FooterView.drawEditor(
            prompt: prompt, editor: editor, y: box.y + box.height - 2, into: &grid, hint: "", x: box.x, width: box.width)
    }

    /// The newest operator actions: when (ISO 8601, local offset), who (OS user, SSH origin, terminal, tool), what.
    private static func drawAudit(_ state: DashboardState, endpointId: String?, scroll: Int, into grid: inout CellGrid) {
        let width = min(grid.width - 2, 118)
        let height = grid.height - 2
        let x = (grid.width - width) / 2
        let title = endpointId.map { "Audit: \(state.endpointName($0))" } ?? "Audit: recent actions"
        grid.fill(x: 0, y: 1, width: grid.width, height: grid.height - 1)
        let inner = grid.drawBox(x: x, y: 1, width: width, height: height, title: title, glyphs: state.glyphs)
        let entries = state.auditEntries.filter { endpointId == nil || $0.objectId == endpointId }
        guard !entries.isEmpty else {
            grid.put(state.loaded ? "no operator actions recorded" : "loading…", x: inner.x, y: inner.y, style: Style(.dim))
            return
        }
        let shown = min(scroll, max(0, entries.count - inner.height))
        for (i, entry) in entries.dropFirst(shown).prefix(inner.height).enumerated() {
            var cx = inner.x
            // One endpoint's audit names it in the title; the full list names each action's object.
            let object = endpointId != nil ? ""
                : entry.objectType == "endpoint" ? state.endpointName(entry.objectId) : Sanitizer.line(entry.objectId)
            let detail = entry.detail.isEmpty ? "" : " (\(Sanitizer.line(entry.detail)))"
            for cell in [
                TableCell(Formatting.isoTime(entry.at, timeZone: state.options.timeZone) + "  ", Style(.dim)),
                TableCell(entry.action + " ", Style(.modal, bold: true)),
                TableCell(object + detail + (object.isEmpty && detail.isEmpty ? " " : "  "), Style(.modal)),
                TableCell("by " + Sanitizer.line(entry.who), Style(.accent)),
            ] {
                cx = grid.put(cell.text, x: cx, y: inner.y + i, style: cell.style, maxWidth: inner.x + inner.width - cx)
            }
        }
        grid.put(" j/k scroll \(state.glyphs == .ascii ? "-" : "·") Esc close ", x: x + width - 26, y: height, style: Style(.key))
    }

    /// The newest alerts: when, what, whether it was sent, and its one line.
    private static func drawAlerts(_ state: DashboardState, scroll: Int, into grid: inout CellGrid) {
        let width = min(grid.width - 2, 118)
        let height = grid.height - 2
        let x = (grid.width - width) / 2
        grid.fill(x: 0, y: 1, width: grid.width, height: grid.height - 1)
        let inner = grid.drawBox(x: x, y: 1, width: width, height: height, title: "Alerts", glyphs: state.glyphs)
        let alerts = state.alertEntries
        guard !alerts.isEmpty else {
            let text = state.loaded ? "no alerts recorded (serve raises them; --alert-url or --alert-exec sends them)" : "loading…"
            grid.put(text, x: inner.x, y: inner.y, style: Style(.dim), maxWidth: inner.width)
            return
        }
        let shown = min(scroll, max(0, alerts.count - inner.height))
        for (i, alert) in alerts.dropFirst(shown).prefix(inner.height).enumerated() {
            var cx = inner.x
            let role: Role = switch alert.type {
            case .endpointRecovered: .ok
            case .test: .dim
            case .backlogOverdue, .endpointFailing: .warning
            default: .error
            }
            let sent: (String, Role) = switch alert.status {
            case .sent: ("sent", .dim)
            case .unsent: ("unsent", .dim)
            case .pending: (alert.attempts > 0 ? "retrying" : "pending", .warning)
            case .failed: ("failed", .error)
            }
            for cell in [
                // Narrow screens keep room for the summary: how long ago rather than the full time.
                TableCell(
                    inner.width >= 100
                        ? Formatting.isoTime(alert.at, timeZone: state.options.timeZone) + "  "
                        : DisplayWidth.pad(Formatting.duration(state.now.timeIntervalSince(alert.at)), to: 7) + " ",
                    Style(.dim)),
                TableCell(DisplayWidth.pad(alert.type.rawValue, to: 19), Style(role, bold: true)),
                TableCell(DisplayWidth.pad(sent.0, to: 9), Style(sent.1)),
                TableCell(alertLine(alert, state), Style(.modal)),
            ] {
                cx = grid.put(cell.text, x: cx, y: inner.y + i, style: cell.style, maxWidth: inner.x + inner.width - cx)
            }
        }
        grid.put(" j/k scroll \(state.glyphs == .ascii ? "-" : "·") Esc close ", x: x + width - 26, y: height, style: Style(.key))
    }

    /// Every dispatcher with a heartbeat row, newest heartbeat first: alive or stale (and since when), where it runs,
    /// what it has in flight and how many attempts it recorded in the last 5 minutes.
    private static func drawDispatchers(_ state: DashboardState, scroll: Int, into grid: inout CellGrid) {
        let g = state.glyphs
        let width = min(grid.width - 2, 118)
        let height = grid.height - 2
        let x = (grid.width - width) / 2
        grid.fill(x: 0, y: 1, width: grid.width, height: grid.height - 1)
        let inner = grid.drawBox(x: x, y: 1, width: width, height: height, title: "Dispatchers", glyphs: g)
        let workers = state.overview?.workers ?? []
        guard let overview = state.overview, !workers.isEmpty else {
            let text = state.overview == nil
                ? "loading…" : "no dispatcher has a heartbeat in this log (start `hooktop serve`)"
            grid.put(text, x: inner.x, y: inner.y, style: Style(.dim), maxWidth: inner.width)
            return
        }
        let alive = workers.filter { $0.isAlive(now: state.now) }
        let attempts = workers.reduce(0) { $0 + overview.recentAttempts(of: $1) }
        let summary = [
            "\(alive.count) alive", workers.count > alive.count ? "\(workers.count - alive.count) stale" : nil,
            "\(alive.reduce(0) { $0 + $1.inFlight }) in flight", "\(Formatting.count(attempts)) attempts in the last 5 min",
        ].compactMap { $0 }.joined(separator: g == .ascii ? " - " : " · ")
        grid.put(summary, x: inner.x, y: inner.y, style: Style(.modal, bold: true), maxWidth: inner.width)
        let columns = [
            Column(title: "STATE", width: 13, priority: 10), Column(title: "HOST", width: 10, flex: 2, priority: 9),
            Column(title: "PID", width: 7, priority: 9, alignRight: true),
            Column(title: "IN FLIGHT", width: 9, priority: 8, alignRight: true),
            Column(title: "ATTEMPTS 5M", width: 11, priority: 8, alignRight: true),
            Column(title: "UP", width: 7, priority: 5, alignRight: true),
            Column(title: "VERSION", width: 8, priority: 3), Column(title: "ID", width: 14, flex: 1, priority: 2),
        ]
        let layout = TableLayout(columns: columns, width: inner.width, leftMargin: 0)
        func draw(_ cells: [TableCell], y: Int) {
            for (index, cx, w) in layout.placed {
                let text = DisplayWidth.pad(
                    cells[index].text, to: w, alignRight: columns[index].alignRight, ellipsis: g.ellipsis)
                grid.put(text, x: inner.x + cx, y: y, style: cells[index].style, maxWidth: w)
            }
        }
        draw(columns.map { TableCell($0.title, Style(.dim, bold: true)) }, y: inner.y + 2)
        let room = max(0, inner.height - 3)
        let shown = min(scroll, max(0, workers.count - room))
        for (i, worker) in workers.dropFirst(shown).prefix(room).enumerated() {
            let stale = Formatting.duration(state.now.timeIntervalSince(worker.heartbeatAt))
            let status = worker.isAlive(now: state.now)
                ? TableCell("\(g.bullet) alive", Style(.ok, bold: true))
                : TableCell("\(g.cross) stale \(stale)", Style(.error, bold: true))
            draw(
                [
                    status, TableCell(Sanitizer.line(worker.host), Style(.modal)),
                    TableCell("\(worker.pid)", Style(.modal)), TableCell("\(worker.inFlight)", Style(.modal)),
                    TableCell(Formatting.count(overview.recentAttempts(of: worker)), Style(.modal)),
                    TableCell(Formatting.duration(state.now.timeIntervalSince(worker.startedAt)), Style(.dim)),
                    TableCell(Sanitizer.line(worker.version), Style(.dim)),
                    TableCell(Sanitizer.line(worker.id), Style(.dim)),
                ], y: inner.y + 3 + i)
        }
        grid.put(" j/k scroll \(g == .ascii ? "-" : "·") Esc close ", x: x + width - 26, y: height, style: Style(.key))
    }

    /// An alert's line with its endpoint named as everywhere in the dashboard (`Acme billing`, not `ep_… (Acme
    /// billing)`).
    static func alertLine(_ alert: Alert, _ state: DashboardState) -> String {
        let summary = Sanitizer.line(alert.summary)
        guard let endpoint = state.endpoints.first(where: { $0.endpoint.id == alert.objectId })?.endpoint else {
            return summary
        }
        var prefix = "endpoint \(endpoint.id)"
        if !endpoint.description.isEmpty { prefix += " (\(Sanitizer.line(endpoint.description)))" }
        guard summary.hasPrefix(prefix) else { return summary }
        return state.endpointName(endpoint.id) + summary.dropFirst(prefix.count)
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

    /// The key list in a box from the second row to the bottom; the hint sits on the bottom border so every row
    /// inside is a key. When the list is longer than the box (small terminals), j/k scroll it and the border shows
    /// the position.
    private static func drawHelp(_ state: DashboardState, scroll: Int, into grid: inout CellGrid) {
        let width = min(grid.width - 2, 78)
        var lines: [[TableCell]] = KeyBindings.entries.map { entry in
            [
                TableCell(DisplayWidth.pad(entry.keys, to: 13), Style(.key, bold: true)),
                TableCell(
                    DisplayWidth.truncate(entry.help, to: max(1, width - 4 - 13), ellipsis: state.glyphs.ellipsis),
                    Style(.modal)),
            ]
        }
        let confirmations = [TableCell("Confirmations: y or Enter accepts, n or Esc cancels.", Style(.modal))]
        // As tall as the list (with a blank line before the note when there is room), at most the screen below row 0.
        let height = min(grid.height - 1, lines.count + 4)
        let y = max(1, (grid.height - height) / 2)
        lines += lines.count + 2 <= height - 2 ? [[], confirmations] : [confirmations]
        let x = (grid.width - width) / 2
        let title = state.options.readOnly ? "Keys · read-only: actions are refused" : "Keys"
        // The list behind would only be noise around the box: clear everything below the first header line.
        grid.fill(x: 0, y: 1, width: grid.width, height: grid.height - 1)
        let inner = grid.drawBox(x: x, y: y, width: width, height: height, title: title, glyphs: state.glyphs)
        let room = max(0, inner.height)
        let shown = min(scroll, max(0, lines.count - room))
        for (i, line) in lines.dropFirst(shown).prefix(room).enumerated() {
            var cx = inner.x
            for cell in line {
                cx = grid.put(cell.text, x: cx, y: inner.y + i, style: cell.style, maxWidth: inner.x + inner.width - cx)
            }
        }
        let scrolls = lines.count > room
        var hint = scrolls ? " Esc close · j/k scroll " : " Esc/? close "
        if scrolls { hint += "\(shown + 1)-\(min(lines.count, shown + room))/\(lines.count) " }
        let bottom = y + height - 1
        if DisplayWidth.of(hint) <= width - 4 {
            grid.put(hint, x: x + width - DisplayWidth.of(hint) - 2, y: bottom, style: Style(.modalTitle))
        }
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
