import Foundation
import PostgresNIO
import Synchronization

/// The read side of the PostgreSQL log: the same results as the SQLite engine's for the same log, each read one or a
/// few short autocommit statements (no snapshot held between them), each list keyset-paged and index-served.
///
/// Two things differ from SQLite's layout, and the reads make up for them:
/// - "In flight" is not a status of `deliveries` but a leased queue row whose lease runs to a time to come
///   (`delivery_queue.available_at > now`, `lease_owner` set). Such a delivery is shown `inflight` without a next
///   attempt; one whose lease ran out is claimable again and shows its stored status, due at `available_at`. A
///   waiting delivery's next attempt is its queue row's `available_at`.
/// - Lists take their page of deliveries first (an index walk of the day partitions, merged), then join that page's
///   messages and queue rows, so that a page costs its rows, however many partitions the log has.
extension PostgresEngine: DeliveryLogReader {
    // MARK: Deliveries

    /// The delivery columns of a page `d` joined with its message `m` and its queue row `q` (see `delivery(_:now:)`).
    static let deliveryColumns = """
        d.id, m.id, d.endpoint_id, d.event_type, d.status, d.attempt_count, q.available_at, q.lease_owner, \
        d.last_status_code, d.last_error, d.last_error_class, d.last_latency_ms, d.created_at, d.updated_at, \
        d.manual_count
        """

    /// A page `d` (a subquery of `deliveries` rows) with its messages and queue rows.
    static func deliveryPage(_ page: String, order: String) -> String {
        """
        SELECT \(deliveryColumns) FROM (\(page)) d
        \(joinMessage)
        LEFT JOIN LATERAL (\(queueRow)) q ON true
        ORDER BY \(order)
        """
    }

    /// The queue row of a delivery `d`, if it is waiting (by the queue's primary key, once per row, as `joinMessage`).
    static let queueRow = "SELECT available_at, lease_owner FROM delivery_queue WHERE delivery_id = d.id LIMIT 1"

    /// The message `m` of each delivery `d` of a page, found by its key in its day. A lateral subquery with a limit
    /// is run once per row of the page, by index: the planner could otherwise hash a whole small log to join a page.
    static let joinMessage = """
        CROSS JOIN LATERAL (SELECT id FROM messages
            WHERE seq = d.message_seq AND created_at = d.message_created_at LIMIT 1) m
        """

    /// A delivery as of `now`: a queue row leased until after `now` makes it in flight.
    static func delivery(_ row: PGRow, now: Int64) throws -> Delivery {
        var status = DeliveryStatus(rawValue: try row.text(4)) ?? .dead
        var next = try row.optionalInt64(6)
        if let due = next, try row.optionalText(7) != nil, due > now {
            status = .inflight
            next = nil
        }
        return Delivery(
            id: try row.int64(0), messageId: try row.text(1), endpointId: try row.text(2), eventType: try row.text(3),
            status: status, attemptCount: try row.int(5), nextAttemptAt: next.map { Date(milliseconds: $0) },
            lastStatusCode: try row.optionalInt(8), lastError: try row.optionalText(9),
            lastErrorClass: try row.optionalText(10).flatMap(ErrorClass.init(rawValue:)),
            lastLatencyMilliseconds: try row.optionalInt(11), createdAt: try row.date(12), updatedAt: try row.date(13),
            manualCount: try row.int(14))
    }

    /// Whether the queue row of `d` is leased until after the time bound as `now`.
    static func leased(_ now: String) -> String {
        """
        EXISTS (SELECT 1 FROM delivery_queue l WHERE l.delivery_id = d.id AND l.lease_owner IS NOT NULL \
        AND l.available_at > \(now))
        """
    }

    /// The condition on `d` for a set of statuses as reported: `inflight` is a waiting delivery leased now, `pending`
    /// and `retrying` are those not leased now; the finished ones are their stored status. Statuses are written as
    /// literals so that partial indexes on the status match.
    static func statusCondition(_ statuses: Set<DeliveryStatus>, now: String) -> String {
        func list(_ values: [DeliveryStatus]) -> String { values.map { "'\($0.rawValue)'" }.joined(separator: ", ") }
        var parts: [String] = []
        let finished = [DeliveryStatus.delivered, .dead, .cancelled].filter(statuses.contains)
        let waiting = DeliveryStatus.waiting.filter(statuses.contains)
        if !finished.isEmpty { parts.append("d.status IN (\(list(finished)))") }
        switch (waiting.count, statuses.contains(.inflight)) {
        case (2, true): parts.append("d.status IN ('pending', 'retrying')")
        case (0, true): parts.append("(d.status IN ('pending', 'retrying') AND \(leased(now)))")
        case (_, true):
            parts.append(
                "(d.status = '\(waiting[0].rawValue)' OR (d.status IN ('pending', 'retrying') AND \(leased(now))))")
        case (0, false): break
        case (_, false): parts.append("(d.status IN (\(list(waiting))) AND NOT \(leased(now)))")
        }
        return parts.count == 1 ? parts[0] : "(" + parts.joined(separator: " OR ") + ")"
    }

    public func deliveries(_ query: DeliveryQuery) async throws -> [Delivery] {
        let now = Date().milliseconds
        let sql = StatementBuilder()
        var conditions: [String] = []
        // Deliveries in flight only: from the few leased queue rows, not by walking the log for them.
        let inflightOnly = Set(query.statuses) == [.inflight]
        var source = "deliveries d"
        if inflightOnly {
            source = """
                (SELECT delivery_id, message_created_at FROM delivery_queue
                    WHERE lease_owner IS NOT NULL AND available_at > \(sql.bind(now))) q
                CROSS JOIN LATERAL (\(Self.queuedDelivery)) d
                """
        } else if !query.statuses.isEmpty {
            conditions.append(Self.statusCondition(Set(query.statuses), now: sql.bind(now)))
        }
        if let endpointId = query.endpointId { conditions.append("d.endpoint_id = \(sql.bind(endpointId))") }
        if let eventType = query.eventType {
            if eventType.hasSuffix(".*") {
                let prefix = String(eventType.dropLast(1))
                // The range of the prefix in the `deliveries_type` index. It is the prefix's range in code point order
                // (as SQLite compares) where the database's collation is C or C.UTF-8; a linguistic collation may
                // order `.` and the bound otherwise.
                conditions.append(
                    "d.event_type >= \(sql.bind(prefix)) AND d.event_type < \(sql.bind(prefix + "\u{10FFFF}"))")
            } else {
                conditions.append("d.event_type = \(sql.bind(eventType))")
            }
        }
        if let messageId = query.messageId {
            conditions.append(
                "(d.message_seq, d.message_created_at) IN (SELECT seq, created_at FROM messages WHERE id = \(sql.bind(messageId)))")
        }
        if let before = query.before { conditions.append("d.id < \(sql.bind(before))") }
        if let after = query.after { conditions.append("d.id > \(sql.bind(after))") }
        // Deliveries are partitioned by their message's time: `since` and `until` bound it exactly, and leave out
        // the days outside.
        if let since = query.since { conditions.append("d.message_created_at >= \(sql.bind(since.milliseconds))") }
        if let until = query.until { conditions.append("d.message_created_at < \(sql.bind(until.milliseconds))") }
        let ranked = query.order == .slowest || query.order == .mostAttempts
        let text = query.text?.lowercased() ?? ""
        if (ranked || !text.isEmpty) && query.since == nil {
            // Ranking and free text have no index to walk: they look through the newest deliveries only.
            let newest = try await read("SELECT coalesce(max(id), 0) FROM deliveries").first?.int64(0) ?? 0
            conditions.append("d.id >= \(sql.bind(max(0, newest - DeliveryQuery.textSearchWindow)))")
        }
        if !text.isEmpty {
            let pattern = sql.bind(
                "%" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                    .replacingOccurrences(of: "_", with: "\\_") + "%")
            conditions.append(
                """
                (lower(d.event_type) LIKE \(pattern) OR lower(coalesce(d.last_error, '')) LIKE \(pattern)
                    OR d.endpoint_id IN (SELECT id FROM endpoints
                        WHERE lower(description) LIKE \(pattern) OR lower(url) LIKE \(pattern)))
                """)
        }
        let order = query.order.sql
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let limit = sql.bind(max(1, min(query.limit, 10_000)))
        return try await read(
            sql.query(Self.deliveryPage("SELECT d.* FROM \(source) \(filter) ORDER BY \(order) LIMIT \(limit)", order: order))
        ).map { try Self.delivery($0, now: now) }
    }

    /// One delivery by id (every day's partition is probed by its primary key).
    public func delivery(id: Int64) async throws -> Delivery? {
        let now = Date().milliseconds
        return try await read(
            PostgresQuery(unsafeSQL: Self.deliveryPage("SELECT * FROM deliveries WHERE id = $1", order: "d.id"), binds: binds(id))
        ).first.map { try Self.delivery($0, now: now) }
    }

    public func retryQueue(_ query: RetryQueueQuery) async throws -> [Delivery] {
        let now = Date().milliseconds
        let sql = StatementBuilder()
        // Waiting rows: not leased, or leased by a lease that ran out (claimable again).
        var conditions = ["(q.lease_owner IS NULL OR q.available_at <= \(sql.bind(now)))"]
        if let endpointId = query.endpointId { conditions.append("q.endpoint_id = \(sql.bind(endpointId))") }
        if let (at, id) = query.after {
            conditions.append("(q.available_at, q.delivery_id) > (\(sql.bind(at.milliseconds)), \(sql.bind(id)))")
        }
        let limit = sql.bind(max(1, min(query.limit, 10_000)))
        return try await read(
            sql.query(
                """
                SELECT \(Self.deliveryColumns) FROM (
                    SELECT q.* FROM delivery_queue q WHERE \(conditions.joined(separator: " AND "))
                    ORDER BY q.available_at, q.delivery_id LIMIT \(limit)) q
                CROSS JOIN LATERAL (\(Self.queuedDelivery)) d
                \(Self.joinMessage)
                ORDER BY q.available_at, q.delivery_id
                """)
        ).map { try Self.delivery($0, now: now) }
    }

    /// The delivery `d` of a queue row `q` (waiting or leased), by its primary key.
    static let queuedDelivery = """
        SELECT * FROM deliveries WHERE id = q.delivery_id AND message_created_at = q.message_created_at LIMIT 1
        """

    // MARK: Failures

    public func failureGroups(endpointId: String?, limit: Int) async throws -> [FailureGroup] {
        let sql = StatementBuilder()
        let endpoint = endpointId.map { "WHERE endpoint_id = \(sql.bind($0))" } ?? ""
        let limit = sql.bind(max(1, min(limit, 1000)))
        return try await read(
            sql.query(
                """
                SELECT f.endpoint_id, e.url, f.error_class, f.status_code, f.dead, f.retrying, f.last_at, f.last_error
                FROM (\(Self.failureGroupSums(endpoint))) f JOIN endpoints e ON e.id = f.endpoint_id
                WHERE f.dead > 0 OR f.retrying > 0
                ORDER BY f.dead + f.retrying DESC, f.last_at DESC LIMIT \(limit)
                """)
        ).map { row in
            let code = try row.int(3)
            return FailureGroup(
                endpointId: try row.text(0), endpointURL: try row.text(1), errorClass: ErrorClass(rawValue: try row.text(2)),
                statusCode: code == 0 ? nil : code, count: try row.int(4) + row.int(5), dead: try row.int(4),
                retrying: try row.int(5), lastAt: try row.date(6), lastError: try row.optionalText(7))
        }
    }

    /// The failure groups (`filter` applied to the writers' rows): each writer's row holds its deltas, so a group is
    /// their sum, its error that of the newest writer row. Columns: endpoint_id, error_class, status_code, dead,
    /// retrying, last_at, last_error.
    static func failureGroupSums(_ filter: String = "") -> String {
        """
        SELECT endpoint_id, error_class, status_code, sum(dead)::bigint AS dead, sum(retrying)::bigint AS retrying,
            max(last_at) AS last_at, (array_agg(last_error ORDER BY last_at DESC, writer_id))[1] AS last_error
        FROM failure_groups \(filter) GROUP BY endpoint_id, error_class, status_code
        """
    }

    public func failureSamples(endpointId: String, errorClass: ErrorClass?, statusCode: Int?, limit: Int) async throws
        -> [Delivery]
    {
        let now = Date().milliseconds
        let sql = StatementBuilder()
        // `= value` or `IS NULL`, never `IS NOT DISTINCT FROM` (which no index serves).
        let errorMatch = errorClass.map { "= \(sql.bind($0.rawValue))" } ?? "IS NULL"
        let codeMatch = statusCode.map { "= \(sql.bind($0))" } ?? "IS NULL"
        let page = """
            SELECT d.* FROM deliveries d
            WHERE d.endpoint_id = \(sql.bind(endpointId)) AND d.last_error_class \(errorMatch)
                AND d.last_status_code \(codeMatch) AND d.status IN ('dead', 'retrying')
            ORDER BY d.id DESC LIMIT \(sql.bind(max(1, min(limit, 10_000))))
            """
        return try await read(sql.query(Self.deliveryPage(page, order: "d.id DESC"))).map {
            try Self.delivery($0, now: now)
        }
    }

    // MARK: Messages

    public func messages(eventType: String?, before: Int64?, limit: Int) async throws -> [MessageSummary] {
        let now = Date().milliseconds
        let sql = StatementBuilder()
        var conditions: [String] = []
        if let eventType { conditions.append("event_type = \(sql.bind(eventType))") }
        if let before { conditions.append("seq < \(sql.bind(before))") }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let limit = sql.bind(max(1, min(limit, 1000)))
        let inflight = "q.lease_owner IS NOT NULL AND q.available_at > \(sql.bind(now))"
        // The page of messages, then each one's deliveries counted by status (in flight as SQLite tells it: neither
        // failing nor delivered).
        return try await read(
            sql.query(
                """
                SELECT m.seq, \(Self.messageColumns), c.total, c.delivered, c.failing, c.dead FROM (
                    SELECT seq, \(Self.messageColumns) FROM messages \(filter) ORDER BY seq DESC LIMIT \(limit)) m
                CROSS JOIN LATERAL (
                    SELECT count(*) AS total, count(*) FILTER (WHERE d.status = 'delivered') AS delivered,
                        count(*) FILTER (WHERE d.status = 'retrying' AND NOT coalesce(\(inflight), false)) AS failing,
                        count(*) FILTER (WHERE d.status = 'dead') AS dead
                    FROM deliveries d
                    LEFT JOIN LATERAL (\(Self.queueRow)) q ON true
                    WHERE d.message_seq = m.seq AND d.message_created_at = m.created_at) c
                ORDER BY m.seq DESC
                """)
        ).map { row in
            MessageSummary(
                message: try Self.message(row, offset: 1), sequence: try row.int64(0), deliveryCount: try row.int(6),
                delivered: try row.int(7), failing: try row.int(8), dead: try row.int(9))
        }
    }

    public func message(id: String) async throws -> Message? {
        try await read(
            PostgresQuery(unsafeSQL: "SELECT \(Self.messageColumns) FROM messages WHERE id = $1 LIMIT 1", binds: binds(id))
        ).first.map { try Self.message($0) }
    }

    // MARK: One delivery

    static let attemptColumns = """
        id, delivery_id, number, trigger, started_at, duration_ms, request_headers, response_status, \
        response_headers, response_body, error_class, error_message
        """

    static func attempt(_ row: PGRow) throws -> Attempt {
        Attempt(
            id: try row.int64(0), deliveryId: try row.int64(1), number: try row.int(2),
            trigger: AttemptTrigger(rawValue: try row.text(3)) ?? .scheduled, startedAt: try row.date(4),
            durationMilliseconds: try row.int(5), requestHeaders: HeaderCoding.decode(try row.text(6)),
            responseStatus: try row.optionalInt(7), responseHeaders: HeaderCoding.decode(try row.optionalText(8)),
            responseBodyExcerpt: try row.optionalText(9), errorClass: try row.optionalText(10).flatMap(ErrorClass.init),
            errorMessage: try row.optionalText(11))
    }

    /// A delivery's attempts, oldest first. Attempts are partitioned by their start, which is never before the
    /// delivery was made: that bound leaves out the older days.
    public func attempts(deliveryId: Int64) async throws -> [Attempt] {
        try await read(
            PostgresQuery(
                unsafeSQL: """
                    SELECT \(Self.attemptColumns) FROM attempts
                    WHERE delivery_id = $1 AND started_at >= (SELECT min(created_at) FROM deliveries WHERE id = $1)
                    ORDER BY number, id
                    """, binds: binds(deliveryId))
        ).map(Self.attempt)
    }

    public func deliveryDetail(id: Int64) async throws -> DeliveryDetail? {
        guard let delivery = try await delivery(id: id) else { return nil }
        async let message = read(
            PostgresQuery(
                unsafeSQL: """
                    SELECT \(Self.messageColumns) FROM messages WHERE id = $1 AND created_at <= $2 LIMIT 1
                    """,
                // A message is published before its deliveries are made: the days after the delivery's are not read.
                binds: binds(delivery.messageId, delivery.createdAt.milliseconds)))
        async let endpoint = self.endpoint(id: delivery.endpointId)
        async let attempts = read(
            PostgresQuery(
                unsafeSQL: """
                    SELECT \(Self.attemptColumns) FROM attempts WHERE delivery_id = $1 AND started_at >= $2
                    ORDER BY number, id
                    """, binds: binds(id, delivery.createdAt.milliseconds)))
        async let delays = read(
            "SELECT retry_delays FROM workers WHERE retry_delays IS NOT NULL ORDER BY heartbeat_at DESC LIMIT 1")
        guard let message = try await message.first.map({ try Self.message($0) }), let endpoint = try await endpoint
        else { return nil }
        let schedule = try await delays.first?.text(0)
        return DeliveryDetail(
            delivery: delivery, message: message, endpoint: endpoint, attempts: try await attempts.map(Self.attempt),
            // The endpoint's own schedule, when it has one, is the one its attempts count against.
            maxAttempts: endpoint.connection.retrySchedule?.maxAttempts ?? schedule.map { $0.split(separator: ",").count + 1 })
    }

    // MARK: Operators' history

    static let auditColumns = "at, action, object_type, object_id, detail, os_user, pid, via, origin, tty"

    static func auditEntry(_ row: PGRow, offset: Int = 0) throws -> AuditEntry {
        AuditEntry(
            at: try row.date(offset), action: try row.text(offset + 1), objectType: try row.text(offset + 2),
            objectId: try row.text(offset + 3), detail: try row.text(offset + 4), user: try row.text(offset + 5),
            pid: try row.int(offset + 6), via: try row.text(offset + 7), origin: try row.optionalText(offset + 8),
            tty: try row.optionalText(offset + 9))
    }

    public func auditEntries(objectId: String?, limit: Int) async throws -> [AuditEntry] {
        let sql = StatementBuilder()
        let filter = objectId.map { "WHERE object_id = \(sql.bind($0))" } ?? ""
        let statement = "SELECT \(Self.auditColumns) FROM audit \(filter) ORDER BY id DESC LIMIT \(sql.bind(limit))"
        return try await read(sql.query(statement)).map { try Self.auditEntry($0) }
    }

    public func recoveryProgress(endpointId: String) async throws -> RecoveryProgress? {
        guard
            let recovery = try await read(
                PostgresQuery(
                    unsafeSQL: "SELECT id, at, total FROM recoveries WHERE endpoint_id = $1 ORDER BY id DESC LIMIT 1",
                    binds: binds(endpointId))
            ).first
        else { return nil }
        let (id, at, total) = (try recovery.int64(0), try recovery.date(1), try recovery.int(2))
        // Each delivery's status as reported (a leased one is in flight), counted, and the commonest error class of
        // the failing ones.
        let rows = try await read(
            PostgresQuery(
                unsafeSQL: """
                    SELECT CASE WHEN q.lease_owner IS NOT NULL AND q.available_at > $2 THEN 'inflight' ELSE d.status END
                            AS status, coalesce(d.last_error_class, 'error'), count(*)
                    FROM (SELECT delivery_id, message_created_at FROM recovery_deliveries WHERE recovery_id = $1) r
                    CROSS JOIN LATERAL (SELECT id, status, last_error_class FROM deliveries
                        WHERE id = r.delivery_id AND message_created_at = r.message_created_at LIMIT 1) d
                    LEFT JOIN LATERAL (\(Self.queueRow)) q ON true
                    GROUP BY 1, 2
                    """, binds: binds(id, Date().milliseconds)))
        var counts: [String: Int] = [:]
        var errors: [String: Int] = [:]
        for row in rows {
            let (status, error, count) = (try row.text(0), try row.text(1), try row.int(2))
            counts[status, default: 0] += count
            if status == "dead" || status == "retrying" { errors[error, default: 0] += count }
        }
        let waiting = (counts["pending"] ?? 0) + (counts["inflight"] ?? 0)
        let delivered = counts["delivered"] ?? 0
        let failed = (counts["dead"] ?? 0) + (counts["retrying"] ?? 0)
        let topError = errors.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
        return RecoveryProgress(
            endpointId: endpointId, startedAt: at, total: total, waiting: waiting, delivered: delivered, failed: failed,
            other: max(0, total - waiting - delivered - failed), topError: topError)
    }

    public func recoverableCount(endpointId: String, since: Date) async throws -> Int {
        guard let endpoint = try await endpoint(id: endpointId) else { throw HooktopError.notFound("endpoint", endpointId) }
        // Dead deliveries made since `since` (the failures index), and messages since then (and since the endpoint
        // exists) it accepts but never got: the days from `since` on, on both sides of the anti-join (the bound
        // repeated on the deliveries, so that their earlier days are left out too).
        // Unlike SQLite, which has an index of messages by time, the days since `since` are read whole: a count an
        // operator asks for before a recovery, bounded by those days.
        async let dead = read(
            PostgresQuery(
                unsafeSQL: """
                    SELECT count(*) FROM deliveries
                    WHERE endpoint_id = $1 AND status IN ('dead', 'retrying') AND status = 'dead' AND created_at >= $2
                    """, binds: binds(endpointId, since.milliseconds)))
        async let missed = read(
            PostgresQuery(
                unsafeSQL: """
                    SELECT m.event_type, count(*) FROM messages m
                    WHERE m.created_at >= $2 AND NOT EXISTS (SELECT 1 FROM deliveries d
                        WHERE d.message_seq = m.seq AND d.message_created_at = m.created_at AND d.endpoint_id = $1
                            AND d.message_created_at >= $2)
                    GROUP BY m.event_type
                    """, binds: binds(endpointId, max(since, endpoint.createdAt).milliseconds)))
        // Counted per event type, then kept for the types the endpoint accepts (a few rows, not one per message).
        let missedCount = try await missed.filter { endpoint.accepts(eventType: try $0.text(0)) }
            .reduce(0) { $0 + (try $1.int(1)) }
        return try await (dead.first?.int(0) ?? 0) + missedCount
    }

    // MARK: Alerts, dispatchers

    public func alerts(before: Int64?, limit: Int) async throws -> [Alert] {
        try await read(
            PostgresQuery(
                unsafeSQL: "SELECT \(Self.alertColumns) FROM alerts WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
                binds: binds(before ?? Int64.max, Int64(max(0, limit))))
        ).map(Self.alert)
    }

    public func alert(id: String) async throws -> Alert? {
        try await read(
            PostgresQuery(unsafeSQL: "SELECT \(Self.alertColumns) FROM alerts WHERE id = $1", binds: binds(id))
        ).first.map(Self.alert)
    }

    /// The dispatchers that heartbeat into this log, newest first.
    public func workers() async throws -> [WorkerInfo] {
        try await read(
            "SELECT id, pid, host, started_at, heartbeat_at, version, in_flight, retry_delays FROM workers ORDER BY heartbeat_at DESC"
        ).map { row in
            WorkerInfo(
                id: try row.text(0), pid: try row.int(1), host: try row.text(2), startedAt: try row.date(3),
                heartbeatAt: try row.date(4), version: try row.text(5), inFlight: try row.int(6),
                retryDelays: try row.optionalText(7).map { $0.split(separator: ",").compactMap { TimeInterval($0) } })
        }
    }

    /// Why the log takes no writes: nothing this process can tell without asking the server (which reports a full
    /// disk or a read-only standby on the write itself), so nil.
    public func writeProblem() async -> String? { nil }

    // MARK: Running reads

    /// Runs one read statement.
    func read(_ query: PostgresQuery) async throws -> [PGRow] {
        try await rows(query)
    }

    /// Bindings of `values`, in order ($1, $2, …).
    func binds(_ values: any PostgresDynamicTypeEncodable...) -> PostgresBindings {
        var bindings = PostgresBindings()
        for value in values { bindings.append(value) }
        return bindings
    }
}

/// A statement assembled from conditions, each value bound as the next `$n`. A class, so that values bound while
/// the statement's text is being built as `query`'s argument are bound in the query too.
final class StatementBuilder {
    private(set) var binds = PostgresBindings()

    /// Binds `value` and returns its placeholder.
    func bind(_ value: some PostgresDynamicTypeEncodable) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    func query(_ sql: String) -> PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
}

#if DEBUG
/// The read statements engines ran, with their bindings, kept only for engines a test asked about (the query-plan
/// test explains each of them).
enum PostgresStatements {
    private static let recorded = Mutex<[String: [PostgresQuery]]>([:])

    /// Starts keeping the statements of the engine whose writer id is `writer`.
    static func start(_ writer: String) { recorded.withLock { $0[writer] = [] } }

    static func record(_ query: PostgresQuery, by writer: String) {
        recorded.withLock { all in all[writer]?.append(query) }
    }

    /// Stops keeping them and returns those kept.
    static func stop(_ writer: String) -> [PostgresQuery] { recorded.withLock { $0.removeValue(forKey: writer) ?? [] } }
}
#endif
