import DeliveryCore
import Foundation

/// View 3: failing deliveries grouped by endpoint and error class; Enter or → lists a group's deliveries.
enum FailuresView {
    static let columns = [
        Column(title: "ENDPOINT", width: 22, flex: 2, priority: 10),
        Column(title: "FAILURE", width: 21, priority: 10),
        Column(title: "DEAD", width: 5, priority: 7, alignRight: true),
        Column(title: "RETRY", width: 5, priority: 7, alignRight: true),
        Column(title: "LAST", width: 8, priority: 6),
        Column(title: "SAMPLE ERROR", width: 12, flex: 3, priority: 5),
    ]

    static func cells(_ g: FailureGroup, expanded: Bool, state: DashboardState) -> [TableCell] {
        let glyphs = state.glyphs
        let marker = expanded ? glyphs.expanded : glyphs.collapsed
        return [
            TableCell("\(marker) \(state.endpointName(g.endpointId))", Style(.normal, bold: true)),
            TableCell("\(g.label) \(glyphs.times)\(g.count)", Style(.error, bold: true)),
            TableCell("\(g.dead)", Style(g.dead > 0 ? .error : .dim)),
            TableCell("\(g.retrying)", Style(g.retrying > 0 ? .warning : .dim)),
            TableCell(Formatting.listTime(g.lastAt, now: state.now, timeZone: state.options.timeZone), Style(.dim)),
            TableCell(
                DeliveriesView.errorText(g.lastError, errorClass: g.errorClass, statusCode: g.statusCode) ?? "-",
                Style(.dim)),
        ]
    }

    /// A delivery under its expanded group, drawn across the row.
    static func child(_ d: Delivery, state: DashboardState) -> [TableCell] {
        let ellipsis = state.glyphs.ellipsis
        var status = DeliveriesView.status(d.status, glyphs: state.glyphs)
        status.text = DisplayWidth.pad(status.text, to: 11)
        return [
            TableCell("   " + DisplayWidth.pad("#\(d.id)", to: 8, alignRight: true) + " ", Style(.dim)),
            TableCell(Formatting.listTime(d.updatedAt, now: state.now, timeZone: state.options.timeZone) + " ", Style(.dim)),
            status,
            TableCell(" " + DisplayWidth.pad(Sanitizer.line(d.eventType), to: 18, ellipsis: ellipsis) + " "),
            TableCell(DisplayWidth.pad(state.attemptText(d), to: 5) + " ", Style(.dim)),
            DeliveriesView.result(d),
        ]
    }
}

/// View 4: waiting deliveries, soonest first, with a live countdown.
enum RetryQueueView {
    static let columns = [
        Column(title: "DUE", width: 13, priority: 10),
        Column(title: "AT", width: 8, priority: 3),
        Column(title: "ENDPOINT", width: 14, flex: 3, priority: 9),
        Column(title: "EVENT", width: 16, flex: 1, priority: 8),
        Column(title: "ATTEMPT", width: 7, priority: 9),
        Column(title: "LAST RESULT", width: 15, priority: 7),
        // The id names the row an action will act on: it stays at 80 columns.
        Column(title: "ID", width: 7, priority: 8, alignRight: true),
    ]

    static func cells(_ d: Delivery, state: DashboardState) -> [TableCell] {
        let due: TableCell
        if let next = d.nextAttemptAt {
            let seconds = next.timeIntervalSince(state.now)
            due =
                seconds > 0
                ? TableCell("in " + Formatting.duration(seconds), Style(.normal, bold: true))
                : TableCell("overdue " + Formatting.duration(-seconds), Style(.warning, bold: true))
        } else {
            due = TableCell("-", Style(.dim))
        }
        let held = state.endpointStatus(d.endpointId).flatMap { $0 == .active ? nil : $0 }
        return [
            held.map { TableCell("held (\($0.rawValue))", Style(.warning)) } ?? due,
            TableCell(
                d.nextAttemptAt.map { Formatting.clock($0, timeZone: state.options.timeZone) } ?? "-", Style(.dim)),
            TableCell(state.endpointName(d.endpointId)),
            TableCell(Sanitizer.line(d.eventType)),
            TableCell(state.attemptText(d, next: true)),
            d.attemptCount == 0 ? TableCell("first try", Style(.dim)) : DeliveriesView.result(d),
            TableCell("\(d.id)", Style(.dim)),
        ]
    }
}

/// View 5: published messages with how their fan-out is going.
enum EventsView {
    static let columns = [
        Column(title: "TIME", width: 8, priority: 8),
        Column(title: "MESSAGE", width: 16, flex: 1, priority: 9),
        Column(title: "EVENT", width: 16, flex: 2, priority: 10),
        Column(title: "FAN-OUT", width: 7, priority: 10, alignRight: true),
        Column(title: "OK", width: 5, priority: 9, alignRight: true),
        Column(title: "FAILING", width: 7, priority: 9, alignRight: true),
        Column(title: "DEAD", width: 5, priority: 9, alignRight: true),
    ]

    static func cells(_ m: MessageSummary, state: DashboardState) -> [TableCell] {
        [
            TableCell(Formatting.listTime(m.message.createdAt, now: state.now, timeZone: state.options.timeZone), Style(.dim)),
            TableCell(Sanitizer.line(m.message.id)),
            TableCell(Sanitizer.line(m.message.eventType), Style(.normal, bold: true)),
            TableCell("\(state.glyphs.arrowRight) \(m.deliveryCount)"),
            TableCell("\(m.delivered)", Style(m.delivered == m.deliveryCount ? .ok : .normal)),
            TableCell("\(m.failing)", Style(m.failing > 0 ? .warning : .dim)),
            TableCell("\(m.dead)", Style(m.dead > 0 ? .error : .dim)),
        ]
    }
}
