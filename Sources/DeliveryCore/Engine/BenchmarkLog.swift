import Foundation
import PostgresNIO

/// What `hooktop bench` reads of a log after a run, on either engine.
package protocol BenchmarkLog: Sendable {
    /// Milliseconds from publish to the end of each successful attempt, sorted.
    func publishToDeliveredLatencies() async throws -> [Double]
    /// Attempt rows in the log.
    func attemptCount() async throws -> Int
    /// Deliveries per stored status, without telling which are in flight: polled while a run goes on, so cheaper
    /// than `statusTotals`.
    func storedStatusTotals() async throws -> StatusCounts
}

extension SQLiteEngine: BenchmarkLog {
    package func publishToDeliveredLatencies() async throws -> [Double] {
        let store = self.store
        return try await store.offload { try store.publishToDeliveredLatencies() }
    }

    package func attemptCount() async throws -> Int {
        let store = self.store
        return try await store.offload { try store.attemptCount() }
    }

    package func storedStatusTotals() async throws -> StatusCounts {
        try await statusTotals()
    }
}

extension PostgresEngine: BenchmarkLog {
    package func publishToDeliveredLatencies() async throws -> [Double] {
        try await rows(
            """
            SELECT (a.started_at + a.duration_ms - d.message_created_at)::float8 FROM attempts a
            JOIN deliveries d ON d.id = a.delivery_id WHERE a.response_status BETWEEN 200 AND 299
            """
        ).map { try $0.row[0].decode(Double.self) }.sorted()
    }

    package func attemptCount() async throws -> Int {
        try await rows("SELECT count(*) FROM attempts").first?.int(0) ?? 0
    }

    package func storedStatusTotals() async throws -> StatusCounts {
        var totals = StatusCounts()
        for row in try await rows("SELECT status, sum(n)::bigint FROM delivery_counts GROUP BY status") {
            if let status = DeliveryStatus(rawValue: try row.text(0)) { totals[status] += try row.int(1) }
        }
        return totals
    }
}
