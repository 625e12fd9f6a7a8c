@testable import DeliveryCore
import Foundation
import HooktopReceivers
import HooktopTesting
import PostgresNIO
import Testing

/// Opens an engine on a new database of the test server, runs `body` and closes it.
func withPostgresEngine<T: Sendable>(_ body: (PostgresEngine) async throws -> T) async throws -> T {
    try await TestEngine.postgres.withEngine { engine in try await body(try #require(engine as? PostgresEngine)) }
}

/// Writes a PostgreSQL log by SQL as the engine's write path does: a queue row for each waiting delivery (leased or
/// not), counts, failure groups, stats and health added per writer as signed deltas.
struct PostgresLogSeeder {
    let engine: PostgresEngine

    @discardableResult
    func run(_ query: PostgresQuery) async throws -> [PGRow] { try await engine.rows(query) }

    /// Makes the day partitions from `days` days before `now` on (the engine made yesterday's and the days ahead).
    func makeDays(before now: Int64, days: Int) async throws {
        _ = try await engine.pool.client.withConnection { connection in
            try await PostgresSchema.createPartitions(
                connection, from: Date(milliseconds: now - Int64(days) * 86_400_000), days: days + 1, logger: quietLogger)
        }
    }

    func endpoint(
        _ id: String, url: String, description: String = "", status: EndpointStatus = .active, eventTypes: [String] = [],
        createdAt: Int64, disabledAt: Int64? = nil, reason: String? = nil
    ) async throws {
        try await run(
            """
            INSERT INTO endpoints (id, url, description, status, disabled_reason, disabled_at, event_types, secret,
                created_at, updated_at)
            VALUES (\(id), \(url), \(description), \(status.rawValue), \(reason), \(disabledAt),
                \(eventTypes.joined(separator: ",")), 'whsec_dGVzdHRlc3R0ZXN0dGVzdA==', \(createdAt), \(createdAt))
            """)
    }

    struct SeededMessage: Sendable {
        var seq: Int64
        var id: String
        var type: String
        var at: Int64
    }

    func message(_ id: String, type: String, at: Int64, payload: String = "{}") async throws -> SeededMessage {
        let rows = try await run(
            "INSERT INTO messages (id, event_type, payload, created_at) VALUES (\(id), \(type), \(payload), \(at)) RETURNING seq")
        return SeededMessage(seq: try rows[0].int64(0), id: id, type: type, at: at)
    }

    /// Where a waiting delivery's queue row stands.
    enum Queue: Sendable {
        /// Not leased: due at `due`.
        case waiting(due: Int64, manual: Int = 0)
        /// Leased by `owner` until `until` (in flight while that is to come, claimable again after).
        case leased(until: Int64, owner: String)
    }

    struct DeliverySpec: Sendable {
        var message: SeededMessage
        var endpointId: String
        var status: DeliveryStatus
        var queue: Queue?
        var attempts = 0
        var manualCount = 0
        var errorClass: ErrorClass?
        var statusCode: Int?
        var error: String?
        var latency: Int?
        var createdAt: Int64
        var updatedAt: Int64
        /// The writer that made it (counted it pending).
        var writer = "w1"
        /// The writer that moved it to its status, when another.
        var finisher: String?
        /// The status it had before its finisher moved it (failure groups move from `retrying`).
        var from: DeliveryStatus = .pending
        var id: Int64 = 0

        /// Its status as the reads report it at `now`.
        func reported(now: Int64) -> DeliveryStatus {
            if case .leased(let until, _) = queue, until > now { return .inflight }
            return status
        }

        func nextAttempt(now: Int64) -> Date? {
            switch queue {
            case .waiting(let due, _): Date(milliseconds: due)
            case .leased(let until, _): until > now ? nil : Date(milliseconds: until)
            case nil: nil
            }
        }
    }

    /// Inserts the delivery, its queue row, and its counts and failure group as its writers would have.
    func delivery(_ spec: DeliverySpec) async throws -> DeliverySpec {
        var spec = spec
        let rows = try await run(
            """
            INSERT INTO deliveries (message_seq, message_created_at, endpoint_id, event_type, status, attempt_count,
                manual_count, last_status_code, last_error, last_error_class, last_latency_ms, created_at, updated_at)
            VALUES (\(spec.message.seq), \(spec.message.at), \(spec.endpointId), \(spec.message.type),
                \(spec.status.rawValue), \(spec.attempts), \(spec.manualCount), \(spec.statusCode), \(spec.error),
                \(spec.errorClass?.rawValue), \(spec.latency), \(spec.createdAt), \(spec.updatedAt))
            RETURNING id
            """)
        spec.id = try rows[0].int64(0)
        switch spec.queue {
        case .waiting(let due, let manual):
            try await run(
                """
                INSERT INTO delivery_queue (delivery_id, message_created_at, endpoint_id, available_at, manual)
                VALUES (\(spec.id), \(spec.message.at), \(spec.endpointId), \(due), \(manual))
                """)
        case .leased(let until, let owner):
            try await run(
                """
                INSERT INTO delivery_queue (delivery_id, message_created_at, endpoint_id, available_at, lease_owner, claims)
                VALUES (\(spec.id), \(spec.message.at), \(spec.endpointId), \(until), \(owner), 1)
                """)
        case nil: break
        }
        if let finisher = spec.finisher {
            try await count(spec.endpointId, .pending, writer: spec.writer, 1)
            try await count(spec.endpointId, .pending, writer: finisher, -1)
            try await count(spec.endpointId, spec.status, writer: finisher, 1)
        } else {
            try await count(spec.endpointId, spec.status, writer: spec.writer, 1)
        }
        if spec.status == .dead || spec.status == .retrying {
            let writer = spec.finisher ?? spec.writer
            if spec.from == .retrying && spec.status == .dead {
                // It failed for `writer` first (retrying, an older error), then died for its finisher.
                try await failure(
                    spec, writer: spec.writer, dead: 0, retrying: 1, at: spec.updatedAt - 1000,
                    error: (spec.error ?? "") + " (earlier)")
                try await failure(spec, writer: writer, dead: 1, retrying: -1, at: spec.updatedAt, error: spec.error)
            } else {
                try await failure(
                    spec, writer: writer, dead: spec.status == .dead ? 1 : 0, retrying: spec.status == .retrying ? 1 : 0,
                    at: spec.updatedAt, error: spec.error)
            }
        }
        return spec
    }

    func count(_ endpointId: String, _ status: DeliveryStatus, writer: String, _ delta: Int) async throws {
        try await run(
            """
            INSERT INTO delivery_counts (endpoint_id, status, writer_id, n) VALUES (\(endpointId), \(status.rawValue), \(writer), \(delta))
            ON CONFLICT (endpoint_id, status, writer_id) DO UPDATE SET n = delivery_counts.n + excluded.n
            """)
    }

    func failure(_ spec: DeliverySpec, writer: String, dead: Int, retrying: Int, at: Int64, error: String?) async throws {
        try await failureGroup(
            spec.endpointId, spec.errorClass?.rawValue ?? "", spec.statusCode ?? 0, writer: writer, dead: dead,
            retrying: retrying, at: at, error: error)
    }

    func failureGroup(
        _ endpointId: String, _ errorClass: String, _ statusCode: Int, writer: String, dead: Int, retrying: Int, at: Int64,
        error: String?
    ) async throws {
        try await run(
            """
            INSERT INTO failure_groups (endpoint_id, error_class, status_code, writer_id, dead, retrying, last_at, last_error)
            VALUES (\(endpointId), \(errorClass), \(statusCode), \(writer), \(dead), \(retrying), \(at), \(error))
            ON CONFLICT (endpoint_id, error_class, status_code, writer_id) DO UPDATE SET
                dead = failure_groups.dead + excluded.dead, retrying = failure_groups.retrying + excluded.retrying,
                last_error = CASE WHEN excluded.last_at >= failure_groups.last_at THEN excluded.last_error
                    ELSE failure_groups.last_error END,
                last_at = greatest(failure_groups.last_at, excluded.last_at)
            """)
    }

    func attempt(
        deliveryId: Int64, number: Int, startedAt: Int64, status: Int?, errorClass: ErrorClass? = nil,
        error: String? = nil, body: String? = nil, manual: Bool = false
    ) async throws {
        try await run(
            """
            INSERT INTO attempts (delivery_id, number, trigger, started_at, duration_ms, request_headers, response_status,
                response_headers, response_body, error_class, error_message)
            VALUES (\(deliveryId), \(number), \(manual ? "manual" : "scheduled"), \(startedAt), 42,
                '[["webhook-id","msg"]]', \(status), \(status == nil ? nil : "[[\"content-type\",\"text/plain\"]]"),
                \(body), \(errorClass?.rawValue), \(error))
            """)
    }

    func health(
        _ endpointId: String, writer: String, lastAttemptAt: Int64?, lastSuccessAt: Int64?, failingSince: Int64?,
        lastError: String?
    ) async throws {
        try await run(
            """
            INSERT INTO endpoint_health (endpoint_id, writer_id, last_attempt_at, last_success_at, failing_since, last_error)
            VALUES (\(endpointId), \(writer), \(lastAttemptAt), \(lastSuccessAt), \(failingSince), \(lastError))
            """)
    }

    /// One writer's minute of attempts: every latency in bucket `bucket`.
    func stats(minute: Int64, _ endpointId: String, writer: String, attempts: Int, successes: Int, bucket: Int) async throws {
        try await run(
            """
            INSERT INTO stats_minute (minute, endpoint_id, writer_id, attempts, successes, failures, latency_sum_ms, \(unescaped: "h\(bucket)"))
            VALUES (\(minute), \(endpointId), \(writer), \(attempts), \(successes), \(attempts - successes), 0, \(attempts))
            """)
    }

    func worker(_ id: String, heartbeatAt: Int64, inFlight: Int, retryDelays: String?) async throws {
        try await run(
            """
            INSERT INTO workers (id, pid, host, started_at, heartbeat_at, version, in_flight, retry_delays)
            VALUES (\(id), 7, 'box', \(heartbeatAt - 60_000), \(heartbeatAt), '1.0.0', \(inFlight), \(retryDelays))
            """)
    }

    func audit(_ action: String, objectId: String, at: Int64, via: String = "dashboard", detail: String = "") async throws {
        try await run(
            """
            INSERT INTO audit (at, action, object_type, object_id, detail, os_user, pid, via, origin, tty)
            VALUES (\(at), \(action), 'endpoint', \(objectId), \(detail), 'alice', 9, \(via), '10.0.0.5', NULL)
            """)
    }

    @discardableResult
    func alert(_ id: String, type: AlertType, objectId: String, at: Int64, status: AlertSendStatus = .sent) async throws -> Int64 {
        try await run(
            """
            INSERT INTO alerts (id, type, object_id, dedup_key, at, summary, details, status, attempts, sent_at, sent_to)
            VALUES (\(id), \(type.rawValue), \(objectId), \(id), \(at), \("summary of " + id), '{}', \(status.rawValue), 1,
                \(at + 10), 'url,exec')
            RETURNING seq
            """)[0].int64(0)
    }

    func recovery(_ endpointId: String, at: Int64, deliveries: [DeliverySpec]) async throws {
        let id = try await run(
            "INSERT INTO recoveries (endpoint_id, at, total) VALUES (\(endpointId), \(at), \(deliveries.count)) RETURNING id"
        )[0].int64(0)
        for delivery in deliveries {
            try await run(
                """
                INSERT INTO recovery_deliveries (recovery_id, delivery_id, message_created_at)
                VALUES (\(id), \(delivery.id), \(delivery.message.at))
                """)
        }
    }
}
