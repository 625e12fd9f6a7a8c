@testable import DeliveryCore
import Foundation
import HooktopReceivers
import HooktopTesting
import PostgresNIO
import Testing

/// Every statement the PostgreSQL engine's reads issue is served by an index on a log large enough for the planner
/// to prefer one (24,000 deliveries over four days, analyzed): none reads a whole table of the log (deliveries,
/// messages, attempts, their day partitions, the queue, or the dispatchers' attempt counters). The reads bounded by a time (a search `since`, a recovery
/// count) may read the days since then, and no earlier one.
struct PostgresQueryPlanTests {
    /// Relations of the log: a sequential scan of one of these larger than a handful of pages fails the test.
    static let logTables = ["deliveries", "messages", "attempts", "delivery_queue", "worker_minute"]

    @Test func noReadScansTheLog() async throws {
        try await withPostgresEngine { engine in
            let now = Date().milliseconds
            try await Self.seedLargeLog(engine, now: now)
            let since = Date(milliseconds: now - 3_600_000)
            let writer = engine.writerId

            // Index-served reads, as the dashboard, the CLI and the API make them.
            PostgresStatements.start(writer)
            let some = try #require(try await engine.deliveries(DeliveryQuery(limit: 1)).first)
            for query in [
                DeliveryQuery(), DeliveryQuery(statuses: [.dead]), DeliveryQuery(statuses: [.pending, .retrying]),
                DeliveryQuery(statuses: [.inflight]), DeliveryQuery(statuses: [.pending, .inflight]),
                DeliveryQuery(statuses: [.dead, .inflight]), DeliveryQuery(endpointId: "ep_03"),
                DeliveryQuery(eventType: "user.created"), DeliveryQuery(eventType: "user.*"),
                DeliveryQuery(messageId: some.messageId), DeliveryQuery(before: some.id),
                DeliveryQuery(statuses: [.dead], endpointId: "ep_03", before: some.id), DeliveryQuery(until: since),
                DeliveryQuery(text: "invoice"), DeliveryQuery(until: since, text: "refused"),
            ] {
                _ = try await engine.deliveries(query)
            }
            for order in DeliveryOrder.allCases {
                var query = DeliveryQuery(limit: 20)
                query.order = order
                query.after = order == .oldest ? 100 : nil
                _ = try await engine.deliveries(query)
            }
            _ = try await engine.delivery(id: some.id)
            _ = try await engine.retryQueue(RetryQueueQuery())
            _ = try await engine.retryQueue(RetryQueueQuery(endpointId: "ep_04", after: (Date(milliseconds: now), 3)))
            _ = try await engine.failureGroups(endpointId: nil, limit: 10)
            _ = try await engine.failureGroups(endpointId: "ep_03", limit: 10)
            _ = try await engine.failureSamples(endpointId: "ep_03", errorClass: .httpStatus, statusCode: 500, limit: 20)
            _ = try await engine.failureSamples(endpointId: "ep_03", errorClass: .timeout, statusCode: nil, limit: 20)
            _ = try await engine.messages(eventType: nil, before: nil, limit: 10)
            _ = try await engine.messages(eventType: "user.created", before: 5000, limit: 10)
            _ = try await engine.message(id: some.messageId)
            _ = try await engine.deliveryDetail(id: some.id)
            _ = try await engine.attempts(deliveryId: some.id)
            _ = try await engine.overview(now: Date(milliseconds: now))
            _ = try await engine.endpointSummaries(now: Date(milliseconds: now))
            _ = try await engine.statusTotals()
            _ = try await engine.recoveryProgress(endpointId: "ep_03")
            _ = try await engine.auditEntries(objectId: "ep_03", limit: 10)
            _ = try await engine.auditEntries(objectId: nil, limit: 10)
            _ = try await engine.alerts(before: nil, limit: 10)
            _ = try await engine.alerts(before: 100, limit: 10)
            _ = try await engine.alert(id: "alrt_7")
            _ = try await engine.alertInputs(now: Date(milliseconds: now), deadSince: since)
            let indexed = PostgresStatements.stop(writer)

            // Reads bounded by a time: the days since then only.
            PostgresStatements.start(writer)
            _ = try await engine.deliveries(DeliveryQuery(since: since, text: "refused"))
            var slowest = DeliveryQuery(since: since)
            slowest.order = .slowest
            _ = try await engine.deliveries(slowest)
            _ = try await engine.recoverableCount(endpointId: "ep_03", since: since)
            let bounded = PostgresStatements.stop(writer)

            #expect(indexed.count > 40)
            let sizes = try await Self.relationSizes(engine)
            var offenders: [String] = []
            func add(_ offender: String) { if !offenders.contains(offender) { offenders.append(offender) } }
            for query in indexed {
                for relation in try await Self.sequentialScans(engine, query) where !Self.mayBeReadWhole(relation, sizes) {
                    add("Seq Scan on \(relation) ← \(Self.oneLine(query.sql))")
                }
            }
            let firstDay = Self.partitionSuffix(of: since)
            for query in bounded {
                for relation in try await Self.sequentialScans(engine, query) where !Self.mayBeReadWhole(relation, sizes) {
                    // A day partition (`deliveries_20261202`) from the first day of the bound on may be read whole.
                    guard let day = relation.split(separator: "_").last, day.count == 8, day.allSatisfy(\.isNumber) else {
                        add("Seq Scan on \(relation) ← \(Self.oneLine(query.sql))")
                        continue
                    }
                    if day < firstDay { add("Seq Scan of a day before \(firstDay): \(relation) ← \(Self.oneLine(query.sql))") }
                }
            }
            #expect(offenders.isEmpty, "\(offenders.joined(separator: "\n"))")
        }
    }

    /// Whether a plan may read `relation` whole: the planner rightly prefers that on a small one (200 rows), and on a
    /// day partition under 1,000. The seeded log starts 3.5 days back from now, so its first (or last) day partition
    /// holds only some hours of the log (350 messages at 09:30 UTC), depending on the time of day the test runs; a
    /// full day holds over 3,000.
    static func mayBeReadWhole(_ relation: String, _ sizes: [String: Double]) -> Bool {
        let rows = sizes[relation] ?? 0
        guard let day = relation.split(separator: "_").last, day.count == 8, day.allSatisfy(\.isNumber) else {
            return rows <= 200
        }
        return rows <= 1_000
    }

    /// The log relations a statement's plan reads sequentially (text `EXPLAIN` with the statement's own values).
    static func sequentialScans(_ engine: PostgresEngine, _ query: PostgresQuery) async throws -> [String] {
        let plan = try await engine.rows(PostgresQuery(unsafeSQL: "EXPLAIN " + query.sql, binds: query.binds))
        return try plan.compactMap { row in
            let line = try row.text(0)
            guard let range = line.range(of: "Seq Scan on ") else { return nil }
            let relation = String(line[range.upperBound...].prefix { $0 != " " })
            return logTables.contains { relation == $0 || relation.hasPrefix($0 + "_2") } ? relation : nil
        }
    }

    /// Rows of each table (analyzed).
    static func relationSizes(_ engine: PostgresEngine) async throws -> [String: Double] {
        let rows = try await engine.rows(
            "SELECT relname::text, reltuples::float8 FROM pg_class WHERE relkind IN ('r', 'p') AND relnamespace = 'public'::regnamespace")
        return Dictionary(try rows.map { (try $0.text(0), try $0.row[1].decode(Double.self)) }, uniquingKeysWith: max)
    }

    /// `20261202`: how the day partition holding `date` ends.
    static func partitionSuffix(of date: Date) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd"
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.locale = Locale(identifier: "en_US_POSIX")
        return formatter.string(from: date)
    }

    /// The statement on one line, from its first `FROM` (the column lists say little).
    static func oneLine(_ sql: String) -> String {
        let line = sql.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        return String(line[(line.range(of: " FROM ")?.lowerBound ?? line.startIndex)...].prefix(400))
    }

    /// `messages` messages (12,000) over the last three days and a bit, two deliveries each (ids 500 apart, so that the newest
    /// 100,000 ids a search looks through are a small part of a day, as on a busy log), one attempt per attempted
    /// delivery, a queue with leased rows, per-writer counts, failure groups, stats and health, 200 dispatchers' attempt
    /// counters, audit, alerts, a recovery; then `ANALYZE`.
    static func seedLargeLog(_ engine: PostgresEngine, now: Int64, messages: Int = 12_000) async throws {
        let seeder = PostgresLogSeeder(engine: engine)
        try await seeder.makeDays(before: now, days: 4)
        let day: Int64 = 86_400_000
        for statement: PostgresQuery in [
            """
            INSERT INTO endpoints (id, url, description, status, event_types, secret, created_at, updated_at)
            SELECT 'ep_' || lpad(g::text, 2, '0'), 'http://' || g || '.example/hook', 'endpoint ' || g,
                CASE g WHEN 18 THEN 'paused' WHEN 19 THEN 'disabled' ELSE 'active' END, '', 'whsec_x',
                \(now - 4 * day), \(now - 4 * day)
            FROM generate_series(0, 19) g
            """,
            """
            INSERT INTO messages (seq, id, event_type, payload, created_at)
            SELECT g, 'msg_' || g, CASE WHEN g % 3 = 0 THEN 'user.created' ELSE 'invoice.paid' END, '{}',
                \(now - 3 * day - day / 2) + g * \((3 * day + day / 2 - 60_000) / Int64(messages))
            FROM generate_series(1, \(messages)) g
            """,
            """
            INSERT INTO deliveries (id, message_seq, message_created_at, endpoint_id, event_type, status, attempt_count,
                last_status_code, last_error, last_error_class, last_latency_ms, created_at, updated_at)
            SELECT (m.seq * 2 + k) * 500, m.seq, m.created_at, 'ep_' || lpad(((m.seq + k * 7) % 20)::text, 2, '0'),
                m.event_type, s.status, CASE WHEN s.status = 'pending' THEN 0 ELSE 1 END,
                CASE WHEN s.status IN ('dead', 'retrying') AND m.seq % 2 = 0 THEN 500 END,
                CASE WHEN s.status IN ('dead', 'retrying') THEN
                    CASE WHEN m.seq % 2 = 0 THEN 'HTTP 500' ELSE 'connection refused' END END,
                CASE WHEN s.status IN ('dead', 'retrying') THEN
                    CASE WHEN m.seq % 2 = 0 THEN 'http_status' ELSE 'connect_refused' END END,
                (m.seq * 7 + k) % 3000, m.created_at, m.created_at + 1000
            FROM messages m CROSS JOIN generate_series(0, 1) k
            CROSS JOIN LATERAL (SELECT CASE
                WHEN m.created_at > \(now - 20 * 60_000) THEN 'pending'
                WHEN (m.seq + k) % 20 = 0 THEN 'dead'
                WHEN (m.seq + k) % 50 = 1 THEN 'retrying'
                WHEN (m.seq + k) % 97 = 2 THEN 'cancelled'
                ELSE 'delivered' END AS status) s
            """,
            """
            INSERT INTO delivery_queue (delivery_id, message_created_at, endpoint_id, available_at, lease_owner, claims)
            SELECT id, message_created_at, endpoint_id,
                CASE WHEN id % 7 = 0 THEN \(now + 60_000) WHEN status = 'retrying' THEN updated_at + 3600000
                    ELSE created_at END,
                CASE WHEN id % 7 = 0 THEN 'w1' END, CASE WHEN id % 7 = 0 THEN 1 ELSE 0 END
            FROM deliveries WHERE status IN ('pending', 'retrying')
            """,
            """
            INSERT INTO attempts (delivery_id, number, trigger, started_at, duration_ms, request_headers, response_status,
                error_class, error_message)
            SELECT id, 1, 'scheduled', created_at + 100, 40, '[]', CASE WHEN status = 'delivered' THEN 200 ELSE last_status_code END,
                last_error_class, last_error
            FROM deliveries WHERE status <> 'pending'
            """,
            """
            INSERT INTO delivery_counts (endpoint_id, status, writer_id, n)
            SELECT endpoint_id, status, CASE WHEN id % 100 < 50 THEN 'w1' ELSE 'w2' END, count(*)
            FROM deliveries GROUP BY 1, 2, 3
            """,
            """
            INSERT INTO failure_groups (endpoint_id, error_class, status_code, writer_id, dead, retrying, last_at, last_error)
            SELECT endpoint_id, coalesce(last_error_class, ''), coalesce(last_status_code, 0),
                CASE WHEN id % 100 < 50 THEN 'w1' ELSE 'w2' END, count(*) FILTER (WHERE status = 'dead'),
                count(*) FILTER (WHERE status = 'retrying'), max(updated_at), max(last_error)
            FROM deliveries WHERE status IN ('dead', 'retrying') GROUP BY 1, 2, 3, 4
            """,
            """
            INSERT INTO stats_minute (minute, endpoint_id, writer_id, attempts, successes, failures, h3)
            SELECT \(now / 60_000) - g % 60, 'ep_' || lpad((g % 20)::text, 2, '0'), 'w' || g % 2, 10, 9, 1, 10
            FROM generate_series(0, 2399) g ON CONFLICT DO NOTHING
            """,
            """
            INSERT INTO worker_minute (worker_id, minute, attempts)
            SELECT 'w' || g % 200, \(now / 60_000) - g / 200, 5 FROM generate_series(0, 39999) g
            """,
            """
            INSERT INTO endpoint_health (endpoint_id, writer_id, last_attempt_at, last_success_at, failing_since, last_error)
            SELECT id, w, \(now - 60_000), \(now - 120_000), \(now - 30_000), 'HTTP 500' FROM endpoints, unnest(ARRAY['w1', 'w2']) w
            """,
            """
            INSERT INTO workers (id, pid, host, started_at, heartbeat_at, version, in_flight, retry_delays)
            VALUES ('w1', 1, 'a', \(now - day), \(now), '1', 3, '1,5'), ('w2', 2, 'b', \(now - day), \(now - 1000), '1', 0, NULL)
            """,
            """
            INSERT INTO audit (at, action, object_type, object_id, detail, os_user, pid, via)
            SELECT \(now - 3 * day) + g * 100000, CASE WHEN g % 2 = 0 THEN 'endpoint.pause' ELSE 'endpoint.disable' END,
                'endpoint', 'ep_' || lpad((g % 20)::text, 2, '0'), '', 'alice', 1, 'dashboard'
            FROM generate_series(1, 2000) g
            """,
            """
            INSERT INTO alerts (id, type, object_id, dedup_key, at, summary, details, status)
            SELECT 'alrt_' || g, CASE WHEN g % 2 = 0 THEN 'endpoint.failing' ELSE 'deliveries.dead' END,
                'ep_' || lpad((g % 20)::text, 2, '0'), 'k' || g, \(now - 3 * day) + g * 100000, 's', '{}', 'sent'
            FROM generate_series(1, 2000) g
            """,
            "INSERT INTO recoveries (endpoint_id, at, total) VALUES ('ep_03', \(now - 3_600_000), 50)",
            """
            INSERT INTO recovery_deliveries (recovery_id, delivery_id, message_created_at)
            SELECT 1, id, message_created_at FROM deliveries WHERE endpoint_id = 'ep_03' AND status = 'dead' LIMIT 50
            """,
            "ANALYZE",
        ] {
            try await seeder.run(statement)
        }
    }
}
