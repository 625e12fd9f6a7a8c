import Foundation
import PostgresNIO

/// The summaries of the PostgreSQL log (header, Endpoints view, `hooktop stats`, the alert checks): read from the
/// per-writer rows summed, never by counting the log.
extension PostgresEngine {
    // MARK: Counts

    /// Deliveries per status for every endpoint as of `now`: the writers' counts summed, then the deliveries leased
    /// at `now` (the few queue rows with a lease to come) moved from their stored status to `inflight`.
    func statusCounts(now: Date) async throws -> [String: StatusCounts] {
        let rows = try await read(
            PostgresQuery(
                unsafeSQL: """
                    SELECT endpoint_id, status, sum(n)::bigint, false FROM delivery_counts GROUP BY endpoint_id, status
                    UNION ALL
                    SELECT d.endpoint_id, d.status, count(*), true
                    FROM (SELECT delivery_id, message_created_at FROM delivery_queue
                        WHERE lease_owner IS NOT NULL AND available_at > $1) q
                    CROSS JOIN LATERAL (\(Self.queuedDelivery)) d
                    GROUP BY d.endpoint_id, d.status
                    """, binds: binds(now.milliseconds)))
        var result: [String: StatusCounts] = [:]
        for row in rows {
            guard let status = DeliveryStatus(rawValue: try row.text(1)) else { continue }
            let (endpointId, count) = (try row.text(0), try row.int(2))
            if try row.bool(3) {
                result[endpointId, default: StatusCounts()][status] -= count
                result[endpointId, default: StatusCounts()].inflight += count
            } else {
                result[endpointId, default: StatusCounts()][status] += count
            }
        }
        return result
    }

    /// Deliveries per status across all endpoints.
    public func statusTotals() async throws -> StatusCounts {
        try await Self.total(statusCounts(now: Date()))
    }

    static func total(_ counts: [String: StatusCounts]) -> StatusCounts {
        var totals = StatusCounts()
        for counts in counts.values {
            for status in DeliveryStatus.allCases { totals[status] += counts[status] }
        }
        return totals
    }

    // MARK: Stats

    static let histogramSums = (0..<LatencyBuckets.count).map { "sum(h\($0))::bigint" }.joined(separator: ", ")

    /// Window stats from a row of `attempts, successes, failures, h0…h11` sums starting at `offset`.
    static func windowStats(_ row: PGRow, offset: Int) throws -> WindowStats {
        let histogram = try (0..<LatencyBuckets.count).map { try row.optionalInt(offset + 3 + $0) ?? 0 }
        return Store.stats(
            attempts: try row.optionalInt(offset) ?? 0, successes: try row.optionalInt(offset + 1) ?? 0,
            failures: try row.optionalInt(offset + 2) ?? 0, histogram)
    }

    /// Per-endpoint attempt stats since `since`, every writer's minutes summed.
    func windowStats(since: Date) async throws -> [String: WindowStats] {
        let rows = try await read(
            PostgresQuery(
                unsafeSQL: """
                    SELECT endpoint_id, sum(attempts)::bigint, sum(successes)::bigint, sum(failures)::bigint, \
                    \(Self.histogramSums) FROM stats_minute WHERE minute >= $1 GROUP BY endpoint_id
                    """, binds: binds(since.milliseconds / 60_000)))
        return Dictionary(try rows.map { (try $0.text(0), try Self.windowStats($0, offset: 1)) }, uniquingKeysWith: { a, _ in a })
    }

    // MARK: Health

    /// Each endpoint's health from its writers' rows: the newest attempt and success of any writer; failing since the
    /// earliest failure streak that began after the newest success; the error of the writer that tried last.
    /// Columns: endpoint_id, last_attempt_at, last_success_at, failing_since, last_error.
    static let health = """
        SELECT endpoint_id, max(last_attempt_at) AS last_attempt_at, max(last_success_at) AS last_success_at,
            min(failing_since) FILTER (WHERE failing_since > coalesce(newest_success, -1)) AS failing_since,
            (array_agg(last_error ORDER BY last_attempt_at DESC NULLS LAST, writer_id))[1] AS last_error
        FROM (SELECT *, max(last_success_at) OVER (PARTITION BY endpoint_id) AS newest_success FROM endpoint_health) h
        GROUP BY endpoint_id
        """

    public func endpointSummaries(now: Date) async throws -> [EndpointSummary] {
        async let counts = statusCounts(now: now)
        async let recent = windowStats(since: now.addingTimeInterval(-300))
        // Each endpoint with its health and its newest audited action (the `audit_object` index, one probe each).
        let rows = try await read(
            """
            SELECT \(unescaped: Self.prefixed(Self.endpointColumns, "e")), h.last_error, h.last_attempt_at,
                h.failing_since, h.last_success_at, a.*
            FROM endpoints e
            LEFT JOIN (\(unescaped: Self.health)) h ON h.endpoint_id = e.id
            LEFT JOIN LATERAL (SELECT \(unescaped: Self.auditColumns) FROM audit
                WHERE object_type = 'endpoint' AND object_id = e.id ORDER BY id DESC LIMIT 1) a ON true
            ORDER BY e.created_at, e.id
            """)
        let (allCounts, allRecent) = try await (counts, recent)
        return try rows.map { row in
            let endpoint = try Self.endpoint(row)
            return EndpointSummary(
                endpoint: endpoint, counts: allCounts[endpoint.id] ?? StatusCounts(),
                recent: allRecent[endpoint.id] ?? WindowStats(), lastError: try row.optionalText(16),
                lastAttemptAt: try row.optionalDate(17), failingSince: try row.optionalDate(18),
                lastSuccessAt: try row.optionalDate(19),
                lastAction: try row.optionalInt64(20) == nil ? nil : Self.auditEntry(row, offset: 20))
        }
    }

    /// `columns` (a comma-separated list) each prefixed with `alias.`.
    static func prefixed(_ columns: String, _ alias: String) -> String {
        columns.split(separator: ",").map { "\(alias)." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .joined(separator: ", ")
    }

    // MARK: Overview

    /// When the oldest due delivery of each active endpoint was due, soonest first, as long as it is due at `now`:
    /// the first entry of each endpoint's due index. A row leased at `now` is due later than `now`, so it never counts;
    /// one whose lease ran out is due again.
    static let oldestDue = """
        SELECT id, due FROM (
            SELECT e.id, (SELECT min(q.available_at) FROM delivery_queue q WHERE q.endpoint_id = e.id) AS due
            FROM endpoints e WHERE e.status = 'active') o
        WHERE due <= $1 ORDER BY due, id LIMIT 1
        """

    public func overview(now: Date) async throws -> Overview {
        let nowMinute = now.milliseconds / 60_000
        async let workers = self.workers()
        async let counts = statusCounts(now: now)
        async let recentRows = read(
            PostgresQuery(
                unsafeSQL: """
                    SELECT sum(attempts)::bigint, sum(successes)::bigint, sum(failures)::bigint, \(Self.histogramSums)
                    FROM stats_minute WHERE minute >= $1
                    """, binds: binds(nowMinute - 4)))
        async let minutes = read(
            PostgresQuery(
                unsafeSQL: """
                    SELECT minute, sum(attempts)::bigint, sum(successes)::bigint FROM stats_minute WHERE minute > $1
                    GROUP BY minute
                    """, binds: binds(nowMinute - 30)))
        async let statuses = read("SELECT status, count(*) FROM endpoints GROUP BY status")
        async let oldest = read(PostgresQuery(unsafeSQL: Self.oldestDue, binds: binds(now.milliseconds)))
        async let alerts = self.alerts(before: nil, limit: Overview.recentAlertLimit)
        // Each dispatcher's own counters (a range of the primary key each), for the dispatchers with a heartbeat row.
        async let perWorker = read(
            PostgresQuery(
                unsafeSQL: """
                    SELECT id, (SELECT sum(attempts)::bigint FROM worker_minute WHERE worker_id = workers.id AND minute >= $1)
                    FROM workers
                    """, binds: binds(nowMinute - 4)))

        var throughput = [Int](repeating: 0, count: 30)
        var lastMinuteSuccesses = 0
        for row in try await minutes {
            let (minute, attempts, successes) = (try row.int64(0), try row.int(1), try row.int(2))
            let index = Int(minute - (nowMinute - 29))
            if (0..<30).contains(index) { throughput[index] = attempts }
            if minute >= nowMinute - 1 { lastMinuteSuccesses += successes }
        }
        // The previous full minute plus the seconds elapsed of this one.
        let elapsed = 60 + Double(now.milliseconds % 60_000) / 1000
        let byStatus = Dictionary(try await statuses.map { (try $0.text(0), try $0.int(1)) }, uniquingKeysWith: +)
        var overview = Overview(
            workers: try await workers, deliveriesPerSecond: Double(lastMinuteSuccesses) / elapsed,
            recent: try await recentRows.first.map { try Self.windowStats($0, offset: 0) } ?? WindowStats(),
            totals: Self.total(try await counts), endpointCount: byStatus.values.reduce(0, +),
            pausedEndpoints: byStatus["paused"] ?? 0, disabledEndpoints: byStatus["disabled"] ?? 0,
            throughput: throughput, writeProblem: await writeProblem(),
            oldestDueAt: try await oldest.first?.date(1))
        overview.recentAlerts = try await alerts
        overview.recentAttemptsByWorker = Dictionary(
            try await perWorker.compactMap { row in try row.optionalInt(1).map { (try row.text(0), $0) } },
            uniquingKeysWith: +)
        return overview
    }

    // MARK: Alert checks

    /// The alert checks' inputs. Per endpoint, in one statement: its health from the writers' rows, its dead
    /// deliveries since `deadSince` (the `deliveries_dead` index), its newest health alert (`alerts_object`) and
    /// whether the dispatcher disabled it (its newest `endpoint.disable` audit entry); for a disabled one, its newest
    /// failed attempt (among its newest 500 deliveries, so the read stays bounded).
    public func alertInputs(now: Date, deadSince: Date) async throws -> AlertInputs {
        async let workers = self.workers()
        async let oldest = read(PostgresQuery(unsafeSQL: Self.oldestDue, binds: binds(now.milliseconds)))
        let rows = try await read(
            """
            SELECT \(unescaped: Self.prefixed(Self.endpointColumns, "e")), e.disabled_at, h.failing_since,
                h.last_success_at, h.last_error, dead.n, alert.seq, alert.type, alert.at, disabling.via
            FROM endpoints e
            LEFT JOIN (\(unescaped: Self.health)) h ON h.endpoint_id = e.id
            CROSS JOIN LATERAL (SELECT count(*) AS n FROM deliveries d
                WHERE d.endpoint_id = e.id AND d.status = 'dead' AND d.updated_at >= \(deadSince.milliseconds)) dead
            LEFT JOIN LATERAL (SELECT seq, type, at FROM alerts WHERE object_id = e.id
                AND type IN ('endpoint.failing', 'endpoint.disabled', 'endpoint.recovered')
                ORDER BY seq DESC LIMIT 1) alert ON true
            LEFT JOIN LATERAL (SELECT via FROM audit WHERE object_type = 'endpoint' AND object_id = e.id
                AND action = 'endpoint.disable' AND e.status = 'disabled' ORDER BY id DESC LIMIT 1) disabling ON true
            ORDER BY e.created_at, e.id
            """)
        var states: [AlertEndpointState] = []
        for row in rows {
            let endpoint = try Self.endpoint(row)
            var state = AlertEndpointState(
                endpoint: endpoint, disabledAt: try row.optionalDate(16), failingSince: try row.optionalDate(17),
                lastSuccessAt: try row.optionalDate(18), lastError: try row.optionalText(19),
                deadInWindow: try row.int(20))
            if let sequence = try row.optionalInt64(21) {
                state.lastHealthAlert = (
                    sequence, AlertType(rawValue: try row.text(22)) ?? .endpointFailing, try row.date(23)
                )
            }
            if endpoint.status == .disabled {
                state.disabledByDispatcher = try row.optionalText(24) == "dispatcher"
                state.lastFailure = try await lastFailure(endpointId: endpoint.id)
            }
            states.append(state)
        }
        let due = try await oldest.first
        return AlertInputs(
            endpoints: states, workers: try await workers,
            oldestDue: try due.map { (at: try $0.date(1), endpointId: try $0.text(0)) })
    }

    /// The newest failed attempt of one of the endpoint's newest 500 deliveries.
    private func lastFailure(endpointId: String) async throws -> FailedAttempt? {
        guard
            let delivery = try await read(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT id, created_at FROM (SELECT id, status, created_at, updated_at FROM deliveries
                            WHERE endpoint_id = $1 ORDER BY id DESC LIMIT 500) d
                        WHERE status IN ('dead', 'retrying') ORDER BY updated_at DESC LIMIT 1
                        """, binds: binds(endpointId))
            ).first
        else { return nil }
        return try await read(
            PostgresQuery(
                unsafeSQL: """
                    SELECT response_status, error_message, response_body, error_class FROM attempts
                    WHERE delivery_id = $1 AND started_at >= $2 ORDER BY number DESC LIMIT 1
                    """, binds: binds(try delivery.int64(0), try delivery.int64(1)))
        ).first.map { row in
            FailedAttempt(
                status: try row.optionalInt(0), error: try row.optionalText(1) ?? row.optionalText(3),
                responseExcerpt: try row.optionalText(2).map { Sanitizer.line(String($0.prefix(300))) })
        }
    }
}
