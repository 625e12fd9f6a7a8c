import DeliveryCore
import Foundation

/// The five list views, in the order of their number keys.
public enum ViewKind: Int, Sendable, CaseIterable, Hashable {
    case endpoints = 1
    case deliveries
    case failures
    case retryQueue
    case events

    public var title: String {
        switch self {
        case .endpoints: "Endpoints"
        case .deliveries: "Deliveries"
        case .failures: "Failures"
        case .retryQueue: "Retry queue"
        case .events: "Events"
        }
    }

    /// The next view for Tab (wrapping).
    public var next: ViewKind { ViewKind(rawValue: rawValue % 5 + 1) ?? .endpoints }
    /// The previous view for Shift-Tab (wrapping).
    public var previous: ViewKind { ViewKind(rawValue: (rawValue + 3) % 5 + 1) ?? .endpoints }

    /// Sort orders this view can cycle through with `s` (the first is the default).
    public var sorts: [SortOrder] {
        switch self {
        case .endpoints: [.name, .queue, .failureRate, .latency]
        case .failures: [.count, .recent, .name]
        case .deliveries: [.newest, .oldest, .slowest, .mostAttempts]
        case .retryQueue, .events: []
        }
    }
}

/// A sort order for `s`.
public enum SortOrder: String, Sendable, Hashable {
    case name
    case queue
    case failureRate = "failure rate"
    case latency
    case count
    case recent
    case newest
    case oldest
    case slowest
    case mostAttempts = "most attempts"

    /// The order the store gives a Deliveries page for this sort.
    var deliveryOrder: DeliveryOrder {
        switch self {
        case .oldest: .oldest
        case .slowest: .slowest
        case .mostAttempts: .mostAttempts
        default: .newest
        }
    }
}
