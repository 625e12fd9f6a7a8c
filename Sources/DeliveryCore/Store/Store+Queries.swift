import Foundation

/// The read side of the log: every query bounded by a limit and served by an index.
extension Store {
    static let deliveryColumns = """
        d.id, m.id, d.endpoint_id, d.event_type, d.status, d.attempt_count, d.next_attempt_at, d.last_status_code,
        d.last_error, d.last_error_class, d.last_latency_ms, d.created_at, d.updated_at, d.manual_count
        """

    static func delivery(_ row: SQLiteRow) -> Delivery {
        Delivery(
            id: row.int64(0), messageId: row.text(1), endpointId: row.text(2), eventType: row.text(3),
            status: DeliveryStatus(rawValue: row.text(4)) ?? .dead, attemptCount: row.int(5),
            nextAttemptAt: row.optionalDate(6), lastStatusCode: row.optionalInt(7), lastError: row.optionalText(8),
            lastErrorClass: row.optionalText(9).flatMap(ErrorClass.init(rawValue:)),
            lastLatencyMilliseconds: row.optionalInt(10), createdAt: row.date(11), updatedAt: row.date(12),
            manualCount: row.int(13))
    }

    public func deliveries(_ query: DeliveryQuery) throws -> [Delivery] {
        var conditions: [String] = []
        var arguments: [SQLValue] = []
        if !query.statuses.isEmpty {
            conditions.append("d.status IN (\(query.statuses.map { _ in "?" }.joined(separator: ", ")))")
            arguments += query.statuses.map { .text($0.rawValue) }
        }
        if let endpointId = query.endpointId {
            conditions.append("d.endpoint_id = ?")
            arguments.append(.text(endpointId))
        }
        if let eventType = query.eventType {
            if eventType.hasSuffix(".*") {
                let prefix = String(eventType.dropLast(1))
                conditions.append("d.event_type >= ? AND d.event_type < ?")
                arguments += [.text(prefix), .text(prefix + "\u{10FFFF}")]
            } else {
                conditions.append("d.event_type = ?")
                arguments.append(.text(eventType))
            }
        }
        if let messageId = query.messageId {
            conditions.append("d.message_seq = (SELECT seq FROM messages WHERE id = ?)")
            arguments.append(.text(messageId))
        }
        if let before = query.before {
            conditions.append("d.id < ?")
            arguments.append(.int(before))
        }
        return try read { db in
            // Times become id bounds (ids grow with publishing): the first delivery of the first message at or after
            // the time, found through the messages' time index, so the walk down the ids stops there.
            // The first message at or after the time that has deliveries (one with none, or whose deliveries were
            // pruned, would give no bound).
            func firstId(atOrAfter date: Date) throws -> Int64? {
                try db.queryOne(
                    """
                    SELECT min(d.id) FROM deliveries d
                    WHERE d.message_seq = (
                        SELECT m.seq FROM messages m WHERE m.created_at >= ?
                            AND EXISTS (SELECT 1 FROM deliveries x WHERE x.message_seq = m.seq)
                        ORDER BY m.created_at, m.seq LIMIT 1)
                    """, [.from(date)], { $0.optionalInt64(0) }) ?? nil
            }
            var conditions = conditions
            var arguments = arguments
            var lowest: Int64?
            if let since = query.since {
                guard let first = try firstId(atOrAfter: since) else { return [] }
                lowest = first
            }
            if let until = query.until, let first = try firstId(atOrAfter: until) {
                conditions.append("d.id < ?")
                arguments.append(.int(first))
            }
            if let after = query.after {
                conditions.append("d.id > ?")
                arguments.append(.int(after))
            }
            let ranked = query.order == .slowest || query.order == .mostAttempts
            if ranked && lowest == nil {
                // Ranking has no index to walk: it looks through the newest deliveries only (or the `since` range).
                let newest = try db.scalar("SELECT coalesce(max(id), 0) FROM deliveries")
                lowest = max(0, newest - DeliveryQuery.textSearchWindow)
            }
            if let text = query.text?.lowercased(), !text.isEmpty {
                // A bounded scan: the newest deliveries only, unless `since` already bounds it.
                if lowest == nil {
                    let newest = try db.scalar("SELECT coalesce(max(id), 0) FROM deliveries")
                    lowest = max(0, newest - DeliveryQuery.textSearchWindow)
                }
                let pattern = "%" + text.replacingOccurrences(of: "\\", with: "\\\\")
                    .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%"
                conditions.append(
                    """
                    (lower(d.event_type) LIKE ? ESCAPE '\\' OR lower(coalesce(d.last_error, '')) LIKE ? ESCAPE '\\'
                        OR d.endpoint_id IN (SELECT id FROM endpoints
                            WHERE lower(description) LIKE ? ESCAPE '\\' OR lower(url) LIKE ? ESCAPE '\\'))
                    """)
                arguments += [.text(pattern), .text(pattern), .text(pattern), .text(pattern)]
            }
            if let lowest {
                conditions.append("d.id >= ?")
                arguments.append(.int(lowest))
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments.append(.from(max(1, min(query.limit, 10_000))))
            return try db.query(
                """
                SELECT \(Self.deliveryColumns) FROM deliveries d JOIN messages m ON m.seq = d.message_seq
                \(filter) ORDER BY \(query.order.sql) LIMIT ?
                """, arguments, Self.delivery)
        }
    }

    public func delivery(id: Int64) throws -> Delivery? {
        try read { db in
            try db.queryOne(
                """
                SELECT \(Self.deliveryColumns) FROM deliveries d JOIN messages m ON m.seq = d.message_seq
                WHERE d.id = ?
                """, [.int(id)], Self.delivery)
        }
    }

    public func retryQueue(_ query: RetryQueueQuery) throws -> [Delivery] {
        var conditions = ["d.status IN ('pending', 'retrying')"]
        var arguments: [SQLValue] = []
        if let endpointId = query.endpointId {
            conditions.append("d.endpoint_id = ?")
            arguments.append(.text(endpointId))
        }
        if let (at, id) = query.after {
            conditions.append("(d.next_attempt_at, d.id) > (?, ?)")
            arguments += [.from(at), .int(id)]
        }
        arguments.append(.from(max(1, min(query.limit, 10_000))))
        // Across endpoints, walk the queue index in order: without statistics SQLite prefers the status index and
        // sorts every waiting delivery (milliseconds on a large backlog); one endpoint's are served by deliveries_due.
        let index = query.endpointId == nil ? "INDEXED BY deliveries_queue" : ""
        return try read { db in
            try db.query(
                """
                SELECT \(Self.deliveryColumns) FROM deliveries d \(index) JOIN messages m ON m.seq = d.message_seq
                WHERE \(conditions.joined(separator: " AND ")) ORDER BY d.next_attempt_at, d.id LIMIT ?
                """, arguments, Self.delivery)
        }
    }

    public func failureGroups(endpointId: String?, limit: Int) throws -> [FailureGroup] {
        try read { db in
            try db.query(
                """
                SELECT f.endpoint_id, e.url, f.error_class, f.status_code, f.dead, f.retrying, f.last_at, f.last_error
                FROM failure_groups f JOIN endpoints e ON e.id = f.endpoint_id
                WHERE (f.dead > 0 OR f.retrying > 0) AND (?1 IS NULL OR f.endpoint_id = ?1)
                ORDER BY f.dead + f.retrying DESC, f.last_at DESC LIMIT ?2
                """, [.from(endpointId), .from(max(1, min(limit, 1000)))]
            ) { row in
                FailureGroup(
                    endpointId: row.text(0), endpointURL: row.text(1),
                    errorClass: ErrorClass(rawValue: row.text(2)), statusCode: row.int(3) == 0 ? nil : row.int(3),
                    count: row.int(4) + row.int(5), dead: row.int(4), retrying: row.int(5), lastAt: row.date(6),
                    lastError: row.optionalText(7))
            }
        }
    }

    public func failureSamples(endpointId: String, errorClass: ErrorClass?, statusCode: Int?, limit: Int) throws
        -> [Delivery]
    {
        try read { db in
            try db.query(
                """
                SELECT \(Self.deliveryColumns) FROM deliveries d JOIN messages m ON m.seq = d.message_seq
                WHERE d.endpoint_id = ? AND d.last_error_class IS ? AND d.last_status_code IS ?
                    AND d.status IN ('dead', 'retrying')
                ORDER BY d.id DESC LIMIT ?
                """,
                [
                    .text(endpointId), .from(errorClass?.rawValue), .from(statusCode),
                    .from(max(1, min(limit, 10_000))),
                ], Self.delivery)
        }
    }

    public func messages(eventType: String?, before: Int64?, limit: Int) throws -> [MessageSummary] {
        var conditions: [String] = []
        var arguments: [SQLValue] = []
        if let eventType {
            conditions.append("event_type = ?")
            arguments.append(.text(eventType))
        }
        if let before {
            conditions.append("seq < ?")
            arguments.append(.int(before))
        }
        arguments.append(.from(max(1, min(limit, 1000))))
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try read { db in
            let rows = try db.query(
                "SELECT seq, \(Self.messageColumns) FROM messages \(filter) ORDER BY seq DESC LIMIT ?", arguments
            ) { row in (row.int64(0), Self.message(row, offset: 1)) }
            return try rows.map { sequence, message in
                var counts = StatusCounts()
                for (status, count) in try db.query(
                    "SELECT status, count(*) FROM deliveries WHERE message_seq = ? GROUP BY status", [.int(sequence)],
                    { ($0.text(0), $0.int(1)) })
                {
                    if let status = DeliveryStatus(rawValue: status) { counts[status] = count }
                }
                return MessageSummary(
                    message: message, sequence: sequence,
                    deliveryCount: DeliveryStatus.allCases.reduce(0) { $0 + counts[$1] }, delivered: counts.delivered,
                    failing: counts.retrying, dead: counts.dead)
            }
        }
    }

    public func deliveryDetail(id: Int64) throws -> DeliveryDetail? {
        guard let delivery = try delivery(id: id) else { return nil }
        return try read { db in
            guard
                let message = try db.queryOne(
                    "SELECT \(Self.messageColumns) FROM messages WHERE id = ?", [.text(delivery.messageId)],
                    { Self.message($0) }),
                let endpoint = try db.queryOne(
                    "SELECT \(Self.endpointColumns) FROM endpoints WHERE id = ?", [.text(delivery.endpointId)],
                    Self.endpoint)
            else { return nil }
            let attempts = try db.query(
                "SELECT \(Self.attemptColumns) FROM attempts WHERE delivery_id = ? ORDER BY number, id", [.int(id)],
                Self.attempt)
            let delays = try db.queryOne(
                "SELECT retry_delays FROM workers WHERE retry_delays IS NOT NULL ORDER BY heartbeat_at DESC LIMIT 1", []
            ) { $0.text(0) }
            return DeliveryDetail(
                delivery: delivery, message: message, endpoint: endpoint, attempts: attempts,
                // The endpoint's own schedule, when it has one, is the one its attempts count against.
                maxAttempts: endpoint.connection.retrySchedule?.maxAttempts ?? delays.map { $0.split(separator: ",").count + 1 })
        }
    }

    static let attemptColumns = """
        id, delivery_id, number, trigger, started_at, duration_ms, request_headers, response_status,
        response_headers, response_body, error_class, error_message
        """

    static func attempt(_ row: SQLiteRow) -> Attempt {
        Attempt(
            id: row.int64(0), deliveryId: row.int64(1), number: row.int(2),
            trigger: AttemptTrigger(rawValue: row.text(3)) ?? .scheduled, startedAt: row.date(4),
            durationMilliseconds: row.int(5), requestHeaders: HeaderCoding.decode(row.text(6)),
            responseStatus: row.optionalInt(7), responseHeaders: HeaderCoding.decode(row.optionalText(8)),
            responseBodyExcerpt: row.optionalText(9), errorClass: row.optionalText(10).flatMap(ErrorClass.init),
            errorMessage: row.optionalText(11))
    }

    /// A delivery's attempts, oldest first.
    public func attempts(deliveryId: Int64) throws -> [Attempt] {
        try read { db in
            try db.query(
                "SELECT \(Self.attemptColumns) FROM attempts WHERE delivery_id = ? ORDER BY number, id",
                [.int(deliveryId)], Self.attempt)
        }
    }

    /// Deliveries per status across all endpoints, from the counters the triggers keep (a few rows, no log scan).
    public func statusTotals() throws -> StatusCounts {
        try read { db in try statusTotals(db) }
    }

    func statusTotals(_ db: Connection) throws -> StatusCounts {
        var totals = StatusCounts()
        for counts in try statusCounts(db).values {
            for status in DeliveryStatus.allCases { totals[status] += counts[status] }
        }
        return totals
    }

    /// Deliveries per status for every endpoint, from the counters the triggers keep.
    func statusCounts(_ db: Connection) throws -> [String: StatusCounts] {
        var result: [String: StatusCounts] = [:]
        for (endpointId, status, count) in try db.query(
            "SELECT endpoint_id, status, n FROM delivery_counts", [], { ($0.text(0), $0.text(1), $0.int(2)) })
        {
            if let status = DeliveryStatus(rawValue: status) { result[endpointId, default: StatusCounts()][status] = count }
        }
        return result
    }

    /// Per-endpoint attempt stats since `since`, from the per-minute buckets.
    func windowStats(_ db: Connection, since: Date) throws -> [String: WindowStats] {
        let buckets = (0..<LatencyBuckets.count).map { "sum(h\($0))" }.joined(separator: ", ")
        let rows = try db.query(
            """
            SELECT endpoint_id, sum(attempts), sum(successes), sum(failures), \(buckets)
            FROM stats_minute WHERE minute >= ? GROUP BY endpoint_id
            """, [.int(since.milliseconds / 60_000)]
        ) { row in
            let histogram = (0..<LatencyBuckets.count).map { row.int(Int32(4 + $0)) }
            return (row.text(0), Self.stats(attempts: row.int(1), successes: row.int(2), failures: row.int(3), histogram))
        }
        return Dictionary(rows, uniquingKeysWith: { first, _ in first })
    }

    static func stats(attempts: Int, successes: Int, failures: Int, _ histogram: [Int]) -> WindowStats {
        var stats = WindowStats()
        stats.attempts = attempts
        stats.successes = successes
        stats.failures = failures
        stats.p50Milliseconds = LatencyBuckets.quantile(0.5, histogram: histogram)
        stats.p95Milliseconds = LatencyBuckets.quantile(0.95, histogram: histogram)
        stats.p99Milliseconds = LatencyBuckets.quantile(0.99, histogram: histogram)
        return stats
    }

    public func endpointSummaries(now: Date) throws -> [EndpointSummary] {
        try read { db in
            let counts = try statusCounts(db)
            let recent = try windowStats(db, since: now.addingTimeInterval(-300))
            let actions = try Self.lastEndpointActions(db)
            return try db.query(
                """
                SELECT \(Self.endpointColumns), last_error, last_attempt_at, failing_since, last_success_at
                FROM endpoints ORDER BY created_at, id
                """, []
            ) { row in
                let endpoint = Self.endpoint(row)
                return EndpointSummary(
                    endpoint: endpoint, counts: counts[endpoint.id] ?? StatusCounts(),
                    recent: recent[endpoint.id] ?? WindowStats(), lastError: row.optionalText(16),
                    lastAttemptAt: row.optionalDate(17), failingSince: row.optionalDate(18),
                    lastSuccessAt: row.optionalDate(19), lastAction: actions[endpoint.id])
            }
        }
    }

    /// When the oldest due delivery of an active endpoint was due; nil when none is due at `now`. Per active endpoint,
    /// the first entry of its due index: held deliveries (paused, disabled) are skipped without being read.
    static func oldestDueAt(_ db: Connection, now: Date) throws -> Date? {
        let oldest = try db.queryOne(
            """
            SELECT min((SELECT min(d.next_attempt_at) FROM deliveries d
                WHERE d.endpoint_id = e.id AND d.status IN ('pending', 'retrying')))
            FROM endpoints e WHERE e.status = 'active'
            """, [], { $0.optionalDate(0) }) ?? nil
        return oldest.flatMap { $0 <= now ? $0 : nil }
    }

    public func overview(now: Date) throws -> Overview {
        let workers = try workers()
        return try read { db in
            let totals = try statusTotals(db)
            let nowMinute = now.milliseconds / 60_000
            let buckets = (0..<LatencyBuckets.count).map { "sum(h\($0))" }.joined(separator: ", ")
            let recent = try db.queryOne(
                "SELECT sum(attempts), sum(successes), sum(failures), \(buckets) FROM stats_minute WHERE minute >= ?",
                [.int(nowMinute - 4)]
            ) { row in
                Self.stats(
                    attempts: row.int(0), successes: row.int(1), failures: row.int(2),
                    (0..<LatencyBuckets.count).map { row.int(Int32(3 + $0)) })
            } ?? WindowStats()
            var throughput = [Int](repeating: 0, count: 30)
            var lastMinuteSuccesses = 0
            for (minute, attempts, successes) in try db.query(
                "SELECT minute, sum(attempts), sum(successes) FROM stats_minute WHERE minute > ? GROUP BY minute",
                [.int(nowMinute - 30)], { ($0.int64(0), $0.int(1), $0.int(2)) })
            {
                let index = Int(minute - (nowMinute - 29))
                if (0..<30).contains(index) { throughput[index] = attempts }
                if minute >= nowMinute - 1 { lastMinuteSuccesses += successes }
            }
            // The previous full minute plus the seconds elapsed of this one.
            let elapsed = 60 + Double(now.milliseconds % 60_000) / 1000
            let statuses = try db.query("SELECT status, count(*) FROM endpoints GROUP BY status", []) {
                ($0.text(0), $0.int(1))
            }
            let byStatus = Dictionary(uniqueKeysWithValues: statuses)
            let oldestDue = try Self.oldestDueAt(db, now: now)
            var overview = Overview(
                workers: workers, deliveriesPerSecond: Double(lastMinuteSuccesses) / elapsed, recent: recent,
                totals: totals, endpointCount: byStatus.values.reduce(0, +),
                pausedEndpoints: byStatus["paused"] ?? 0, disabledEndpoints: byStatus["disabled"] ?? 0,
                throughput: throughput, writeProblem: writeProblem(),
                oldestDueAt: oldestDue)
            overview.recentAlerts = try Self.alerts(db, before: nil, limit: Overview.recentAlertLimit)
            // Each dispatcher's own counters (a range of the primary key each), for the dispatchers with a heartbeat row.
            let perWorker = try db.query(
                """
                SELECT id, (SELECT sum(attempts) FROM worker_minute WHERE worker_id = workers.id AND minute >= ?)
                FROM workers
                """, [.int(nowMinute - 4)], { ($0.text(0), $0.optionalInt(1)) })
            overview.recentAttemptsByWorker = Dictionary(
                perWorker.compactMap { id, attempts in attempts.map { (id, $0) } }, uniquingKeysWith: +)
            return overview
        }
    }

    public func recoveryProgress(endpointId: String) throws -> RecoveryProgress? {
        try read { db in
            guard
                let (id, at, total) = try db.queryOne(
                    "SELECT id, at, total FROM recoveries WHERE endpoint_id = ? ORDER BY id DESC LIMIT 1",
                    [.text(endpointId)], { ($0.int64(0), $0.date(1), $0.int(2)) })
            else { return nil }
            let byStatus = try db.query(
                """
                SELECT d.status, count(*) FROM recovery_deliveries r JOIN deliveries d ON d.id = r.delivery_id
                WHERE r.recovery_id = ? GROUP BY d.status
                """, [.int(id)], { ($0.text(0), $0.int(1)) })
            let counts = Dictionary(byStatus, uniquingKeysWith: +)
            let topError = try db.queryOne(
                """
                SELECT coalesce(d.last_error_class, 'error'), count(*) AS n FROM recovery_deliveries r
                JOIN deliveries d ON d.id = r.delivery_id
                WHERE r.recovery_id = ? AND d.status IN ('dead', 'retrying') GROUP BY 1 ORDER BY n DESC LIMIT 1
                """, [.int(id)], { $0.text(0) })
            let waiting = (counts["pending"] ?? 0) + (counts["inflight"] ?? 0)
            let delivered = counts["delivered"] ?? 0
            let failed = (counts["dead"] ?? 0) + (counts["retrying"] ?? 0)
            return RecoveryProgress(
                endpointId: endpointId, startedAt: at, total: total, waiting: waiting, delivered: delivered,
                failed: failed, other: max(0, total - waiting - delivered - failed), topError: topError)
        }
    }

    public func recoverableCount(endpointId: String, since: Date) throws -> Int {
        try read { db in
            guard let endpoint = try db.queryOne(
                "SELECT \(Self.endpointColumns) FROM endpoints WHERE id = ?", [.text(endpointId)], Self.endpoint)
            else { throw HooktopError.notFound("endpoint", endpointId) }
            return try Int(Self.deadSince(db, endpointId: endpointId, since: since, count: true).first ?? 0)
                + Self.missedMessages(db, endpoint: endpoint, since: since).count
        }
    }

    /// Dead deliveries of an endpoint created since `since` (their ids, or with `count` their number).
    static func deadSince(_ db: Connection, endpointId: String, since: Date, count: Bool) throws -> [Int64] {
        try db.query(
            """
            SELECT \(count ? "count(*)" : "id") FROM deliveries
            WHERE endpoint_id = ? AND status IN ('dead', 'retrying') AND status = 'dead' AND created_at >= ?
            """, [.text(endpointId), .from(since)], { $0.int64(0) })
    }

    /// Messages since `since` (and since the endpoint existed) that the endpoint accepts but never got.
    static func missedMessages(_ db: Connection, endpoint: Endpoint, since: Date) throws -> [Int64] {
        try db.query(
            """
            SELECT m.seq, m.event_type FROM messages m
            WHERE m.created_at >= ? AND NOT EXISTS (
                SELECT 1 FROM deliveries d WHERE d.message_seq = m.seq AND d.endpoint_id = ?)
            """, [.from(max(since, endpoint.createdAt)), .text(endpoint.id)]
        ) { ($0.int64(0), $0.text(1)) }
        .filter { endpoint.accepts(eventType: $0.1) }
        .map(\.0)
    }
}

extension DeliveryOrder {
    /// The `ORDER BY` of a page of deliveries `d` (both engines).
    var sql: String {
        switch self {
        case .newest: "d.id DESC"
        case .oldest: "d.id ASC"
        case .slowest: "coalesce(d.last_latency_ms, -1) DESC, d.id DESC"
        case .mostAttempts: "d.attempt_count DESC, d.id DESC"
        }
    }
}
