/// An alert as `hooktop alerts --json` and `GET /v1/alerts` show it, its details as the JSON object recorded.
public struct AlertObject: Encodable, Sendable {
    public var id: String
    public var type: AlertType
    public var objectId: String
    public var at: String
    public var summary: String
    public var details: JSONValue
    public var status: AlertSendStatus
    public var attempts: Int
    @ExplicitNull public var nextAttemptAt: String?
    @ExplicitNull public var lastError: String?
    @ExplicitNull public var sentAt: String?
    public var sentTo: [String]
    /// Only in the answer to a test alert: whether every destination took it.
    public var ok: Bool?

    enum CodingKeys: String, CodingKey {
        case id, type, at, summary, details, status, attempts, ok
        case objectId = "object_id", nextAttemptAt = "next_attempt_at", lastError = "last_error", sentAt = "sent_at"
        case sentTo = "sent_to"
    }

    public init(_ alert: Alert, ok: Bool? = nil) {
        id = alert.id
        type = alert.type
        objectId = alert.objectId
        at = JSONRepresentation.timestamp(alert.at)
        summary = alert.summary
        details = (try? JSONValue(parsing: alert.details)) ?? .object([:])
        status = alert.status
        attempts = alert.attempts
        nextAttemptAt = alert.nextAttemptAt.map(JSONRepresentation.timestamp)
        lastError = alert.lastError
        sentAt = alert.sentAt.map(JSONRepresentation.timestamp)
        sentTo = alert.sentTo
        self.ok = ok
    }
}
