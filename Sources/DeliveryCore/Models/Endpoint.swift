import Foundation

/// Whether an endpoint receives deliveries.
public enum EndpointStatus: String, Sendable, Codable, CaseIterable {
    /// Deliveries are attempted as they come due.
    case active
    /// Deliveries are held: not attempted and not failed, until the endpoint is resumed.
    case paused
    /// Deliveries are held and new messages are not fanned out to the endpoint.
    case disabled
}

/// A destination that receives signed webhook POSTs.
public struct Endpoint: Sendable, Equatable, Codable, Identifiable {
    /// Stable identifier, `ep_` followed by random characters.
    public var id: String
    public var url: String
    public var description: String
    public var status: EndpointStatus
    /// Why the endpoint was disabled (by an operator, `410 Gone`, or the auto-disable window).
    public var disabledReason: String?
    /// Event type filter; empty means every event. `user.*` matches `user.created`.
    public var eventTypes: [String]
    /// The current signing secret, `whsec_<base64>`.
    public var secret: String
    /// The secret replaced by the last rotation, still used for signing until `previousSecretExpiresAt`.
    public var previousSecret: String?
    public var previousSecretExpiresAt: Date?
    /// Deliveries to this endpoint in flight at once, across the dispatcher.
    public var maxInFlight: Int
    /// Total time allowed for one attempt, in milliseconds.
    public var timeoutMilliseconds: Int
    /// Whether this endpoint may resolve to loopback or private addresses.
    public var allowPrivateDestination: Bool
    /// Extra headers, credentials, TLS settings and retry schedule of this endpoint.
    public var connection: ConnectionSettings
    /// Requests started per second at most (nil: no limit but `maxInFlight`).
    public var rateLimit: Int?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, url: String, description: String = "", status: EndpointStatus = .active,
        disabledReason: String? = nil, eventTypes: [String] = [], secret: String,
        previousSecret: String? = nil, previousSecretExpiresAt: Date? = nil, maxInFlight: Int = EndpointDefaults.maxInFlight,
        timeoutMilliseconds: Int = EndpointDefaults.timeoutMilliseconds, allowPrivateDestination: Bool = false,
        connection: ConnectionSettings = ConnectionSettings(), rateLimit: Int? = nil, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.url = url
        self.description = description
        self.status = status
        self.disabledReason = disabledReason
        self.eventTypes = eventTypes
        self.secret = secret
        self.previousSecret = previousSecret
        self.previousSecretExpiresAt = previousSecretExpiresAt
        self.maxInFlight = maxInFlight
        self.timeoutMilliseconds = timeoutMilliseconds
        self.allowPrivateDestination = allowPrivateDestination
        self.connection = connection
        self.rateLimit = rateLimit
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// Whether a message of `eventType` is sent to this endpoint.
    public func accepts(eventType: String) -> Bool {
        EventTypeFilter.matches(patterns: eventTypes, eventType: eventType)
    }
}

/// Matching of event types against an endpoint's filter.
public enum EventTypeFilter {
    /// `true` when `patterns` is empty, contains `eventType`, or contains a `prefix.*` wildcard covering it.
    public static func matches(patterns: [String], eventType: String) -> Bool {
        if patterns.isEmpty { return true }
        for pattern in patterns {
            if pattern == "*" || pattern == eventType { return true }
            if pattern.hasSuffix(".*") {
                let prefix = pattern.dropLast(1)
                if eventType.hasPrefix(prefix) { return true }
            }
        }
        return false
    }

    /// Validates one filter entry: letters, digits, `_`, `-`, `.` separated segments, optionally ending in `.*`.
    public static func isValid(pattern: String) -> Bool {
        if pattern == "*" { return true }
        var body = Substring(pattern)
        if body.hasSuffix(".*") { body = body.dropLast(2) }
        return EventType.isValid(String(body))
    }
}

/// Rules for event type names.
public enum EventType {
    /// Dotted names of letters, digits, `_` and `-`, at most 128 characters: `invoice.paid`.
    public static func isValid(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 128 else { return false }
        // Byte by byte: every publish checks its type, and Foundation's character sets cost more than the rest of
        // the request's validation.
        var segmentLength = 0
        for byte in name.utf8 {
            switch byte {
            case UInt8(ascii: "."):
                guard segmentLength > 0 else { return false }
                segmentLength = 0
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                segmentLength += 1
            default:
                return false
            }
        }
        return segmentLength > 0
    }
}

/// The settings an endpoint gets when none are given: the one place they are defined.
public enum EndpointDefaults {
    /// Deliveries in flight at once to one endpoint.
    public static let maxInFlight = 32
    /// Timeout of one attempt, in milliseconds.
    public static let timeoutMilliseconds = 15_000
}
