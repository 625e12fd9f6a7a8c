import Foundation
import PostgresNIO

/// Alerts recorded once across processes, retention by whole days, and `doctor`'s checks and repairs.
extension PostgresEngine {
    // MARK: Alerts

    /// See `AlertLog.recordAlert`. The check for a recent alert and the insert run under a transaction-scoped
    /// advisory lock of the alert's type and object, so that of several processes finding it at once one records
    /// it (a transaction lock, unlike a session one, also holds through PgBouncer's transaction pooling).
    public func recordAlert(_ alert: NewAlert, status: AlertSendStatus, leasedTo owner: String?, now: Date) async throws
        -> Alert?
    {
        let id = Identifier.makeOrdered("alrt", now: now)
        let at = now.milliseconds
        let debounceFrom = alert.debounce.map { now.addingTimeInterval(-$0).milliseconds } ?? Int64.max
        let leaseUntil = owner == nil ? nil : now.addingTimeInterval(Alert.sendLease).milliseconds
        let next: Int64? = status == .pending ? at : nil
        return try await write { connection in
            try await connection.query(
                "SELECT pg_advisory_xact_lock(\(PostgresSchema.lockNamespace), hashtext(\(alert.type.rawValue + " " + alert.objectId)))",
                logger: logger)
            guard
                let sequence = try await rows(
                    """
                    INSERT INTO alerts (id, type, object_id, dedup_key, at, summary, details, status, next_attempt_at,
                        lease_owner, lease_expires_at)
                    SELECT \(id), \(alert.type.rawValue), \(alert.objectId), \(alert.key), \(at), \(alert.summary),
                        \(alert.details), \(status.rawValue), \(next), \(owner), \(leaseUntil)
                    WHERE NOT EXISTS (SELECT 1 FROM alerts WHERE type = \(alert.type.rawValue)
                        AND object_id = \(alert.objectId) AND at > \(debounceFrom))
                    ON CONFLICT (type, object_id, dedup_key) DO NOTHING
                    RETURNING seq
                    """, on: connection
                ).first?.int64(0)
            else { return nil }
            return Alert(
                sequence: sequence, id: id, type: alert.type, objectId: alert.objectId, at: Date(milliseconds: at),
                summary: alert.summary, details: alert.details, status: status, nextAttemptAt: next.map { Date(milliseconds: $0) })
        }
    }

    static let alertColumns = """
        seq, id, type, object_id, at, summary, details, status, attempts, next_attempt_at, last_error, sent_at, sent_to
        """

    static func alert(_ row: PGRow) throws -> Alert {
        Alert(
            sequence: try row.int64(0), id: try row.text(1), type: AlertType(rawValue: try row.text(2)) ?? .test,
            objectId: try row.text(3), at: try row.date(4), summary: try row.text(5), details: try row.text(6),
            status: AlertSendStatus(rawValue: try row.text(7)) ?? .failed, attempts: try row.int(8),
            nextAttemptAt: try row.optionalDate(9), lastError: try row.optionalText(10), sentAt: try row.optionalDate(11),
            sentTo: try row.text(12).split(separator: ",").map(String.init))
    }

    public func claimAlerts(owner: String, now: Date, lease: TimeInterval, limit: Int) async throws -> [Alert] {
        try await write { connection in
            try await rows(
                """
                UPDATE alerts SET lease_owner = \(owner), lease_expires_at = \(now.addingTimeInterval(lease).milliseconds)
                WHERE seq IN (SELECT seq FROM alerts WHERE status = 'pending' AND next_attempt_at <= \(now.milliseconds)
                    AND (lease_expires_at IS NULL OR lease_expires_at < \(now.milliseconds))
                    ORDER BY next_attempt_at LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                RETURNING \(unescaped: Self.alertColumns)
                """, on: connection
            ).map(Self.alert).sorted { $0.sequence < $1.sequence }
        }
    }

    public func finishAlert(
        sequence: Int64, owner: String, status: AlertSendStatus, sentTo: [String], error: String?, nextAttemptAt: Date?,
        now: Date
    ) async throws {
        let next = status == .pending ? nextAttemptAt?.milliseconds : nil
        try await write { connection in
            try await execute(
                """
                UPDATE alerts SET status = \(status.rawValue), sent_to = \(sentTo.joined(separator: ",")),
                    last_error = coalesce(\(error.map(Self.storable)), last_error), next_attempt_at = \(next),
                    attempts = attempts + 1,
                    sent_at = CASE WHEN \(status == .sent) THEN \(now.milliseconds) ELSE sent_at END,
                    lease_owner = NULL, lease_expires_at = NULL
                WHERE seq = \(sequence) AND lease_owner = \(owner)
                """, on: connection)
        }
    }

    public func abandonAlert(sequence: Int64, reason: String, now: Date) async throws -> Bool {
        try await write { connection in
            try await !rows(
                """
                UPDATE alerts SET status = 'unsent', last_error = \(reason), next_attempt_at = NULL
                WHERE seq = \(sequence) AND status = 'pending'
                    AND (lease_expires_at IS NULL OR lease_expires_at < \(now.milliseconds))
                RETURNING 1
                """, on: connection
            ).isEmpty
        }
    }

    // MARK: Retention

    /// The day partitions of `parent`, oldest first: table name and the day's first millisecond.
    func partitions(of parent: String) async throws -> [(name: String, start: Int64)] {
        try await rows(
            """
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
            WHERE p.relname = \(parent) ORDER BY c.relname
            """
        ).compactMap { row in
            let name = try row.text(0)
            guard let day = Self.dayStart(ofPartition: name) else { return nil }
            return (name, day)
        }
    }

    /// `deliveries_20261202` → the first millisecond of 2026-12-02 (UTC).
    static func dayStart(ofPartition name: String) -> Int64? {
        let digits = name.split(separator: "_").last.map(String.init) ?? ""
        guard digits.count == 8, let year = Int(digits.prefix(4)), let month = Int(digits.dropFirst(4).prefix(2)),
            let day = Int(digits.suffix(2))
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: DateComponents(year: year, month: month, day: day)) else { return nil }
        return date.milliseconds
    }

    /// Deletes messages older than `before` whose every delivery was delivered (as on SQLite). A day whose every
    /// delivery was delivered goes whole: its partitions of messages and deliveries are dropped, and those of
    /// attempts once no delivery of that day or before is left; other days are pruned row by row.
    public func prune(before: Date, now: Date, by actor: Principal) async throws -> Int {
        let cutoff = before.milliseconds
        var removed = 0
        var droppedDays: [String] = []
        let deliveryDays = Dictionary(try await partitions(of: "deliveries").map { ($0.start, $0.name) }, uniquingKeysWith: { a, _ in a })
        for (name, start) in try await partitions(of: "messages") where start + 86_400_000 <= cutoff {
            guard let deliveries = deliveryDays[start] else { continue }
            let day = String(name.split(separator: "_").last ?? "")
            removed += try await write { connection -> Int in
                let unfinished = try await rows(
                    """
                    SELECT 1 FROM \(unescaped: deliveries) WHERE status IN ('pending', 'retrying', 'dead', 'cancelled')
                    LIMIT 1
                    """, on: connection)
                if unfinished.isEmpty {
                    let count = try await rows("SELECT count(*) FROM \(unescaped: name)", on: connection).first?.int(0) ?? 0
                    // The counters forget what leaves (as SQLite's delete trigger does).
                    var moves = StatusMoves()
                    for row in try await rows(
                        "SELECT endpoint_id, count(*) FROM \(unescaped: deliveries) GROUP BY endpoint_id", on: connection)
                    {
                        moves.insert(try row.text(0), status: .delivered, count: -(try row.int(1)))
                    }
                    try await applyCounts(moves, on: connection)
                    try await execute("DROP TABLE \(unescaped: name), \(unescaped: deliveries)", on: connection)
                    droppedDays.append(day)
                    return count
                }
                return try await rows(
                    """
                    DELETE FROM \(unescaped: name) m WHERE NOT EXISTS (
                        SELECT 1 FROM \(unescaped: deliveries) d WHERE d.message_seq = m.seq AND d.status <> 'delivered')
                    RETURNING seq
                    """, on: connection
                ).count
            }
        }
        try await write { connection in
            // Deliveries of messages pruned row by row, and their attempts.
            var moves = StatusMoves()
            for row in try await rows(
                """
                DELETE FROM deliveries d WHERE d.message_created_at < \(cutoff) AND NOT EXISTS (
                    SELECT 1 FROM messages m
                    WHERE m.seq = d.message_seq AND m.created_at = d.message_created_at AND m.created_at < \(cutoff))
                RETURNING endpoint_id, status
                """, on: connection)
            {
                moves.insert(try row.text(0), status: DeliveryStatus(rawValue: try row.text(1)) ?? .delivered, count: -1)
            }
            try await applyCounts(moves, on: connection)
            // The days before the cutoff only: a later delivery would not lower `min(cutoff, oldest)`.
            let oldest = try await rows(
                "SELECT min(message_created_at) FROM deliveries WHERE message_created_at < \(cutoff)", on: connection
            ).first?.optionalInt64(0)
            for (name, start) in try await partitions(of: "attempts")
            where start + 86_400_000 <= min(cutoff, oldest ?? Int64.max) {
                try await execute("DROP TABLE \(unescaped: name)", on: connection)
            }
            try await execute(
                """
                DELETE FROM attempts a WHERE a.started_at < \(cutoff) AND NOT EXISTS (
                    -- An attempt started after its message was published: its delivery is of an earlier day.
                    SELECT 1 FROM deliveries d WHERE d.id = a.delivery_id AND d.message_created_at < \(cutoff))
                """, on: connection)
            try await execute(
                """
                DELETE FROM message_keys k WHERE k.message_created_at < \(cutoff) AND NOT EXISTS (
                    SELECT 1 FROM messages m
                    WHERE m.seq = k.message_seq AND m.created_at = k.message_created_at AND m.created_at < \(cutoff))
                """, on: connection)
            try await execute("DELETE FROM stats_minute WHERE minute < \(cutoff / 60_000)", on: connection)
            try await execute("DELETE FROM alerts WHERE at < \(cutoff) AND status <> 'pending'", on: connection)
            try await audit(
                connection, "log.prune", "log", "messages",
                "before \(ISO8601DateFormatter().string(from: before)): \(removed) removed"
                    + (droppedDays.isEmpty ? "" : " (days dropped whole: \(droppedDays.joined(separator: ", ")))"),
                actor, now)
        }
        return removed
    }

    // MARK: doctor

    /// Checks the log's invariants (see `Store.checkup`), with PostgreSQL's own: every waiting delivery queued and
    /// nothing else, partitions made ahead.
    public func checkup(now: Date) async throws -> [CheckFinding] {
        var found: [CheckFinding] = []
        let version = try await rows("SELECT max(version) FROM hooktop_schema").first?.optionalInt(0) ?? 0
        found.append(.schema(version, writes: PostgresSchema.version))
        let counted = Dictionary(
            try await rows("SELECT endpoint_id || ' ' || status, count(*) FROM deliveries GROUP BY endpoint_id, status")
                .map { (try $0.text(0), try $0.int(1)) }, uniquingKeysWith: +)
        let kept = Dictionary(
            try await rows(
                "SELECT endpoint_id || ' ' || status, sum(n)::bigint FROM delivery_counts GROUP BY endpoint_id, status HAVING sum(n) <> 0"
            ).map { (try $0.text(0), try $0.int(1)) }, uniquingKeysWith: +)
        found.append(.counters(counted: counted, kept: kept))
        let groups = Dictionary(
            try await rows(
                """
                SELECT endpoint_id || ' ' || coalesce(last_error_class, '') || ' ' || coalesce(last_status_code, 0),
                    (count(*) FILTER (WHERE status = 'dead')) || '/' || (count(*) FILTER (WHERE status = 'retrying'))
                FROM deliveries WHERE status IN ('dead', 'retrying')
                GROUP BY endpoint_id, coalesce(last_error_class, ''), coalesce(last_status_code, 0)
                """
            ).map { (try $0.text(0), try $0.text(1)) }, uniquingKeysWith: { $1 })
        let keptGroups = Dictionary(
            try await rows(
                """
                SELECT endpoint_id || ' ' || error_class || ' ' || status_code, sum(dead) || '/' || sum(retrying)
                FROM failure_groups GROUP BY endpoint_id, error_class, status_code
                HAVING sum(dead) <> 0 OR sum(retrying) <> 0
                """
            ).map { (try $0.text(0), try $0.text(1)) }, uniquingKeysWith: { $1 })
        found.append(.failureGroups(counted: groups, kept: keptGroups))
        let unqueued = try await rows(
            """
            SELECT count(*) FROM deliveries d WHERE d.status IN ('pending', 'retrying')
                AND NOT EXISTS (SELECT 1 FROM delivery_queue q WHERE q.delivery_id = d.id)
            """
        ).first?.int(0) ?? 0
        let stray = try await rows(
            """
            SELECT count(*) FROM delivery_queue q WHERE NOT EXISTS (
                SELECT 1 FROM deliveries d WHERE d.id = q.delivery_id AND d.message_created_at = q.message_created_at
                    AND d.status IN ('pending', 'retrying'))
            """
        ).first?.int(0) ?? 0
        found.append(
            unqueued == 0 && stray == 0
                ? CheckFinding(check: "queue", verdict: .ok, detail: "every waiting delivery is queued, and nothing else")
                : CheckFinding(
                    check: "queue", verdict: .problem,
                    detail: "\(unqueued) waiting deliveries not queued, \(stray) queue rows of finished or missing deliveries",
                    repairable: true))
        let staleBefore = now.addingTimeInterval(-WorkerInfo.staleAfter).milliseconds
        let orphaned = try await rows(
            """
            SELECT count(*) FROM delivery_queue WHERE lease_owner LIKE 'w:%' AND available_at > \(now.milliseconds)
                AND lease_owner NOT IN (SELECT id FROM workers WHERE heartbeat_at >= \(staleBefore))
            """
        ).first?.int(0) ?? 0
        found.append(
            orphaned == 0
                ? CheckFinding(check: "leases", verdict: .ok, detail: "every leased delivery has a live holder")
                : CheckFinding(
                    check: "leases", verdict: .problem,
                    detail: "\(orphaned) leased deliver\(orphaned == 1 ? "y's" : "ies'") dispatcher is gone (they come back when the lease runs out)",
                    repairable: true))
        let alive = try await !rows("SELECT 1 FROM workers WHERE heartbeat_at >= \(staleBefore) LIMIT 1").isEmpty
        let oldestDue = try await rows(
            """
            SELECT min(q.available_at) FROM delivery_queue q JOIN endpoints e ON e.id = q.endpoint_id
            WHERE e.status = 'active' AND q.available_at <= \(now.milliseconds)
            """
        ).first?.optionalInt64(0)
        let overdue = oldestDue.map { max(0, Int((now.milliseconds - $0) / 1000)) } ?? 0
        found.append(.dueWork(overdueSeconds: overdue, dispatcherAlive: alive))
        let tomorrow = Date(milliseconds: now.milliseconds + 86_400_000)
        let ahead = try await partitions(of: "deliveries").contains { $0.start <= tomorrow.milliseconds && tomorrow.milliseconds < $0.start + 86_400_000 }
        found.append(
            ahead
                ? CheckFinding(check: "partitions", verdict: .ok, detail: "tomorrow's partitions exist")
                : CheckFinding(
                    check: "partitions", verdict: .problem,
                    detail: "no partition for tomorrow: publishes will fail after midnight UTC (the `serve` leading maintenance makes them ahead; --repair now)",
                    repairable: true))
        return found
    }

    /// Counts the deliveries per endpoint and status into an empty `delivery_counts`, as one `recount` writer.
    static let recountStatusCounters = """
        INSERT INTO delivery_counts (endpoint_id, status, writer_id, n)
        SELECT endpoint_id, status, 'recount', count(*) FROM deliveries GROUP BY endpoint_id, status
        """

    /// Fixes what is safe to fix: recounts counters and failure groups (other writers wait meanwhile), queues waiting
    /// deliveries the queue lost and drops queue rows of finished ones, releases leases of dispatchers that are gone,
    /// makes the partitions ahead. Audited.
    public func repair(now: Date, by actor: Principal) async throws -> [String] {
        let before = try await checkup(now: now)
        func broken(_ check: String) -> Bool { before.contains { $0.check == check && $0.verdict == .problem } }
        var done: [String] = []
        if broken("counters") || broken("failure_groups") {
            try await write { connection in
                // Writers' deltas wait for this transaction; a delta committed before it is in the count, one committed
                // after it is not.
                try await execute(
                    "LOCK TABLE delivery_counts, failure_groups IN SHARE ROW EXCLUSIVE MODE", on: connection)
                try await execute("DELETE FROM delivery_counts", on: connection)
                try await execute(PostgresQuery(unsafeSQL: Self.recountStatusCounters), on: connection)
                try await execute("DELETE FROM failure_groups", on: connection)
                try await execute(
                    """
                    INSERT INTO failure_groups (endpoint_id, error_class, status_code, writer_id, dead, retrying, last_at,
                        last_error)
                    SELECT endpoint_id, coalesce(last_error_class, ''), coalesce(last_status_code, 0), 'recount',
                        count(*) FILTER (WHERE status = 'dead'), count(*) FILTER (WHERE status = 'retrying'),
                        max(updated_at), (array_agg(last_error ORDER BY updated_at DESC))[1]
                    FROM deliveries WHERE status IN ('dead', 'retrying')
                    GROUP BY endpoint_id, coalesce(last_error_class, ''), coalesce(last_status_code, 0)
                    """, on: connection)
            }
            done.append("recounted the status counters and failure groups from the log")
        }
        if broken("queue") {
            try await write { connection in
                try await execute(
                    """
                    INSERT INTO delivery_queue (delivery_id, message_created_at, endpoint_id, available_at)
                    SELECT d.id, d.message_created_at, d.endpoint_id, \(now.milliseconds) FROM deliveries d
                    WHERE d.status IN ('pending', 'retrying')
                        AND NOT EXISTS (SELECT 1 FROM delivery_queue q WHERE q.delivery_id = d.id)
                    """, on: connection)
                try await execute(
                    """
                    DELETE FROM delivery_queue q WHERE NOT EXISTS (
                        SELECT 1 FROM deliveries d WHERE d.id = q.delivery_id AND d.message_created_at = q.message_created_at
                            AND d.status IN ('pending', 'retrying'))
                    """, on: connection)
            }
            done.append("queued the waiting deliveries the queue had lost and dropped the queue rows of finished ones")
        }
        if broken("leases") {
            let released = try await releaseLeases(owner: nil, now: now)
            done.append("released \(released) lease\(released == 1 ? "" : "s") of dispatchers that are gone: those deliveries are sent again")
        }
        if broken("partitions") {
            try await makePartitionsAhead(now: now)
            done.append("made the partitions of the days ahead")
        }
        if !done.isEmpty {
            try await recordAudit(action: "log.repair", objectType: "log", objectId: "", detail: done.joined(separator: "; "), now: now, by: actor)
        }
        return done
    }
}
