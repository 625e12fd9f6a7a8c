/// A delivery as the API and `--json` show it; with its attempts when shown alone (`attempt_log`).
public struct DeliveryObject: Encodable, Sendable {
    public var id: String
    public var messageId: String
    public var endpointId: String
    public var eventType: String
    public var status: DeliveryStatus
    public var attempts: Int
    @ExplicitNull public var nextAttemptAt: String?
    @ExplicitNull public var lastStatusCode: Int?
    @ExplicitNull public var lastError: String?
    @ExplicitNull public var lastErrorClass: ErrorClass?
    @ExplicitNull public var lastLatencyMilliseconds: Int?
    public var createdAt: String
    public var updatedAt: String
    /// Every attempt, oldest first: only in a single delivery's answer.
    public var attemptLog: [AttemptObject]?

    enum CodingKeys: String, CodingKey {
        case id, status, attempts
        case messageId = "message_id", endpointId = "endpoint_id", eventType = "event_type"
        case nextAttemptAt = "next_attempt_at", lastStatusCode = "last_status_code", lastError = "last_error"
        case lastErrorClass = "last_error_class", lastLatencyMilliseconds = "last_latency_ms"
        case createdAt = "created_at", updatedAt = "updated_at", attemptLog = "attempt_log"
    }

    public init(_ delivery: Delivery, attempts: [Attempt]? = nil) {
        id = Identifier.formatDeliveryID(delivery.id)
        messageId = delivery.messageId
        endpointId = delivery.endpointId
        eventType = delivery.eventType
        status = delivery.status
        self.attempts = delivery.attemptCount
        nextAttemptAt = delivery.nextAttemptAt.map(JSONRepresentation.timestamp)
        lastStatusCode = delivery.lastStatusCode
        lastError = delivery.lastError
        lastErrorClass = delivery.lastErrorClass
        lastLatencyMilliseconds = delivery.lastLatencyMilliseconds
        createdAt = JSONRepresentation.timestamp(delivery.createdAt)
        updatedAt = JSONRepresentation.timestamp(delivery.updatedAt)
        attemptLog = attempts?.map(AttemptObject.init)
    }
}
