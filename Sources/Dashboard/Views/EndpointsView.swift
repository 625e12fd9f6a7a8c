import DeliveryCore
import Foundation

/// View 1: one row per endpoint with its health.
enum EndpointsView {
    static let columns = [
        Column(title: "STATUS", width: 10, priority: 10),
        Column(title: "ENDPOINT", width: 22, flex: 2, priority: 10),
        Column(title: "URL", width: 24, flex: 1, priority: 2),
        Column(title: "OK 5m", width: 6, priority: 9, alignRight: true),
        Column(title: "INFL", width: 4, priority: 4, alignRight: true),
        Column(title: "QUEUE", width: 6, priority: 9, alignRight: true),
        Column(title: "DEAD", width: 5, priority: 8, alignRight: true),
        Column(title: "P50", width: 6, priority: 3, alignRight: true),
        Column(title: "P95", width: 6, priority: 7, alignRight: true),
        Column(title: "LAST ERROR", width: 13, flex: 3, priority: 6),
    ]

    static func cells(_ s: EndpointSummary, name: String, glyphs: Glyphs, now: Date) -> [TableCell] {
        let e = s.endpoint
        let status: TableCell =
            switch e.status {
            case .active: TableCell(glyphs.bullet + " active", Style(.ok))
            case .paused: TableCell(glyphs.hollowBullet + " paused", Style(.warning, bold: true))
            case .disabled: TableCell(glyphs.cross + " disabled", Style(.error, bold: true))
            }
        let rate = s.recent.successRate
        let rateRole: Role = rate.map { $0 >= 0.99 ? .ok : ($0 >= 0.9 ? .warning : .error) } ?? .dim
        // The last error with its age while the endpoint is failing; once an attempt succeeded, when that was.
        var lastError = TableCell("", Style(.error))
        if let error = s.lastError.map(Sanitizer.line) {
            if s.failingSince != nil, let at = s.lastAttemptAt {
                lastError = TableCell("\(Formatting.duration(now.timeIntervalSince(at))) ago: \(error)", Style(.error))
            } else if let ok = s.lastSuccessAt {
                lastError = TableCell("ok \(Formatting.duration(now.timeIntervalSince(ok))) ago; was \(error)", Style(.dim))
            } else {
                lastError = TableCell(error, Style(.error))
            }
        }
        // Who paused or disabled it, and when (from the audit).
        let byWhom = s.lastAction.flatMap { action -> String? in
            guard action.action == "endpoint.\(e.status == .paused ? "pause" : "disable")" else { return nil }
            // `ssh 10.0.0.5` (the port says little here; the audit overlay has it all).
            let origin = action.origin.map { " from " + Sanitizer.line($0.components(separatedBy: " port ")[0]) } ?? ""
            return "by \(Sanitizer.line(action.user)) \(Formatting.duration(now.timeIntervalSince(action.at))) ago\(origin)"
        }
        // A rate-limited endpoint working off a queue: the drain, at its pace, and when it ends.
        if e.status == .active, let limit = e.rateLimit, s.counts.queued > 0 {
            let pace = Double(limit) / RateLimiter.window
            lastError = TableCell(
                "drain \(Formatting.count(s.counts.queued)) @\(limit)/s ETA \(Formatting.duration(Double(s.counts.queued) / pace))",
                Style(.warning))
        }
        if e.status == .paused, let byWhom {
            lastError = TableCell("paused " + byWhom, Style(.warning))
        }
        if e.status == .disabled, let reason = e.disabledReason {
            lastError = TableCell("disabled: " + Sanitizer.line(reason) + (byWhom.map { ", " + $0 } ?? ""), Style(.error))
        }
        return [
            status,
            TableCell(name, Style(.normal, bold: true)),
            TableCell(Sanitizer.line(e.url), Style(.dim)),
            TableCell(Formatting.percent(rate), Style(rateRole)),
            TableCell(s.counts.inflight == 0 ? "-" : "\(s.counts.inflight)"),
            TableCell(Formatting.count(s.counts.queued), Style(s.counts.queued > 0 ? .warning : .dim)),
            TableCell(Formatting.count(s.counts.dead), Style(s.counts.dead > 0 ? .error : .dim)),
            TableCell(Formatting.latency(s.recent.p50Milliseconds)),
            TableCell(Formatting.latency(s.recent.p95Milliseconds)),
            lastError,
        ]
    }
}

/// View 2 (and the rows under an expanded failure group): one row per delivery, newest first.
enum DeliveriesView {
    /// The columns, the sorted one marked (`▼` descending, `▲` ascending).
    static func columns(sort: SortOrder?, glyphs: Glyphs) -> [Column] {
        var columns = Self.columns
        let (down, up) = glyphs == .ascii ? ("v", "^") : ("\u{25BC}", "\u{25B2}")
        let (title, marker): (String, String) =
            switch sort ?? .newest {
            case .oldest: ("TIME", up)
            case .slowest: ("LAT", down)
            case .mostAttempts: ("ATT", down)
            default: ("TIME", down)
            }
        if let index = columns.firstIndex(where: { $0.title == title }) {
            columns[index].title += marker
            columns[index].width = max(columns[index].width, columns[index].title.count)
            // The sorted column stays on screen.
            columns[index].priority = max(columns[index].priority, 9)
        }
        return columns
    }

    static let columns = [
        Column(title: "TIME", width: 8, priority: 7),
        Column(title: "STATUS", width: 11, priority: 10),
        Column(title: "EVENT", width: 15, flex: 1, priority: 9),
        Column(title: "ENDPOINT", width: 16, flex: 3, priority: 8),
        Column(title: "ATT", width: 3, priority: 3, alignRight: true),
        Column(title: "RESULT", width: 16, priority: 9),
        Column(title: "LAT", width: 6, priority: 6, alignRight: true),
        // The id names the row an action will act on: it stays at 80 columns, before latency and attempts.
        Column(title: "ID", width: 7, priority: 8, alignRight: true),
    ]

    static func cells(_ d: Delivery, state: DashboardState) -> [TableCell] {
        [
            TableCell(Formatting.listTime(d.updatedAt, now: state.now, timeZone: state.options.timeZone), Style(.dim)),
            status(d.status, glyphs: state.glyphs),
            TableCell(Sanitizer.line(d.eventType)),
            TableCell(state.endpointName(d.endpointId)),
            TableCell("\(d.attemptCount)"),
            result(d),
            TableCell(Formatting.latency(d.lastLatencyMilliseconds.map(Double.init)), Style(.dim)),
            TableCell("\(d.id)", Style(.dim)),
        ]
    }

    static func status(_ status: DeliveryStatus, glyphs: Glyphs) -> TableCell {
        switch status {
        case .pending: TableCell(glyphs.hollowBullet + " pending", Style(.dim))
        case .inflight: TableCell(glyphs.arrowRight + " inflight", Style(.accent))
        case .delivered: TableCell(glyphs.check + " delivered", Style(.ok))
        case .retrying: TableCell(glyphs.retry + " retrying", Style(.warning))
        case .dead: TableCell(glyphs.cross + " dead", Style(.error, bold: true))
        case .cancelled: TableCell("- cancelled", Style(.dim))
        }
    }

    /// `200`, `503 Service…`, `connect_refused`: the status code or the error class.
    static func result(_ d: Delivery) -> TableCell {
        if let code = d.lastStatusCode {
            let ok = (200..<300).contains(code)
            let detail = ok ? "" : (errorText(d.lastError, errorClass: d.lastErrorClass, statusCode: code).map { " " + $0 } ?? "")
            return TableCell("\(code)\(detail)", Style(ok ? .ok : .error))
        }
        if let errorClass = d.lastErrorClass { return TableCell(errorClass.rawValue, Style(.error)) }
        if let error = d.lastError { return TableCell(Sanitizer.line(error), Style(.error)) }
        return TableCell("-", Style(.dim))
    }

    /// The part of an error message that says more than its class or status code: `connection refused` from
    /// `connect_refused: connection refused`; `nil` for `http 429`, which the status code already says.
    static func errorText(_ error: String?, errorClass: ErrorClass?, statusCode: Int? = nil) -> String? {
        guard var text = error.map({ Formatting.trimmingWhitespace(Sanitizer.line($0)) }), !text.isEmpty else {
            return nil
        }
        if let errorClass, text.hasPrefix(errorClass.rawValue + ": ") {
            text = String(text.dropFirst(errorClass.rawValue.count + 2))
        }
        if let statusCode {
            for redundant in ["http \(statusCode)", "HTTP \(statusCode)", "\(statusCode)"] where text == redundant {
                return nil
            }
            if text.hasPrefix("http \(statusCode): ") { text = String(text.dropFirst("http \(statusCode): ".count)) }
        }
        return text.isEmpty || text == errorClass?.rawValue ? nil : text
    }
}
