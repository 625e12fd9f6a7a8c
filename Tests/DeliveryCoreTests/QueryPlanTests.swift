import CSQLite
@testable import DeliveryCore
import Foundation
import HooktopTesting
import Synchronization
import Testing

/// Every statement the store runs for the dispatcher, the dashboard and the operations is served by an index:
/// none scans the log (deliveries, attempts, messages, alerts) or the dispatchers' attempt counters, except walking a
/// primary key backwards for a page.
struct QueryPlanTests {
    @Test func noStatementScansTheLog() async throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let recorder = StatementRecorder()
        let context = Unmanaged.passUnretained(recorder).toOpaque()
        _ = try store.read { db in
            sqlite3_trace_v2(db.handle, UInt32(SQLITE_TRACE_STMT), { _, context, statement, _ in
                guard let context, let statement else { return 0 }
                let recorder = Unmanaged<StatementRecorder>.fromOpaque(context).takeUnretainedValue()
                if let sql = sqlite3_sql(OpaquePointer(statement)) { recorder.add(String(cString: sql)) }
                return 0
            }, context)
        }
        defer { _ = try? store.read { db in sqlite3_trace_v2(db.handle, 0, nil, nil) } }

        // Exercise the store as the daemon, the dashboard and an operator would.
        let operations = Operations(store: store)
        let endpoint = try store.addTestEndpoint("http://127.0.0.1:9/a", eventTypes: ["user.*"])
        let other = try store.addTestEndpoint("http://127.0.0.1:9/b")
        for n in 0..<20 {
            _ = try store.publish(eventType: n % 2 == 0 ? "user.created" : "invoice.paid", payload: "{}", idempotencyKey: "k\(n)")
        }
        try store.recordOutcome(try store.claimAll(endpoint), status: 500, policy: RetryPolicy(delays: []))
        try store.recordOutcome(try store.claimAll(other), status: 200)
        try store.releaseLeases(now: Date())
        try store.heartbeat(WorkerInfo(id: "w:x", pid: 1, host: "h", startedAt: Date(), heartbeatAt: Date(), version: "0", inFlight: 0))
        try store.removeWorker(id: "w:gone")
        let some = try #require(try store.deliveries(DeliveryQuery(limit: 1)).first)
        for query in [
            DeliveryQuery(), DeliveryQuery(statuses: [.dead]), DeliveryQuery(statuses: [.pending, .retrying]),
            DeliveryQuery(endpointId: endpoint.id), DeliveryQuery(eventType: "user.created"),
            DeliveryQuery(eventType: "user.*"), DeliveryQuery(messageId: some.messageId), DeliveryQuery(before: some.id),
            DeliveryQuery(statuses: [.dead], endpointId: endpoint.id, before: some.id),
        ] {
            _ = try store.deliveries(query)
        }
        _ = try store.retryQueue(RetryQueueQuery())
        _ = try store.retryQueue(RetryQueueQuery(endpointId: other.id, after: (Date(), 3)))
        _ = try store.failureGroups(endpointId: nil, limit: 10)
        _ = try store.failureGroups(endpointId: endpoint.id, limit: 10)
        _ = try store.failureSamples(endpointId: endpoint.id, errorClass: .httpStatus, statusCode: 500, limit: 20)
        _ = try store.failureSamples(endpointId: endpoint.id, errorClass: .connectRefused, statusCode: nil, limit: 20)
        _ = try store.messages(eventType: nil, before: nil, limit: 10)
        _ = try store.messages(eventType: "user.created", before: 10, limit: 10)
        _ = try store.deliveryDetail(id: some.id)
        _ = try store.overview(now: Date())
        _ = try store.endpointSummaries(now: Date())
        _ = try store.recoverableCount(endpointId: endpoint.id, since: Date().addingTimeInterval(-3600))
        _ = try await operations.recover(endpointId: endpoint.id, since: Date().addingTimeInterval(-3600), by: testActor)
        _ = try store.recoveryProgress(endpointId: endpoint.id)
        _ = try store.deliveries(DeliveryQuery(since: Date().addingTimeInterval(-3600), text: "refused"))
        _ = try store.deliveries(DeliveryQuery(until: Date(), text: "invoice"))
        _ = try store.deliveries(DeliveryQuery(text: "invoice"))
        for order in DeliveryOrder.allCases {
            var query = DeliveryQuery(limit: 20)
            query.order = order
            _ = try store.deliveries(query)
        }
        _ = try store.auditEntries(objectId: endpoint.id, limit: 10)
        for filter in [
            DeliveryFilter(status: .dead), DeliveryFilter(status: .dead, endpointId: endpoint.id, errorClass: .httpStatus),
            DeliveryFilter(status: .delivered, eventType: "invoice.*", since: Date().addingTimeInterval(-60), until: Date()),
        ] {
            _ = try await operations.replay(filter, dryRun: true, by: testActor)
            _ = try await operations.replay(filter, dryRun: false, by: testActor)
        }
        _ = try await operations.testEndpoint(id: other.id, by: testActor)
        _ = try store.deliveryDetail(id: 1)
        _ = try await operations.redeliver(deliveryId: some.id, by: testActor)
        let pending = try #require(try store.deliveries(DeliveryQuery(statuses: [.pending], limit: 1)).first)
        try await operations.cancel(deliveryId: pending.id, by: testActor)
        // The alert monitor: its checks' inputs (a disabled endpoint reads its newest failure), recording, sending.
        _ = try await operations.disable(endpointId: endpoint.id, reason: "test", by: testActor)
        _ = try store.alertInputs(now: Date(), deadSince: Date().addingTimeInterval(-3600))
        let alert = try #require(
            try store.recordAlert(
                NewAlert(type: .deliveriesDead, objectId: endpoint.id, key: "1", debounce: 3600, summary: "s", details: "{}"),
                status: .pending, now: Date()))
        _ = try store.claimAlerts(owner: "a", now: Date(), lease: 60, limit: 10)
        try store.finishAlert(
            sequence: alert.sequence, owner: "a", status: .sent, sentTo: ["url"], error: nil, nextAttemptAt: nil, now: Date())
        _ = try store.abandonAlert(sequence: alert.sequence, reason: "r", now: Date())
        _ = try store.alerts(before: nil, limit: 10)
        _ = try store.alert(id: alert.id)
        _ = try store.prune(before: Date().addingTimeInterval(60), by: testActor)
        _ = try store.changeCounter()

        let statements = recorder.statements
        #expect(statements.count > 30)
        var offenders: [String] = []
        for sql in statements where !sql.hasPrefix("PRAGMA") && !sql.hasPrefix("BEGIN") && !sql.hasPrefix("COMMIT") {
            let plan = try store.read { db in
                try db.query("EXPLAIN QUERY PLAN " + sql, []) { $0.text(3) }
            }
            let walksKeyBackwards = sql.contains("ORDER BY d.id DESC") || sql.contains("ORDER BY seq DESC")
                || sql.contains("ORDER BY d.id ASC")
            for step in plan where Self.scansTheLog(step) && !walksKeyBackwards {
                offenders.append("\(step) ← \(sql.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ").prefix(200))")
            }
        }
        #expect(offenders.isEmpty, "\(offenders.joined(separator: "\n"))")
    }

    /// `SCAN deliveries` (or an alias) without an index: a full pass over a table that grows with traffic.
    static func scansTheLog(_ step: String) -> Bool {
        guard step.hasPrefix("SCAN ") else { return false }
        let words = step.split(separator: " ")
        guard words.count >= 2 else { return false }
        let table = words[1]
        let logTables: Set<Substring> = ["deliveries", "attempts", "messages", "alerts", "worker_minute", "d", "m", "a"]
        return logTables.contains(table) && !step.contains("USING INDEX") && !step.contains("USING COVERING INDEX")
            && !step.contains("USING INTEGER PRIMARY KEY")
    }
}

/// The distinct SQL texts a connection ran.
private final class StatementRecorder: Sendable {
    private let seen = Mutex<[String]>([])

    func add(_ sql: String) {
        seen.withLock { if !$0.contains(sql) { $0.append(sql) } }
    }

    var statements: [String] { seen.withLock { $0 } }
}
