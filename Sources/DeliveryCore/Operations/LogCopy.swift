import Foundation

/// Moves a whole log from one engine into another, empty one (`hooktop db copy`): SQLite to PostgreSQL, back, or
/// between two of a kind. Each table is read in key order a batch at a time (the next batch is read while the last
/// one is written), so a log of millions of deliveries never sits in memory; then the destination rebuilds its
/// counters from what it received.
///
/// The copy is not a snapshot: the source must not be written meanwhile, so a source with a live dispatcher is
/// refused. Leases are not copied: deliveries in flight arrive waiting, due at once.
public enum LogCopy {
    /// How far a copy got.
    public enum Progress: Sendable {
        /// Both logs were checked: the copy starts.
        case started
        /// A table was copied, with the rows written.
        case copied(LogTable, Int)
    }

    /// Copies `source` into `destination`, telling `progress` when it starts and after each table.
    /// - Returns: each table with the rows written into the destination, in copy order.
    /// - Throws: `HooktopError.conflict` when the destination holds a log or a dispatcher runs on the source; the
    ///   engines' errors otherwise (the destination then holds part of the log).
    @discardableResult
    public static func run(
        from source: any DeliveryEngine, to destination: any DeliveryEngine, now: Date = Date(),
        progress: (Progress) -> Void = { _ in }
    ) async throws -> [(table: LogTable, rows: Int)] {
        if let live = try await source.workers().first(where: { $0.isAlive(now: now) }) {
            throw HooktopError(
                .conflict,
                "\(source.location) is being written by a dispatcher (pid \(live.pid) on \(live.host)): "
                    + "stop every `hooktop serve` on it before copying")
        }
        guard try await destination.isEmptyLog() else {
            throw HooktopError(
                .conflict, "\(destination.location) already holds a log: copy into an empty database or a new file")
        }
        progress(.started)
        var counts: [(table: LogTable, rows: Int)] = []
        for table in LogTable.allCases {
            var written = 0
            var batch = try await source.exportRows(table, after: nil, limit: table.batchSize, now: now)
            while !batch.isEmpty {
                // A short batch was the last.
                let cursor = batch.count == table.batchSize ? batch.last : nil
                async let next: [LogRow] =
                    cursor == nil ? [] : source.exportRows(table, after: cursor, limit: table.batchSize, now: now)
                written += try await destination.importRows(table, batch, now: now)
                batch = try await next
            }
            counts.append((table, written))
            progress(.copied(table, written))
        }
        try await destination.finishImport(now: now)
        return counts
    }
}
