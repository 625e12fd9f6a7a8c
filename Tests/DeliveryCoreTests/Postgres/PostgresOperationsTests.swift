@testable import DeliveryCore
import Foundation
import HooktopTesting
import Logging
import PostgresNIO
import Testing

/// Operators' writes on PostgreSQL: the same rules as on SQLite, with the queue, the per-writer counters and the
/// failure groups kept in step; alerts recorded once; retention by whole days; doctor's checks and repairs.
struct PostgresOperationsTests {
    let base = PostgresDispatchTests()

    /// One endpoint with `count` deliveries that died of a 500.
    func deadDeliveries(_ engine: PostgresEngine, _ count: Int, now: Date = Date()) async throws -> (Endpoint, [DeliveryJob]) {
        let endpoint = try await base.addEndpoint(engine, "http://127.0.0.1:9/a")
        let requests = (0..<count).map { PublishRequest(eventType: "invoice.paid", payload: #"{"n":\#($0)}"#) }
        _ = try await engine.publish(groups: [requests], now: now)[0].get()
        let jobs = try await engine.claimDue([ClaimRequest(endpoint: endpoint, limit: 100)], owner: "w:a", now: now, lease: 60)
        try await engine.record(
            jobs.map { base.outcome($0, status: 500, at: now) }, owner: "w:a", policy: RetryPolicy(delays: []),
            autoDisableAfter: nil, now: now)
        return (endpoint, jobs)
    }

    func expectConsistent(_ engine: PostgresEngine, _ comment: Comment? = nil) async throws {
        let findings = try await engine.checkup(now: Date())
        let problems = findings.filter { $0.verdict != .ok }
        #expect(problems.isEmpty, "\(problems.map(\.detail))")
    }

    @Test func redeliverCancelAndReplayKeepQueueCountersAndGroupsInStep() async throws {
        try await base.withEngine { engine in
            let (endpoint, jobs) = try await deadDeliveries(engine, 4)
            try await expectConsistent(engine)
            try await engine.queueRedelivery(deliveryId: jobs[0].deliveryId, now: Date(), by: testActor)
            var (log, counted) = try await base.statuses(engine)
            #expect(log == ["dead": 3, "pending": 1] && counted == log)
            #expect(try await engine.rows("SELECT manual FROM delivery_queue").first?.int(0) == ManualMode.fromFinished.rawValue)
            // Claimed, it is in flight: neither redelivered nor cancelled meanwhile.
            let claimed = try await engine.claimDue([ClaimRequest(endpoint: endpoint, limit: 5)], owner: "w:b", now: Date(), lease: 60)
            #expect(claimed.map(\.deliveryId) == [jobs[0].deliveryId] && claimed[0].trigger == .manual)
            await #expect(throws: HooktopError.self) {
                try await engine.queueRedelivery(deliveryId: jobs[0].deliveryId, now: Date(), by: testActor)
            }
            await #expect(throws: HooktopError.self) {
                try await engine.cancelDelivery(deliveryId: jobs[0].deliveryId, now: Date(), by: testActor)
            }
            // A failed manual attempt of a finished delivery leaves it dead.
            try await engine.record(
                [base.outcome(claimed[0], status: 500)], owner: "w:b", policy: RetryPolicy(delays: [60]),
                autoDisableAfter: nil, now: Date())
            (log, counted) = try await base.statuses(engine)
            #expect(log == ["dead": 4] && counted == log)
            // Replay by filter: a glob on the event type, dry run first.
            let filter = DeliveryFilter(status: .dead, endpointId: endpoint.id, eventType: "invoice.*")
            #expect(try await engine.countReplay(filter) == 4)
            #expect(try await engine.countReplay(DeliveryFilter(status: .dead, eventType: "user.*")) == 0)
            #expect(try await engine.queueReplay(filter, now: Date(), by: testActor) == 4)
            (log, counted) = try await base.statuses(engine)
            #expect(log == ["pending": 4] && counted == log)
            try await engine.cancelDelivery(deliveryId: jobs[1].deliveryId, now: Date(), by: testActor)
            (log, counted) = try await base.statuses(engine)
            #expect(log == ["pending": 3, "cancelled": 1] && counted == log)
            #expect(try await engine.rows("SELECT count(*) FROM delivery_queue").first?.int(0) == 3)
            try await expectConsistent(engine)
            // Held endpoints are refused.
            _ = try await engine.setEndpointStatus(
                id: endpoint.id, .paused, reason: nil, action: "endpoint.pause", refusing: .disabled, advice: "",
                now: Date(), by: testActor)
            await #expect(throws: HooktopError.self) {
                try await engine.queueRedelivery(deliveryId: jobs[2].deliveryId, now: Date(), by: testActor)
            }
        }
    }

    @Test func recoveryRequeuesTheDeadAndWhatADisabledEndpointMissed() async throws {
        try await base.withEngine { engine in
            let (endpoint, _) = try await deadDeliveries(engine, 2)
            _ = try await engine.setEndpointStatus(
                id: endpoint.id, .disabled, reason: "maintenance", action: "endpoint.disable", refusing: nil, advice: "",
                now: Date(), by: testActor)
            _ = try await engine.publish(groups: [[PublishRequest(eventType: "invoice.paid", payload: "{}")]], now: Date())
            _ = try await engine.setEndpointStatus(
                id: endpoint.id, .active, reason: nil, action: "endpoint.enable", refusing: nil, advice: "", now: Date(),
                by: testActor)
            let queued = try await engine.queueRecovery(
                endpointId: endpoint.id, since: Date().addingTimeInterval(-3600), now: Date(), by: testActor)
            #expect(queued == 3)
            let (log, counted) = try await base.statuses(engine)
            #expect(log == ["pending": 3] && counted == log)
            #expect(try await engine.rows("SELECT total FROM recoveries").first?.int(0) == 3)
            #expect(try await engine.rows("SELECT count(*) FROM recovery_deliveries").first?.int(0) == 3)
            try await expectConsistent(engine)
        }
    }

    @Test func endpointsAreUpdatedPausedRotatedAndRemoved() async throws {
        try await base.withEngine { engine in
            let endpoint = try await base.addEndpoint(engine, "http://127.0.0.1:9/a")
            await #expect(throws: HooktopError.self) {
                _ = try await engine.addEndpoint(
                    url: "http://127.0.0.1:9/b", changes: EndpointChanges(), secret: nil, allowPrivateDestination: true,
                    id: endpoint.id, now: Date(), by: testActor)
            }
            var changes = EndpointChanges(description: "billing", maxInFlight: 4)
            changes.rateLimit = .set(20)
            let updated = try await engine.updateEndpoint(id: endpoint.id, changes: changes, now: Date(), by: testActor)
            #expect(updated.description == "billing" && updated.maxInFlight == 4 && updated.rateLimit == 20)
            #expect(updated.url == endpoint.url)
            let rotated = try await engine.rotateSecret(endpointId: endpoint.id, now: Date(), by: testActor)
            #expect(rotated.previousSecret == endpoint.secret && rotated.secret != endpoint.secret)
            #expect(try await engine.setEndpointStatus(
                id: endpoint.id, .paused, reason: nil, action: "endpoint.pause", refusing: .disabled, advice: "", now: Date(),
                by: testActor))
            #expect(try await engine.activeEndpoints().isEmpty)
            try await engine.removeEndpoint(id: endpoint.id, now: Date(), by: testActor)
            #expect(try await engine.endpoint(id: endpoint.id) == nil)
            await #expect(throws: HooktopError.self) { try await engine.removeEndpoint(id: endpoint.id, now: Date(), by: testActor) }
            let actions = try await engine.rows("SELECT action FROM audit ORDER BY id").map { try $0.text(0) }
            #expect(actions == ["endpoint.add", "endpoint.update", "endpoint.rotate_secret", "endpoint.pause", "endpoint.remove"])
        }
    }

    @Test func alertsAreRecordedOnceByEngineInstancesRacingAndSentUnderALease() async throws {
        try await PostgresServer.shared.withDatabase { url in
            let engines = try await (0..<4).asyncMap { _ in try await PostgresEngine.open(url, logger: quietLogger) }
            let now = Date()
            let recorded = try await withThrowingTaskGroup(of: Int.self) { group in
                for engine in engines {
                    group.addTask {
                        var count = 0
                        for key in 0..<8 {
                            let finding = NewAlert(
                                type: .endpointFailing, objectId: "ep_a", key: "k\(key)", debounce: 3600, summary: "s",
                                details: "{}")
                            if try await engine.recordAlert(finding, status: .pending, leasedTo: nil, now: now) != nil {
                                count += 1
                            }
                        }
                        return count
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(recorded == 1)
            let claimed = try await engines[0].claimAlerts(owner: "a", now: now, lease: 120, limit: 10)
            #expect(claimed.count == 1)
            #expect(try await engines[1].claimAlerts(owner: "b", now: now, lease: 120, limit: 10).isEmpty)
            try await engines[0].finishAlert(
                sequence: claimed[0].sequence, owner: "a", status: .sent, sentTo: ["url"], error: nil, nextAttemptAt: nil,
                now: now)
            #expect(try await engines[1].claimAlerts(owner: "b", now: now.addingTimeInterval(200), lease: 120, limit: 10).isEmpty)
            for engine in engines { await engine.close() }
        }
    }

    @Test func pruneDropsAWhollyDeliveredDayAndDoctorRepairsWhatBroke() async throws {
        try await base.withEngine { engine in
            let endpoint = try await base.addEndpoint(engine, "http://127.0.0.1:9/a")
            let yesterday = Date().addingTimeInterval(-86400)
            _ = try await engine.publish(
                groups: [(0..<3).map { _ in PublishRequest(eventType: "a.b", payload: "{}") }], now: yesterday)
            let jobs = try await engine.claimDue([ClaimRequest(endpoint: endpoint, limit: 10)], owner: "w:a", now: yesterday, lease: 60)
            try await engine.record(
                jobs.map { base.outcome($0, status: 200, at: yesterday) }, owner: "w:a", policy: RetryPolicy(delays: []),
                autoDisableAfter: nil, now: yesterday)
            _ = try await engine.publish(groups: [[PublishRequest(eventType: "a.b", payload: "{}")]], now: Date())
            let day = String(ISO8601DateFormatter.string(
                from: yesterday, timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withYear, .withMonth, .withDay]))
            #expect(try await engine.partitions(of: "messages").map(\.name).contains("messages_\(day)"))
            #expect(try await engine.prune(before: Date(), now: Date(), by: testActor) == 3)
            #expect(try await !engine.partitions(of: "messages").map(\.name).contains("messages_\(day)"))
            #expect(try await !engine.partitions(of: "deliveries").map(\.name).contains("deliveries_\(day)"))
            var (log, counted) = try await base.statuses(engine)
            #expect(log == ["pending": 1] && counted == log)
            try await expectConsistent(engine)
            // A counter gone wrong: doctor says so and recounts.
            try await engine.pool.client.query(
                "INSERT INTO delivery_counts (endpoint_id, status, writer_id, n) VALUES (\(endpoint.id), 'dead', 'x', 7)",
                logger: quietLogger)
            var findings = try await engine.checkup(now: Date())
            #expect(findings.first { $0.check == "counters" }?.verdict == .problem)
            // A queue row lost and a stray one.
            try await engine.pool.client.query("DELETE FROM delivery_queue", logger: quietLogger)
            findings = try await engine.checkup(now: Date())
            #expect(findings.first { $0.check == "queue" }?.verdict == .problem)
            let done = try await engine.repair(now: Date(), by: testActor)
            #expect(done.count == 2, "\(done)")
            try await expectConsistent(engine)
            (log, counted) = try await base.statuses(engine)
            #expect(counted == log)
            #expect(try await engine.claimDue([ClaimRequest(endpoint: endpoint, limit: 10)], owner: "w:a", now: Date(), lease: 60).count == 1)
        }
    }
}
