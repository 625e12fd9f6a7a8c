import Foundation

/// What publishing an event produced.
public struct PublishResult: Sendable, Equatable {
    public var message: Message
    /// Deliveries created for it (0 for a repeated idempotency key).
    public var deliveryCount: Int
    /// `true` when the idempotency key was seen within 24 hours: `message` is the first one, nothing new was sent.
    public var duplicate: Bool
}

/// Limits on what may be published.
public enum PublishLimits {
    /// Default maximum payload size: 256 KiB.
    public static let defaultMaxPayloadBytes = 256 * 1024
    /// Idempotency keys are remembered this long.
    public static let idempotencyWindow: TimeInterval = 86400
}

extension Store {
    static let messageColumns = "id, event_type, payload, idempotency_key, created_at"

    static func message(_ row: Row, offset: Int32 = 0) -> Message {
        Message(
            id: row.text(offset), eventType: row.text(offset + 1), payload: row.text(offset + 2),
            idempotencyKey: row.optionalText(offset + 3), createdAt: row.date(offset + 4))
    }

    /// Validates a payload: a JSON object of at most `maxBytes`.
    /// - Throws: `HooktopError.invalidInput` with the reason.
    public static func validatePayload(_ payload: String, maxBytes: Int = PublishLimits.defaultMaxPayloadBytes) throws {
        guard payload.utf8.count <= maxBytes else {
            throw HooktopError.invalid("payload is \(payload.utf8.count) bytes, over the limit of \(maxBytes)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8), options: [.fragmentsAllowed]),
            object is [String: Any]
        else { throw HooktopError.invalid("payload must be a JSON object") }
    }

    /// Records an event and fans it out to every active or paused endpoint whose filter accepts its type.
    /// Disabled endpoints get no delivery (recovery sends what they missed).
    /// - Parameter id: the message's id (`msg_` + 1 to 64 letters or digits); a random one when `nil`. Unused when
    ///   the idempotency key was seen (the first message is returned).
    /// - Throws: `HooktopError.invalidInput` for a bad field or id, `conflict` when `id` is taken.
    public func publish(
        eventType: String, payload: String, idempotencyKey: String? = nil, id: String? = nil, now: Date = Date()
    ) throws -> PublishResult {
        guard EventType.isValid(eventType) else {
            throw HooktopError.invalid("bad event type '\(eventType)': use dotted names like invoice.paid")
        }
        try Self.validatePayload(payload)
        if let idempotencyKey, idempotencyKey.isEmpty || idempotencyKey.utf8.count > 256 {
            throw HooktopError.invalid("idempotency key must be 1 to 256 bytes")
        }
        if let id { try Identifier.validate(id, prefix: "msg") }
        return try publish(batch: [(eventType, payload, idempotencyKey)], ids: [id], now: now)[0]
    }

    /// Records several already-validated events in one transaction (bulk ingest, seeding and benchmarks).
    public func publish(batch: [(type: String, payload: String, idempotencyKey: String?)], now: Date = Date()) throws
        -> [PublishResult]
    {
        try publish(batch: batch, ids: [], now: now)
    }

    /// `publish(batch:now:)` with validated message ids: `ids[i]` (when present and not `nil`) for `batch[i]`.
    private func publish(
        batch: [(type: String, payload: String, idempotencyKey: String?)], ids: [String?], now: Date
    ) throws -> [PublishResult] {
        try write { db in
            let endpoints = try db.query(
                "SELECT id, event_types FROM endpoints WHERE status <> 'disabled' ORDER BY created_at, id", []
            ) { row -> (String, [String]) in
                let types = row.text(1)
                return (row.text(0), types.isEmpty ? [] : types.split(separator: ",").map(String.init))
            }
            var results: [PublishResult] = []
            results.reserveCapacity(batch.count)
            var moves = StatusMoves()
            for (index, event) in batch.enumerated() {
                let chosenId = index < ids.count ? ids[index] : nil
                if let key = event.idempotencyKey,
                    let existing = try db.queryOne(
                        """
                        SELECT \(Self.messageColumns) FROM messages
                        WHERE idempotency_key = ? AND created_at >= ? ORDER BY seq LIMIT 1
                        """, [.text(key), .from(now.addingTimeInterval(-PublishLimits.idempotencyWindow))],
                        { Self.message($0) })
                {
                    results.append(PublishResult(message: existing, deliveryCount: 0, duplicate: true))
                    continue
                }
                if let chosenId,
                    try db.scalar("SELECT count(*) FROM messages WHERE id = ?", [.text(chosenId)]) > 0
                {
                    throw HooktopError(.conflict, "message \(chosenId) already exists")
                }
                let message = Message(
                    id: chosenId ?? Identifier.make("msg", length: 24), eventType: event.type, payload: event.payload,
                    idempotencyKey: event.idempotencyKey, createdAt: now)
                try db.run(
                    "INSERT INTO messages (id, event_type, payload, idempotency_key, created_at) VALUES (?, ?, ?, ?, ?)",
                    [.text(message.id), .text(message.eventType), .text(message.payload),
                     .from(message.idempotencyKey), .from(now)])
                let sequence = db.lastInsertRowID
                var count = 0
                for (endpointId, patterns) in endpoints
                where EventTypeFilter.matches(patterns: patterns, eventType: event.type) {
                    try db.run(
                        """
                        INSERT INTO deliveries (message_seq, endpoint_id, event_type, status, next_attempt_at,
                            created_at, updated_at)
                        VALUES (?, ?, ?, 'pending', ?, ?, ?)
                        """,
                        [.int(sequence), .text(endpointId), .text(event.type), .from(now), .from(now), .from(now)])
                    moves.insert(endpointId, status: .pending)
                    count += 1
                }
                results.append(PublishResult(message: message, deliveryCount: count, duplicate: false))
            }
            try moves.apply(db)
            return results
        }
    }

    public func message(id: String) throws -> Message? {
        try read { db in
            try db.queryOne("SELECT \(Self.messageColumns) FROM messages WHERE id = ?", [.text(id)]) { Self.message($0) }
        }
    }
}
