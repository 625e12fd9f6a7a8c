import Foundation

/// The store's side of the dispatcher: leases, claims and recording attempts.
extension Store {
    /// Claims due deliveries for `owner`, up to a limit per endpoint, in one transaction.
    /// Each lease lasts `lease` plus the endpoint's timeout.
    func claimDue(_ requests: [ClaimRequest], owner: String, now: Date, lease: TimeInterval) throws
        -> [DeliveryJob]
    {
        try write { db in try Self.claimDue(db, requests, owner: owner, now: now, lease: lease) }
    }

    /// Records finished attempts (see `record`) and claims due deliveries (see `claimDue`) in one transaction: the
    /// dispatcher's iteration under load, one commit instead of two.
    func recordAndClaim(
        _ outcomes: [AttemptOutcome], claiming requests: [ClaimRequest], owner: String,
        policy: RetryPolicy, autoDisableAfter: TimeInterval?, now: Date, lease: TimeInterval,
        random: inout some RandomNumberGenerator
    ) throws -> [DeliveryJob] {
        try write { db in
            try Self.record(
                db, outcomes, owner: owner, policy: policy, autoDisableAfter: autoDisableAfter, now: now, random: &random)
            return try Self.claimDue(db, requests, owner: owner, now: now, lease: lease)
        }
    }

    private static func claimDue(
        _ db: Connection, _ requests: [ClaimRequest], owner: String, now: Date, lease: TimeInterval
    ) throws -> [DeliveryJob] {
        // Every endpoint's delivery of one message carries the same message: read it once.
        var messages: [Int64: Message] = [:]
        var moves = StatusMoves()
        let jobs = try requests.flatMap { request -> [DeliveryJob] in
            let (endpoint, limit) = (request.endpoint, request.limit)
            return try claimDue(
                db, endpoint: endpoint, owner: owner, limit: limit, now: now,
                leaseUntil: now.addingTimeInterval(lease + Double(endpoint.timeoutMilliseconds) / 1000),
                messages: &messages, moves: &moves)
        }
        try moves.apply(db)
        return jobs
    }

    private static func claimDue(
        _ db: Connection, endpoint: Endpoint, owner: String, limit: Int, now: Date, leaseUntil: Date,
        messages: inout [Int64: Message], moves: inout StatusMoves
    ) throws -> [DeliveryJob] {
        guard limit > 0 else { return [] }
        // The due deliveries and the status each leaves (for the counters), then the claim of exactly those.
        let due = try db.query(
            """
            SELECT id, status FROM deliveries
            WHERE endpoint_id = ?1 AND status IN ('pending', 'retrying') AND next_attempt_at <= ?2
                -- The caller's endpoint list may predate a pause or disable by another process.
                AND EXISTS (SELECT 1 FROM endpoints WHERE id = ?1 AND status = 'active')
            ORDER BY next_attempt_at LIMIT ?3
            """, [.text(endpoint.id), .from(now), .from(limit)]
        ) { row in (row.int64(0), row.text(1)) }
        guard !due.isEmpty else { return [] }
        let left = Dictionary(due, uniquingKeysWith: { first, _ in first })
        let claimed = try db.query(
            """
            UPDATE deliveries SET status = 'inflight', lease_owner = ?1, lease_expires_at = ?2, updated_at = ?3
            -- `+status`: found by rowid, not through the status index this very statement changes (which would
            -- collect the rows in a temporary table first).
            WHERE id IN (SELECT value FROM json_each(?4)) AND +status IN ('pending', 'retrying')
            RETURNING id, message_seq, attempt_count, manual
            """,
            [.text(owner), .from(leaseUntil), .from(now),
             .text("[" + due.map { String($0.0) }.joined(separator: ",") + "]")]
        ) { row in (row.int64(0), row.int64(1), row.int(2), row.int(3)) }
        for (id, _, _, _) in claimed {
            moves.move(endpoint.id, from: left[id] ?? DeliveryStatus.pending.rawValue, to: DeliveryStatus.inflight.rawValue)
        }
        return try claimed.map { id, sequence, attempts, manual in
            let cached = messages[sequence]
            guard
                let message = try cached ?? db.queryOne(
                    "SELECT \(Self.messageColumns) FROM messages WHERE seq = ?", [.int(sequence)], { Self.message($0) })
            else { throw HooktopError(.database, "delivery \(id) has no message") }
            if cached == nil { messages[sequence] = message }
            return DeliveryJob(
                deliveryId: id, endpoint: endpoint, message: message, attemptNumber: attempts + 1,
                trigger: manual == 0 ? .scheduled : .manual)
        }
    }

    /// Whether any waiting delivery is due (one index probe, no write lock).
    func hasDueWork(now: Date) throws -> Bool {
        try read { db in
            try db.queryOne(
                """
                SELECT 1 FROM deliveries INDEXED BY deliveries_queue
                WHERE status IN ('pending', 'retrying') AND next_attempt_at <= ? LIMIT 1
                """, [.from(now)], { _ in true }) ?? false
        }
    }

    /// Claims one delivery regardless of its schedule (a manual redelivery performed by the asking process).
    func claimOne(deliveryId: Int64, owner: String, now: Date, leaseUntil: Date) throws -> DeliveryJob? {
        try write { db in
            guard
                let status = try db.queryOne(
                    "SELECT status FROM deliveries WHERE id = ? AND status IN ('pending', 'retrying')",
                    [.int(deliveryId)], { $0.text(0) }),
                let row = try db.queryOne(
                    """
                    UPDATE deliveries SET status = 'inflight', lease_owner = ?, lease_expires_at = ?, updated_at = ?
                    WHERE id = ? AND status = ?
                    RETURNING message_seq, attempt_count, manual, endpoint_id
                    """, [.text(owner), .from(leaseUntil), .from(now), .int(deliveryId), .text(status)],
                    { ($0.int64(0), $0.int(1), $0.int(2), $0.text(3)) })
            else { return nil }
            var moves = StatusMoves()
            moves.move(row.3, from: status, to: DeliveryStatus.inflight.rawValue)
            try moves.apply(db)
            guard
                let message = try db.queryOne(
                    "SELECT \(Self.messageColumns) FROM messages WHERE seq = ?", [.int(row.0)], { Self.message($0) }),
                let endpoint = try db.queryOne(
                    "SELECT \(Self.endpointColumns) FROM endpoints WHERE id = ?", [.text(row.3)], Self.endpoint)
            else { throw HooktopError(.database, "delivery \(deliveryId) has no message or endpoint") }
            return DeliveryJob(
                deliveryId: deliveryId, endpoint: endpoint, message: message, attemptNumber: row.1 + 1,
                trigger: row.2 == 0 ? .scheduled : .manual)
        }
    }

    /// Records attempts in one transaction: the attempt rows, the per-minute stats, and what `AttemptRules` decided
    /// for the deliveries' new state and the endpoints' health (`410 Gone`, auto-disable).
    /// - Returns: the ids of deliveries whose lease had been lost (recorded as attempts, state left alone).
    @discardableResult
    func record(
        _ outcomes: [AttemptOutcome], owner: String, policy: RetryPolicy, autoDisableAfter: TimeInterval?,
        now: Date, random: inout some RandomNumberGenerator
    ) throws -> [Int64] {
        guard !outcomes.isEmpty else { return [] }
        return try write { db in
            try Self.record(
                db, outcomes, owner: owner, policy: policy, autoDisableAfter: autoDisableAfter, now: now, random: &random)
        }
    }

    @discardableResult
    private static func record(
        _ db: Connection, _ outcomes: [AttemptOutcome], owner: String, policy: RetryPolicy,
        autoDisableAfter: TimeInterval?, now: Date, random: inout some RandomNumberGenerator
    ) throws -> [Int64] {
        guard !outcomes.isEmpty else { return [] }
        var deliveries = try deliveryStates(db, outcomes.map(\.deliveryId))
        var lost: [Int64] = []
        var stats: [StatsKey: StatsDelta] = [:]
        var attempts: [String: AttemptRules.EndpointAttempts] = [:]
        var moves = StatusMoves()
        for outcome in outcomes {
            // Deleted meanwhile (endpoint removed, pruned): nothing to record.
            guard let (delivery, endpointId) = deliveries[outcome.deliveryId] else { continue }
            let decision = AttemptRules.decide(
                delivery, outcome: outcome, owner: owner, policy: policy.overridden(by: outcome.retrySchedule), now: now,
                random: &random)
            try insertAttempt(db, outcome, number: decision.attemptNumber)
            accumulate(outcome, into: &stats)
            attempts[outcome.endpointId, default: AttemptRules.EndpointAttempts()].add(
                outcome, gone: decision.endpointGone)
            guard let update = decision.update else {
                lost.append(outcome.deliveryId)
                continue
            }
            try db.run(
                """
                UPDATE deliveries SET status = ?, attempt_count = ?, next_attempt_at = ?, lease_owner = NULL,
                    lease_expires_at = NULL, manual = 0, manual_count = ?, last_status_code = ?, last_error = ?,
                    last_error_class = ?, last_latency_ms = ?, updated_at = ?
                WHERE id = ?
                """,
                [
                    .text(update.status.rawValue), .from(update.attemptCount), .from(update.nextAttemptAt),
                    .from(update.manualCount), .from(outcome.responseStatus), .from(update.lastError),
                    .from(update.lastErrorClass?.rawValue), .from(outcome.durationMilliseconds), .from(now),
                    .int(outcome.deliveryId),
                ])
            moves.move(endpointId, from: delivery.status, to: update.status)
            // The same delivery may finish twice in one batch (a lease that expired and was claimed again).
            deliveries[outcome.deliveryId] = (delivery.applying(update), endpointId)
        }
        try moves.apply(db)
        try applyStats(db, stats)
        for (minute, count) in attemptsPerMinute(outcomes, owner: owner) {
            try db.run(
                """
                INSERT INTO worker_minute (worker_id, minute, attempts) VALUES (?, ?, ?)
                ON CONFLICT (worker_id, minute) DO UPDATE SET attempts = attempts + excluded.attempts
                """, [.text(owner), .int(minute), .from(count)])
        }
        try applyHealth(db, attempts, autoDisableAfter: autoDisableAfter, now: now)
        return lost
    }

    /// A dispatcher's attempts by the minute they started in (none for an operator's process: it is gone once it
    /// recorded its one attempt).
    static func attemptsPerMinute(_ outcomes: [AttemptOutcome], owner: String) -> [Int64: Int] {
        guard owner.hasPrefix(WorkerInfo.idPrefix) else { return [:] }
        return outcomes.reduce(into: [:]) { counts, outcome in
            counts[outcome.startedAt.milliseconds / 60_000, default: 0] += 1
        }
    }

    /// The rules' view of the deliveries `ids`, with their endpoints, read in one statement.
    private static func deliveryStates(_ db: Connection, _ ids: [Int64]) throws
        -> [Int64: (state: AttemptRules.DeliveryState, endpointId: String)]
    {
        let rows = try db.query(
            """
            SELECT id, status, attempt_count, manual_count, manual, lease_owner, endpoint_id FROM deliveries
            WHERE id IN (SELECT value FROM json_each(?))
            """, [.text("[" + ids.map { String($0) }.joined(separator: ",") + "]")]
        ) { row in
            (
                row.int64(0),
                AttemptRules.DeliveryState(
                    // An unknown status is not in flight: its attempt is logged and the delivery left alone.
                    status: DeliveryStatus(rawValue: row.text(1)) ?? .pending, attemptCount: row.int(2),
                    manualCount: row.int(3), manual: ManualMode(rawValue: row.int(4)) ?? .scheduled,
                    leaseOwner: row.optionalText(5)),
                row.text(6)
            )
        }
        return Dictionary(rows.map { ($0.0, (state: $0.1, endpointId: $0.2)) }, uniquingKeysWith: { first, _ in first })
    }

    private static func insertAttempt(_ db: Connection, _ outcome: AttemptOutcome, number: Int) throws {
        try db.run(
            """
            INSERT INTO attempts (delivery_id, number, trigger, started_at, duration_ms, request_headers,
                response_status, response_headers, response_body, error_class, error_message)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .int(outcome.deliveryId), .from(number), .text(outcome.trigger.rawValue), .from(outcome.startedAt),
                .from(outcome.durationMilliseconds), .text(HeaderCoding.encode(outcome.requestHeaders)),
                .from(outcome.responseStatus),
                outcome.responseHeaders.isEmpty ? .null : .text(HeaderCoding.encode(outcome.responseHeaders)),
                .from(outcome.responseBodyExcerpt), .from(outcome.errorClass?.rawValue), .from(outcome.errorMessage),
            ])
    }

    struct StatsKey: Hashable {
        var endpointId: String
        var minute: Int64
    }

    struct StatsDelta {
        var attempts = 0
        var successes = 0
        var failures = 0
        var latencySum = 0
        var histogram = [Int](repeating: 0, count: LatencyBuckets.count)
    }

    static func accumulate(_ outcome: AttemptOutcome, into stats: inout [StatsKey: StatsDelta]) {
        let key = StatsKey(endpointId: outcome.endpointId, minute: outcome.startedAt.milliseconds / 60_000)
        stats[key, default: StatsDelta()].attempts += 1
        if outcome.succeeded {
            stats[key]!.successes += 1
        } else {
            stats[key]!.failures += 1
        }
        stats[key]!.latencySum += outcome.durationMilliseconds
        stats[key]!.histogram[LatencyBuckets.index(forMilliseconds: outcome.durationMilliseconds)] += 1
    }

    private static let statsUpsert: String = {
        let buckets = (0..<LatencyBuckets.count).map { "h\($0)" }
        return """
            INSERT INTO stats_minute (endpoint_id, minute, attempts, successes, failures, latency_sum_ms, \
            \(buckets.joined(separator: ", ")))
            VALUES (?, ?, ?, ?, ?, ?, \(buckets.map { _ in "?" }.joined(separator: ", ")))
            ON CONFLICT (minute, endpoint_id) DO UPDATE SET attempts = attempts + excluded.attempts,
                successes = successes + excluded.successes, failures = failures + excluded.failures,
                latency_sum_ms = latency_sum_ms + excluded.latency_sum_ms,
                \(buckets.map { "\($0) = \($0) + excluded.\($0)" }.joined(separator: ", "))
            """
    }()

    static func applyStats(_ db: Connection, _ stats: [StatsKey: StatsDelta]) throws {
        for (key, delta) in stats {
            try db.run(
                statsUpsert,
                [
                    .text(key.endpointId), .int(key.minute), .from(delta.attempts), .from(delta.successes),
                    .from(delta.failures), .from(delta.latencySum),
                ] + delta.histogram.map { .from($0) })
        }
    }

    /// Writes what `AttemptRules.endpoint` decided for each endpoint: its health and, when due, its disabling.
    private static func applyHealth(
        _ db: Connection, _ attempts: [String: AttemptRules.EndpointAttempts], autoDisableAfter: TimeInterval?,
        now: Date
    ) throws {
        let system = Principal(user: "hooktop", pid: Int(getpid()), via: "dispatcher")
        for (endpointId, seen) in attempts {
            guard
                let current = try db.queryOne(
                    """
                    SELECT status, last_attempt_at, last_success_at, failing_since, last_error FROM endpoints
                    WHERE id = ?
                    """, [.text(endpointId)],
                    { row in
                        AttemptRules.EndpointHealth(
                            status: EndpointStatus(rawValue: row.text(0)) ?? .active,
                            lastAttemptAt: row.optionalDate(1), lastSuccessAt: row.optionalDate(2),
                            failingSince: row.optionalDate(3), lastError: row.optionalText(4))
                    })
            else { continue }  // removed meanwhile
            let decision = AttemptRules.endpoint(current, after: seen, autoDisableAfter: autoDisableAfter, now: now)
            try db.run(
                """
                UPDATE endpoints SET last_attempt_at = ?, last_success_at = ?, failing_since = ?, last_error = ?
                WHERE id = ?
                """,
                [.from(decision.health.lastAttemptAt), .from(decision.health.lastSuccessAt),
                 .from(decision.health.failingSince), .from(decision.health.lastError), .text(endpointId)])
            if let reason = decision.disableReason,
                try db.run(
                    """
                    UPDATE endpoints SET status = 'disabled', disabled_reason = ?, disabled_at = ?, updated_at = ?
                    WHERE id = ? AND status <> 'disabled'
                    """, [.text(reason), .from(now), .from(now), .text(endpointId)]) == 1
            {
                try audit(db, "endpoint.disable", "endpoint", endpointId, reason, system, now)
            }
        }
    }

    /// Returns leased deliveries to the queue, due now: those whose lease expired, and those of dispatchers whose
    /// heartbeat is `leasesTakenOverAfter` old (crashed or killed). With `owner`, only that dispatcher's (graceful
    /// shutdown).
    @discardableResult
    func releaseLeases(owner: String? = nil, now: Date) throws -> Int {
        try write { db in
            let staleBefore = now.addingTimeInterval(-WorkerInfo.leasesTakenOverAfter)
            let released = try db.query(
                """
                UPDATE deliveries SET status = CASE WHEN attempt_count = 0 THEN 'pending' ELSE 'retrying' END,
                    lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = ?1, updated_at = ?1
                WHERE status = 'inflight' AND (
                    CASE WHEN ?2 IS NOT NULL THEN lease_owner = ?2
                    ELSE lease_expires_at < ?1 OR (lease_owner LIKE 'w:%' AND lease_owner NOT IN (
                        SELECT id FROM workers WHERE heartbeat_at >= ?3)) END)
                RETURNING endpoint_id, status
                """, [.from(now), .from(owner), .from(staleBefore)]
            ) { row in (row.text(0), row.text(1)) }
            var moves = StatusMoves()
            for (endpointId, status) in released {
                moves.move(endpointId, from: DeliveryStatus.inflight.rawValue, to: status)
            }
            try moves.apply(db)
            return released.count
        }
    }

    /// Writes this dispatcher's heartbeat row.
    func heartbeat(_ worker: WorkerInfo) throws {
        try write { db in
            try db.run(
                """
                INSERT INTO workers (id, pid, host, started_at, heartbeat_at, version, in_flight, retry_delays)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, in_flight = excluded.in_flight,
                    retry_delays = excluded.retry_delays
                """,
                [.text(worker.id), .from(worker.pid), .text(worker.host), .from(worker.startedAt),
                 .from(worker.heartbeatAt), .text(worker.version), .from(worker.inFlight),
                 worker.retryDelays.map { .text($0.map { String($0) }.joined(separator: ",")) } ?? .null])
            try db.run(
                "DELETE FROM worker_minute WHERE worker_id = ? AND minute < ?",
                [.text(worker.id), .int(worker.heartbeatAt.milliseconds / 60_000 - WorkerInfo.attemptMinutesKept)])
            // Forget dispatchers gone for an hour.
            let goneBefore = worker.heartbeatAt.addingTimeInterval(-3600)
            try db.run(
                "DELETE FROM worker_minute WHERE worker_id IN (SELECT id FROM workers WHERE heartbeat_at < ?)",
                [.from(goneBefore)])
            try db.run("DELETE FROM workers WHERE heartbeat_at < ?", [.from(goneBefore)])
        }
    }

    /// Forgets dispatchers of this host whose process is gone (killed, crashed), so their leases are released
    /// at once rather than after their heartbeat goes stale.
    func forgetDeadWorkers(host: String, except id: String) throws {
        let gone = try workers().filter { worker in
            worker.host == host && worker.id != id && kill(pid_t(worker.pid), 0) == -1 && errno == ESRCH
        }
        for worker in gone { try removeWorker(id: worker.id) }
    }

    func removeWorker(id: String) throws {
        try write { db in
            try db.run("DELETE FROM worker_minute WHERE worker_id = ?", [.text(id)])
            try db.run("DELETE FROM workers WHERE id = ?", [.text(id)])
        }
    }

    public func workers() throws -> [WorkerInfo] {
        try read { db in
            try db.query(
                """
                SELECT id, pid, host, started_at, heartbeat_at, version, in_flight, retry_delays FROM workers
                ORDER BY heartbeat_at DESC
                """,
                []
            ) { row in
                WorkerInfo(
                    id: row.text(0), pid: row.int(1), host: row.text(2), startedAt: row.date(3),
                    heartbeatAt: row.date(4), version: row.text(5), inFlight: row.int(6),
                    retryDelays: row.optionalText(7).map { $0.split(separator: ",").compactMap { TimeInterval($0) } })
            }
        }
    }

}

/// Headers stored as JSON arrays of `[name, value]` pairs.
enum HeaderCoding {
    /// The JSON text, built as bytes (every attempt stores two of these, on the store's thread).
    static func encode(_ headers: [Header]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(headers.reduce(2) { $0 + $1.name.utf8.count + $1.value.utf8.count + 8 })
        out.append(UInt8(ascii: "["))
        for (index, header) in headers.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "["))
            escape(header.name, into: &out)
            out.append(UInt8(ascii: ","))
            escape(header.value, into: &out)
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    private static func escape(_ text: String, into out: inout [UInt8]) {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        out.append(quote)
        defer { out.append(quote) }
        var text = text
        let plain = text.withUTF8 { bytes in
            for byte in bytes where byte < 0x20 || byte == quote || byte == backslash { return false }
            return true
        }
        if plain {
            out.append(contentsOf: text.utf8)
            return
        }
        let hex = Array("0123456789abcdef".utf8)
        for byte in text.utf8 {
            switch byte {
            case quote, backslash: out += [backslash, byte]
            case UInt8(ascii: "\n"): out += [backslash, UInt8(ascii: "n")]
            case UInt8(ascii: "\r"): out += [backslash, UInt8(ascii: "r")]
            case UInt8(ascii: "\t"): out += [backslash, UInt8(ascii: "t")]
            case ..<0x20: out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xf)]]
            default: out.append(byte)
            }
        }
    }

    static func decode(_ text: String?) -> [Header] {
        guard let text, let data = text.data(using: .utf8),
            let pairs = try? JSONDecoder().decode([[String]].self, from: data)
        else { return [] }
        return pairs.compactMap { $0.count == 2 ? Header(name: $0[0], value: $0[1]) : nil }
    }
}
