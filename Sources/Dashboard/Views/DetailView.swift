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
        let more = lines.count > height ? "\(scroll + 1)-\(min(lines.count, scroll + height))/\(lines.count)" : ""
        for (row, line) in lines.dropFirst(scroll).prefix(height).enumerated() {
            // The first row leaves room for the scroll position.
            let right = row == 0 && !more.isEmpty ? grid.width - more.count - 3 : grid.width - 1
            var x = 1
            for cell in line {
                x = grid.put(cell.text, x: x, y: y + row, style: cell.style, maxWidth: max(0, right - x))
            }
        }
        if !more.isEmpty {
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
            TableCell("  attempt \(state.attemptText(d, long: true))", Style(.normal, bold: true)),
        ])
        lines.append([
            TableCell("event     ", label),
            TableCell(Sanitizer.line(data.message.eventType), Style(.normal, bold: true)),
            TableCell("  published " + Self.time(data.message.createdAt, state: state), label),
            TableCell("  " + Sanitizer.line(data.message.id)),
        ])
        let e = data.endpoint
        lines.append([
            TableCell("endpoint  ", label), TableCell(EndpointName.of(e), Style(.normal, bold: true)),
            TableCell(e.status == .active ? "" : "  (\(e.status.rawValue))", Style(.warning, bold: true)),
        ])
        lines.append([
            TableCell("          "), TableCell(Sanitizer.line(e.id) + "  ", label),
            TableCell(Sanitizer.line(e.url), Style(.accent)),
        ])
        if let connection = Self.connectionSummary(e) {
            lines.append([TableCell("sends     ", label), TableCell(Sanitizer.line(connection))])
        }
        if DeliveryStatus.waiting.contains(d.status), e.status != .active {
            lines.append([
                TableCell("next      ", label), TableCell("held (endpoint \(e.status.rawValue))", Style(.warning, bold: true)),
            ])
        } else if let next = d.nextAttemptAt, DeliveryStatus.waiting.contains(d.status) {
            let seconds = next.timeIntervalSince(state.now)
            let when = seconds > 0 ? "in " + Formatting.duration(seconds) : "overdue " + Formatting.duration(-seconds)
            lines.append([
                TableCell("next      ", label), TableCell("\(when) (\(Formatting.clock(next, timeZone: tz)))"),
            ])
        }
        if let error = d.lastError {
            lines.append([TableCell("error     ", label), TableCell(Sanitizer.line(error), Style(.error))])
        }
        lines.append([])
        lines.append([TableCell("ATTEMPTS", Style(.columnHeader, bold: true))])
        // Clock times when every attempt was today, dates otherwise.
        let sameDay = data.attempts.allSatisfy { Self.isSameDay($0.startedAt, state.now, timeZone: tz) }
        let startedWidth = sameDay ? 8 : 19
        if data.attempts.isEmpty {
            lines.append([TableCell("  none yet", label)])
        } else {
            let header =
                "    # " + DisplayWidth.pad("STARTED", to: startedWidth + 2) + DisplayWidth.pad("TRIGGER", to: 10)
                + DisplayWidth.pad("RESULT", to: 16) + DisplayWidth.pad("LATENCY", to: 7, alignRight: true) + "  ERROR"
            lines.append([TableCell(header, label)])
        }
        let chosen = data.attempts.isEmpty ? nil : min(attemptIndex ?? data.attempts.count - 1, data.attempts.count - 1)
        for (i, a) in data.attempts.enumerated() {
            let result: TableCell =
                if let status = a.responseStatus {
                    TableCell(DisplayWidth.pad("\(status)", to: 16), Style(a.succeeded ? .ok : .error))
                } else {
                    TableCell(DisplayWidth.pad(a.errorClass?.rawValue ?? "error", to: 16), Style(.error))
                }
            lines.append([
                TableCell(i == chosen ? g.collapsed + " " : "  ", Style(.accent, bold: true)),
                TableCell(DisplayWidth.pad("\(a.number)", to: 3, alignRight: true) + " "),
                TableCell(
                    (sameDay ? Formatting.clock(a.startedAt, timeZone: tz) : Formatting.dateTime(a.startedAt, timeZone: tz))
                        + "  "),
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
        // The exact body that was signed and POSTed: the envelope, with the message's timestamp.
        let envelope = WebhookSender.body(for: data.message)
        lines.append([TableCell("  body, as signed (\(envelope.utf8.count) bytes; o shows it unformatted):", label)])
        lines += body(envelope)
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

    /// The request and response of attempt `attempt` as plain text for `$PAGER`: headers, the signed body exactly
    /// as sent (unformatted), the response. Outside text is sanitised; the body's byte count is that of the original.
    static func plainText(_ data: DeliveryDetail, attempt index: Int?, state: DashboardState) -> String {
        let tz = state.options.timeZone
        let attempt = index.flatMap { data.attempts.indices.contains($0) ? data.attempts[$0] : nil }
        let envelope = WebhookSender.body(for: data.message)
        let shown = Sanitizer.line(envelope)
        var text: [String] = [
            "Delivery \(Identifier.formatDeliveryID(data.delivery.id)) of \(Sanitizer.line(data.message.id)) (\(Sanitizer.line(data.message.eventType)))",
            "to \(Sanitizer.line(data.endpoint.id)) \(Sanitizer.line(data.endpoint.url))",
            "",
        ]
        if let attempt {
            text.append(
                "REQUEST, attempt \(attempt.number) (\(attempt.trigger.rawValue)) at \(Formatting.dateTime(attempt.startedAt, timeZone: tz))")
            text.append("POST \(Sanitizer.line(data.endpoint.url))")
            for header in attempt.requestHeaders { text.append("\(Sanitizer.line(header.name)): \(Sanitizer.line(header.value))") }
        } else {
            text.append("REQUEST (no attempt yet)")
        }
        text.append("")
        text.append(shown)
        text.append("")
        text.append(
            "(\(envelope.utf8.count) bytes signed as \"{webhook-id}.{webhook-timestamp}.{body}\""
                + (shown == envelope ? ")" : "; control and bidi characters are shown escaped here)"))
        text.append("")
        guard let attempt else { return text.joined(separator: "\n") + "\n" }
        if let status = attempt.responseStatus {
            text.append("RESPONSE \(status) in \(Formatting.latency(Double(attempt.durationMilliseconds)))")
        } else {
            let error = [attempt.errorClass?.rawValue, attempt.errorMessage.map(Sanitizer.line)].compactMap { $0 }
            text.append("NO RESPONSE: \(error.joined(separator: ": "))")
        }
        for header in attempt.responseHeaders { text.append("\(Sanitizer.line(header.name)): \(Sanitizer.line(header.value))") }
        if let excerpt = attempt.responseBodyExcerpt, !excerpt.isEmpty {
            text.append("")
            text += Sanitizer.lines(excerpt)
        }
        return text.joined(separator: "\n") + "\n"
    }

    /// `14:02:09` today, `2024-05-01 14:02:09` on another day.
    static func time(_ date: Date, state: DashboardState) -> String {
        let tz = state.options.timeZone
        return isSameDay(date, state.now, timeZone: tz)
            ? Formatting.clock(date, timeZone: tz) : Formatting.dateTime(date, timeZone: tz)
    }

    /// The endpoint's own timeout and connection settings in one line, credentials masked: `headers X-Team; Bearer tok_…3f;
    /// own CA; client certificate; retries 10s,1m`. Nil when it has none.
    static func connectionSummary(_ endpoint: Endpoint) -> String? {
        let settings = endpoint.connection
        var parts: [String] = []
        if endpoint.timeoutMilliseconds != EndpointDefaults.timeoutMilliseconds {
            parts.append("timeout " + Formatting.duration(Double(endpoint.timeoutMilliseconds) / 1000))
        }
        if !settings.headers.isEmpty { parts.append("headers " + settings.headers.map(\.name).joined(separator: ", ")) }
        if let credential = settings.credential { parts.append(credential.masked) }
        if settings.caPEM != nil { parts.append("own CA") }
        if settings.clientCertificatePEM != nil { parts.append("client certificate") }
        if let schedule = settings.retrySchedule { parts.append("retries " + RetryPolicy.describe(schedule.delays)) }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    static func isSameDay(_ a: Date, _ b: Date, timeZone: TimeZone) -> Bool {
        let offset = { (d: Date) in Int((d.timeIntervalSince1970 + Double(timeZone.secondsFromGMT(for: d))) / 86_400) }
        return offset(a) == offset(b)
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
