import Foundation

/// What the lab (`HooktopLab`: seeding and the benchmarks) needs of the store beyond its API: writing a history as
/// it stands, and reading back what a benchmark measured. Package-level, so not part of `DeliveryCore`'s API.
extension Store {
    /// Runs `body` in one write transaction with a writer that inserts messages, deliveries in any status and their
    /// attempts as given, then adds the attempts' per-minute stats. Status counters and failure groups are not kept
    /// up to date: call `recountSummaries()` once the whole history is written.
    package func writeHistory<T>(_ body: (inout HistoryWriter) throws -> T) throws -> T {
        try write { db in
            var writer = HistoryWriter(db: db)
            let result = try body(&writer)
            try Self.applyStats(db, writer.stats)
            return result
        }
    }

    /// Rebuilds the status counters and failure groups from the deliveries themselves (one pass over the log).
    package func recountSummaries() throws {
        try write { db in try db.execute(Schema.recountSummaries) }
    }

    /// Milliseconds from publish to the end of the successful attempt, for every delivered delivery, sorted.
    package func publishToDeliveredLatencies() throws -> [Double] {
        try read { db in
            try db.query(
                """
                SELECT a.started_at + a.duration_ms - m.created_at FROM attempts a
                JOIN deliveries d ON d.id = a.delivery_id JOIN messages m ON m.seq = d.message_seq
                WHERE a.response_status BETWEEN 200 AND 299
                """, [], { $0.double(0) }
            ).sorted()
        }
    }

    /// Attempt rows in the log.
    /// Messages in the log (the API benchmark checks every acknowledged event was recorded).
    package func messageCount() throws -> Int {
        try read { db in Int(try db.scalar("SELECT count(*) FROM messages")) }
    }

    package func attemptCount() throws -> Int {
        try read { db in Int(try db.scalar("SELECT count(*) FROM attempts")) }
    }
}
