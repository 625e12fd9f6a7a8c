import DeliveryCore
import Foundation

/// A parsed `/` filter: tokens that map to query fields, plus free text matched client-side.
///
/// `status:dead` (comma-separated for several), `type:invoice.*`, `ep:ep_123` (or `ep:` a name or URL fragment),
/// `msg:msg_abc`; a bare id pasted as it is (`msg_…`, `ep_…`, `dlv_42`, `#42`) is recognised; anything else is text.
/// Ids keep their case: they are looked up in the log, not matched as text.
public struct FilterQuery: Sendable, Equatable {
    public var statuses: [DeliveryStatus] = []
    public var eventType: String?
    public var endpointId: String?
    /// `ep:` followed by something that is not an id: a name or URL fragment, resolved against the endpoints.
    public var endpointName: String?
    public var messageId: String?
    /// One delivery, by id (`dlv_42`, `#42`).
    public var deliveryId: Int64?
    /// `since:1h` or `since:2026-12-01T10:00`: messages published at or after this time.
    public var since: Date?
    /// `until:…`: messages published before this time.
    public var until: Date?
    /// Free text, lowercased; rows whose visible text contains it are kept.
    public var text: String = ""
    /// Tokens that looked like `key:value` but were not understood (reported to the operator).
    public var unknown: [String] = []

    public init(
        statuses: [DeliveryStatus] = [], eventType: String? = nil, endpointId: String? = nil, messageId: String? = nil,
        text: String = ""
    ) {
        self.statuses = statuses
        self.eventType = eventType
        self.endpointId = endpointId
        self.messageId = messageId
        self.text = text
    }

    public var isEmpty: Bool {
        statuses.isEmpty && eventType == nil && endpointId == nil && endpointName == nil && messageId == nil
            && deliveryId == nil && since == nil && until == nil && text.isEmpty
    }

    /// Parses what the operator typed after `/`; `now` anchors relative times (`since:1h`).
    public static func parse(_ input: String, now: Date = Date()) -> FilterQuery {
        var query = FilterQuery()
        var words: [String] = []
        for token in input.split(separator: " ", omittingEmptySubsequences: true) {
            // A pasted id on its own.
            if token.hasPrefix("msg_") && token.count > 4 {
                query.messageId = String(token)
                continue
            }
            if token.hasPrefix("ep_") && token.count > 3 {
                query.endpointId = String(token)
                continue
            }
            if let id = Identifier.parseDeliveryID(String(token.hasPrefix("#") ? token.dropFirst() : token)),
                token.hasPrefix("#") || token.hasPrefix("dlv_")
            {
                query.deliveryId = id
                continue
            }
            let parts = token.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[1].isEmpty else {
                words.append(String(token))
                continue
            }
            let value = String(parts[1])
            switch parts[0].lowercased() {
            case "status", "s":
                let statuses = value.split(separator: ",").compactMap { DeliveryStatus(rawValue: $0.lowercased()) }
                if statuses.isEmpty { query.unknown.append(String(token)) } else { query.statuses += statuses }
            case "type", "t", "event": query.eventType = value
            case "ep", "endpoint":
                if value.hasPrefix("ep_") { query.endpointId = value } else { query.endpointName = value }
            case "msg", "message": query.messageId = value
            case "since", "until":
                guard let date = Self.time(value, now: now) else {
                    query.unknown.append(String(token))
                    continue
                }
                if parts[0].lowercased() == "since" { query.since = date } else { query.until = date }
            default: words.append(String(token))
            }
        }
        query.text = words.joined(separator: " ").lowercased()
        return query
    }

    /// The filter as typed back (for the header and for editing it again).
    public var description: String {
        var parts: [String] = []
        if !statuses.isEmpty { parts.append("status:" + statuses.map(\.rawValue).joined(separator: ",")) }
        if let eventType { parts.append("type:" + eventType) }
        if let endpointId { parts.append("ep:" + endpointId) } else if let endpointName { parts.append("ep:" + endpointName) }
        if let messageId { parts.append("msg:" + messageId) }
        if let deliveryId { parts.append("#\(deliveryId)") }
        let iso = Date.ISO8601FormatStyle()
        if let since { parts.append("since:" + iso.format(since)) }
        if let until { parts.append("until:" + iso.format(until)) }
        if !text.isEmpty { parts.append(text) }
        return parts.joined(separator: " ")
    }

    /// `30m`, `2h`, `1d` ago, or an ISO 8601 time (`2026-12-01T10:00:00Z`, `2026-12-01T10:00`, `2026-12-01`, read in
    /// UTC when it has no offset).
    static func time(_ text: String, now: Date) -> Date? {
        if let seconds = DurationText.seconds(text) { return now.addingTimeInterval(-seconds) }
        if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
        for format in ["yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }

    /// The event type to send to the store: exact names only (wildcards are matched client-side).
    var exactEventType: String? {
        guard let eventType, !eventType.contains("*") else { return nil }
        return eventType
    }

    /// Whether an event type passes the `type:` token (wildcards included).
    func matches(eventType candidate: String) -> Bool {
        guard let eventType else { return true }
        return EventTypeFilter.matches(patterns: [eventType], eventType: candidate)
    }

    /// Whether a row's text passes the free-text part (the text is only built when there is free text).
    func matches(text candidate: @autoclosure () -> String) -> Bool {
        text.isEmpty || candidate().lowercased().contains(text)
    }
}
