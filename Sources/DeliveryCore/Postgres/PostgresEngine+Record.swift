import Foundation
import Logging
import PostgresNIO

/// Recording finished attempts: `AttemptRules` decides, as on SQLite; the batch is written in a fixed number of
/// statements (rows passed as one JSON parameter each), and the counters, failure groups, stats and health it moves
/// are this writer's rows.
extension PostgresEngine {
    /// A delivery as recording sees it: the log's row and its queue row's lease.
    /// A delivery's new state, a row of the batch's update.
    private struct DeliveryUpdate {
        var day: Int64
        var status: String
        var attemptCount: Int
        var manualCount: Int
        var lastStatusCode: Int?
        var lastError: String?
        var lastErrorClass: String?
        var lastLatency: Int
    }

    /// The batch's attempts, a column each (bound as arrays and inserted through `unnest`).
    private struct AttemptRows {
        var deliveryIds: [Int64] = []
        var numbers: [Int] = []
        var triggers: [String] = []
        var startedAt: [Int64] = []
        var durations: [Int] = []
        var requestHeaders: [String] = []
        var responseStatuses = PostgresNullableArray<Int>([])
        var responseHeaders = PostgresNullableArray<String>([])
        var responseBodies = PostgresNullableArray<String>([])
        var errorClasses = PostgresNullableArray<String>([])
        var errorMessages = PostgresNullableArray<String>([])

        mutating func append(_ outcome: AttemptOutcome, number: Int) {
            deliveryIds.append(outcome.deliveryId)
            numbers.append(number)
            triggers.append(outcome.trigger.rawValue)
            startedAt.append(outcome.startedAt.milliseconds)
            durations.append(outcome.durationMilliseconds)
            requestHeaders.append(PostgresEngine.storable(HeaderCoding.encode(outcome.requestHeaders)))
            responseStatuses.elements.append(outcome.responseStatus)
            responseHeaders.elements.append(
                outcome.responseHeaders.isEmpty ? nil : PostgresEngine.storable(HeaderCoding.encode(outcome.responseHeaders)))
            responseBodies.elements.append(outcome.responseBodyExcerpt.map(PostgresEngine.storable))
            errorClasses.elements.append(outcome.errorClass?.rawValue)
            errorMessages.elements.append(outcome.errorMessage.map(PostgresEngine.storable))
        }
    }

    private struct Tracked {
        var state: AttemptRules.DeliveryState
        var day: Int64
        var endpointId: String
        var errorClass: String?
        var statusCode: Int?
        var leaseOwner: String?
        var claims: Int?
    }

    func record(
        _ outcomes: [AttemptOutcome], owner: String, policy: RetryPolicy, autoDisableAfter: TimeInterval?, now: Date,
        on connection: PostgresConnection
    ) async throws {
        guard !outcomes.isEmpty else { return }
        var random = SystemRandomNumberGenerator()
        var tracked = try await trackedDeliveries(outcomes, on: connection)
        var attempts = AttemptRows()
        var updates: [Int64: DeliveryUpdate] = [:]
        var finished: Set<Int64> = []
        var retries: [Int64: Int64] = [:]
        var moves = StatusMoves()
        var groups = FailureGroupMoves()
        var stats: [Store.StatsKey: Store.StatsDelta] = [:]
        var seen: [String: AttemptRules.EndpointAttempts] = [:]
        for outcome in outcomes {
            // Deleted meanwhile (endpoint removed, pruned): nothing to record.
            guard var delivery = tracked[outcome.deliveryId] else { continue }
            var state = delivery.state
            // In flight for the rules only while leased to this recorder under the claim it was sent under.
            if delivery.leaseOwner == owner, delivery.claims == outcome.claim {
                state.status = .inflight
                state.leaseOwner = owner
            } else {
                state.leaseOwner = delivery.leaseOwner
            }
            let decision = AttemptRules.decide(
                state, outcome: outcome, owner: owner, policy: policy.overridden(by: outcome.retrySchedule), now: now,
                random: &random)
            attempts.append(outcome, number: decision.attemptNumber)
            Store.accumulate(outcome, into: &stats)
            seen[outcome.endpointId, default: AttemptRules.EndpointAttempts()].add(outcome, gone: decision.endpointGone)
            guard let update = decision.update else { continue }
            let old = delivery.state.status
            moves.move(delivery.endpointId, from: old, to: update.status)
            groups.leave(delivery.endpointId, errorClass: delivery.errorClass, statusCode: delivery.statusCode, status: old)
            groups.join(
                delivery.endpointId, errorClass: update.lastErrorClass?.rawValue, statusCode: outcome.responseStatus,
                status: update.status, lastError: update.lastError.map(Self.storable), at: now)
            updates[outcome.deliveryId] = DeliveryUpdate(
                day: delivery.day, status: update.status.rawValue, attemptCount: update.attemptCount,
                manualCount: update.manualCount, lastStatusCode: outcome.responseStatus,
                lastError: update.lastError.map(Self.storable), lastErrorClass: update.lastErrorClass?.rawValue,
                lastLatency: outcome.durationMilliseconds)
            if let next = update.nextAttemptAt {
                retries[outcome.deliveryId] = next.milliseconds
                finished.remove(outcome.deliveryId)
            } else {
                finished.insert(outcome.deliveryId)
                retries[outcome.deliveryId] = nil
            }
            // The same delivery may finish twice in one batch (a lease that ran out and was claimed again).
            delivery.state = delivery.state.applying(update)
            delivery.errorClass = update.lastErrorClass?.rawValue
            delivery.statusCode = outcome.responseStatus
            delivery.leaseOwner = nil
            tracked[outcome.deliveryId] = delivery
        }
        try await execute(
            """
            INSERT INTO attempts (delivery_id, number, trigger, started_at, duration_ms, request_headers, response_status,
                response_headers, response_body, error_class, error_message)
            SELECT * FROM unnest(\(attempts.deliveryIds)::bigint[], \(attempts.numbers)::bigint[], \(attempts.triggers)::text[],
                \(attempts.startedAt)::bigint[], \(attempts.durations)::bigint[], \(attempts.requestHeaders)::text[],
                \(attempts.responseStatuses)::bigint[], \(attempts.responseHeaders)::text[],
                \(attempts.responseBodies)::text[], \(attempts.errorClasses)::text[], \(attempts.errorMessages)::text[])
            """, on: connection)
        if !updates.isEmpty {
            let ids = Array(updates.keys)
            let rows = ids.map { updates[$0]! }
            // The days bound as constants let the planner keep to their partitions (a join alone would plan every
            // day's partition and its indexes on each batch).
            try await execute(
                """
                UPDATE deliveries d SET status = u.status, attempt_count = u.attempt_count, manual_count = u.manual_count,
                    last_status_code = u.last_status_code, last_error = u.last_error,
                    last_error_class = u.last_error_class, last_latency_ms = u.last_latency_ms, updated_at = \(now.milliseconds)
                FROM unnest(\(ids)::bigint[], \(rows.map(\.day))::bigint[], \(rows.map(\.status))::text[],
                    \(rows.map(\.attemptCount))::bigint[], \(rows.map(\.manualCount))::bigint[],
                    \(PostgresNullableArray(rows.map(\.lastStatusCode)))::bigint[],
                    \(PostgresNullableArray(rows.map(\.lastError)))::text[],
                    \(PostgresNullableArray(rows.map(\.lastErrorClass)))::text[], \(rows.map(\.lastLatency))::bigint[])
                    AS u(id, day, status, attempt_count, manual_count, last_status_code, last_error, last_error_class,
                        last_latency_ms)
                WHERE d.id = u.id AND d.message_created_at = u.day
                    AND d.message_created_at = ANY(\(Array(Set(rows.map(\.day))))::bigint[])
                """, on: connection)
        }
        if !finished.isEmpty {
            try await execute(
                "DELETE FROM delivery_queue WHERE delivery_id = ANY(\(Array(finished))::bigint[])", on: connection)
        }
        if !retries.isEmpty {
            try await execute(
                """
                UPDATE delivery_queue q SET available_at = u.at, lease_owner = NULL, manual = 0
                FROM unnest(\(Array(retries.keys))::bigint[], \(Array(retries.values))::bigint[]) AS u(id, at)
                WHERE q.delivery_id = u.id
                """, on: connection)
        }
        try await applyCounts(moves, on: connection)
        try await groups.apply(by: self, on: connection)
        try await applyStats(stats, on: connection)
        let perMinute = Store.attemptsPerMinute(outcomes, owner: owner)
        if !perMinute.isEmpty {
            try await execute(
                """
                INSERT INTO worker_minute (worker_id, minute, attempts)
                SELECT \(owner), minute, attempts
                FROM unnest(\(perMinute.map(\.key))::bigint[], \(perMinute.map { Int64($0.value) })::bigint[])
                    AS m(minute, attempts)
                ON CONFLICT (worker_id, minute) DO UPDATE SET attempts = worker_minute.attempts + excluded.attempts
                """, on: connection)
        }
        try await applyHealth(seen, autoDisableAfter: autoDisableAfter, now: now, on: connection)
    }

    /// The outcomes' deliveries with their queue rows' leases (locked, so a claim cannot move them meanwhile).
    private func trackedDeliveries(_ outcomes: [AttemptOutcome], on connection: PostgresConnection) async throws
        -> [Int64: Tracked]
    {
        let ids = Array(Set(outcomes.map(\.deliveryId)))
        let days = Array(Set(outcomes.compactMap { $0.messageCreatedAt?.milliseconds }))
        let columns = """
            d.id, d.message_created_at, d.status, d.attempt_count, d.manual_count, d.endpoint_id, d.last_error_class,
            d.last_status_code
            """
        // Queued deliveries are read with their queue rows, in their days' partitions only (the days bound as
        // constants, so the planner keeps to those partitions).
        var found = try await rows(
            """
            SELECT \(unescaped: columns), q.lease_owner, q.claims, q.manual
            FROM delivery_queue q JOIN deliveries d ON d.id = q.delivery_id AND d.message_created_at = q.message_created_at
            WHERE q.delivery_id = ANY(\(ids)::bigint[]) AND d.message_created_at = ANY(\(days)::bigint[])
            FOR UPDATE OF q
            """, on: connection)
        // Rare: an outcome without its message's day is looked up in every day, and a finisher's delivery that
        // left the queue meanwhile has the log's row alone.
        func missing() throws -> [Int64] {
            let seen = try Set(found.map { try $0.int64(0) })
            return ids.filter { !seen.contains($0) }
        }
        if case let rest = try missing(), !rest.isEmpty {
            found += try await rows(
                """
                SELECT \(unescaped: columns), q.lease_owner, q.claims, q.manual
                FROM delivery_queue q JOIN deliveries d ON d.id = q.delivery_id AND d.message_created_at = q.message_created_at
                WHERE q.delivery_id = ANY(\(rest)::bigint[])
                FOR UPDATE OF q
                """, on: connection)
        }
        if case let rest = try missing(), !rest.isEmpty {
            found += try await rows(
                """
                SELECT \(unescaped: columns), NULL::text, NULL::integer, NULL::smallint FROM deliveries d
                WHERE d.id = ANY(\(rest)::bigint[])
                """, on: connection)
        }
        var tracked: [Int64: Tracked] = [:]
        for row in found {
            tracked[try row.int64(0)] = Tracked(
                state: AttemptRules.DeliveryState(
                    // An unknown status is not in flight: its attempt is logged and the delivery left alone.
                    status: DeliveryStatus(rawValue: try row.text(2)) ?? .pending, attemptCount: try row.int(3),
                    manualCount: try row.int(4), manual: ManualMode(rawValue: try row.optionalInt(10) ?? 0) ?? .scheduled,
                    leaseOwner: nil),
                day: try row.int64(1), endpointId: try row.text(5), errorClass: try row.optionalText(6),
                statusCode: try row.optionalInt(7), leaseOwner: try row.optionalText(8), claims: try row.optionalInt(9))
        }
        return tracked
    }

    /// Text PostgreSQL stores: it has no NUL character, which a hostile response body may hold.
    static func storable(_ text: String) -> String {
        text.contains("\u{0}") ? text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : text
    }

    private func applyStats(_ stats: [Store.StatsKey: Store.StatsDelta], on connection: PostgresConnection) async throws {
        guard !stats.isEmpty else { return }
        let rows = Array(stats)
        let buckets = (0..<LatencyBuckets.count).map { "h\($0)" }
        let columns = "minute, endpoint_id, attempts, successes, failures, latency_sum_ms, " + buckets.joined(separator: ", ")
        let sums = (["attempts", "successes", "failures", "latency_sum_ms"] + buckets)
            .map { "\($0) = stats_minute.\($0) + excluded.\($0)" }.joined(separator: ", ")
        var bindings = PostgresBindings()
        bindings.append(writerId)
        bindings.append(rows.map(\.key.minute))
        bindings.append(rows.map(\.key.endpointId))
        for column: KeyPath<Store.StatsDelta, Int> in [\.attempts, \.successes, \.failures, \.latencySum] {
            bindings.append(rows.map { $0.value[keyPath: column] })
        }
        for index in buckets.indices { bindings.append(rows.map { $0.value.histogram[index] }) }
        let arrays = ["$2::bigint[]", "$3::text[]"] + (4...bindings.count).map { "$\($0)::bigint[]" }
        try await execute(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO stats_minute (writer_id, \(columns))
                    SELECT $1, * FROM unnest(\(arrays.joined(separator: ", ")))
                    ON CONFLICT (minute, endpoint_id, writer_id) DO UPDATE SET \(sums)
                    """, binds: bindings), on: connection)
    }

    /// This writer's health row of each endpoint, and the disabling `AttemptRules` decides on the endpoint's health
    /// as all writers together saw it.
    private func applyHealth(
        _ seen: [String: AttemptRules.EndpointAttempts], autoDisableAfter: TimeInterval?, now: Date,
        on connection: PostgresConnection
    ) async throws {
        guard !seen.isEmpty else { return }
        let ids = Array(seen.keys)
        var statuses: [String: EndpointStatus] = [:]
        for row in try await rows("SELECT id, status FROM endpoints WHERE id = ANY(\(ids)::text[])", on: connection) {
            statuses[try row.text(0)] = EndpointStatus(rawValue: try row.text(1)) ?? .active
        }
        var writers: [String: [(writer: String, health: AttemptRules.EndpointHealth)]] = [:]
        for row in try await rows(
            """
            SELECT endpoint_id, writer_id, last_attempt_at, last_success_at, failing_since, last_error
            FROM endpoint_health WHERE endpoint_id = ANY(\(ids)::text[])
            """, on: connection)
        {
            writers[try row.text(0), default: []].append(
                (
                    try row.text(1),
                    AttemptRules.EndpointHealth(
                        status: .active, lastAttemptAt: try row.optionalDate(2), lastSuccessAt: try row.optionalDate(3),
                        failingSince: try row.optionalDate(4), lastError: try row.optionalText(5))
                ))
        }
        var own: [(endpointId: String, health: AttemptRules.EndpointHealth)] = []
        var disabling: [(endpointId: String, reason: String)] = []
        for (endpointId, attempts) in seen {
            guard let status = statuses[endpointId] else { continue }  // removed meanwhile
            let rows = writers[endpointId] ?? []
            var mine = rows.first { $0.writer == writerId }?.health ?? AttemptRules.EndpointHealth(status: status)
            mine.status = status
            var combined = Self.combinedHealth(rows.map(\.health))
            combined.status = status
            own.append((endpointId, AttemptRules.endpoint(mine, after: attempts, autoDisableAfter: nil, now: now).health))
            if let reason = AttemptRules.endpoint(combined, after: attempts, autoDisableAfter: autoDisableAfter, now: now)
                .disableReason
            {
                disabling.append((endpointId, reason))
            }
        }
        if !own.isEmpty {
            let health = own.map(\.health)
            try await execute(
                """
                INSERT INTO endpoint_health (endpoint_id, writer_id, last_attempt_at, last_success_at, failing_since,
                    last_error)
                SELECT endpoint_id, \(writerId), last_attempt_at, last_success_at, failing_since, last_error
                FROM unnest(\(own.map(\.endpointId))::text[],
                    \(PostgresNullableArray(health.map { $0.lastAttemptAt?.milliseconds }))::bigint[],
                    \(PostgresNullableArray(health.map { $0.lastSuccessAt?.milliseconds }))::bigint[],
                    \(PostgresNullableArray(health.map { $0.failingSince?.milliseconds }))::bigint[],
                    \(PostgresNullableArray(health.map { $0.lastError.map(Self.storable) }))::text[])
                    AS h(endpoint_id, last_attempt_at, last_success_at, failing_since, last_error)
                ON CONFLICT (endpoint_id, writer_id) DO UPDATE SET last_attempt_at = excluded.last_attempt_at,
                    last_success_at = excluded.last_success_at, failing_since = excluded.failing_since,
                    last_error = excluded.last_error
                """, on: connection)
        }
        let system = Principal(user: "hooktop", pid: Int(getpid()), via: "dispatcher")
        for (endpointId, reason) in disabling {
            let disabled = try await self.rows(
                """
                UPDATE endpoints SET status = 'disabled', disabled_reason = \(reason), disabled_at = \(now.milliseconds),
                    updated_at = \(now.milliseconds)
                WHERE id = \(endpointId) AND status <> 'disabled' RETURNING id
                """, on: connection)
            if !disabled.isEmpty {
                try await audit(connection, "endpoint.disable", "endpoint", endpointId, reason, system, now)
            }
        }
    }

    /// An endpoint's health from every writer's row: the latest attempt and success; failing since the earliest
    /// failure any writer saw after the latest success; the error of the latest attempt.
    static func combinedHealth(_ rows: [AttemptRules.EndpointHealth]) -> AttemptRules.EndpointHealth {
        var health = AttemptRules.EndpointHealth(status: .active)
        health.lastAttemptAt = rows.compactMap(\.lastAttemptAt).max()
        health.lastSuccessAt = rows.compactMap(\.lastSuccessAt).max()
        health.failingSince = rows.compactMap(\.failingSince).filter { $0 > (health.lastSuccessAt ?? .distantPast) }.min()
        health.lastError = rows.max { ($0.lastAttemptAt ?? .distantPast) < ($1.lastAttemptAt ?? .distantPast) }?.lastError
        return health
    }
}

/// What status changes do to the failure groups (the SQLite log's trigger, written by the statements here): a
/// delivery leaves its group when it stops failing and joins the group of its new error when it fails.
struct FailureGroupMoves {
    private struct Key: Hashable {
        var endpointId: String
        var errorClass: String
        var statusCode: Int
    }

    private struct Delta {
        var dead = 0
        var retrying = 0
        var lastAt: Int64 = 0
        var lastError: String?
    }

    private var deltas: [Key: Delta] = [:]

    /// A delivery in `status` with this error leaves its group (nothing unless dead or retrying).
    mutating func leave(_ endpointId: String, errorClass: String?, statusCode: Int?, status: DeliveryStatus) {
        let key = Key(endpointId: endpointId, errorClass: errorClass ?? "", statusCode: statusCode ?? 0)
        switch status {
        case .dead: deltas[key, default: Delta()].dead -= 1
        case .retrying: deltas[key, default: Delta()].retrying -= 1
        default: break
        }
    }

    /// A delivery joins the group of its new error in `status` (nothing unless dead or retrying).
    mutating func join(
        _ endpointId: String, errorClass: String?, statusCode: Int?, status: DeliveryStatus, lastError: String?, at: Date
    ) {
        guard status == .dead || status == .retrying else { return }
        let key = Key(endpointId: endpointId, errorClass: errorClass ?? "", statusCode: statusCode ?? 0)
        var delta = deltas[key, default: Delta()]
        if status == .dead { delta.dead += 1 } else { delta.retrying += 1 }
        delta.lastAt = at.milliseconds
        delta.lastError = lastError
        deltas[key] = delta
    }

    /// Adds the changes to `writer`'s rows.
    func apply(by engine: PostgresEngine, on connection: PostgresConnection) async throws {
        let changed = deltas.filter { $0.value.dead != 0 || $0.value.retrying != 0 }
        guard !changed.isEmpty else { return }
        let keys = Array(changed.keys)
        let values = keys.map { changed[$0]! }
        try await engine.execute(
            """
            INSERT INTO failure_groups (endpoint_id, error_class, status_code, writer_id, dead, retrying, last_at, last_error)
            SELECT endpoint_id, error_class, status_code, \(engine.writerId), dead, retrying, last_at, last_error
            FROM unnest(\(keys.map(\.endpointId))::text[], \(keys.map(\.errorClass))::text[],
                \(keys.map(\.statusCode))::bigint[], \(values.map(\.dead))::bigint[], \(values.map(\.retrying))::bigint[],
                \(values.map(\.lastAt))::bigint[], \(PostgresNullableArray(values.map(\.lastError)))::text[])
                AS g(endpoint_id, error_class, status_code, dead, retrying, last_at, last_error)
            ON CONFLICT (endpoint_id, error_class, status_code, writer_id) DO UPDATE SET
                dead = failure_groups.dead + excluded.dead, retrying = failure_groups.retrying + excluded.retrying,
                last_error = CASE WHEN excluded.last_error IS NOT NULL AND excluded.last_at >= failure_groups.last_at
                    THEN excluded.last_error ELSE failure_groups.last_error END,
                last_at = greatest(failure_groups.last_at, excluded.last_at)
            """, on: connection)
    }
}
