/// One event to publish, as a publisher sent it: the same value whether it came over HTTP, from `hooktop publish`
/// or from a batch, so the stored payload never depends on the entry point.
public struct PublishRequest: Sendable, Equatable {
    public var eventType: String
    /// The payload, a JSON object, stored and signed exactly as given.
    public var payload: String
    /// Publishing the same key again within 24 hours returns the first message.
    public var idempotencyKey: String?
    /// The message id to use (`msg_` + 1 to 64 letters or digits); a random one when nil.
    public var id: String?

    public init(eventType: String, payload: String, idempotencyKey: String? = nil, id: String? = nil) {
        self.eventType = eventType
        self.payload = payload
        self.idempotencyKey = idempotencyKey
        self.id = id
    }

    /// Checks every field: the event type, the idempotency key, the id, and that the payload is one JSON object of
    /// at most `maxPayloadBytes`.
    /// - Throws: `HooktopError.invalidInput` with the reason.
    public func validate(maxPayloadBytes: Int = PublishLimits.defaultMaxPayloadBytes) throws {
        try validateFields()
        try Self.validatePayload(payload, maxBytes: maxPayloadBytes)
    }

    /// Checks everything but the payload's JSON (for a payload already scanned as an object).
    func validateFields() throws {
        guard EventType.isValid(eventType) else {
            throw HooktopError.invalid("bad event type '\(eventType)': use dotted names like invoice.paid")
        }
        if let idempotencyKey, idempotencyKey.isEmpty || idempotencyKey.utf8.count > 256 {
            throw HooktopError.invalid("idempotency key must be 1 to 256 bytes")
        }
        if let id { try Identifier.validate(id, prefix: "msg") }
    }

    /// Validates a payload: a JSON object of at most `maxBytes`.
    /// - Throws: `HooktopError.invalidInput` with the reason.
    public static func validatePayload(_ payload: String, maxBytes: Int = PublishLimits.defaultMaxPayloadBytes) throws {
        guard payload.utf8.count <= maxBytes else {
            throw HooktopError.invalid("payload is \(payload.utf8.count) bytes, over the limit of \(maxBytes)")
        }
        let scanner = JSONScanner(Array(payload.utf8))
        guard (try? scanner.document())?.kind == .object else {
            throw HooktopError.invalid("payload must be a JSON object")
        }
    }

    /// Reads the envelope `{"type", "payload", "idempotency_key"?}` at `value` of an already scanned document: the
    /// payload is taken as the bytes sent, without parsing it again.
    /// - Throws: `HooktopError.invalidInput` naming the field at fault.
    public static func decode(
        _ value: JSONScanner.Value, in scanner: JSONScanner, maxPayloadBytes: Int = PublishLimits.defaultMaxPayloadBytes
    ) throws -> PublishRequest {
        guard value.kind == .object else { throw HooktopError.invalid("must be a JSON object") }
        var type: String?
        var payload: String?
        var key: String?
        var seen: Set<String> = []
        for (name, member) in try scanner.members(of: value) {
            guard seen.insert(name).inserted else { throw HooktopError.invalid("\(name) is given twice") }
            switch name {
            case "type":
                if member.kind == .null { continue }
                guard member.kind == .string else { throw HooktopError.invalid("type must be a string") }
                type = try scanner.string(member)
            case "payload":
                guard member.kind == .object else {
                    throw HooktopError.invalid("payload is required and must be a JSON object")
                }
                guard member.range.count <= maxPayloadBytes else {
                    throw HooktopError.invalid(
                        "payload is \(member.range.count) bytes, over the limit of \(maxPayloadBytes)")
                }
                payload = scanner.text(member)
            case "idempotency_key":
                switch member.kind {
                case .null: break
                case .string: key = try scanner.string(member)
                default: throw HooktopError.invalid("idempotency_key must be a string")
                }
            default:
                break  // Unknown fields are ignored, so publishers may send more than this version reads.
            }
        }
        guard let type else { throw HooktopError.invalid("type is required") }
        guard let payload else { throw HooktopError.invalid("payload is required and must be a JSON object") }
        let request = PublishRequest(eventType: type, payload: payload, idempotencyKey: key)
        try request.validateFields()
        return request
    }
}

/// What publishing an event produced.
public struct PublishResult: Sendable, Equatable {
    public var message: Message
    /// Deliveries created for it (0 for a repeated idempotency key).
    public var deliveryCount: Int
    /// `true` when the idempotency key was seen within 24 hours: `message` is the first one, nothing new was sent.
    public var duplicate: Bool

    public init(message: Message, deliveryCount: Int, duplicate: Bool) {
        self.message = message
        self.deliveryCount = deliveryCount
        self.duplicate = duplicate
    }
}
