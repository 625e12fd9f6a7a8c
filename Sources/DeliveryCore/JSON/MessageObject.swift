/// A message as `--json` shows it, its payload as the JSON the publisher sent.
public struct MessageObject: Encodable, Sendable {
    public var id: String
    public var type: String
    @ExplicitNull public var idempotencyKey: String?
    public var createdAt: String
    public var payload: JSONValue?

    enum CodingKeys: String, CodingKey {
        case id, type, payload
        case idempotencyKey = "idempotency_key", createdAt = "created_at"
    }

    public init(_ message: Message) {
        id = message.id
        type = message.eventType
        idempotencyKey = message.idempotencyKey
        createdAt = JSONRepresentation.timestamp(message.createdAt)
        payload = try? JSONValue(parsing: message.payload)
    }
}
