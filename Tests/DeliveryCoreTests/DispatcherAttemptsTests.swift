@testable import DeliveryCore
import Foundation
import HooktopTesting
import PostgresNIO
import Testing

/// Each dispatcher's attempts over the last 5 minutes, on both engines: counted per dispatcher as it records them,
/// read for the dispatchers with a heartbeat row, trimmed as it heartbeats and removed with its row.
struct DispatcherAttemptsTests {
    enum Engine: String, CaseIterable, Sendable {
        case sqlite, postgres
    }

    /// Runs `body` on a new log of `kind`, with a way to count the rows of the per-dispatcher counters.
    func withLog(
        _ kind: Engine, _ body: (any DeliveryEngine, _ counterRows: () async throws -> Int) async throws -> Void
    ) async throws {
        switch kind {
        case .sqlite:
            let database = try TemporaryDatabase()
            try await body(SQLiteEngine(store: database.store)) {
                Int(try database.store.sqlScalar("SELECT count(*) FROM worker_minute"))
            }
        case .postgres:
            try await withPostgresEngine { engine in
                try await body(engine) { try await engine.rows("SELECT count(*) FROM worker_minute").first?.int(0) ?? -1 }
            }
        }
    }

    @Test(arguments: Engine.allCases)
    func eachDispatcherCountsItsOwnRecentAttempts(kind: Engine) async throws {
        try await withLog(kind) { log, counterRows in
            let now = Date(milliseconds: Date().milliseconds)
            let endpoint = try await log.addEndpoint(
                url: "http://127.0.0.1:9/a", changes: EndpointChanges(), secret: nil, allowPrivateDestination: true,
                id: nil, now: now.addingTimeInterval(-3600), by: testActor)
            let requests = (0..<8).map { PublishRequest(eventType: "a.b", payload: #"{"n":\#($0)}"#) }
            _ = try await log.publish(groups: [requests], now: now.addingTimeInterval(-3600))
            for id in ["w:one", "w:two"] {
                try await log.heartbeat(
                    WorkerInfo(id: id, pid: 1, host: "box", startedAt: now, heartbeatAt: now, version: "1", inFlight: 0))
            }
            func attempt(_ owner: String, _ count: Int, status: Int, at: Date) async throws {
                let jobs = try await log.claimDue([ClaimRequest(endpoint: endpoint, limit: count)], owner: owner, now: at, lease: 60)
                #expect(jobs.count == count)
                let outcomes = jobs.map { job in
                    var outcome = fakeOutcome(job, status: status, at: at)
                    outcome.claim = job.claim
                    return outcome
                }
                try await log.record(
                    outcomes, owner: owner, policy: RetryPolicy(delays: [3600], jitter: 0), autoDisableAfter: nil, now: at)
            }
            try await attempt("w:one", 2, status: 200, at: now.addingTimeInterval(-600))
            try await attempt("w:one", 3, status: 200, at: now.addingTimeInterval(-60))
            try await attempt("w:two", 2, status: 503, at: now.addingTimeInterval(-30))
            // An operator's process sending one redelivery itself is no dispatcher: not counted.
            let left = try #require(try await log.deliveries(DeliveryQuery(statuses: [.pending])).first)
            let job = try #require(
                try await log.claimOne(deliveryId: left.id, owner: "op:1:r_x", now: now, leaseUntil: now.addingTimeInterval(60)))
            var outcome = fakeOutcome(job, status: 200, at: now)
            outcome.claim = job.claim
            try await log.record([outcome], owner: "op:1:r_x", policy: shortPolicy, autoDisableAfter: nil, now: now)
            #expect(try await log.statusTotals().delivered == 6)

            // The last 5 minutes of each dispatcher, from its own rows (two minutes of w:one's, one of w:two's).
            #expect(try await log.overview(now: now).recentAttemptsByWorker == ["w:one": 3, "w:two": 2])
            #expect(try await counterRows() == 3)
            #expect(try await log.overview(now: now.addingTimeInterval(360)).recentAttemptsByWorker.isEmpty)

            // A heartbeat trims the dispatcher's rows older than 15 minutes; removing a dispatcher removes its rows.
            try await log.heartbeat(
                WorkerInfo(
                    id: "w:one", pid: 1, host: "box", startedAt: now, heartbeatAt: now.addingTimeInterval(600), version: "1",
                    inFlight: 0))
            #expect(try await counterRows() == 2)
            #expect(try await log.overview(now: now).recentAttemptsByWorker == ["w:one": 3, "w:two": 2])
            try await log.removeWorker(id: "w:two")
            #expect(try await counterRows() == 1)
            #expect(try await log.overview(now: now).recentAttemptsByWorker == ["w:one": 3])
        }
    }
}
