import DeliveryCore
import Foundation

/// One selectable line of a list view.
public enum ListRow: Sendable, Equatable {
    case endpoint(EndpointSummary)
    case delivery(Delivery)
    case group(FailureGroup, expanded: Bool)
    case groupDelivery(FailureGroup, Delivery)
    case message(MessageSummary)

    /// Stable identity for keeping the selection on the same row.
    public var key: String {
        switch self {
        case .endpoint(let s): "ep:" + s.endpoint.id
        case .delivery(let d): "d:\(d.id)"
        case .group(let g, _): "g:" + DashboardState.groupKey(g)
        case .groupDelivery(let g, let d): "g:" + DashboardState.groupKey(g) + ":\(d.id)"
        case .message(let m): "m:" + m.message.id
        }
    }

    /// The delivery this row is about, if any.
    public var delivery: Delivery? {
        switch self {
        case .delivery(let d), .groupDelivery(_, let d): d
        default: nil
        }
    }

    /// The endpoint this row is about, if any.
    public var endpointId: String? {
        switch self {
        case .endpoint(let s): s.endpoint.id
        case .delivery(let d), .groupDelivery(_, let d): d.endpointId
        case .group(let g, _): g.endpointId
        case .message: nil
        }
    }
}

extension DashboardState {
    /// The rows of the current view after client-side filtering and sorting: what is drawn and what moves select.
    public var rows: [ListRow] { rows(for: view) }

    public func rows(for view: ViewKind) -> [ListRow] {
        let filter = filters[view] ?? FilterQuery()
        switch view {
        case .endpoints:
            let kept = endpoints.filter { summary in
                let e = summary.endpoint
                return (filter.endpointId.map { e.id == $0 } ?? true)
                    && filter.matches(
                        text: [e.id, e.url, endpointName(e.id), e.status.rawValue].joined(separator: " "))
            }
            return sortEndpoints(kept).map(ListRow.endpoint)
        case .deliveries:
            return filterDeliveries(deliveries, filter).map(ListRow.delivery)
        case .retryQueue:
            return filterDeliveries(retryQueue, filter).map(ListRow.delivery)
        case .failures:
            let groups = failureGroups.filter { g in
                (filter.endpointId.map { g.endpointId == $0 } ?? true)
                    && filter.matches(
                        text: [g.endpointId, endpointName(g.endpointId), g.endpointURL, g.label, g.lastError ?? ""]
                            .joined(separator: " "))
            }
            var rows: [ListRow] = []
            for group in sortGroups(groups) {
                let expanded = expandedGroup == Self.groupKey(group)
                rows.append(.group(group, expanded: expanded))
                guard expanded, groupDeliveriesQuery == FailureSampleQuery(group, limit: Self.groupSampleLimit) else {
                    continue
                }
                for delivery in groupDeliveries { rows.append(.groupDelivery(group, delivery)) }
            }
            return rows
        case .events:
            return messages.filter { m in
                filter.matches(eventType: m.message.eventType) && (filter.messageId.map { m.message.id == $0 } ?? true)
                    && filter.matches(text: m.message.id + " " + m.message.eventType)
            }.map(ListRow.message)
        }
    }

    private func filterDeliveries(_ deliveries: [Delivery], _ filter: FilterQuery) -> [Delivery] {
        if filter.isEmpty { return deliveries }
        // The Deliveries page was searched in the log (free text included): its rows need no second look at the text.
        var filter = filter
        if view == .deliveries { filter.text = "" }
        return deliveries.filter { d in
            (filter.statuses.isEmpty || filter.statuses.contains(d.status))
                && (filter.endpointId.map { d.endpointId == $0 } ?? true)
                && (filter.messageId.map { d.messageId == $0 } ?? true)
                && (filter.deliveryId.map { d.id == $0 } ?? true)
                && filter.matches(eventType: d.eventType)
                && filter.matches(
                    text: [
                        "\(d.id)", d.messageId, d.endpointId, endpointName(d.endpointId), d.eventType,
                        d.status.rawValue, d.lastError ?? "",
                    ].joined(separator: " ")
                )
        }
    }

    private func sortEndpoints(_ list: [EndpointSummary]) -> [EndpointSummary] {
        switch sort {
        case .queue:
            return list.sorted { ($0.counts.queued, $1.endpoint.id) > ($1.counts.queued, $0.endpoint.id) }
        case .failureRate:
            func rate(_ s: EndpointSummary) -> Double { 1 - (s.recent.successRate ?? 1) }
            return list.sorted { (rate($0), $1.endpoint.id) > (rate($1), $0.endpoint.id) }
        case .latency:
            func p95(_ s: EndpointSummary) -> Double { s.recent.p95Milliseconds ?? -1 }
            return list.sorted { (p95($0), $1.endpoint.id) > (p95($1), $0.endpoint.id) }
        default:
            let named = list.map { (key: NaturalOrder.Key(endpointName($0.endpoint.id)), summary: $0) }
            return named.sorted { ($0.key, $0.summary.endpoint.id) < ($1.key, $1.summary.endpoint.id) }.map(\.summary)
        }
    }

    private func sortGroups(_ list: [FailureGroup]) -> [FailureGroup] {
        switch sort {
        case .recent: return list.sorted { ($0.lastAt, $1.endpointId) > ($1.lastAt, $0.endpointId) }
        case .name:
            let named = list.map { (key: NaturalOrder.Key(endpointName($0.endpointId)), group: $0) }
            return named.sorted { ($0.key, $0.group.endpointId, $0.group.label) < ($1.key, $1.group.endpointId, $1.group.label) }
                .map(\.group)
        default: return list  // the store returns the largest first
        }
    }
}
