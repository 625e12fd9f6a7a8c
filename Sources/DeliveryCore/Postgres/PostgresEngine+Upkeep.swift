import Foundation
import PostgresNIO

/// Named leases, and the upkeep that one process at a time runs under the `maintenance` lease (`PostgresMaintenance`).
///
/// A lease is a row of `leases`, not an advisory lock: a session lock does not survive PgBouncer's transaction
/// pooling, a row does. Every upkeep step is safe should two processes run it at once (a leader whose lease ran out
/// while it worked): partitions are made under a transaction lock, and rows are taken with `SKIP LOCKED`, so the
/// upkeep never waits for a row a publisher or dispatcher holds and never deadlocks with one.
extension PostgresEngine {
    /// What one upkeep pass did.
    public struct Upkeep: Sendable, Equatable {
        /// Day partitions made (three tables a day).
        public var partitionsMade = 0
        /// Idempotency keys past their window deleted.
        public var keysExpired = 0
        /// Per-writer counter rows of processes that are gone, folded into one row per key.
        public var rowsFolded = 0

        public init() {}
    }

    // MARK: Leases

    /// Takes the lease `name` for `owner` until `duration` seconds after `now`, or renews it when `owner` holds it;
    /// refused while another owner's lease runs.
    /// - Returns: whether `owner` holds the lease now.
    public func takeLease(_ name: String, owner: String, duration: TimeInterval, now: Date) async throws -> Bool {
        try await !rows(
            """
            INSERT INTO leases (name, owner, expires_at)
            VALUES (\(name), \(owner), \(now.addingTimeInterval(duration).milliseconds))
            ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
            WHERE leases.owner = excluded.owner OR leases.expires_at < \(now.milliseconds)
            RETURNING 1
            """
        ).isEmpty
    }

    /// Gives up the lease `name` if `owner` holds it: another process may take it at once.
    public func releaseLease(_ name: String, owner: String) async throws {
        _ = try await rows("DELETE FROM leases WHERE name = \(name) AND owner = \(owner)")
    }

    /// Who holds the lease `name` and until when (it may have run out); nil when nobody took it.
    public func leaseHolder(_ name: String) async throws -> (owner: String, expiresAt: Date)? {
        try await rows("SELECT owner, expires_at FROM leases WHERE name = \(name)").first.map {
            (try $0.text(0), try $0.date(1))
        }
    }

    // MARK: Upkeep

    /// One upkeep pass: the day partitions from yesterday to `partitionDaysAhead` days after `now`, idempotency keys
    /// past their window deleted, and the counter rows of writers that are gone folded into one row per key.
    public func upkeep(now: Date) async throws -> Upkeep {
        var done = Upkeep()
        done.partitionsMade = try await makePartitionsAhead(now: now)
        done.keysExpired = try await inBatches { try await expireIdempotencyKeys(now: now) }
        for table in FoldedTable.all {
            done.rowsFolded += try await inBatches { try await fold(table, now: now) }
        }
        return done
    }

    /// Makes the day partitions from the day before `now` through `partitionDaysAhead` days after it, those missing.
    /// - Returns: how many tables were made.
    @discardableResult
    func makePartitionsAhead(now: Date) async throws -> Int {
        try await pool.client.withConnection { connection in
            // From yesterday: a process whose clock is a little behind still finds its day.
            try await PostgresSchema.createPartitions(
                connection, from: now.addingTimeInterval(-86400), days: pool.configuration.partitionDaysAhead + 2,
                logger: logger)
        }
    }

    /// Rows an upkeep statement takes at most, so that no transaction holds many locks for long.
    static let upkeepBatch = 5000

    /// Runs `batch` until it does less than a whole batch, at most ten times (the next pass does the rest).
    /// - Returns: the rows it handled.
    private func inBatches(_ batch: () async throws -> Int) async throws -> Int {
        var total = 0
        for _ in 0..<10 {
            let count = try await batch()
            total += count
            if count < Self.upkeepBatch { break }
        }
        return total
    }

    /// Deletes idempotency keys past their window (a publish reusing one takes the row over anyway).
    private func expireIdempotencyKeys(now: Date) async throws -> Int {
        let windowStart = now.addingTimeInterval(-PublishLimits.idempotencyWindow).milliseconds
        return try await rows(
            """
            DELETE FROM message_keys WHERE (kind, key) IN (
                SELECT kind, key FROM message_keys WHERE kind = 'idempotency' AND message_created_at < \(windowStart)
                LIMIT \(Self.upkeepBatch) FOR UPDATE SKIP LOCKED)
            RETURNING 1
            """
        ).count
    }

    /// Folds the rows of `table` written by processes that are gone into its `folded` rows, keeping every sum: a
    /// writer is gone unless it is this engine or shares host and pid with a dispatcher whose heartbeat is fresh.
    /// Rows locked by a writer at work, and rows of an endpoint being deleted, are left for the next pass.
    /// - Returns: the rows folded.
    private func fold(_ table: FoldedTable, now: Date) async throws -> Int {
        let staleBefore = now.addingTimeInterval(-WorkerInfo.staleAfter).milliseconds
        let key = table.key.joined(separator: ", ")
        let picked = (table.key + ["writer_id"]).map { "t.\($0)" }.joined(separator: ", ")
        let matches = (table.key + ["writer_id"]).map { "t.\($0) = p.\($0)" }.joined(separator: " AND ")
        let columns = table.columns.map(\.name).joined(separator: ", ")
        let aggregates = table.columns.map(\.aggregate).joined(separator: ", ")
        let merges = table.columns.map { "\($0.name) = \($0.merge)" }.joined(separator: ", ")
        // The endpoint's row is share-locked (skipped when it is being deleted) before the `folded` row referencing
        // it is written, so a deletion waits for the fold instead of the two waiting for each other.
        let (join, lockEndpoint) =
            table.referencesEndpoint ? ("JOIN endpoints e ON e.id = t.endpoint_id", "FOR KEY SHARE OF e SKIP LOCKED") : ("", "")
        return try await rows(
            """
            WITH picked AS (
                SELECT \(unescaped: picked) FROM \(unescaped: table.name) t \(unescaped: join)
                WHERE t.writer_id NOT IN ('folded', \(writerId)) AND NOT EXISTS (
                    SELECT 1 FROM workers w WHERE w.heartbeat_at >= \(staleBefore)
                        AND starts_with(t.writer_id, w.host || ':' || w.pid || ':'))
                ORDER BY \(unescaped: picked) LIMIT \(Self.upkeepBatch)
                FOR UPDATE OF t SKIP LOCKED \(unescaped: lockEndpoint)
            ), gone AS (
                DELETE FROM \(unescaped: table.name) t USING picked p WHERE \(unescaped: matches) RETURNING t.*
            ), folded AS (
                INSERT INTO \(unescaped: table.name) (\(unescaped: key), writer_id, \(unescaped: columns))
                SELECT \(unescaped: key), 'folded', \(unescaped: aggregates) FROM gone
                GROUP BY \(unescaped: key) ORDER BY \(unescaped: key)
                ON CONFLICT (\(unescaped: key), writer_id) DO UPDATE SET \(unescaped: merges)
            )
            SELECT count(*) FROM gone
            """
        ).first?.int(0) ?? 0
    }
}

/// A table of per-writer rows summed on read, which the upkeep folds (see `PostgresEngine.fold`).
struct FoldedTable {
    /// A column kept per writer: how the rows of one key combine, and how they join an existing `folded` row
    /// (`excluded` is the new one; every other column reads the existing row's old values).
    struct Column {
        var name: String
        var aggregate: String
        var merge: String
    }

    var name: String
    /// The key besides `writer_id`.
    var key: [String]
    var columns: [Column]
    /// Whether `endpoint_id` is a foreign key to `endpoints`.
    var referencesEndpoint = true

    static func sum(_ table: String, _ column: String) -> Column {
        Column(name: column, aggregate: "sum(\(column))", merge: "\(table).\(column) + excluded.\(column)")
    }

    static let all: [FoldedTable] = [
        FoldedTable(name: "delivery_counts", key: ["endpoint_id", "status"], columns: [sum("delivery_counts", "n")]),
        FoldedTable(
            name: "failure_groups", key: ["endpoint_id", "error_class", "status_code"],
            columns: [
                sum("failure_groups", "dead"), sum("failure_groups", "retrying"),
                Column(name: "last_at", aggregate: "max(last_at)", merge: "greatest(failure_groups.last_at, excluded.last_at)"),
                Column(
                    name: "last_error", aggregate: "(array_agg(last_error ORDER BY last_at DESC))[1]",
                    merge: "CASE WHEN excluded.last_at >= failure_groups.last_at THEN excluded.last_error ELSE failure_groups.last_error END"),
            ]),
        FoldedTable(
            name: "stats_minute", key: ["minute", "endpoint_id"],
            columns: (["attempts", "successes", "failures", "latency_sum_ms"] + (0..<LatencyBuckets.count).map { "h\($0)" })
                .map { sum("stats_minute", $0) },
            referencesEndpoint: false),
    ]
}
