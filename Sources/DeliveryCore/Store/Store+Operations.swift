import Foundation

extension Store {
    /// Queues a delivery for a manual attempt now.
    /// - Throws: `notFound`, or `conflict` when it is in flight or its endpoint is paused or disabled.
    func queueRedelivery(deliveryId: Int64, now: Date, by actor: Principal) throws {
        try write { db in
            guard
                let (status, endpointStatus, endpointId) = try db.queryOne(
                    """
                    SELECT d.status, e.status, e.id FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
                    WHERE d.id = ?
                    """, [.int(deliveryId)], { ($0.text(0), $0.text(1), $0.text(2)) })
            else { throw HooktopError.notFound("delivery", Identifier.formatDeliveryID(deliveryId)) }
            guard status != DeliveryStatus.inflight.rawValue else {
                throw HooktopError(.conflict, "delivery \(Identifier.formatDeliveryID(deliveryId)) is in flight")
            }
            guard endpointStatus == EndpointStatus.active.rawValue else {
                throw HooktopError(
                    .conflict,
                    "its endpoint is \(endpointStatus): \(endpointStatus == "paused" ? "resume" : "enable") it first")
            }
            let waiting = status == DeliveryStatus.pending.rawValue || status == DeliveryStatus.retrying.rawValue
            try db.run(
                """
                UPDATE deliveries SET status = CASE WHEN ?2 THEN status ELSE 'pending' END, manual = ?3,
                    next_attempt_at = ?1, updated_at = ?1
                WHERE id = ?4
                """,
                [.from(now), .int(waiting ? 1 : 0),
                 .from((waiting ? ManualMode.fromWaiting : ManualMode.fromFinished).rawValue), .int(deliveryId)])
            var moves = StatusMoves()
            moves.move(endpointId, from: status, to: waiting ? status : DeliveryStatus.pending.rawValue)
            try moves.apply(db)
            try Self.audit(db, "delivery.redeliver", "delivery", Identifier.formatDeliveryID(deliveryId), status, actor, now)
        }
    }

    /// Queues every dead delivery of the endpoint created since `since`, and creates deliveries for the messages
    /// it never received (while disabled). Returns how many were queued.
    func queueRecovery(endpointId: String, since: Date, now: Date, by actor: Principal) throws -> Int {
        try write { db in
            guard
                let endpoint = try db.queryOne(
                    "SELECT \(Self.endpointColumns) FROM endpoints WHERE id = ?", [.text(endpointId)], Self.endpoint)
            else { throw HooktopError.notFound("endpoint", endpointId) }
            guard endpoint.status == .active else {
                throw HooktopError(
                    .conflict,
                    "endpoint \(endpointId) is \(endpoint.status.rawValue): \(endpoint.status == .paused ? "resume" : "enable") it first")
            }
            let dead = try Self.deadSince(db, endpointId: endpointId, since: since, count: false)
            var moves = StatusMoves()
            var queued: [Int64] = []
            for id in dead {
                let changed = try db.run(
                    """
                    UPDATE deliveries SET status = 'pending', manual = ?, next_attempt_at = ?, updated_at = ?
                    WHERE id = ? AND status = 'dead'
                    """, [.from(ManualMode.fromFinished.rawValue), .from(now), .from(now), .int(id)])
                moves.move(endpointId, from: .dead, to: .pending, count: changed)
                if changed > 0 { queued.append(id) }
            }
            let missed = try Self.missedMessages(db, endpoint: endpoint, since: since)
            for sequence in missed {
                let inserted = try db.run(
                    """
                    INSERT INTO deliveries (message_seq, endpoint_id, event_type, status, next_attempt_at, created_at,
                        updated_at)
                    SELECT seq, ?, event_type, 'pending', ?, ?, ? FROM messages WHERE seq = ?
                    """, [.text(endpointId), .from(now), .from(now), .from(now), .int(sequence)])
                moves.insert(endpointId, status: .pending, count: inserted)
                if inserted > 0 { queued.append(try db.scalar("SELECT last_insert_rowid()")) }
            }
            try moves.apply(db)
            let total = dead.count + missed.count
            // Remembered, so the progress of this recovery can be followed (`recoveryProgress`).
            guard !queued.isEmpty else {
                try Self.audit(db, "endpoint.recover", "endpoint", endpointId, "nothing to recover", actor, now)
                return 0
            }
            try db.run(
                "INSERT INTO recoveries (endpoint_id, at, total) VALUES (?, ?, ?)",
                [.text(endpointId), .from(now), .from(queued.count)])
            let recoveryId = try db.scalar("SELECT last_insert_rowid()")
            for id in queued {
                try db.run(
                    "INSERT INTO recovery_deliveries (recovery_id, delivery_id) VALUES (?, ?)", [.int(recoveryId), .int(id)])
            }
            try Self.audit(
                db, "endpoint.recover", "endpoint", endpointId,
                "since \(ISO8601DateFormatter().string(from: since)): \(dead.count) dead, \(missed.count) missed", actor, now)
            return total
        }
    }

    /// The deliveries `filter` matches, of active endpoints (held ones are left alone): ids with their endpoints.
    private static func matching(_ db: Connection, _ filter: DeliveryFilter) throws -> [(Int64, String)] {
        var conditions = ["d.status = ?"]
        var arguments: [SQLValue] = [.text(filter.status.rawValue)]
        for (condition, value) in [
            ("d.endpoint_id = ?", filter.endpointId.map(SQLValue.text)), ("d.event_type GLOB ?", filter.eventType.map(SQLValue.text)),
            ("d.last_error_class = ?", filter.errorClass.map { SQLValue.text($0.rawValue) }),
            ("d.last_status_code = ?", filter.statusCode.map { SQLValue.from($0) }),
            ("d.updated_at >= ?", filter.since.map { SQLValue.from($0) }), ("d.updated_at < ?", filter.until.map { SQLValue.from($0) }),
            ("d.created_at >= ?", filter.publishedSince.map { SQLValue.from($0) }),
            ("d.created_at < ?", filter.publishedUntil.map { SQLValue.from($0) }),
        ] {
            guard let value else { continue }
            conditions.append(condition)
            arguments.append(value)
        }
        return try db.query(
            """
            SELECT d.id, d.endpoint_id FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
            WHERE \(conditions.joined(separator: " AND ")) AND e.status = 'active'
            """, arguments, { ($0.int64(0), $0.text(1)) })
    }

    /// How many deliveries `filter` matches (a dry run).
    func countReplay(_ filter: DeliveryFilter) throws -> Int {
        try read { db in try Self.matching(db, filter).count }
    }

    /// Queues every delivery `filter` matches for a manual attempt; the dispatcher sends them at each endpoint's rate
    /// limit (or its max in flight). Returns how many.
    func queueReplay(_ filter: DeliveryFilter, now: Date, by actor: Principal) throws -> Int {
        try write { db in
            if let endpointId = filter.endpointId,
                try db.queryOne("SELECT 1 FROM endpoints WHERE id = ?", [.text(endpointId)], { $0.int(0) }) == nil
            {
                throw HooktopError.notFound("endpoint", endpointId)
            }
            var moves = StatusMoves()
            var queued = 0
            for (id, endpointId) in try Self.matching(db, filter) {
                let changed = try db.run(
                    """
                    UPDATE deliveries SET status = 'pending', manual = ?, next_attempt_at = ?, updated_at = ?
                    WHERE id = ? AND status = ?
                    """,
                    [.from(ManualMode.fromFinished.rawValue), .from(now), .from(now), .int(id), .text(filter.status.rawValue)])
                moves.move(endpointId, from: filter.status, to: .pending, count: changed)
                queued += changed
            }
            try moves.apply(db)
            try Self.audit(db, "delivery.replay", "delivery", filter.endpointId ?? "*", "\(filter.summary): \(queued) queued", actor, now)
            return queued
        }
    }

    /// Cancels a waiting delivery.
    func cancelDelivery(deliveryId: Int64, now: Date, by actor: Principal) throws {
        try write { db in
            guard
                let (status, endpointId) = try db.queryOne(
                    "SELECT status, endpoint_id FROM deliveries WHERE id = ?", [.int(deliveryId)], { ($0.text(0), $0.text(1)) })
            else { throw HooktopError.notFound("delivery", Identifier.formatDeliveryID(deliveryId)) }
            guard status == DeliveryStatus.pending.rawValue || status == DeliveryStatus.retrying.rawValue else {
                throw HooktopError(
                    .conflict, "delivery \(Identifier.formatDeliveryID(deliveryId)) is \(status): only a pending or retrying delivery can be cancelled")
            }
            try db.run(
                "UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, manual = 0, updated_at = ? WHERE id = ?",
                [.from(now), .int(deliveryId)])
            var moves = StatusMoves()
            moves.move(endpointId, from: status, to: DeliveryStatus.cancelled.rawValue)
            try moves.apply(db)
            try Self.audit(db, "delivery.cancel", "delivery", Identifier.formatDeliveryID(deliveryId), "", actor, now)
        }
    }

    /// Deletes messages older than `before` whose every delivery was delivered, with their deliveries and attempts.
    /// Messages with any failing, dead, waiting or cancelled delivery are kept. Works in batches.
    /// - Returns: how many messages were removed.
    func prune(before: Date, now: Date = Date(), by actor: Principal) throws -> Int {
        var total = 0
        while true {
            let removed = try write { db in
                try db.run(
                    """
                    DELETE FROM messages WHERE seq IN (
                        SELECT m.seq FROM messages m WHERE m.created_at < ? AND NOT EXISTS (
                            SELECT 1 FROM deliveries d WHERE d.message_seq = m.seq AND d.status <> 'delivered')
                        LIMIT 2000)
                    """, [.from(before)])
            }
            total += removed
            if removed < 2000 { break }
        }
        try write { db in
            try db.run("DELETE FROM stats_minute WHERE minute < ?", [.int(before.milliseconds / 60_000)])
            try db.run("DELETE FROM alerts WHERE at < ? AND status <> 'pending'", [.from(before)])
            try Self.audit(db, "log.prune", "log", "messages", "before \(ISO8601DateFormatter().string(from: before)): \(total) removed", actor, now)
        }
        return total
    }
}
