@testable import DeliveryCore
import Foundation
import HooktopTesting
import PostgresNIO
import Testing

/// One log built through the SQLite store (publishing, claims, attempts, a cancel, a recovery, alerts), copied into
/// PostgreSQL as its write path lays it out, reads the same on both engines.
struct PostgresSQLiteParityTests {
    @Test func bothEnginesReadTheSameLog() async throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let now = Date(milliseconds: Date().milliseconds)
        try Self.build(store, now: now)
        let sqlite = SQLiteEngine(store: store)
        try await withPostgresEngine { engine in
            try await Self.copy(store, into: engine, now: now)

            // SQLite keeps an in-flight delivery's last due time; PostgreSQL has none to tell (the lease replaced it).
            func plain(_ deliveries: [Delivery]) -> [Delivery] {
                deliveries.map { delivery in
                    var delivery = delivery
                    if delivery.status == .inflight { delivery.nextAttemptAt = nil }
                    return delivery
                }
            }
            let all = try await sqlite.deliveries(DeliveryQuery(limit: 1000))
            #expect(Set(all.map(\.status)) == [.pending, .inflight, .retrying, .delivered, .dead, .cancelled])
            let some = all[all.count / 2]
            var queries = [
                DeliveryQuery(limit: 1000), DeliveryQuery(limit: 3), DeliveryQuery(before: some.id),
                DeliveryQuery(statuses: [.inflight]), DeliveryQuery(statuses: [.pending, .retrying]),
                DeliveryQuery(statuses: [.dead, .cancelled, .inflight]), DeliveryQuery(endpointId: "ep_two"),
                DeliveryQuery(eventType: "user.*"), DeliveryQuery(eventType: "invoice.paid"),
                DeliveryQuery(messageId: some.messageId), DeliveryQuery(since: now.addingTimeInterval(-3600)),
                DeliveryQuery(until: now.addingTimeInterval(-3600)), DeliveryQuery(text: "refused"),
                DeliveryQuery(text: "TWO"),
            ]
            for order in DeliveryOrder.allCases {
                var query = DeliveryQuery(limit: 5)
                query.order = order
                query.after = order == .oldest ? some.id : nil
                queries.append(query)
            }
            for query in queries {
                let expected = plain(try await sqlite.deliveries(query))
                #expect(try await engine.deliveries(query) == expected, "\(query)")
            }
            #expect(try await engine.retryQueue(RetryQueueQuery()) == sqlite.retryQueue(RetryQueueQuery()))
            let oneQueue = RetryQueueQuery(endpointId: "ep_two", limit: 2)
            #expect(try await engine.retryQueue(oneQueue) == sqlite.retryQueue(oneQueue))

            let groups = try await sqlite.failureGroups(endpointId: nil, limit: 100)
            #expect(groups.count >= 2)
            #expect(try await engine.failureGroups(endpointId: nil, limit: 100) == groups)
            for group in groups {
                let expected = try await sqlite.failureSamples(
                    endpointId: group.endpointId, errorClass: group.errorClass, statusCode: group.statusCode, limit: 10)
                #expect(
                    try await engine.failureSamples(
                        endpointId: group.endpointId, errorClass: group.errorClass, statusCode: group.statusCode, limit: 10)
                        == expected)
            }
            #expect(try await engine.messages(eventType: nil, before: nil, limit: 100) == sqlite.messages(eventType: nil, before: nil, limit: 100))
            let page = try await sqlite.messages(eventType: "user.created", before: 9, limit: 2)
            #expect(try await engine.messages(eventType: "user.created", before: 9, limit: 2) == page)
            for delivery in all {
                var expected = try #require(try await sqlite.deliveryDetail(id: delivery.id))
                expected.delivery = plain([expected.delivery])[0]
                #expect(try await engine.deliveryDetail(id: delivery.id) == expected)
                #expect(try await engine.attempts(deliveryId: delivery.id) == sqlite.attempts(deliveryId: delivery.id))
            }
            #expect(try await engine.message(id: some.messageId) == sqlite.message(id: some.messageId))

            #expect(try await engine.statusTotals() == sqlite.statusTotals())
            #expect(try await engine.endpointSummaries(now: now) == sqlite.endpointSummaries(now: now))
            #expect(try await sqlite.overview(now: now).recentAttemptsByWorker == ["w:one": 1])
            #expect(try await engine.overview(now: now) == sqlite.overview(now: now))
            #expect(try await engine.workers() == sqlite.workers())
            for endpoint in ["ep_one", "ep_two", "ep_three"] {
                let since = now.addingTimeInterval(-2 * 86400)
                #expect(
                    try await engine.recoverableCount(endpointId: endpoint, since: since)
                        == sqlite.recoverableCount(endpointId: endpoint, since: since), "\(endpoint)")
                #expect(try await engine.recoveryProgress(endpointId: endpoint) == sqlite.recoveryProgress(endpointId: endpoint))
                #expect(try await engine.auditEntries(objectId: endpoint, limit: 5) == sqlite.auditEntries(objectId: endpoint, limit: 5))
            }
            #expect(try await sqlite.recoveryProgress(endpointId: "ep_three") != nil)
            #expect(try await engine.auditEntries(objectId: nil, limit: 100) == sqlite.auditEntries(objectId: nil, limit: 100))
            let alerts = try await sqlite.alerts(before: nil, limit: 10)
            #expect(alerts.count == 2)
            #expect(try await engine.alerts(before: nil, limit: 10) == alerts)
            #expect(try await engine.alert(id: alerts[0].id) == alerts[0])
            let deadSince = now.addingTimeInterval(-2 * 86400)
            #expect(
                try await engine.alertInputs(now: now, deadSince: deadSince)
                    == sqlite.alertInputs(now: now, deadSince: deadSince))
        }
    }

    /// Three endpoints; six messages thirty hours ago (ep_one delivers them, ep_two answers 500 and ep_three refuses,
    /// both without retries), six in the last hour (ep_one answers 500 and retries, one of them cancelled; ep_two's
    /// wait but one, delivered a minute ago; ep_three's, with its recovered dead ones, are in flight); a pause and
    /// resume; a dispatcher (which made that delivery); two alerts.
    static func build(_ store: Store, now: Date) throws {
        func at(_ seconds: TimeInterval) -> Date { now.addingTimeInterval(seconds) }
        let created = at(-3 * 86400)
        func add(_ id: String, _ url: String, types: [String] = []) throws -> Endpoint {
            try store.addEndpoint(
                url: url, changes: EndpointChanges(eventTypes: types, timeoutMilliseconds: 5000), secret: nil,
                allowPrivateDestination: true, id: id, now: created, by: testActor)
        }
        let one = try add("ep_one", "http://127.0.0.1:9/one")
        let two = try add("ep_two", "http://127.0.0.1:9/two", types: ["user.*"])
        let three = try add("ep_three", "http://127.0.0.1:9/three")
        for index in 0..<6 {
            _ = try store.publish(
                eventType: index % 2 == 0 ? "invoice.paid" : "user.created", payload: #"{"n":\#(index)}"#,
                now: at(-30 * 3600 + Double(index) * 60))
        }
        let day1 = at(-30 * 3600 + 600)
        try store.recordOutcome(try store.claimAll(one, now: day1), status: 200, now: day1)
        try store.recordOutcome(try store.claimAll(two, now: day1), status: 500, policy: RetryPolicy(delays: []), now: day1)
        try store.recordOutcome(try store.claimAll(three, now: day1), status: nil, policy: RetryPolicy(delays: []), now: day1)
        for index in 6..<12 {
            _ = try store.publish(
                eventType: index % 2 == 0 ? "invoice.paid" : "user.created", payload: #"{"n":\#(index)}"#,
                now: at(-3000 + Double(index - 6) * 60))
        }
        try store.recordOutcome(
            try store.claimAll(one, now: at(-2400)), status: 500, policy: RetryPolicy(delays: [3600], jitter: 0), now: at(-2400))
        let retrying = try store.deliveries(DeliveryQuery(statuses: [.retrying], endpointId: "ep_one", limit: 1))
        try store.cancelDelivery(deliveryId: try #require(retrying.first).id, now: at(-1800), by: testActor)
        _ = try store.setEndpointStatus(id: "ep_one", .paused, reason: nil, action: "endpoint.pause", now: at(-10800), by: testActor)
        _ = try store.setEndpointStatus(id: "ep_one", .active, reason: nil, action: "endpoint.resume", now: at(-7200), by: testActor)
        _ = try store.queueRecovery(endpointId: "ep_three", since: at(-2 * 86400), now: at(-1200), by: testActor)
        _ = try store.claimAll(three, owner: "w:one", now: at(-60), lease: 600)
        let sent = try store.claimDue([ClaimRequest(endpoint: two, limit: 1)], owner: "w:one", now: at(-60), lease: 600)
        try store.recordOutcome(sent, status: 200, owner: "w:one", now: at(-60))
        try store.heartbeat(
            WorkerInfo(id: "w:one", pid: 4, host: "box", startedAt: at(-3600), heartbeatAt: at(-1), version: "1.0.0",
                       inFlight: 9, retryDelays: [1, 5]))
        for (type, object) in [(AlertType.endpointFailing, "ep_two"), (.deliveriesDead, "ep_three")] {
            _ = try store.recordAlert(
                NewAlert(type: type, objectId: object, key: "k", debounce: nil, summary: "about \(object)", details: "{}"),
                status: .unsent, now: at(-900))
        }
    }

    /// Copies the SQLite log into PostgreSQL as the PostgreSQL write path would have written it: an in-flight
    /// delivery is a waiting one (retrying once attempted) with a leased queue row; counts split between two writers;
    /// failure groups, stats and health as one writer's rows.
    static func copy(_ store: Store, into engine: PostgresEngine, now: Date) async throws {
        let seeder = PostgresLogSeeder(engine: engine)
        try await seeder.makeDays(before: now.milliseconds, days: 3)
        let statements: [PostgresQuery] = try store.read { db in
            var all: [PostgresQuery] = []
            all += try db.query(
                """
                SELECT id, url, description, status, disabled_reason, disabled_at, event_types, secret, previous_secret,
                    previous_secret_expires_at, max_in_flight, timeout_ms, allow_private, connection, rate_limit, created_at,
                    updated_at, last_attempt_at, last_success_at, failing_since, last_error
                FROM endpoints
                """
            ) { row -> [PostgresQuery] in
                [
                    """
                    INSERT INTO endpoints (id, url, description, status, disabled_reason, disabled_at, event_types, secret,
                        previous_secret, previous_secret_expires_at, max_in_flight, timeout_ms, allow_private, connection,
                        rate_limit, created_at, updated_at)
                    VALUES (\(row.text(0)), \(row.text(1)), \(row.text(2)), \(row.text(3)), \(row.optionalText(4)),
                        \(row.optionalInt64(5)), \(row.text(6)), \(row.text(7)), \(row.optionalText(8)), \(row.optionalInt64(9)),
                        \(row.int(10)), \(row.int(11)), \(row.int(12) != 0), \(row.text(13)), \(row.optionalInt(14)),
                        \(row.int64(15)), \(row.int64(16)))
                    """,
                    """
                    INSERT INTO endpoint_health (endpoint_id, writer_id, last_attempt_at, last_success_at, failing_since, last_error)
                    VALUES (\(row.text(0)), 'w1', \(row.optionalInt64(17)), \(row.optionalInt64(18)), \(row.optionalInt64(19)),
                        \(row.optionalText(20)))
                    """,
                ]
            }.flatMap { $0 }
            all += try db.query("SELECT seq, id, event_type, payload, idempotency_key, created_at FROM messages") { row in
                """
                INSERT INTO messages (seq, id, event_type, payload, idempotency_key, created_at)
                VALUES (\(row.int64(0)), \(row.text(1)), \(row.text(2)), \(row.text(3)), \(row.optionalText(4)), \(row.int64(5)))
                """
            }
            all += try db.query(
                """
                SELECT d.id, d.message_seq, m.created_at, d.endpoint_id, d.event_type, d.status, d.attempt_count,
                    d.manual_count, d.last_status_code, d.last_error, d.last_error_class, d.last_latency_ms, d.created_at,
                    d.updated_at, d.next_attempt_at, d.lease_owner, d.lease_expires_at, d.manual
                FROM deliveries d JOIN messages m ON m.seq = d.message_seq
                """
            ) { row -> [PostgresQuery] in
                let status = row.text(5)
                let inflight = status == "inflight"
                let stored = inflight ? (row.int(6) > 0 ? "retrying" : "pending") : status
                var copied: [PostgresQuery] = [
                    """
                    INSERT INTO deliveries (id, message_seq, message_created_at, endpoint_id, event_type, status,
                        attempt_count, manual_count, last_status_code, last_error, last_error_class, last_latency_ms,
                        created_at, updated_at)
                    VALUES (\(row.int64(0)), \(row.int64(1)), \(row.int64(2)), \(row.text(3)), \(row.text(4)), \(stored),
                        \(row.int(6)), \(row.int(7)), \(row.optionalInt(8)), \(row.optionalText(9)), \(row.optionalText(10)),
                        \(row.optionalInt(11)), \(row.int64(12)), \(row.int64(13)))
                    """,
                    """
                    INSERT INTO delivery_counts (endpoint_id, status, writer_id, n)
                    VALUES (\(row.text(3)), \(stored), \(row.int64(0) % 2 == 0 ? "w1" : "w2"), 1)
                    ON CONFLICT (endpoint_id, status, writer_id) DO UPDATE SET n = delivery_counts.n + 1
                    """,
                ]
                if stored == "pending" || stored == "retrying" {
                    copied.append(
                        """
                        INSERT INTO delivery_queue (delivery_id, message_created_at, endpoint_id, available_at, lease_owner,
                            claims, manual)
                        VALUES (\(row.int64(0)), \(row.int64(2)), \(row.text(3)),
                            \(inflight ? row.int64(16) : row.int64(14)), \(inflight ? row.optionalText(15) : nil),
                            \(inflight ? 1 : 0), \(row.int(17)))
                        """)
                }
                return copied
            }.flatMap { $0 }
            all += try db.query(
                """
                SELECT id, delivery_id, number, trigger, started_at, duration_ms, request_headers, response_status,
                    response_headers, response_body, error_class, error_message FROM attempts
                """
            ) { row in
                """
                INSERT INTO attempts (id, delivery_id, number, trigger, started_at, duration_ms, request_headers,
                    response_status, response_headers, response_body, error_class, error_message)
                VALUES (\(row.int64(0)), \(row.int64(1)), \(row.int(2)), \(row.text(3)), \(row.int64(4)), \(row.int(5)),
                    \(row.text(6)), \(row.optionalInt(7)), \(row.optionalText(8)), \(row.optionalText(9)),
                    \(row.optionalText(10)), \(row.optionalText(11)))
                """
            }
            all += try db.query("SELECT endpoint_id, error_class, status_code, dead, retrying, last_at, last_error FROM failure_groups") { row in
                """
                INSERT INTO failure_groups (endpoint_id, error_class, status_code, writer_id, dead, retrying, last_at, last_error)
                VALUES (\(row.text(0)), \(row.text(1)), \(row.int(2)), 'w1', \(row.int64(3)), \(row.int64(4)), \(row.int64(5)),
                    \(row.optionalText(6)))
                """
            }
            all += try db.query(
                "SELECT minute, endpoint_id, attempts, successes, failures, latency_sum_ms, \(Self.buckets) FROM stats_minute"
            ) { row in
                let histogram = (0..<LatencyBuckets.count).map { String(row.int64(Int32(6 + $0))) }.joined(separator: ", ")
                return """
                    INSERT INTO stats_minute (minute, endpoint_id, writer_id, attempts, successes, failures, latency_sum_ms,
                        \(unescaped: Self.buckets))
                    VALUES (\(row.int64(0)), \(row.text(1)), 'w1', \(row.int64(2)), \(row.int64(3)), \(row.int64(4)),
                        \(row.int64(5)), \(unescaped: histogram))
                    """
            }
            all += try db.query("SELECT worker_id, minute, attempts FROM worker_minute") { row in
                """
                INSERT INTO worker_minute (worker_id, minute, attempts)
                VALUES (\(row.text(0)), \(row.int64(1)), \(row.int64(2)))
                """
            }
            all += try db.query("SELECT id, pid, host, started_at, heartbeat_at, version, in_flight, retry_delays FROM workers") { row in
                """
                INSERT INTO workers (id, pid, host, started_at, heartbeat_at, version, in_flight, retry_delays)
                VALUES (\(row.text(0)), \(row.int(1)), \(row.text(2)), \(row.int64(3)), \(row.int64(4)), \(row.text(5)),
                    \(row.int(6)), \(row.optionalText(7)))
                """
            }
            all += try db.query("SELECT id, at, action, object_type, object_id, detail, os_user, pid, via, origin, tty FROM audit") { row in
                """
                INSERT INTO audit (id, at, action, object_type, object_id, detail, os_user, pid, via, origin, tty)
                VALUES (\(row.int64(0)), \(row.int64(1)), \(row.text(2)), \(row.text(3)), \(row.text(4)), \(row.text(5)),
                    \(row.text(6)), \(row.int(7)), \(row.text(8)), \(row.optionalText(9)), \(row.optionalText(10)))
                """
            }
            all += try db.query(
                """
                SELECT seq, id, type, object_id, dedup_key, at, summary, details, status, attempts, next_attempt_at,
                    last_error, sent_at, sent_to FROM alerts
                """
            ) { row in
                """
                INSERT INTO alerts (seq, id, type, object_id, dedup_key, at, summary, details, status, attempts,
                    next_attempt_at, last_error, sent_at, sent_to)
                VALUES (\(row.int64(0)), \(row.text(1)), \(row.text(2)), \(row.text(3)), \(row.text(4)), \(row.int64(5)),
                    \(row.text(6)), \(row.text(7)), \(row.text(8)), \(row.int(9)), \(row.optionalInt64(10)),
                    \(row.optionalText(11)), \(row.optionalInt64(12)), \(row.text(13)))
                """
            }
            all += try db.query("SELECT id, endpoint_id, at, total FROM recoveries") { row in
                """
                INSERT INTO recoveries (id, endpoint_id, at, total)
                VALUES (\(row.int64(0)), \(row.text(1)), \(row.int64(2)), \(row.int(3)))
                """
            }
            all += try db.query(
                """
                SELECT r.recovery_id, r.delivery_id, m.created_at FROM recovery_deliveries r
                JOIN deliveries d ON d.id = r.delivery_id JOIN messages m ON m.seq = d.message_seq
                """
            ) { row in
                """
                INSERT INTO recovery_deliveries (recovery_id, delivery_id, message_created_at)
                VALUES (\(row.int64(0)), \(row.int64(1)), \(row.int64(2)))
                """
            }
            return all
        }
        for statement in statements { try await seeder.run(statement) }
    }

    static let buckets = (0..<LatencyBuckets.count).map { "h\($0)" }.joined(separator: ", ")
}
