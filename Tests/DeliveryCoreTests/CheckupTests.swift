@testable import DeliveryCore
import Foundation
import HooktopTesting
import Testing

/// `hooktop doctor`: each check on a log broken on purpose, and what `--repair` fixes.
struct CheckupTests {
    static func verdicts(_ findings: [CheckFinding]) -> [String: CheckFinding.Verdict] {
        Dictionary(findings.map { ($0.check, $0.verdict) }, uniquingKeysWith: { $1 })
    }

    /// Each engine's checks: the shared ones, and its own.
    static let checks: [TestEngine: Set<String>] = [
        .sqlite: ["integrity", "schema", "counters", "failure_groups", "leases", "due_work", "file_modes", "wal"],
        .postgres: ["schema", "counters", "failure_groups", "queue", "leases", "due_work", "partitions"],
    ]

    @Test(arguments: TestEngine.allCases)
    func aHealthyLogPassesEveryCheck(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            _ = try await engine.addTestEndpoint("http://127.0.0.1:9/a")
            _ = try await engine.publish(eventType: "a.b", payload: "{}")
            let findings = try await engine.checkup(now: Date())
            #expect(Set(findings.map(\.check)) == Self.checks[kind])
            #expect(findings.allSatisfy { $0.verdict == .ok }, "\(findings)")
        }
    }

    /// The rest are SQLite's: they break its tables and files by hand (PostgresOperationsTests breaks PostgreSQL's).
    @Test func brokenCountersGroupsAndLeasesAreFoundAndRepaired() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let endpoint = try store.addTestEndpoint("http://127.0.0.1:9/a")
        for _ in 0..<4 { _ = try store.publish(eventType: "a.b", payload: "{}") }
        let now = Date()
        let jobs = try store.claimAll(endpoint, owner: "w:gone", now: now)
        _ = try store.recordOutcome(Array(jobs.prefix(2)), status: 500, owner: "w:gone", policy: RetryPolicy(delays: []))
        // Broken on purpose: a counter, a failure group, and two leases whose holder never heartbeat.
        try store.read { db in
            try db.execute("UPDATE delivery_counts SET n = n + 5 WHERE status = 'delivered'")
            try db.execute("UPDATE failure_groups SET dead = dead + 1")
        }
        var verdicts = Self.verdicts(try store.checkup(now: now))
        #expect(verdicts["counters"] == .problem)
        #expect(verdicts["failure_groups"] == .problem)
        #expect(verdicts["leases"] == .problem)
        #expect(verdicts["integrity"] == .ok)

        let done = try store.repair(now: now, by: testActor)
        #expect(done.count == 2, "\(done)")
        #expect(done.contains { $0.hasPrefix("released 2 orphaned leases") })
        verdicts = Self.verdicts(try store.checkup(now: now))
        #expect(verdicts.values.allSatisfy { $0 == .ok }, "\(verdicts)")
        #expect(try store.overview(now: now).totals.inflight == 0)
        #expect(try store.auditEntries(limit: 1).first?.action == "log.repair")
        // Nothing left to repair: nothing done, nothing audited.
        #expect(try store.repair(now: now, by: testActor).isEmpty)
    }

    @Test func overdueWorkLooseModesAndANewerSchemaAreFound() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        _ = try store.addTestEndpoint("http://127.0.0.1:9/a")
        _ = try store.publish(eventType: "a.b", payload: "{}", now: Date().addingTimeInterval(-600))
        chmod(database.path, 0o644)
        var findings = try store.checkup(now: Date())
        let due = try #require(findings.first { $0.check == "due_work" })
        #expect(due.verdict == .problem && due.detail.contains("no dispatcher is alive"), "\(due.detail)")
        let modes = try #require(findings.first { $0.check == "file_modes" })
        #expect(modes.verdict == .problem && modes.detail.contains("is 644"), "\(modes.detail)")
        try store.read { db in try db.execute("PRAGMA user_version = \(Schema.version + 1)") }
        findings = try store.checkup(now: Date())
        #expect(findings.first { $0.check == "schema" }?.verdict == .problem)
    }
}
