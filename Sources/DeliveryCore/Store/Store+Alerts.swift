import Foundation

extension Store {
    /// The alert checks' inputs. Per endpoint: its health columns, its dead deliveries since `deadSince` (the
    /// `deliveries_dead` index), its newest health alert, and for a disabled one its newest failed attempt (among its
    /// newest 500 deliveries, so the read stays bounded).
    public func alertInputs(now: Date, deadSince: Date) throws -> AlertInputs {
        let endpoints = try endpoints()
        let workers = try workers()
        return try read { db in
            var states: [AlertEndpointState] = []
            for endpoint in endpoints {
                guard
                    var state = try db.queryOne(
                        "SELECT disabled_at, failing_since, last_success_at, last_error FROM endpoints WHERE id = ?",
                        [.text(endpoint.id)],
                        { row in
                            AlertEndpointState(
                                endpoint: endpoint, disabledAt: row.optionalDate(0), failingSince: row.optionalDate(1),
                                lastSuccessAt: row.optionalDate(2), lastError: row.optionalText(3))
                        })
                else { continue }
                state.deadInWindow = Int(
                    try db.scalar(
                        "SELECT count(*) FROM deliveries WHERE endpoint_id = ? AND status = 'dead' AND updated_at >= ?",
                        [.text(endpoint.id), .from(deadSince)]))
                state.lastHealthAlert = try db.queryOne(
                    """
                    SELECT seq, type, at FROM alerts WHERE object_id = ?
                        AND type IN ('endpoint.failing', 'endpoint.disabled', 'endpoint.recovered')
                    ORDER BY seq DESC LIMIT 1
                    """, [.text(endpoint.id)],
                    { row in (row.int64(0), AlertType(rawValue: row.text(1)) ?? .endpointFailing, row.date(2)) }
                ) ?? nil
                if endpoint.status == .disabled {
                    let via = try db.queryOne(
                        """
                        SELECT via FROM audit WHERE object_type = 'endpoint' AND object_id = ? AND action = 'endpoint.disable'
                        ORDER BY id DESC LIMIT 1
                        """, [.text(endpoint.id)], { $0.text(0) })
                    state.disabledByDispatcher = via == "dispatcher"
                    state.lastFailure = try Self.lastFailure(db, endpointId: endpoint.id)
                }
                states.append(state)
            }
            let oldestDue = try db.queryOne(
                """
                SELECT id, due FROM (
                    SELECT e.id, (SELECT min(d.next_attempt_at) FROM deliveries d
                        WHERE d.endpoint_id = e.id AND d.status IN ('pending', 'retrying')) AS due
                    FROM endpoints e WHERE e.status = 'active')
                WHERE due IS NOT NULL AND due <= ? ORDER BY due LIMIT 1
                """, [.from(now)], { (at: $0.date(1), endpointId: $0.text(0)) })
            return AlertInputs(endpoints: states, workers: workers, oldestDue: oldestDue)
        }
    }

    /// The newest failed attempt of one of the endpoint's newest 500 deliveries.
    private static func lastFailure(_ db: Connection, endpointId: String) throws -> FailedAttempt? {
        guard
            let deliveryId = try db.queryOne(
                """
                SELECT id FROM (SELECT id, status, updated_at FROM deliveries WHERE endpoint_id = ? ORDER BY id DESC LIMIT 500)
                WHERE status IN ('dead', 'retrying') ORDER BY updated_at DESC LIMIT 1
                """, [.text(endpointId)], { $0.int64(0) })
        else { return nil }
        return try db.queryOne(
            """
            SELECT response_status, error_message, response_body, error_class FROM attempts WHERE delivery_id = ?
            ORDER BY number DESC LIMIT 1
            """, [.int(deliveryId)]
        ) { row in
            let error = row.optionalText(1) ?? row.optionalText(3)
            return FailedAttempt(
                status: row.optionalInt(0), error: error,
                responseExcerpt: row.optionalText(2).map { Sanitizer.line(String($0.prefix(300))) })
        }
    }

    /// See `AlertLog.recordAlert`.
    public func recordAlert(_ alert: NewAlert, status: AlertSendStatus, leasedTo owner: String? = nil, now: Date) throws
        -> Alert?
    {
        let id = Identifier.makeOrdered("alrt", now: now)
        return try write { db in
            let debounceFrom = alert.debounce.map { now.addingTimeInterval(-$0) }
            let inserted = try db.queryOne(
                """
                INSERT INTO alerts (
                    id, type, object_id, dedup_key, at, summary, details, status, next_attempt_at, lease_owner,
                    lease_expires_at)
                SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, CASE WHEN ?8 = 'pending' THEN ?5 END, ?10, ?11
                WHERE NOT EXISTS (SELECT 1 FROM alerts WHERE type = ?2 AND object_id = ?3 AND at > ?9)
                ON CONFLICT (type, object_id, dedup_key) DO NOTHING
                RETURNING seq
                """,
                [.text(id), .text(alert.type.rawValue), .text(alert.objectId), .text(alert.key), .from(now),
                 .text(alert.summary), .text(alert.details), .text(status.rawValue),
                 debounceFrom.map { .from($0) } ?? .int(Int64.max), .from(owner),
                 owner == nil ? .null : .from(now.addingTimeInterval(Alert.sendLease))],
                { $0.int64(0) })
            guard let sequence = inserted else { return nil }
            return Alert(
                sequence: sequence, id: id, type: alert.type, objectId: alert.objectId, at: now, summary: alert.summary,
                details: alert.details, status: status, nextAttemptAt: status == .pending ? now : nil)
        }
    }

    private static let alertColumns = """
        seq, id, type, object_id, at, summary, details, status, attempts, next_attempt_at, last_error, sent_at, sent_to
        """

    private static func alert(_ row: SQLiteRow) -> Alert {
        Alert(
            sequence: row.int64(0), id: row.text(1), type: AlertType(rawValue: row.text(2)) ?? .test,
            objectId: row.text(3), at: row.date(4), summary: row.text(5), details: row.text(6),
            status: AlertSendStatus(rawValue: row.text(7)) ?? .failed, attempts: row.int(8),
            nextAttemptAt: row.optionalDate(9), lastError: row.optionalText(10), sentAt: row.optionalDate(11),
            sentTo: row.text(12).split(separator: ",").map(String.init))
    }

    public func alerts(before: Int64?, limit: Int) throws -> [Alert] {
        try read { db in try Self.alerts(db, before: before, limit: limit) }
    }

    static func alerts(_ db: Connection, before: Int64?, limit: Int) throws -> [Alert] {
        try db.query(
            "SELECT \(alertColumns) FROM alerts WHERE seq < ? ORDER BY seq DESC LIMIT ?",
            [.int(before ?? Int64.max), .int(Int64(limit))], alert)
    }

    public func alert(id: String) throws -> Alert? {
        try read { db in try db.queryOne("SELECT \(Self.alertColumns) FROM alerts WHERE id = ?", [.text(id)], Self.alert) }
    }

    public func claimAlerts(owner: String, now: Date, lease: TimeInterval, limit: Int) throws -> [Alert] {
        try write { db in
            try db.query(
                """
                UPDATE alerts SET lease_owner = ?1, lease_expires_at = ?2
                WHERE seq IN (SELECT seq FROM alerts WHERE status = 'pending' AND next_attempt_at <= ?3
                    AND (lease_expires_at IS NULL OR lease_expires_at < ?3) ORDER BY next_attempt_at LIMIT ?4)
                RETURNING \(Self.alertColumns)
                """, [.text(owner), .from(now.addingTimeInterval(lease)), .from(now), .int(Int64(limit))], Self.alert
            ).sorted { $0.sequence < $1.sequence }
        }
    }

    public func finishAlert(
        sequence: Int64, owner: String, status: AlertSendStatus, sentTo: [String], error: String?, nextAttemptAt: Date?,
        now: Date
    ) throws {
        _ = try write { db in
            try db.run(
                """
                UPDATE alerts SET status = ?, sent_to = ?, last_error = coalesce(?, last_error), next_attempt_at = ?,
                    attempts = attempts + 1,
                    sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END, lease_owner = NULL, lease_expires_at = NULL
                WHERE seq = ? AND lease_owner = ?
                """,
                [.text(status.rawValue), .text(sentTo.joined(separator: ",")), .from(error),
                 status == .pending ? .from(nextAttemptAt) : .null, .text(status.rawValue), .from(now),
                 .int(sequence), .text(owner)])
        }
    }

    public func abandonAlert(sequence: Int64, reason: String, now: Date) throws -> Bool {
        try write { db in
            try db.run(
                """
                UPDATE alerts SET status = 'unsent', last_error = ?, next_attempt_at = NULL
                WHERE seq = ? AND status = 'pending' AND (lease_expires_at IS NULL OR lease_expires_at < ?)
                """, [.text(reason), .int(sequence), .from(now)]) == 1
        }
    }
}
