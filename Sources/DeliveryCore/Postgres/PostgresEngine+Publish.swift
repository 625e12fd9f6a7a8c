import Foundation
import PostgresNIO

/// Endpoints added and events published: what every other write starts from.
extension PostgresEngine {
    /// Records an operator's action (in the caller's transaction).
    func audit(
        _ connection: PostgresConnection, _ action: String, _ objectType: String, _ objectId: String, _ detail: String,
        _ actor: Principal, _ now: Date
    ) async throws {
        try await execute(
            """
            INSERT INTO audit (at, action, object_type, object_id, detail, os_user, pid, via, origin, tty)
            VALUES (\(now.milliseconds), \(action), \(objectType), \(objectId), \(detail), \(actor.user), \(actor.pid),
                \(actor.via), \(actor.origin), \(actor.tty))
            """, on: connection)
    }

    /// Registers an endpoint (see `Store.addEndpoint`), audited.
    /// - Throws: `invalidInput` for a bad field or id, `conflict` when `id` is taken.
    public func addEndpoint(
        url: String, changes: EndpointChanges, secret: String?, allowPrivateDestination: Bool, id: String?, now: Date,
        by actor: Principal
    ) async throws -> Endpoint {
        let endpoint = try changes.newEndpoint(
            url: url, secret: secret, allowPrivateDestination: allowPrivateDestination, id: id, now: now)
        let at = endpoint.createdAt.milliseconds
        try await write { connection in
            let inserted = try await rows(
                """
                INSERT INTO endpoints (id, url, description, status, event_types, secret, max_in_flight, timeout_ms,
                    allow_private, created_at, updated_at, connection, rate_limit)
                VALUES (\(endpoint.id), \(url), \(endpoint.description), 'active',
                    \(endpoint.eventTypes.joined(separator: ",")), \(endpoint.secret), \(endpoint.maxInFlight),
                    \(endpoint.timeoutMilliseconds), \(allowPrivateDestination), \(at), \(at),
                    \(endpoint.connection.stored), \(endpoint.rateLimit))
                ON CONFLICT (id) DO NOTHING RETURNING id
                """, on: connection)
            guard !inserted.isEmpty else { throw HooktopError(.conflict, "endpoint \(endpoint.id) already exists") }
            try await audit(connection, "endpoint.add", "endpoint", endpoint.id, url, actor, endpoint.createdAt)
        }
        return endpoint
    }

    /// Records groups of validated events in one transaction, each group all or none (see `Store.publish`): each
    /// event fanned out to every active or paused endpoint whose filter accepts its type, each delivery queued.
    /// A repeated idempotency key within 24 hours gives the first message back with `duplicate` set.
    /// Dispatchers elsewhere are notified when deliveries were queued.
    public var commitExecutor: (any TaskExecutor)? { nil }

    public func publish(groups: [[PublishRequest]], now: Date) async throws -> [Result<[PublishResult], any Error>] {
        let now = Date(milliseconds: now.milliseconds)
        let outcomes = try await write { connection in
            let endpoints = try await rows(
                "SELECT id, event_types FROM endpoints WHERE status <> 'disabled' ORDER BY created_at, id",
                on: connection
            ).map { row -> (String, [String]) in
                let types = try row.text(1)
                return (try row.text(0), types.isEmpty ? [] : types.split(separator: ",").map(String.init))
            }
            var outcomes = [Result<[PublishResult], any Error>?](repeating: nil, count: groups.count)
            var moves = StatusMoves()
            // Events without a chosen id or an idempotency key cannot be refused one by one: every such group is
            // recorded by one statement.
            var plain = PlainEvents()
            for (index, group) in groups.enumerated() where group.allSatisfy({ $0.id == nil && $0.idempotencyKey == nil }) {
                outcomes[index] = .success(group.map { plain.add($0, endpoints: endpoints, moves: &moves, now: now) })
            }
            try await plain.insert(at: now, by: self, on: connection)
            for (index, group) in groups.enumerated() where outcomes[index] == nil {
                try await execute("SAVEPOINT publish_group", on: connection)
                var groupMoves = StatusMoves()
                do {
                    var results: [PublishResult] = []
                    for request in group {
                        results.append(
                            try await insert(request, endpoints: endpoints, moves: &groupMoves, on: connection, now: now))
                    }
                    try await execute("RELEASE SAVEPOINT publish_group", on: connection)
                    moves.merge(groupMoves)
                    outcomes[index] = .success(results)
                } catch let error as HooktopError {
                    try await execute("ROLLBACK TO SAVEPOINT publish_group", on: connection)
                    outcomes[index] = .failure(error)
                }
            }
            try await applyCounts(moves, writer: publisherId, on: connection)
            return outcomes.map { $0! }
        }
        if outcomes.contains(where: { (try? $0.get())?.contains { $0.deliveryCount > 0 } == true }) {
            wakeups.workCommitted()
        }
        return outcomes
    }

    private func insert(
        _ request: PublishRequest, endpoints: [(String, [String])], moves: inout StatusMoves,
        on connection: PostgresConnection, now: Date
    ) async throws -> PublishResult {
        let at = now.milliseconds
        let windowStart = now.addingTimeInterval(-PublishLimits.idempotencyWindow).milliseconds
        if let key = request.idempotencyKey,
            let existing = try await rows(
                """
                SELECT m.id, m.event_type, m.payload, m.idempotency_key, m.created_at
                FROM message_keys k JOIN messages m ON m.seq = k.message_seq AND m.created_at = k.message_created_at
                WHERE k.kind = 'idempotency' AND k.key = \(key) AND k.message_created_at >= \(windowStart)
                """, on: connection
            ).first
        {
            return PublishResult(message: try Self.message(existing), deliveryCount: 0, duplicate: true)
        }
        let message = Message(
            id: request.id ?? Identifier.makeOrdered("msg", now: now), eventType: request.eventType,
            payload: request.payload, idempotencyKey: request.idempotencyKey, createdAt: now)
        guard
            let sequence = try await rows(
                """
                INSERT INTO messages (id, event_type, payload, idempotency_key, created_at)
                VALUES (\(message.id), \(message.eventType), \(message.payload), \(message.idempotencyKey), \(at))
                RETURNING seq
                """, on: connection
            ).first?.int64(0)
        else { throw HooktopError(.database, "the message was not recorded") }
        // Chosen ids and idempotency keys are unique across days through `message_keys`; an idempotency key past its
        // window is taken over.
        if request.id != nil {
            let claimed = try await rows(
                """
                INSERT INTO message_keys (kind, key, message_seq, message_created_at)
                VALUES ('id', \(message.id), \(sequence), \(at)) ON CONFLICT (kind, key) DO NOTHING RETURNING 1
                """, on: connection)
            guard !claimed.isEmpty else { throw HooktopError(.conflict, "message \(message.id) already exists") }
        }
        if let key = request.idempotencyKey {
            let claimed = try await rows(
                """
                INSERT INTO message_keys (kind, key, message_seq, message_created_at)
                VALUES ('idempotency', \(key), \(sequence), \(at))
                ON CONFLICT (kind, key) DO UPDATE SET message_seq = excluded.message_seq,
                    message_created_at = excluded.message_created_at
                WHERE message_keys.message_created_at < \(windowStart)
                RETURNING 1
                """, on: connection)
            // Another publisher took the key meanwhile (its transaction committed first): the first message wins.
            guard !claimed.isEmpty else {
                throw HooktopError(.conflict, "idempotency key \(key) was taken by a concurrent publish; retry")
            }
        }
        let targets = endpoints.filter { EventTypeFilter.matches(patterns: $0.1, eventType: request.eventType) }.map(\.0)
        if !targets.isEmpty {
            try await execute(
                """
                WITH made AS (
                    INSERT INTO deliveries (message_seq, message_created_at, endpoint_id, event_type, status, created_at,
                        updated_at)
                    SELECT \(sequence), \(at), endpoint_id, \(request.eventType), 'pending', \(at), \(at)
                    FROM unnest(\(targets)::text[]) AS t(endpoint_id)
                    RETURNING id, endpoint_id)
                INSERT INTO delivery_queue (delivery_id, message_created_at, endpoint_id, available_at)
                SELECT id, \(at), endpoint_id, \(at) FROM made
                """, on: connection)
            for endpointId in targets { moves.insert(endpointId, status: .pending) }
        }
        return PublishResult(message: message, deliveryCount: targets.count, duplicate: false)
    }

    static let messageColumns = "id, event_type, payload, idempotency_key, created_at"

    static func message(_ row: PGRow, offset: Int = 0) throws -> Message {
        Message(
            id: try row.text(offset), eventType: try row.text(offset + 1), payload: try row.text(offset + 2),
            idempotencyKey: try row.optionalText(offset + 3), createdAt: try row.date(offset + 4))
    }

    /// The writer publishes count as: publishing adds to the rows of pending deliveries that recording subtracts
    /// from, and with one writer the two transactions would wait on each other's row locks.
    var publisherId: String { writerId + ":publish" }

    /// Adds status moves to the counters of `writer` (this process's, unless said).
    func applyCounts(_ moves: StatusMoves, writer: String? = nil, on connection: PostgresConnection) async throws {
        let changes = moves.changes
        guard !changes.isEmpty else { return }
        try await execute(
            """
            INSERT INTO delivery_counts (endpoint_id, status, writer_id, n)
            SELECT endpoint_id, status, \(writer ?? writerId), n
            FROM unnest(\(changes.map(\.endpointId))::text[], \(changes.map(\.status))::text[],
                \(changes.map { Int64($0.delta) })::bigint[]) AS c(endpoint_id, status, n)
            ON CONFLICT (endpoint_id, status, writer_id) DO UPDATE SET n = delivery_counts.n + excluded.n
            """, on: connection)
    }
}

/// Events recorded together by one statement: their messages, their deliveries and the deliveries' queue rows.
private struct PlainEvents {
    private var ids: [String] = []
    private var types: [String] = []
    private var payloads: [String] = []
    private var deliveryMessages: [String] = []
    private var deliveryEndpoints: [String] = []

    /// Adds an event fanned out to the endpoints whose filter accepts its type.
    mutating func add(
        _ request: PublishRequest, endpoints: [(String, [String])], moves: inout StatusMoves, now: Date
    ) -> PublishResult {
        let message = Message(
            id: Identifier.makeOrdered("msg", now: now), eventType: request.eventType, payload: request.payload,
            idempotencyKey: nil, createdAt: now)
        ids.append(message.id)
        types.append(message.eventType)
        payloads.append(message.payload)
        var count = 0
        for (endpointId, patterns) in endpoints where EventTypeFilter.matches(patterns: patterns, eventType: request.eventType) {
            deliveryMessages.append(message.id)
            deliveryEndpoints.append(endpointId)
            moves.insert(endpointId, status: .pending)
            count += 1
        }
        return PublishResult(message: message, deliveryCount: count, duplicate: false)
    }

    func insert(at now: Date, by engine: PostgresEngine, on connection: PostgresConnection) async throws {
        guard !ids.isEmpty else { return }
        let at = now.milliseconds
        try await engine.execute(
            """
            WITH made_messages AS (
                INSERT INTO messages (id, event_type, payload, created_at)
                SELECT id, event_type, payload, \(at)
                FROM unnest(\(ids)::text[], \(types)::text[], \(payloads)::text[]) WITH ORDINALITY AS t(id, event_type, payload, n)
                ORDER BY n
                RETURNING seq, id, event_type),
            made AS (
                INSERT INTO deliveries (message_seq, message_created_at, endpoint_id, event_type, status, created_at,
                    updated_at)
                SELECT m.seq, \(at), f.endpoint_id, m.event_type, 'pending', \(at), \(at)
                FROM unnest(\(deliveryMessages)::text[], \(deliveryEndpoints)::text[]) WITH ORDINALITY
                    AS f(message_id, endpoint_id, n)
                JOIN made_messages m ON m.id = f.message_id
                ORDER BY f.n
                RETURNING id, endpoint_id)
            INSERT INTO delivery_queue (delivery_id, message_created_at, endpoint_id, available_at)
            SELECT id, \(at), endpoint_id, \(at) FROM made
            """, on: connection)
    }
}
