import DeliveryCore
import Foundation

/// The first three lines: database and dispatcher, the numbers that matter, and the view tabs.
enum HeaderView {
    struct Segment {
        var parts: [TableCell]
        var priority: Int
        var width: Int { parts.reduce(0) { $0 + DisplayWidth.of($1.text) } }
    }

    static func draw(_ state: DashboardState, into grid: inout CellGrid) {
        grid.fill(x: 0, y: 0, width: grid.width, height: 2, style: Style(.header))
        drawStatusLine(state, into: &grid)
        drawNumbersLine(state, into: &grid)
        drawTabs(state, into: &grid)
    }

    private static func drawStatusLine(_ state: DashboardState, into grid: inout CellGrid) {
        var segments: [Segment] = [
            Segment(parts: [TableCell("hooktop", Style(.title, bold: true))], priority: 6),
            Segment(
                parts: [TableCell(Sanitizer.line(state.options.databaseName), Style(.header, bold: true))], priority: 8),
            Segment(
                parts: [
                    TableCell(
                        state.options.readOnly ? " RO " : " RW ", Style(state.options.readOnly ? .badgeAlert : .badge))
                ],
                priority: 10
            ),
        ]
        segments.append(dispatcherSegment(state))
        let alive = state.overview?.workers.filter { $0.isAlive(now: state.now) } ?? []
        if !alive.isEmpty {
            let inFlight = alive.reduce(0) { $0 + $1.inFlight }
            segments.append(Segment(parts: [TableCell("\(inFlight) in flight", Style(.dim))], priority: 4))
        }
        if let problems = state.overview?.problemAlerts(now: state.now), let newest = problems.first {
            // The last hour's alerts about problems, newest named: `!` lists them.
            let count = problems.count >= Overview.recentAlertLimit ? "\(problems.count)+" : "\(problems.count)"
            let age = Formatting.duration(state.now.timeIntervalSince(newest.at))
            segments.append(
                Segment(
                    parts: [TableCell(" \(count) alert\(problems.count == 1 ? "" : "s") ", Style(.badgeAlert, bold: true))],
                    priority: 7))
            segments.append(
                Segment(parts: [TableCell("\(newest.type.rawValue) \(age) ago", Style(.header))], priority: 5))
        }
        let clock = Formatting.clock(state.now, timeZone: state.options.timeZone)
        drawSegments(segments, y: 0, reserve: clock.count + 1, into: &grid)
        if grid.width >= 60 { grid.put(clock, x: grid.width - clock.count - 1, y: 0, style: Style(.header)) }
    }

    private static func dispatcherSegment(_ state: DashboardState) -> Segment {
        let g = state.glyphs
        guard let overview = state.overview else {
            return Segment(parts: [TableCell("loading…", Style(.dim))], priority: 7)
        }
        if overview.workers.count > 1 {
            // Several: how many are alive and how many stale; `D` lists them.
            let alive = overview.workers.filter { $0.isAlive(now: state.now) }.count
            let stale = overview.workers.count - alive
            var parts = [TableCell("dispatchers ", Style(.header))]
            if alive > 0 { parts.append(TableCell(g.bullet + " \(alive) alive", Style(.ok, bold: true))) }
            if stale > 0 {
                let text = (alive > 0 ? " " : "") + "\(g.cross) \(stale) STALE"
                parts.append(TableCell(text, Style(.badgeAlert, bold: true)))
            }
            return Segment(parts: parts, priority: 9)
        }
        if let worker = overview.liveWorker(now: state.now) {
            let host = Sanitizer.line(worker.host)
            return Segment(
                parts: [
                    TableCell("dispatcher ", Style(.header)), TableCell(g.bullet + " alive", Style(.ok, bold: true)),
                    TableCell(" pid \(worker.pid)@\(host)", Style(.header)),
                ], priority: 9)
        }
        if let newest = overview.workers.max(by: { $0.heartbeatAt < $1.heartbeatAt }) {
            let age = Formatting.duration(state.now.timeIntervalSince(newest.heartbeatAt))
            return Segment(
                parts: [
                    TableCell("dispatcher ", Style(.header)),
                    TableCell("\(g.cross) STALE \(age) ago", Style(.badgeAlert, bold: true)),
                    TableCell(" pid \(newest.pid)@\(Sanitizer.line(newest.host))", Style(.header)),
                ], priority: 9)
        }
        return Segment(
            parts: [
                TableCell("dispatcher ", Style(.header)), TableCell("\(g.cross) NONE", Style(.badgeAlert, bold: true)),
                TableCell(" (nothing is delivering)", Style(.header)),
            ], priority: 9)
    }

    private static func drawNumbersLine(_ state: DashboardState, into grid: inout CellGrid) {
        guard let o = state.overview else { return }
        let label = Style(.header)
        func value(_ text: String, _ role: Role = .header) -> TableCell { TableCell(text, Style(role, bold: true)) }
        let rate = o.recent.successRate
        let rateRole: Role = rate.map { $0 >= 0.99 ? .ok : ($0 >= 0.9 ? .warning : .error) } ?? .header
        var segments = [
            Segment(parts: [value(Formatting.rate(o.deliveriesPerSecond))], priority: 9),
            Segment(parts: [TableCell("ok ", label), value(Formatting.percent(rate), rateRole)], priority: 9),
            Segment(parts: [TableCell("queue ", label), value(Formatting.count(o.totals.queued))], priority: 8),
            Segment(
                parts: [
                    TableCell("dead ", label),
                    value(Formatting.count(o.totals.dead), o.totals.dead > 0 ? .error : .header),
                ],
                priority: 8),
            Segment(
                parts: [
                    TableCell("paused ", label),
                    value("\(o.pausedEndpoints)", o.pausedEndpoints > 0 ? .warning : .header),
                ]
                    + (o.disabledEndpoints > 0
                        ? [TableCell(" disabled ", label), value("\(o.disabledEndpoints)", .error)] : []),
                priority: 6),
            Segment(
                parts: [
                    TableCell("p50 ", label), value(Formatting.latency(o.recent.p50Milliseconds)),
                    TableCell(" p95 ", label), value(Formatting.latency(o.recent.p95Milliseconds)),
                ], priority: 5),
        ]
        let overdue = o.oldestDueSeconds(now: state.now)
        if Double(overdue) >= state.options.overdueAfter {
            // Work is due and nothing is taking it (no dispatcher, or one that cannot keep up): shown whatever else is.
            let text = " overdue \(Formatting.duration(Double(overdue))) "
            segments.insert(Segment(parts: [TableCell(text, Style(.badgeAlert, bold: true))], priority: 10), at: 0)
        }
        if let problem = o.writeProblem {
            let text = " log not writable: \(Sanitizer.line(problem)) "
            segments.insert(Segment(parts: [TableCell(text, Style(.badgeAlert, bold: true))], priority: 10), at: 0)
        }
        let end = drawSegments(segments, y: 1, reserve: 0, into: &grid)
        let room = grid.width - end - 3
        if room >= 8 {
            let spark = sparkline(o.throughput, width: min(30, room), glyphs: state.glyphs)
            grid.put(spark, x: grid.width - DisplayWidth.of(spark) - 1, y: 1, style: Style(.accent))
        }
    }

    /// Draws segments separated by two spaces, dropping the least important ones that do not fit.
    @discardableResult
    private static func drawSegments(_ segments: [Segment], y: Int, reserve: Int, into grid: inout CellGrid) -> Int {
        var kept = segments
        func total(_ list: [Segment]) -> Int { list.reduce(1) { $0 + $1.width + 2 } }
        while total(kept) + reserve > grid.width,
            let drop = kept.indices.min(by: { kept[$0].priority < kept[$1].priority }),
            kept.count > 1
        {
            kept.remove(at: drop)
        }
        var x = 1
        for segment in kept {
            for part in segment.parts {
                x = grid.put(part.text, x: x, y: y, style: part.style, maxWidth: grid.width - x)
            }
            x += 2
        }
        return x
    }

    /// The last `width` values of `values` as bars, scaled to the largest.
    static func sparkline(_ values: [Int], width: Int, glyphs: Glyphs) -> String {
        let shown = values.suffix(width)
        let peak = max(1, shown.max() ?? 1)
        return shown.map { v in
            if v <= 0 { return glyphs.sparks[0] }
            let level = Int((Double(v) / Double(peak) * Double(glyphs.sparks.count - 1)).rounded(.up))
            return glyphs.sparks[min(glyphs.sparks.count - 1, max(0, level))]
        }.joined()
    }

    private static func drawTabs(_ state: DashboardState, into grid: inout CellGrid) {
        let y = 2
        var badges: [TableCell] = []
        // Only the newest-first Deliveries view is a live log: another sort neither follows nor pauses.
        if state.isLiveLog && state.detail == nil {
            if state.isPausedLiveLog {
                let count = state.newRows >= DashboardState.newRowsLimit ? "\(DashboardState.newRowsLimit - 1)+" : "\(state.newRows)"
                let text = state.newRows > 0 ? " PAUSED +\(count) new " : " PAUSED "
                badges.append(TableCell(text, Style(.badgeAlert, bold: true)))
            } else {
                badges.append(TableCell("following", Style(.ok)))
            }
        }
        // The Deliveries view's own order (newest first, following) needs no badge; its column is marked anyway.
        if let sort = state.sort, !(state.view == .deliveries && sort == .newest) {
            badges.append(TableCell("sort: \(sort.rawValue)", Style(.dim)))
        }
        let filter = state.filter
        if !filter.isEmpty {
            badges.append(TableCell("/ " + Sanitizer.line(filter.description), Style(.accent, bold: true)))
        }
        let badgeWidth = badges.reduce(0) { $0 + DisplayWidth.of($1.text) + 1 }
        let full = ViewKind.allCases.reduce(0) { $0 + $1.title.count + 4 }
        let fits = full + min(badgeWidth, 24) <= grid.width
        var x = 0
        for kind in ViewKind.allCases {
            let active = kind == state.view && state.detail == nil
            let label = (fits || kind == state.view) ? " \(kind.rawValue) \(kind.title) " : " \(kind.rawValue) "
            x = grid.put(label, x: x, y: y, style: Style(active ? .tabActive : .tabInactive, bold: active))
        }
        var right = grid.width
        for badge in badges.reversed() {
            let room = right - x - 2
            guard room >= 8 else { break }
            let text = DisplayWidth.truncate(badge.text, to: room, ellipsis: state.glyphs.ellipsis)
            right -= DisplayWidth.of(text) + 1
            grid.put(text, x: right, y: y, style: badge.style)
        }
    }
}
