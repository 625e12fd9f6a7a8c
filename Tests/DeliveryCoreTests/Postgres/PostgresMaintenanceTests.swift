@testable import DeliveryCore
import Foundation
import HooktopTesting
import Logging
import PostgresNIO
import Testing

/// Maintenance by one elected leader: the lease row taken, renewed, given up and taken over; the upkeep making the
/// coming days' partitions, expiring idempotency keys and folding counter rows of writers that are gone while every
/// sum stays the same.
struct PostgresMaintenanceTests {
    /// Runs `body` with two engines on a new database (two processes).
    func withTwoEngines<T: Sendable>(_ body: (PostgresEngine, PostgresEngine) async throws -> T) async throws -> T {
        try await withPostgresEngines(2) { _, engines in try await body(engines[0], engines[1]) }
    }

    @Test func oneHoldsTheLeaseAndAnotherTakesOverOnceItStopsRenewing() async throws {
        try await withTwoEngines { first, second in
            let a = PostgresMaintenance(engine: first, logger: quietLogger)
            let b = PostgresMaintenance(engine: second, logger: quietLogger)
            let start = Date()
            func at(_ seconds: TimeInterval) -> Date { start.addingTimeInterval(seconds) }
            #expect(await a.turn(now: at(0)))
            #expect(await !b.turn(now: at(1)))
            #expect(await a.turn(now: at(5)))
            #expect(await !b.turn(now: at(34)))
            #expect(a.isLeader && !b.isLeader)
            let holder = try await first.leaseHolder(PostgresMaintenance.leaseName)
            #expect(holder?.owner == a.owner)
            // The leader stops renewing (its process died): the lease runs out 30 s after its last renewal.
            #expect(await b.turn(now: at(36)))
            #expect(await !a.turn(now: at(37)))
            #expect(b.isLeader && !a.isLeader)
            // A clean stop gives the lease up: the other takes it at its next turn.
            await b.resign()
            let released = try await first.leaseHolder(PostgresMaintenance.leaseName)
            #expect(released == nil)
            #expect(await a.turn(now: at(38)))
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func runningServicesElectOneLeaderAndAnotherLeadsWhenItStops() async throws {
        try await withTwoEngines { first, second in
            var configuration = PostgresMaintenance.Configuration()
            configuration.renewInterval = .milliseconds(50)
            // Long enough that a starved machine does not let a leader's lease lapse between renewals; the handover
            // below comes from the leader giving the lease up, not from its expiry.
            configuration.leaseDuration = 10
            let services = [first, second].map {
                PostgresMaintenance(engine: $0, configuration: configuration, logger: quietLogger)
            }
            let tasks = services.map { service in Task { try await service.run() } }
            defer { tasks.forEach { $0.cancel() } }
            try #require(await eventually(timeout: .seconds(5)) { services.contains(where: \.isLeader) })
            // Several renewals later, still exactly one.
            try await Task.sleep(for: .milliseconds(300))
            let leaders = services.indices.filter { services[$0].isLeader }
            try #require(leaders.count == 1)
            let leader = leaders[0]
            let other = 1 - leader
            // Stopped (even by cancellation), the leader gives the lease up before it returns.
            tasks[leader].cancel()
            try await tasks[leader].value
            let left = try await first.leaseHolder(PostgresMaintenance.leaseName)
            #expect(left == nil || left?.owner == services[other].owner)
            #expect(await eventually(timeout: .seconds(5)) { services[other].isLeader })
            // Its lease row follows (a renewal a starved machine delayed past the lease may have let it lapse).
            #expect(
                try await eventually {
                    try await first.leaseHolder(PostgresMaintenance.leaseName)?.owner == services[other].owner
                })
            tasks[other].cancel()
            try await tasks[other].value
        }
    }

    @Test func theUpkeepMakesTheComingDaysPartitionsAndExpiresIdempotencyKeys() async throws {
        try await withTwoEngines { engine, _ in
            _ = try await engine.addEndpoint(
                url: "http://127.0.0.1:9/hook", changes: EndpointChanges(), secret: nil, allowPrivateDestination: true,
                id: nil, now: Date(), by: testActor)
            let results = try await engine.publish(
                groups: [[
                    PublishRequest(eventType: "a", payload: "{}", idempotencyKey: "key-1"),
                    PublishRequest(eventType: "a", payload: "{}", id: "msg_chosen"),
                ]], now: Date())
            _ = try results[0].get()
            // Three weeks on, without the log opened since.
            let later = Date().addingTimeInterval(21 * 86400)
            let day = { (date: Date) in
                let formatter = DateFormatter()
                formatter.timeZone = TimeZone(identifier: "UTC")
                formatter.dateFormat = "yyyyMMdd"
                return formatter.string(from: date)
            }
            let farDay = later.addingTimeInterval(Double(engine.pool.configuration.partitionDaysAhead) * 86400)
            #expect(try await !engine.partitions(of: "deliveries").map(\.name).contains("deliveries_\(day(later))"))
            let done = try await engine.upkeep(now: later)
            #expect(done.partitionsMade > 0 && done.keysExpired == 1)
            for table in ["messages", "deliveries", "attempts"] {
                let names = try await engine.partitions(of: table).map(\.name)
                #expect(names.contains("\(table)_\(day(later))") && names.contains("\(table)_\(day(farDay))"))
            }
            // Chosen message ids stay claimed; the key past its window is gone.
            #expect(try await engine.rows("SELECT kind FROM message_keys").map { try $0.text(0) } == ["id"])
            // A second pass finds nothing left to do.
            #expect(try await engine.upkeep(now: later) == PostgresEngine.Upkeep())
        }
    }

    @Test func countersOfWritersThatAreGoneFoldIntoOneRowAndEverySumStays() async throws {
        try await withTwoEngines { leader, writer in
            let endpoint = try await writer.addEndpoint(
                url: "http://127.0.0.1:9/hook", changes: EndpointChanges(), secret: nil, allowPrivateDestination: true,
                id: nil, now: Date(), by: testActor)
            for _ in 0..<3 {
                _ = try await writer.publish(groups: [[PublishRequest(eventType: "a", payload: "{}")]], now: Date())
            }
            let id = endpoint.id
            // Failure groups and minute stats of two processes gone, the newer error last.
            _ = try await leader.rows(
                """
                INSERT INTO failure_groups (endpoint_id, error_class, status_code, writer_id, dead, retrying, last_at, last_error)
                VALUES (\(id), 'http_status', 500, 'old-host:1:a', 2, 1, 100, 'older'),
                       (\(id), 'http_status', 500, 'old-host:2:b', 1, 0, 200, 'newer')
                """)
            _ = try await leader.rows(
                """
                INSERT INTO stats_minute (minute, endpoint_id, writer_id, attempts, successes, failures, latency_sum_ms, h3)
                VALUES (7, \(id), 'old-host:1:a', 4, 3, 1, 40, 4), (7, \(id), 'old-host:2:b', 2, 2, 0, 10, 2)
                """)
            let now = Date()
            let overview = try await leader.overview(now: now)
            let groups = try await leader.failureGroups(endpointId: nil, limit: 10)
            // This process runs no dispatcher: the writer engine counts as gone; the leader's own rows stay.
            let done = try await leader.upkeep(now: now)
            #expect(done.rowsFolded == 5)
            #expect(try await leader.overview(now: now) == overview)
            #expect(try await leader.failureGroups(endpointId: nil, limit: 10) == groups)
            let writers = try await leader.rows(
                """
                SELECT DISTINCT writer_id FROM (SELECT writer_id FROM delivery_counts UNION ALL
                    SELECT writer_id FROM failure_groups UNION ALL SELECT writer_id FROM stats_minute) w
                """
            ).map { try $0.text(0) }
            #expect(writers == ["folded"])
            let folded = try #require(
                try await leader.rows(
                    "SELECT dead, retrying, last_at, last_error FROM failure_groups WHERE writer_id = 'folded'"
                ).first)
            #expect(try folded.int(0) == 3 && folded.int(1) == 1 && folded.int64(2) == 200 && folded.text(3) == "newer")
            let stats = try #require(
                try await leader.rows(
                    "SELECT attempts, successes, latency_sum_ms, h3 FROM stats_minute WHERE writer_id = 'folded'").first)
            #expect(try stats.int(0) == 6 && stats.int(1) == 5 && stats.int(2) == 50 && stats.int(3) == 6)
            // An older failure of another process gone joins the folded row without taking over its last error.
            _ = try await leader.rows(
                """
                INSERT INTO failure_groups (endpoint_id, error_class, status_code, writer_id, dead, retrying, last_at, last_error)
                VALUES (\(id), 'http_status', 500, 'old-host:3:c', 1, 0, 50, 'oldest')
                """)
            #expect(try await leader.upkeep(now: now).rowsFolded == 1)
            let merged = try #require(
                try await leader.rows("SELECT dead, last_at, last_error FROM failure_groups WHERE writer_id = 'folded'").first)
            #expect(try merged.int(0) == 4 && merged.int64(1) == 200 && merged.text(2) == "newer")
            // A process with a live dispatcher keeps its rows.
            try await writer.heartbeat(
                WorkerInfo(
                    id: "w:live", pid: Int(getpid()), host: ProcessInfo.processInfo.hostName, startedAt: now,
                    heartbeatAt: now, version: "test", inFlight: 0, retryDelays: nil))
            _ = try await writer.publish(groups: [[PublishRequest(eventType: "a", payload: "{}")]], now: Date())
            #expect(try await leader.upkeep(now: now).rowsFolded == 0)
            #expect(
                try await leader.rows("SELECT 1 FROM delivery_counts WHERE writer_id = \(writer.publisherId)").count == 1)
        }
    }
}
