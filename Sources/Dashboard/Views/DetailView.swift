import DeliveryCore
import Foundation

/// The detail of one delivery: attempt timeline, the request as sent, the response as received.
enum DetailView {
    typealias Line = [TableCell]

    static func draw(_ state: DashboardState, detail: DetailState, y: Int, height: Int, into grid: inout CellGrid) {
        grid.fill(x: 0, y: y, width: grid.width, height: height)
        guard let data = state.detailData, data.delivery.id == detail.deliveryId else {
            grid.put(" loading delivery #\(detail.deliveryId)…", x: 0, y: y, style: Style(.dim))
            return
        }
        let lines = self.lines(data, state: state, attemptIndex: detail.attemptIndex)
        let scroll = min(detail.scroll, max(0, lines.count - height))
        for (row, line) in lines.dropFirst(scroll).prefix(height).enumerated() {
            var x = 1
            for cell in line {
                x = grid.put(cell.text, x: x, y: y + row, style: cell.style, maxWidth: grid.width - x - 1)
            }
        }
        if lines.count > height {
            let more = "\(scroll + 1)-\(min(lines.count, scroll + height))/\(lines.count)"
            grid.put(more, x: grid.width - more.count - 1, y: y, style: Style(.dim))
        }
    }

    static func lines(_ data: DeliveryDetail, state: DashboardState, attemptIndex: Int?) -> [Line] {
        let g = state.glyphs
        let tz = state.options.timeZone
        let d = data.delivery
        let label = Style(.dim)
        var lines: [Line] = []
        lines.append([
            TableCell("Delivery #\(d.id)  ", Style(.title, bold: true)), DeliveriesView.status(d.status, glyphs: g),
            TableCell("  attempt \(d.attemptCount)/\(data.maxAttempts)", Style(.normal, bold: true)),
        ])
        lines.append([
            TableCell("message   ", label), TableCell(Sanitizer.line(data.message.id) + "  "),
            TableCell(Sanitizer.line(data.message.eventType), Style(.normal, bold: true)),
            TableCell("  published " + Formatting.dateTime(data.message.createdAt, timeZone: tz), label),
        ])
        let e = data.endpoint
        lines.append([
            TableCell("endpoint  ", label), TableCell(Sanitizer.line(e.id) + "  "),
            TableCell(Sanitizer.line(e.url), Style(.accent)),
            TableCell(e.status == .active ? "" : "  (\(e.status.rawValue))", Style(.warning, bold: true)),
        ])
        if let next = d.nextAttemptAt, DeliveryStatus.waiting.contains(d.status) {
            let seconds = next.timeIntervalSince(state.now)
            let when =
                seconds > 0 ? "in " + Formatting.duration(seconds) : "due " + Formatting.duration(-seconds) + " ago"
            lines.append([
                TableCell("next      ", label), TableCell("\(when) (\(Formatting.clock(next, timeZone: tz)))"),
            ])
        }
        if let error = d.lastError {
            lines.append([TableCell("error     ", label), TableCell(Sanitizer.line(error), Style(.error))])
        }
        lines.append([])
        lines.append([TableCell("ATTEMPTS", Style(.columnHeader, bold: true))])
        if data.attempts.isEmpty {
            lines.append([TableCell("  none yet", label)])
        } else {
            let header =
                "    # " + DisplayWidth.pad("STARTED", to: 21) + DisplayWidth.pad("TRIGGER", to: 10)
                + DisplayWidth.pad("RESULT", to: 18) + DisplayWidth.pad("LATENCY", to: 7, alignRight: true) + "  ERROR"
            lines.append([TableCell(header, label)])
        }
        let chosen = data.attempts.isEmpty ? nil : min(attemptIndex ?? data.attempts.count - 1, data.attempts.count - 1)
        for (i, a) in data.attempts.enumerated() {
            let result: TableCell =
                if let status = a.responseStatus {
                    TableCell(DisplayWidth.pad("\(status)", to: 18), Style(a.succeeded ? .ok : .error))
                } else {
                    TableCell(DisplayWidth.pad(a.errorClass?.rawValue ?? "error", to: 18), Style(.error))
                }
            lines.append([
                TableCell(i == chosen ? g.collapsed + " " : "  ", Style(.accent, bold: true)),
                TableCell(DisplayWidth.pad("\(a.number)", to: 3, alignRight: true) + " "),
                TableCell(Formatting.dateTime(a.startedAt, timeZone: tz) + "  "),
                TableCell(
                    DisplayWidth.pad(a.trigger.rawValue, to: 10), Style(a.trigger == .manual ? .accent : .normal)),
                result,
                TableCell(
                    DisplayWidth.pad(Formatting.latency(Double(a.durationMilliseconds)), to: 7, alignRight: true)),
                TableCell(a.errorMessage.map { "  " + Sanitizer.line($0) } ?? "", label),
            ])
        }
        let attempt = chosen.map { data.attempts[$0] }
        lines.append([])
        let which = attempt.map { " (attempt \($0.number) of \(data.attempts.count); [ ] to switch)" } ?? ""
        lines.append([TableCell("REQUEST", Style(.columnHeader, bold: true)), TableCell(which, label)])
        lines.append([TableCell("  POST ", Style(.normal, bold: true)), TableCell(Sanitizer.line(e.url))])
        for header in attempt?.requestHeaders ?? [] { lines.append(headerLine(header)) }
        lines.append([])
        lines += body(data.message.payload)
        lines.append([])
        lines.append([TableCell("RESPONSE", Style(.columnHeader, bold: true))])
        if let attempt {
            if let status = attempt.responseStatus {
                lines.append([
                    TableCell("  status ", label),
                    TableCell("\(status)", Style(attempt.succeeded ? .ok : .error, bold: true)),
                    TableCell(" in " + Formatting.latency(Double(attempt.durationMilliseconds)), label),
                ])
            } else {
                let error = [attempt.errorClass?.rawValue, attempt.errorMessage.map(Sanitizer.line)]
                    .compactMap { $0 }.joined(separator: ": ")
                lines.append([TableCell("  no response: ", label), TableCell(error, Style(.error, bold: true))])
            }
            for header in attempt.responseHeaders { lines.append(headerLine(header)) }
            if let excerpt = attempt.responseBodyExcerpt, !excerpt.isEmpty {
                lines.append([])
                lines += body(excerpt)
            }
        } else {
            lines.append([TableCell("  no attempt yet", label)])
        }
        return lines
    }

    private static func headerLine(_ header: Header) -> Line {
        [TableCell("  " + Sanitizer.line(header.name) + ": ", Style(.accent)), TableCell(Sanitizer.line(header.value))]
    }

    /// A body: pretty JSON when it parses, the raw lines otherwise (always sanitised).
    static func body(_ text: String) -> [Line] {
        let lines = JSONPrettyPrinter.format(text).map { $0.flatMap(Sanitizer.lines) } ?? Sanitizer.lines(text)
        return lines.map { [TableCell("  " + $0)] }
    }
}
