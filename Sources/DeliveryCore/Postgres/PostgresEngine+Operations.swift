import Foundation
import PostgresNIO

/// Operators' writes (`OperatorLog`), each one transaction, audited, with the same rules as on SQLite. A delivery is
/// in flight when its queue row is leased and the lease has not run out.
extension PostgresEngine {
    public func updateEndpoint(id: String, changes: EndpointChanges, now: Date, by actor: Principal) async throws -> Endpoint {
        try changes.validate()
        try await write { connection in
            var stored: String?
            if changes.changesConnection {
                // Read and written in the same transaction (the row locked): concurrent changes to other settings stay.
                guard
                    let current = try await rows(
                        "SELECT connection FROM endpoints WHERE id = \(id) FOR UPDATE", on: connection
                    ).first?.text(0)
                else { throw HooktopError.notFound("endpoint", id) }
                let applied = changes.applied(to: ConnectionSettings.fromStored(current))
                guard applied.headers.count <= 50 else { throw HooktopError.invalid("at most 50 headers") }
                stored = applied.stored
            }
            let setsLimit = changes.rateLimit != nil
            let limit: Int? = { if case .set(let limit)? = changes.rateLimit { return limit } else { return nil } }()
            let changed = try await rows(
                """
                UPDATE endpoints SET url = coalesce(\(changes.url), url), description = coalesce(\(changes.description), description),
                    event_types = coalesce(\(changes.eventTypes?.joined(separator: ",")), event_types),
                    max_in_flight = coalesce(\(changes.maxInFlight), max_in_flight),
                    timeout_ms = coalesce(\(changes.timeoutMilliseconds), timeout_ms),
                    connection = coalesce(\(stored), connection),
                    rate_limit = CASE WHEN \(setsLimit) THEN \(limit) ELSE rate_limit END, updated_at = \(now.milliseconds)
                WHERE id = \(id) RETURNING 1
                """, on: connection)
            guard !changed.isEmpty else { throw HooktopError.notFound("endpoint", id) }
            try await audit(connection, "endpoint.update", "endpoint", id, changes.auditSummary, actor, now)
        }
        guard let endpoint = try await endpoint(id: id) else { throw HooktopError.notFound("endpoint", id) }
        return endpoint
    }

    /// Deletes an endpoint with its deliveries (their queue rows, counters and groups go with it by cascade).
    public func removeEndpoint(id: String, now: Date, by actor: Principal) async throws {
        try await write { connection in
            guard !(try await rows("DELETE FROM endpoints WHERE id = \(id) RETURNING 1", on: connection)).isEmpty else {
                throw HooktopError.notFound("endpoint", id)
            }
            try await audit(connection, "endpoint.remove", "endpoint", id, "", actor, now)
        }
    }

    @discardableResult
    public func setEndpointStatus(
        id: String, _ status: EndpointStatus, reason: String?, action: String, refusing: EndpointStatus?,
        advice: String, now: Date, by actor: Principal
    ) async throws -> Bool {
        let changed = try await write { connection in
            guard
                let current = try await rows("SELECT status FROM endpoints WHERE id = \(id) FOR UPDATE", on: connection)
                    .first?.text(0)
            else { throw HooktopError.notFound("endpoint", id) }
            if let refusing, current == refusing.rawValue {
                throw HooktopError(.conflict, "endpoint \(id) is \(current): \(advice)")
            }
            guard current != status.rawValue else { return false }
            let disabled = status == .disabled
            try await execute(
                """
                UPDATE endpoints SET status = \(status.rawValue), disabled_reason = \(disabled ? reason : nil),
                    disabled_at = \(disabled ? now.milliseconds : nil), updated_at = \(now.milliseconds)
                WHERE id = \(id)
                """, on: connection)
            if status == .active {
                // A resumed or enabled endpoint starts with a clean slate: no failing streak from before.
                try await execute(
                    "UPDATE endpoint_health SET failing_since = NULL WHERE endpoint_id = \(id)", on: connection)
            }
            try await audit(connection, action, "endpoint", id, reason ?? "", actor, now)
            return true
        }
        // A resumed or enabled endpoint's waiting deliveries are claimable again.
        if changed && status == .active { wakeups.workCommitted() }
        return changed
    }

    public func rotateSecret(endpointId: String, now: Date, by actor: Principal) async throws -> Endpoint {
        let secret = WebhookSignature.generateSecret()
        try await write { connection in
            let changed = try await rows(
                """
                UPDATE endpoints SET previous_secret = secret,
                    previous_secret_expires_at = \(now.addingTimeInterval(86400).milliseconds), secret = \(secret),
                    updated_at = \(now.milliseconds)
                WHERE id = \(endpointId) RETURNING 1
                """, on: connection)
            guard !changed.isEmpty else { throw HooktopError.notFound("endpoint", endpointId) }
            try await audit(connection, "endpoint.rotate_secret", "endpoint", endpointId, "", actor, now)
        }
        guard let endpoint = try await endpoint(id: endpointId) else { throw HooktopError.notFound("endpoint", endpointId) }
        return endpoint
    }

    public func recordAudit(
        action: String, objectType: String, objectId: String, detail: String, now: Date, by actor: Principal
    ) async throws {
        try await write { connection in try await audit(connection, action, objectType, objectId, detail, actor, now) }
    }

    // MARK: Deliveries

    /// A delivery with its queue row, locked for the change.
    private struct Held {
        var day: Int64
        var status: DeliveryStatus
        var endpointId: String
        var endpointStatus: String
        var errorClass: String?
        var statusCode: Int?
        var queued: Bool
        var inFlight: Bool
    }

    private func held(_ deliveryId: Int64, now: Date, on connection: PostgresConnection) async throws -> Held {
        guard
            let row = try await rows(
                """
                SELECT d.message_created_at, d.status, d.endpoint_id, e.status, d.last_error_class, d.last_status_code,
                    q.delivery_id IS NOT NULL, coalesce(q.lease_owner IS NOT NULL AND q.available_at > \(now.milliseconds), false)
                FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
                LEFT JOIN delivery_queue q ON q.delivery_id = d.id
                WHERE d.id = \(deliveryId)
                FOR UPDATE OF d
                """, on: connection
            ).first
        else { throw HooktopError.notFound("delivery", Identifier.formatDeliveryID(deliveryId)) }
        return Held(
            day: try row.int64(0), status: DeliveryStatus(rawValue: try row.text(1)) ?? .pending,
            endpointId: try row.text(2), endpointStatus: try row.text(3), errorClass: try row.optionalText(4),
            statusCode: try row.optionalInt(5), queued: try row.bool(6), inFlight: try row.bool(7))
    }

    /// Counts a held delivery's move to `status` (pending or cancelled: it leaves its failure group).
    private func moved(_ delivery: Held, to status: DeliveryStatus, on connection: PostgresConnection) async throws {
        var moves = StatusMoves()
        moves.move(delivery.endpointId, from: delivery.status, to: status)
        try await applyCounts(moves, on: connection)
        var groups = FailureGroupMoves()
        groups.leave(delivery.endpointId, errorClass: delivery.errorClass, statusCode: delivery.statusCode, status: delivery.status)
        try await groups.apply(by: self, on: connection)
    }

    public func queueRedelivery(deliveryId: Int64, now: Date, by actor: Principal) async throws {
        try await write { connection in
            let delivery = try await held(deliveryId, now: now, on: connection)
            let name = Identifier.formatDeliveryID(deliveryId)
            guard !delivery.inFlight else { throw HooktopError(.conflict, "delivery \(name) is in flight") }
            guard delivery.endpointStatus == EndpointStatus.active.rawValue else {
                let verb = delivery.endpointStatus == "paused" ? "resume" : "enable"
                throw HooktopError(.conflict, "its endpoint is \(delivery.endpointStatus): \(verb) it first")
            }
            let at = now.milliseconds
            if delivery.queued {
                // Waiting: due now, and a failure keeps its schedule.
                try await execute(
                    """
                    UPDATE delivery_queue SET available_at = \(at), lease_owner = NULL, manual = \(ManualMode.fromWaiting.rawValue)
                    WHERE delivery_id = \(deliveryId)
                    """, on: connection)
            } else {
                try await requeue([(deliveryId, delivery.day, delivery.endpointId)], now: now, on: connection)
                try await moved(delivery, to: .pending, on: connection)
            }
            try await audit(connection, "delivery.redeliver", "delivery", name, delivery.status.rawValue, actor, now)
        }
        wakeups.workCommitted()
    }

    /// Finished deliveries back to `pending`, queued for a manual attempt now (a failure leaves them dead).
    private func requeue(_ deliveries: [(id: Int64, day: Int64, endpointId: String)], now: Date, on connection: PostgresConnection)
        async throws
    {
        guard !deliveries.isEmpty else { return }
        let ids = deliveries.map(\.id)
        let days = deliveries.map(\.day)
        let endpoints = deliveries.map(\.endpointId)
        let at = now.milliseconds
        try await execute(
            """
            UPDATE deliveries d SET status = 'pending', updated_at = \(at)
            FROM unnest(\(ids)::bigint[], \(days)::bigint[]) AS u(id, day)
            WHERE d.id = u.id AND d.message_created_at = u.day
            """, on: connection)
        try await execute(
            """
            INSERT INTO delivery_queue (delivery_id, message_created_at, endpoint_id, available_at, manual)
            SELECT id, day, endpoint_id, \(at), \(ManualMode.fromFinished.rawValue)
            FROM unnest(\(ids)::bigint[], \(days)::bigint[], \(endpoints)::text[]) AS u(id, day, endpoint_id)
            ON CONFLICT (delivery_id) DO UPDATE SET available_at = excluded.available_at, lease_owner = NULL,
                manual = excluded.manual
            """, on: connection)
    }

    public func cancelDelivery(deliveryId: Int64, now: Date, by actor: Principal) async throws {
        try await write { connection in
            let delivery = try await held(deliveryId, now: now, on: connection)
            let name = Identifier.formatDeliveryID(deliveryId)
            guard delivery.status == .pending || delivery.status == .retrying, !delivery.inFlight else {
                let status = delivery.inFlight ? "in flight" : delivery.status.rawValue
                throw HooktopError(.conflict, "delivery \(name) is \(status): only a pending or retrying delivery can be cancelled")
            }
            try await execute(
                """
                UPDATE deliveries SET status = 'cancelled', updated_at = \(now.milliseconds)
                WHERE id = \(deliveryId) AND message_created_at = \(delivery.day)
                """, on: connection)
            try await execute("DELETE FROM delivery_queue WHERE delivery_id = \(deliveryId)", on: connection)
            try await moved(delivery, to: .cancelled, on: connection)
            try await audit(connection, "delivery.cancel", "delivery", name, "", actor, now)
        }
    }

    /// Queues the endpoint's dead deliveries created since `since` and creates deliveries for the messages it never
    /// got (while disabled); remembered as a recovery whose progress can be followed.
    public func queueRecovery(endpointId: String, since: Date, now: Date, by actor: Principal) async throws -> Int {
        announced(try await write { connection in
            guard
                let row = try await rows(
                    "SELECT \(unescaped: Self.endpointColumns) FROM endpoints WHERE id = \(endpointId) FOR UPDATE",
                    on: connection
                ).first
            else { throw HooktopError.notFound("endpoint", endpointId) }
            let endpoint = try Self.endpoint(row)
            guard endpoint.status == .active else {
                let verb = endpoint.status == .paused ? "resume" : "enable"
                throw HooktopError(.conflict, "endpoint \(endpointId) is \(endpoint.status.rawValue): \(verb) it first")
            }
            let dead = try await rows(
                """
                SELECT id, message_created_at, last_error_class, last_status_code FROM deliveries
                WHERE endpoint_id = \(endpointId) AND status = 'dead' AND message_created_at >= \(since.milliseconds)
                FOR UPDATE
                """, on: connection)
            var groups = FailureGroupMoves()
            var revived: [(id: Int64, day: Int64, endpointId: String)] = []
            for row in dead {
                revived.append((try row.int64(0), try row.int64(1), endpointId))
                groups.leave(endpointId, errorClass: try row.optionalText(2), statusCode: try row.optionalInt(3), status: .dead)
            }
            try await requeue(revived, now: now, on: connection)
            let missed = try await rows(
                """
                SELECT m.seq, m.created_at, m.event_type FROM messages m
                WHERE m.created_at >= \(max(since, endpoint.createdAt).milliseconds) AND NOT EXISTS (
                    SELECT 1 FROM deliveries d
                    WHERE d.message_seq = m.seq AND d.message_created_at = m.created_at AND d.endpoint_id = \(endpointId))
                """, on: connection
            ).filter { endpoint.accepts(eventType: try $0.text(2)) }
            var queued = revived
            if !missed.isEmpty {
                let sequences = try missed.map { try $0.int64(0) }
                let days = try missed.map { try $0.int64(1) }
                let at = now.milliseconds
                // Never attempted: scheduled deliveries with the whole retry schedule, as the publish would have made.
                queued += try await rows(
                    """
                    WITH made AS (
                        INSERT INTO deliveries (message_seq, message_created_at, endpoint_id, event_type, status, created_at,
                            updated_at)
                        SELECT m.seq, m.created_at, \(endpointId), m.event_type, 'pending', \(at), \(at)
                        FROM unnest(\(sequences)::bigint[], \(days)::bigint[]) AS u(seq, day)
                        JOIN messages m ON m.seq = u.seq AND m.created_at = u.day
                            AND m.created_at = ANY(\(Array(Set(days)))::bigint[])
                        RETURNING id, message_created_at)
                    INSERT INTO delivery_queue (delivery_id, message_created_at, endpoint_id, available_at, manual)
                    SELECT id, message_created_at, \(endpointId), \(at), \(ManualMode.scheduled.rawValue) FROM made
                    RETURNING delivery_id, message_created_at
                    """, on: connection
                ).map { (try $0.int64(0), try $0.int64(1), endpointId) }
            }
            var moves = StatusMoves()
            moves.move(endpointId, from: .dead, to: .pending, count: revived.count)
            moves.insert(endpointId, status: .pending, count: queued.count - revived.count)
            try await applyCounts(moves, on: connection)
            try await groups.apply(by: self, on: connection)
            guard !queued.isEmpty else {
                try await audit(connection, "endpoint.recover", "endpoint", endpointId, "nothing to recover", actor, now)
                return 0
            }
            guard
                let recoveryId = try await rows(
                    """
                    INSERT INTO recoveries (endpoint_id, at, total) VALUES (\(endpointId), \(now.milliseconds), \(queued.count))
                    RETURNING id
                    """, on: connection
                ).first?.int64(0)
            else { throw HooktopError(.database, "the recovery was not recorded") }
            try await execute(
                """
                INSERT INTO recovery_deliveries (recovery_id, delivery_id, message_created_at)
                SELECT \(recoveryId), id, day FROM unnest(\(queued.map(\.id))::bigint[], \(queued.map(\.day))::bigint[]) AS q(id, day)
                """, on: connection)
            try await audit(
                connection, "endpoint.recover", "endpoint", endpointId,
                "since \(ISO8601DateFormatter().string(from: since)): \(revived.count) dead, \(missed.count) missed", actor, now)
            return queued.count
        })
    }

    /// The deliveries `filter` matches, of active endpoints: id, day, endpoint, error class and status code.
    private func matching(_ filter: DeliveryFilter, lock: Bool, on connection: PostgresConnection?) async throws -> [PGRow] {
        var conditions: [String] = []
        var bindings = PostgresBindings()
        try bindings.append(filter.status.rawValue)
        func bind(_ value: some PostgresThrowingDynamicTypeEncodable) throws -> String {
            try bindings.append(value)
            return "$\(bindings.count)"
        }
        if let id = filter.endpointId { conditions.append("d.endpoint_id = \(try bind(id))") }
        if let type = filter.eventType {
            conditions.append("d.event_type LIKE \(try bind(Self.likePattern(glob: type))) ESCAPE '\\'")
        }
        if let errorClass = filter.errorClass { conditions.append("d.last_error_class = \(try bind(errorClass.rawValue))") }
        if let code = filter.statusCode { conditions.append("d.last_status_code = \(try bind(code))") }
        if let since = filter.since { conditions.append("d.updated_at >= \(try bind(since.milliseconds))") }
        if let until = filter.until { conditions.append("d.updated_at < \(try bind(until.milliseconds))") }
        if let since = filter.publishedSince { conditions.append("d.message_created_at >= \(try bind(since.milliseconds))") }
        if let until = filter.publishedUntil { conditions.append("d.message_created_at < \(try bind(until.milliseconds))") }
        let statement = PostgresQuery(
            unsafeSQL: """
                SELECT d.id, d.message_created_at, d.endpoint_id, d.last_error_class, d.last_status_code
                FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
                WHERE e.status = 'active' AND d.status = $1\(conditions.map { " AND " + $0 }.joined())\(lock ? " FOR UPDATE OF d" : "")
                """, binds: bindings)
        if let connection { return try await rows(statement, on: connection) }
        return try await rows(statement)
    }

    /// A shell-style glob (`invoice.*`) as a LIKE pattern.
    static func likePattern(glob: String) -> String {
        var pattern = ""
        for character in glob {
            switch character {
            case "*": pattern += "%"
            case "?": pattern += "_"
            case "%", "_", "\\": pattern += "\\" + String(character)
            default: pattern.append(character)
            }
        }
        return pattern
    }

    public func countReplay(_ filter: DeliveryFilter) async throws -> Int {
        try await matching(filter, lock: false, on: nil).count
    }

    public func queueReplay(_ filter: DeliveryFilter, now: Date, by actor: Principal) async throws -> Int {
        announced(try await write { connection in
            if let endpointId = filter.endpointId,
                try await rows("SELECT 1 FROM endpoints WHERE id = \(endpointId)", on: connection).isEmpty
            {
                throw HooktopError.notFound("endpoint", endpointId)
            }
            let matched = try await matching(filter, lock: true, on: connection)
            var moves = StatusMoves()
            var groups = FailureGroupMoves()
            var deliveries: [(id: Int64, day: Int64, endpointId: String)] = []
            for row in matched {
                let endpointId = try row.text(2)
                deliveries.append((try row.int64(0), try row.int64(1), endpointId))
                moves.move(endpointId, from: filter.status, to: .pending)
                groups.leave(endpointId, errorClass: try row.optionalText(3), statusCode: try row.optionalInt(4), status: filter.status)
            }
            try await requeue(deliveries, now: now, on: connection)
            try await applyCounts(moves, on: connection)
            try await groups.apply(by: self, on: connection)
            try await audit(
                connection, "delivery.replay", "delivery", filter.endpointId ?? "*",
                "\(filter.summary): \(deliveries.count) queued", actor, now)
            return deliveries.count
        })
    }

    /// Tells other processes' dispatchers when `count` deliveries were queued; returns `count`.
    private func announced(_ count: Int) -> Int {
        if count > 0 { wakeups.workCommitted() }
        return count
    }
}
