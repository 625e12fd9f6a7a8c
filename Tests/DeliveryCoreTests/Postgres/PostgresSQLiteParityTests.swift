@testable import DeliveryCore
import Foundation
import HooktopTesting
import Testing

/// One log built through the SQLite store (publishing, claims, attempts, a cancel, a recovery, alerts), copied into
/// PostgreSQL by `LogCopy` (the in-flight deliveries claimed there again by the same dispatcher), reads the same on
/// both engines.
struct PostgresSQLiteParityTests {
    @Test func bothEnginesReadTheSameLog() async throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let now = Date(milliseconds: Date().milliseconds)
        try Self.build(store, now: now)
        let sqlite = SQLiteEngine(store: store)
        try await withPostgresEngine { engine in
            try await LogCopy.run(from: sqlite, to: engine, now: now)
            // A copy carries no lease: the dispatcher claims its deliveries again (until the same time), and heartbeats.
            let three = try #require(try await engine.endpoint(id: "ep_three"))
            let claimed = try await engine.claimDue(
                [ClaimRequest(endpoint: three, limit: 100)], owner: "w1", now: now, lease: Self.lease - 60)
            #expect(claimed.count == 12)
            for engine in [sqlite, engine] as [any DeliveryEngine] { try await engine.heartbeat(Self.worker(now: now)) }

            // SQLite keeps an in-flight delivery's last due time; PostgreSQL has none to tell (the lease replaced it).
            func plain(_ deliveries: [Delivery]) -> [Delivery] {
                deliveries.map { delivery in
                    var delivery = delivery
                    if delivery.status == .inflight { delivery.nextAttemptAt = nil }
                    return delivery
                }
            }
            let all = try await sqlite.deliveries(DeliveryQuery(limit: 1000))
            #expect(Set(all.map(\.status)) == [.pending, .inflight, .retrying, .delivered, .dead, .cancelled])
            let some = all[all.count / 2]
            var queries = [
                DeliveryQuery(limit: 1000), DeliveryQuery(limit: 3), DeliveryQuery(before: some.id),
                DeliveryQuery(statuses: [.inflight]), DeliveryQuery(statuses: [.pending, .retrying]),
                DeliveryQuery(statuses: [.dead, .cancelled, .inflight]), DeliveryQuery(endpointId: "ep_two"),
                DeliveryQuery(eventType: "user.*"), DeliveryQuery(eventType: "invoice.paid"),
                DeliveryQuery(messageId: some.messageId), DeliveryQuery(since: now.addingTimeInterval(-3600)),
                DeliveryQuery(until: now.addingTimeInterval(-3600)), DeliveryQuery(text: "refused"),
                DeliveryQuery(text: "TWO"),
            ]
            for order in DeliveryOrder.allCases {
                var query = DeliveryQuery(limit: 5)
                query.order = order
                query.after = order == .oldest ? some.id : nil
                queries.append(query)
            }
            for query in queries {
                let expected = plain(try await sqlite.deliveries(query))
                #expect(try await engine.deliveries(query) == expected, "\(query)")
            }
            #expect(try await engine.retryQueue(RetryQueueQuery()) == sqlite.retryQueue(RetryQueueQuery()))
            let oneQueue = RetryQueueQuery(endpointId: "ep_two", limit: 2)
            #expect(try await engine.retryQueue(oneQueue) == sqlite.retryQueue(oneQueue))

            let groups = try await sqlite.failureGroups(endpointId: nil, limit: 100)
            #expect(groups.count >= 2)
            #expect(try await engine.failureGroups(endpointId: nil, limit: 100) == groups)
            for group in groups {
                let expected = try await sqlite.failureSamples(
                    endpointId: group.endpointId, errorClass: group.errorClass, statusCode: group.statusCode, limit: 10)
                #expect(
                    try await engine.failureSamples(
                        endpointId: group.endpointId, errorClass: group.errorClass, statusCode: group.statusCode, limit: 10)
                        == expected)
            }
            #expect(try await engine.messages(eventType: nil, before: nil, limit: 100) == sqlite.messages(eventType: nil, before: nil, limit: 100))
            let page = try await sqlite.messages(eventType: "user.created", before: 9, limit: 2)
            #expect(try await engine.messages(eventType: "user.created", before: 9, limit: 2) == page)
            for delivery in all {
                var expected = try #require(try await sqlite.deliveryDetail(id: delivery.id))
                expected.delivery = plain([expected.delivery])[0]
                #expect(try await engine.deliveryDetail(id: delivery.id) == expected)
                #expect(try await engine.attempts(deliveryId: delivery.id) == sqlite.attempts(deliveryId: delivery.id))
            }
            #expect(try await engine.message(id: some.messageId) == sqlite.message(id: some.messageId))

            #expect(try await engine.statusTotals() == sqlite.statusTotals())
            #expect(try await engine.endpointSummaries(now: now) == sqlite.endpointSummaries(now: now))
            #expect(try await engine.overview(now: now) == sqlite.overview(now: now))
            #expect(try await engine.workers() == sqlite.workers())
            for endpoint in ["ep_one", "ep_two", "ep_three"] {
                let since = now.addingTimeInterval(-2 * 86400)
                #expect(
                    try await engine.recoverableCount(endpointId: endpoint, since: since)
                        == sqlite.recoverableCount(endpointId: endpoint, since: since), "\(endpoint)")
                #expect(try await engine.recoveryProgress(endpointId: endpoint) == sqlite.recoveryProgress(endpointId: endpoint))
                #expect(try await engine.auditEntries(objectId: endpoint, limit: 5) == sqlite.auditEntries(objectId: endpoint, limit: 5))
            }
            #expect(try await sqlite.recoveryProgress(endpointId: "ep_three") != nil)
            #expect(try await engine.auditEntries(objectId: nil, limit: 100) == sqlite.auditEntries(objectId: nil, limit: 100))
            let alerts = try await sqlite.alerts(before: nil, limit: 10)
            #expect(alerts.count == 2)
            #expect(try await engine.alerts(before: nil, limit: 10) == alerts)
            #expect(try await engine.alert(id: alerts[0].id) == alerts[0])
            let deadSince = now.addingTimeInterval(-2 * 86400)
            #expect(
                try await engine.alertInputs(now: now, deadSince: deadSince)
                    == sqlite.alertInputs(now: now, deadSince: deadSince))
        }
    }

    /// Three endpoints; six messages thirty hours ago (ep_one delivers them, ep_two answers 500 and ep_three refuses,
    /// both without retries), six in the last hour (ep_one answers 500 and retries, one of them cancelled; ep_two's
    /// wait; ep_three's, with its recovered dead ones, are in flight); a pause and resume; two alerts.
    static func build(_ store: Store, now: Date) throws {
        func at(_ seconds: TimeInterval) -> Date { now.addingTimeInterval(seconds) }
        let created = at(-3 * 86400)
        func add(_ id: String, _ url: String, types: [String] = []) throws -> Endpoint {
            try store.addEndpoint(
                url: url, changes: EndpointChanges(eventTypes: types, timeoutMilliseconds: 5000), secret: nil,
                allowPrivateDestination: true, id: id, now: created, by: testActor)
        }
        let one = try add("ep_one", "http://127.0.0.1:9/one")
        let two = try add("ep_two", "http://127.0.0.1:9/two", types: ["user.*"])
        let three = try add("ep_three", "http://127.0.0.1:9/three")
        for index in 0..<6 {
            _ = try store.publish(
                eventType: index % 2 == 0 ? "invoice.paid" : "user.created", payload: #"{"n":\#(index)}"#,
                now: at(-30 * 3600 + Double(index) * 60))
        }
        let day1 = at(-30 * 3600 + 600)
        try store.recordOutcome(try store.claimAll(one, now: day1), status: 200, now: day1)
        try store.recordOutcome(try store.claimAll(two, now: day1), status: 500, policy: RetryPolicy(delays: []), now: day1)
        try store.recordOutcome(try store.claimAll(three, now: day1), status: nil, policy: RetryPolicy(delays: []), now: day1)
        for index in 6..<12 {
            _ = try store.publish(
                eventType: index % 2 == 0 ? "invoice.paid" : "user.created", payload: #"{"n":\#(index)}"#,
                now: at(-3000 + Double(index - 6) * 60))
        }
        try store.recordOutcome(
            try store.claimAll(one, now: at(-2400)), status: 500, policy: RetryPolicy(delays: [3600], jitter: 0), now: at(-2400))
        let retrying = try store.deliveries(DeliveryQuery(statuses: [.retrying], endpointId: "ep_one", limit: 1))
        try store.cancelDelivery(deliveryId: try #require(retrying.first).id, now: at(-1800), by: testActor)
        _ = try store.setEndpointStatus(id: "ep_one", .paused, reason: nil, action: "endpoint.pause", now: at(-10800), by: testActor)
        _ = try store.setEndpointStatus(id: "ep_one", .active, reason: nil, action: "endpoint.resume", now: at(-7200), by: testActor)
        _ = try store.queueRecovery(endpointId: "ep_three", since: at(-2 * 86400), now: at(-1200), by: testActor)
        _ = try store.claimAll(three, owner: "w1", now: at(-60), lease: lease)
        for (type, object) in [(AlertType.endpointFailing, "ep_two"), (.deliveriesDead, "ep_three")] {
            _ = try store.recordAlert(
                NewAlert(type: type, objectId: object, key: "k", debounce: nil, summary: "about \(object)", details: "{}"),
                status: .unsent, now: at(-900))
        }
    }

    /// How long past its timeout the dispatcher leased ep_three's deliveries, a minute before `now`.
    static let lease: TimeInterval = 600

    /// The dispatcher that holds them.
    static func worker(now: Date) -> WorkerInfo {
        WorkerInfo(
            id: "w1", pid: 4, host: "box", startedAt: now.addingTimeInterval(-3600), heartbeatAt: now.addingTimeInterval(-1),
            version: "1.0.0", inFlight: 9, retryDelays: [1, 5])
    }
}
