import Foundation
import PostgresNIO

/// The dispatcher's side: claims under a visibility-timeout lease with a claim counter, and attempts recorded in
/// batches, each a few statements whatever the batch's size.
///
/// A claim moves a queue row's `available_at` to the end of its lease, names the owner and counts the claim; it
/// touches no other table. A dispatcher that dies leaves rows that become claimable by themselves when their lease
/// runs out. Recording an outcome requires the row to be still leased to the recorder under the same claim number,
/// so a finisher whose lease ran out and whose delivery another dispatcher claimed since cannot complete it (its
/// attempt is still logged).
extension PostgresEngine: DispatchLog {
    public func activeEndpoints() async throws -> [Endpoint] {
        try await rows("SELECT \(unescaped: Self.endpointColumns) FROM endpoints WHERE status = 'active' ORDER BY created_at, id")
            .map(Self.endpoint)
    }

    public func hasDueWork(now: Date) async throws -> Bool {
        try await !rows("SELECT 1 FROM delivery_queue WHERE available_at <= \(now.milliseconds) LIMIT 1").isEmpty
    }

    public func claimDue(_ requests: [ClaimRequest], owner: String, now: Date, lease: TimeInterval) async throws
        -> [DeliveryJob]
    {
        let requests = requests.filter { $0.limit > 0 }
        guard !requests.isEmpty else { return [] }
        return try await transaction { connection in
            try await claim(requests, owner: owner, now: now, lease: lease, on: connection)
        }
    }

    public func recordAndClaim(
        _ outcomes: [AttemptOutcome], claiming requests: [ClaimRequest], owner: String, policy: RetryPolicy,
        autoDisableAfter: TimeInterval?, now: Date, lease: TimeInterval
    ) async throws -> [DeliveryJob] {
        let requests = requests.filter { $0.limit > 0 }
        return try await write { connection in
            try await record(outcomes, owner: owner, policy: policy, autoDisableAfter: autoDisableAfter, now: now, on: connection)
            return try await claim(requests, owner: owner, now: now, lease: lease, on: connection)
        }
    }

    public func record(
        _ outcomes: [AttemptOutcome], owner: String, policy: RetryPolicy, autoDisableAfter: TimeInterval?, now: Date
    ) async throws {
        guard !outcomes.isEmpty else { return }
        try await write { connection in
            try await record(outcomes, owner: owner, policy: policy, autoDisableAfter: autoDisableAfter, now: now, on: connection)
        }
    }

    /// Claims due queue rows of each requested (and still active) endpoint in one statement, soonest first, skipping
    /// rows other dispatchers hold locked; then reads the claimed deliveries' messages in one more.
    private func claim(
        _ requests: [ClaimRequest], owner: String, now: Date, lease: TimeInterval, on connection: PostgresConnection
    ) async throws -> [DeliveryJob] {
        guard !requests.isEmpty else { return [] }
        let endpoints = Dictionary(requests.map { ($0.endpoint.id, $0.endpoint) }, uniquingKeysWith: { first, _ in first })
        let ids = requests.map(\.endpoint.id)
        let limits = requests.map { Int64($0.limit) }
        let leaseUntil = requests.map {
            now.addingTimeInterval(lease + Double($0.endpoint.timeoutMilliseconds) / 1000).milliseconds
        }
        let claimed = try await rows(
            """
            WITH r AS (
                SELECT * FROM unnest(\(ids)::text[], \(limits)::bigint[], \(leaseUntil)::bigint[])
                    AS r(endpoint_id, n, lease_until)),
            picked AS (
                SELECT q.delivery_id FROM r
                JOIN endpoints e ON e.id = r.endpoint_id AND e.status = 'active'
                CROSS JOIN LATERAL (
                    SELECT delivery_id FROM delivery_queue
                    WHERE endpoint_id = r.endpoint_id AND available_at <= \(now.milliseconds)
                    ORDER BY available_at LIMIT r.n FOR UPDATE SKIP LOCKED) q)
            UPDATE delivery_queue q SET available_at = r.lease_until, lease_owner = \(owner), claims = q.claims + 1
            FROM r
            -- The picked rows by their key (joined to the CTE, the planner would hash the whole queue).
            WHERE q.delivery_id = ANY(ARRAY(SELECT delivery_id FROM picked)) AND r.endpoint_id = q.endpoint_id
            RETURNING q.delivery_id, q.message_created_at, q.endpoint_id, q.claims, q.manual
            """, on: connection)
        guard !claimed.isEmpty else { return [] }
        let deliveryIds = try claimed.map { try $0.int64(0) }
        let days = try Array(Set(claimed.map { try $0.int64(1) }))
        let details = try await rows(
            """
            SELECT d.id, d.attempt_count, m.id, m.event_type, m.payload, m.idempotency_key, m.created_at
            FROM deliveries d JOIN messages m ON m.seq = d.message_seq AND m.created_at = d.message_created_at
            WHERE d.id = ANY(\(deliveryIds)::bigint[]) AND d.message_created_at = ANY(\(days)::bigint[])
                AND m.created_at = ANY(\(days)::bigint[])
            """, on: connection)
        var byId: [Int64: (attempts: Int, message: Message)] = [:]
        for row in details { byId[try row.int64(0)] = (try row.int(1), try Self.message(row, offset: 2)) }
        return try claimed.compactMap { row in
            let id = try row.int64(0)
            guard let endpoint = endpoints[try row.text(2)], let detail = byId[id] else { return nil }
            var job = DeliveryJob(
                deliveryId: id, endpoint: endpoint, message: detail.message, attemptNumber: detail.attempts + 1,
                trigger: try row.int(4) == 0 ? .scheduled : .manual)
            job.claim = try row.int(3)
            return job
        }
    }

    public func claimOne(deliveryId: Int64, owner: String, now: Date, leaseUntil: Date) async throws -> DeliveryJob? {
        try await transaction { connection in
            guard
                let row = try await rows(
                    """
                    UPDATE delivery_queue SET available_at = \(leaseUntil.milliseconds), lease_owner = \(owner),
                        claims = claims + 1
                    WHERE delivery_id = \(deliveryId) AND (lease_owner IS NULL OR available_at <= \(now.milliseconds))
                    RETURNING message_created_at, endpoint_id, claims, manual
                    """, on: connection
                ).first,
                let endpointRow = try await rows(
                    "SELECT \(unescaped: Self.endpointColumns) FROM endpoints WHERE id = \(try row.text(1))", on: connection
                ).first,
                let detail = try await rows(
                    """
                    SELECT d.attempt_count, m.id, m.event_type, m.payload, m.idempotency_key, m.created_at
                    FROM deliveries d JOIN messages m ON m.seq = d.message_seq AND m.created_at = d.message_created_at
                    WHERE d.id = \(deliveryId) AND d.message_created_at = \(try row.int64(0))
                    """, on: connection
                ).first
            else { return nil }
            var job = DeliveryJob(
                deliveryId: deliveryId, endpoint: try Self.endpoint(endpointRow), message: try Self.message(detail, offset: 1),
                attemptNumber: try detail.int(0) + 1, trigger: try row.int(3) == 0 ? .scheduled : .manual)
            job.claim = try row.int(2)
            return job
        }
    }

    public func heartbeat(_ worker: WorkerInfo) async throws {
        let delays = worker.retryDelays.map { $0.map { String($0) }.joined(separator: ",") }
        let keptFrom = worker.heartbeatAt.milliseconds / 60_000 - WorkerInfo.attemptMinutesKept
        // The dispatcher's own attempt counters are trimmed in the same statement (its rows only: no two processes
        // delete the same rows).
        _ = try await rows(
            """
            WITH trimmed AS (DELETE FROM worker_minute WHERE worker_id = \(worker.id) AND minute < \(keptFrom))
            INSERT INTO workers (id, pid, host, started_at, heartbeat_at, version, in_flight, retry_delays)
            VALUES (\(worker.id), \(worker.pid), \(worker.host), \(worker.startedAt.milliseconds),
                \(worker.heartbeatAt.milliseconds), \(worker.version), \(worker.inFlight), \(delays))
            ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, in_flight = excluded.in_flight,
                retry_delays = excluded.retry_delays, version = excluded.version
            """)
    }

    /// Makes `owner`'s leased rows claimable now (a clean stop), or with nil those of dispatchers whose heartbeat is
    /// `WorkerInfo.leasesTakenOverAfter` old (their leases would run out anyway; this only shortens the wait). The
    /// claim counters stay, so a late finisher stays fenced.
    @discardableResult
    public func releaseLeases(owner: String?, now: Date) async throws -> Int {
        let staleBefore = now.addingTimeInterval(-WorkerInfo.leasesTakenOverAfter).milliseconds
        let released = try await write { connection in
            if let owner {
                return try await rows(
                    """
                    UPDATE delivery_queue SET available_at = \(now.milliseconds), lease_owner = NULL
                    WHERE lease_owner = \(owner) RETURNING 1
                    """, on: connection)
            }
            return try await rows(
                """
                UPDATE delivery_queue SET available_at = \(now.milliseconds), lease_owner = NULL
                WHERE lease_owner LIKE 'w:%' AND available_at > \(now.milliseconds)
                    AND lease_owner NOT IN (SELECT id FROM workers WHERE heartbeat_at >= \(staleBefore))
                RETURNING 1
                """, on: connection)
        }
        return released.count
    }

    public func forgetDeadWorkers(host: String, except id: String) async throws {
        for worker in try await workers()
        where worker.host == host && worker.id != id && kill(pid_t(worker.pid), 0) == -1 && errno == ESRCH {
            try await removeWorker(id: worker.id)
        }
    }

    public func removeWorker(id: String) async throws {
        _ = try await rows(
            """
            WITH minutes AS (DELETE FROM worker_minute WHERE worker_id = \(id))
            DELETE FROM workers WHERE id = \(id)
            """)
    }
}
