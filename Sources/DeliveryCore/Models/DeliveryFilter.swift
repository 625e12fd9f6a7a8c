import Foundation

/// Which finished deliveries a replay sends again: `hooktop redeliver --status dead --endpoint ... --since ...`,
/// `POST /v1/deliveries/redeliver`.
public struct DeliveryFilter: Sendable, Equatable {
    /// `dead`, `cancelled` or `delivered`.
    public var status: DeliveryStatus
    public var endpointId: String?
    /// An event type or a glob over event types (`invoice.*`).
    public var eventType: String?
    public var errorClass: ErrorClass?
    /// The last HTTP status (with `errorClass` `http_status`: one failure group of the dashboard).
    public var statusCode: Int?
    /// Deliveries that reached their status (their last change) at or after `since` and before `until`.
    public var since: Date?
    public var until: Date?
    /// Deliveries of messages published at or after `publishedSince` and before `publishedUntil` (the dashboard's
    /// `since:`/`until:` filter words).
    public var publishedSince: Date?
    public var publishedUntil: Date?

    public init(
        status: DeliveryStatus, endpointId: String? = nil, eventType: String? = nil, errorClass: ErrorClass? = nil,
        since: Date? = nil, until: Date? = nil
    ) {
        self.status = status
        self.endpointId = endpointId
        self.eventType = eventType
        self.errorClass = errorClass
        self.since = since
        self.until = until
    }

    /// Statuses a replay may start from: the finished ones.
    public static let replayable: [DeliveryStatus] = [.dead, .cancelled, .delivered]

    public func validate() throws {
        guard Self.replayable.contains(status) else {
            throw HooktopError.invalid("status must be dead, cancelled or delivered (waiting deliveries are sent anyway)")
        }
        if let eventType {
            guard !eventType.isEmpty, eventType.utf8.count <= 128,
                eventType.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F })
            else { throw HooktopError.invalid("bad event type pattern '\(Sanitizer.line(eventType))'") }
        }
        if let since, let until, until <= since { throw HooktopError.invalid("until must be after since") }
    }

    /// The filter as the audit records it: `status=dead endpoint=ep_1 type=invoice.* since=...`.
    public var summary: String {
        var parts = ["status=\(status.rawValue)"]
        if let endpointId { parts.append("endpoint=\(endpointId)") }
        if let eventType { parts.append("type=\(eventType)") }
        if let errorClass { parts.append("error_class=\(errorClass.rawValue)") }
        if let statusCode { parts.append("status_code=\(statusCode)") }
        if let since { parts.append("since=\(JSONRepresentation.timestamp(since))") }
        if let until { parts.append("until=\(JSONRepresentation.timestamp(until))") }
        if let publishedSince { parts.append("published_since=\(JSONRepresentation.timestamp(publishedSince))") }
        if let publishedUntil { parts.append("published_until=\(JSONRepresentation.timestamp(publishedUntil))") }
        return parts.joined(separator: " ")
    }
}
