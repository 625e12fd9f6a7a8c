import Foundation

/// Limits on what may be published.
public enum PublishLimits {
    /// Default maximum payload size: 256 KiB.
    public static let defaultMaxPayloadBytes = 256 * 1024
    /// Most events in one batch.
    public static let maxBatchEvents = 1000
    /// Default largest batch request body: 4 MiB.
    public static let defaultMaxBatchBytes = 4 << 20
    /// Idempotency keys are remembered this long.
    public static let idempotencyWindow: TimeInterval = 86400
}

extension Store {
    static let messageColumns = "id, event_type, payload, idempotency_key, created_at"

    static func message(_ row: SQLiteRow, offset: Int32 = 0) -> Message {
        Message(
            id: row.text(offset), eventType: row.text(offset + 1), payload: row.text(offset + 2),
            idempotencyKey: row.optionalText(offset + 3), createdAt: row.date(offset + 4))
    }

    /// Records an event and fans it out (validated here; see `publish(groups:now:)`).
    /// - Throws: `HooktopError.invalidInput` for a bad field or id, `conflict` when `id` is taken.
    func publish(
        eventType: String, payload: String, idempotencyKey: String? = nil, id: String? = nil, now: Date = Date()
    ) throws -> PublishResult {
        let request = PublishRequest(eventType: eventType, payload: payload, idempotencyKey: idempotencyKey, id: id)
        try request.validate()
        return try publish(groups: [[request]], now: now)[0].get()[0]
    }

    /// Records several validated events in one transaction, all or none.
    func publish(batch: [PublishRequest], now: Date = Date()) throws -> [PublishResult] {
        try publish(groups: [batch], now: now)[0].get()
    }

    /// Records groups of validated events in one transaction: each group all or none (a group whose message id is
    /// taken fails alone), each event fanned out to every active or paused endpoint whose filter accepts its type.
    /// Disabled endpoints get no delivery (recovery sends what they missed). A repeated idempotency key (within 24
    /// hours, in this call or before) gives the first message back with `duplicate` set and creates nothing.
    /// - Returns: one result per group, in order.
    /// - Throws: only when the transaction as a whole fails (a full disk): then nothing was recorded.
    func publish(groups: [[PublishRequest]], now: Date = Date()) throws -> [Result<[PublishResult], any Error>] {
        // Only a message id a caller chose can be taken, so only then can one group fail while the others commit.
        // Each group is then wrapped in a savepoint; otherwise none is, since a savepoint copies every page its
        // group touches (more work than the group's inserts). Should an unguarded group fail after all (a
        // generated id drawn twice), the transaction is rolled back and done again with savepoints.
        let chosenIds = groups.count > 1 && groups.contains { $0.contains { $0.id != nil } }
        do {
            return try publish(groups: groups, savepoints: chosenIds, now: now)
        } catch let failure as UnguardedGroupFailure {
            if groups.count == 1 { return [.failure(failure.error)] }
            return try publish(groups: groups, savepoints: true, now: now)
        }
    }

    /// A group failed outside a savepoint: the transaction is rolled back.
    private struct UnguardedGroupFailure: Error {
        var error: HooktopError
    }

    private func publish(
        groups: [[PublishRequest]], savepoints: Bool, now: Date
    ) throws -> [Result<[PublishResult], any Error>] {
        try write { db in
            let endpoints = try db.query(
                "SELECT id, event_types FROM endpoints WHERE status <> 'disabled' ORDER BY created_at, id", []
            ) { row -> (String, [String]) in
                let types = row.text(1)
                return (row.text(0), types.isEmpty ? [] : types.split(separator: ",").map(String.init))
            }
            var outcomes: [Result<[PublishResult], any Error>] = []
            outcomes.reserveCapacity(groups.count)
            var moves = StatusMoves()
            for group in groups {
                guard savepoints else {
                    do {
                        outcomes.append(.success(try group.map { request in
                            try Self.insert(request, endpoints: endpoints, moves: &moves, db: db, now: now)
                        }))
                    } catch let error as HooktopError {
                        throw UnguardedGroupFailure(error: error)
                    }
                    continue
                }
                try db.run("SAVEPOINT publish_group")
                var groupMoves = StatusMoves()
                do {
                    let results = try group.map { request in
                        try Self.insert(request, endpoints: endpoints, moves: &groupMoves, db: db, now: now)
                    }
                    try db.run("RELEASE publish_group")
                    moves.merge(groupMoves)
                    outcomes.append(.success(results))
                } catch let error as HooktopError {
                    try db.run("ROLLBACK TO publish_group")
                    try db.run("RELEASE publish_group")
                    outcomes.append(.failure(error))
                }
            }
            try moves.apply(db)
            return outcomes
        }
    }

    private static func insert(
        _ request: PublishRequest, endpoints: [(String, [String])], moves: inout StatusMoves, db: Connection, now: Date
    ) throws -> PublishResult {
        if let key = request.idempotencyKey,
            let existing = try db.queryOne(
                """
                SELECT \(Self.messageColumns) FROM messages
                WHERE idempotency_key = ? AND created_at >= ? ORDER BY seq LIMIT 1
                """, [.text(key), .from(now.addingTimeInterval(-PublishLimits.idempotencyWindow))],
                { Self.message($0) })
        {
            return PublishResult(message: existing, deliveryCount: 0, duplicate: true)
        }
        let message = Message(
            id: request.id ?? Identifier.makeOrdered("msg", now: now), eventType: request.eventType,
            payload: request.payload, idempotencyKey: request.idempotencyKey, createdAt: now)
        do {
            try db.run(
                "INSERT INTO messages (id, event_type, payload, idempotency_key, created_at) VALUES (?, ?, ?, ?, ?)",
                [.text(message.id), .text(message.eventType), .text(message.payload),
                 .from(message.idempotencyKey), .from(now)])
        } catch let error as SQLiteError where error.isKeyTaken {
            // The one unique column a new message can collide on is its id.
            throw HooktopError(.conflict, "message \(message.id) already exists")
        }
        let sequence = db.lastInsertRowID
        var count = 0
        for (endpointId, patterns) in endpoints
        where EventTypeFilter.matches(patterns: patterns, eventType: request.eventType) {
            try db.run(
                """
                INSERT INTO deliveries (message_seq, endpoint_id, event_type, status, next_attempt_at,
                    created_at, updated_at)
                VALUES (?, ?, ?, 'pending', ?, ?, ?)
                """,
                [.int(sequence), .text(endpointId), .text(request.eventType), .from(now), .from(now), .from(now)])
            moves.insert(endpointId, status: .pending)
            count += 1
        }
        return PublishResult(message: message, deliveryCount: count, duplicate: false)
    }

    public func message(id: String) throws -> Message? {
        try read { db in
            try db.queryOne("SELECT \(Self.messageColumns) FROM messages WHERE id = ?", [.text(id)]) { Self.message($0) }
        }
    }
}
