@testable import DeliveryCore
import Foundation
import HooktopReceivers
import HooktopTesting
import Testing

/// `LogCopy` moves a whole log between engines: SQLite → PostgreSQL → SQLite keeps every row and every read.
struct LogCopyTests {
    @Test func aRoundTripThroughPostgresKeepsTheWholeLog() async throws {
        let source = try TemporaryDatabase()
        let now = Date(milliseconds: Date().milliseconds)
        try Self.build(source.store, now: now)
        let sqlite = SQLiteEngine(store: source.store)
        let back = try TemporaryDatabase()
        let copiedBack = SQLiteEngine(store: back.store)
        let (there, again) = try await withPostgresEngine { postgres in
            let there = try await LogCopy.run(from: sqlite, to: postgres, now: now)
            try await Self.expectSameLog(postgres, sqlite, now: now)
            let again = try await LogCopy.run(from: postgres, to: copiedBack, now: now)
            // New rows get ids after the copied ones.
            let newest = try #require(try await postgres.deliveries(DeliveryQuery(limit: 1)).first).id
            let published = try await Operations(engine: postgres).publish(PublishRequest(eventType: "user.created", payload: "{}"))
            #expect(published.deliveryCount == 3)
            #expect(try await postgres.deliveries(DeliveryQuery(limit: 3)).allSatisfy { $0.id > newest })
            return (there, again)
        }
        try await Self.expectSameLog(copiedBack, sqlite, now: now)
        #expect(there.map(\.table) == LogTable.allCases)
        #expect(there.map(\.rows) == again.map(\.rows))
        let rows = Dictionary(uniqueKeysWithValues: there.map { ($0.table.rawValue, $0.rows) })
        #expect(rows["endpoints"] == 3 && rows["messages"] == 13 && rows["api_tokens"] == 2 && rows["recoveries"] == 1)
        #expect(rows["deliveries"] == Self.total(try await sqlite.statusTotals()))
        #expect(rows["attempts"] == (try await sqlite.attemptCount()))
        // doctor finds what it found in the original (its counters and groups agree with the log; due work waits).
        let verdicts = { (log: any DeliveryEngine) in try await log.checkup(now: now).map { "\($0.check) \($0.verdict)" } }
        #expect(try await verdicts(copiedBack) == verdicts(sqlite))

        // The payload's bytes, the secrets (with the one rotated out) and the endpoint's settings came back as they were.
        let message = try #require(try await copiedBack.message(id: "msg_unicode"))
        #expect(Array(message.payload.utf8) == Array(Self.payload.utf8))
        let two = try #require(try await copiedBack.endpoint(id: "ep_two"))
        #expect(two.previousSecret != nil && two.secret != two.previousSecret)
        let one = try #require(try await copiedBack.endpoint(id: "ep_one"))
        #expect(one.connection.credential == .bearer(token: "s3cret") && one.rateLimit == 5)
    }

    @Test(arguments: EngineKind.allCases)
    func deliveriesInFlightArriveDueAtOnce(into kind: EngineKind) async throws {
        let source = try TemporaryDatabase()
        let now = Date(milliseconds: Date().milliseconds)
        let endpoint = try source.store.addTestEndpoint("http://127.0.0.1:9/", now: now.addingTimeInterval(-60))
        for _ in 0..<3 { _ = try source.store.publish(eventType: "a.b", payload: "{}", now: now.addingTimeInterval(-30)) }
        let claimed = try source.store.claimDue(
            [ClaimRequest(endpoint: endpoint, limit: 2)], owner: "w:gone", now: now.addingTimeInterval(-10), lease: 600)
        #expect(claimed.count == 2)
        try await kind.withEngine { destination in
            try await LogCopy.run(from: SQLiteEngine(store: source.store), to: destination, now: now)
            let deliveries = try await destination.deliveries(DeliveryQuery(limit: 10))
            #expect(deliveries.map(\.status) == [.pending, .pending, .pending])
            let due = deliveries.filter { claimed.map(\.deliveryId).contains($0.id) }.map(\.nextAttemptAt)
            #expect(due == [now, now])
            #expect(try await destination.statusTotals().pending == 3)
            #expect(try await destination.hasDueWork(now: now))
            #expect(try await destination.checkup(now: now).filter { $0.verdict == .problem && $0.check != "file_modes" }.isEmpty)
        }
    }

    @Test func aPostgresDeliveryLeasedNowArrivesDueAtOnceWithItsStatus() async throws {
        let destination = try TemporaryDatabase()
        let now = Date(milliseconds: Date().milliseconds)
        try await withPostgresEngine { postgres in
            let operations = Operations(engine: postgres, now: { now.addingTimeInterval(-60) })
            let endpoint = try await operations.addEndpoint(
                url: "http://127.0.0.1:9/", allowPrivateDestination: true, by: testActor)
            _ = try await operations.publish(PublishRequest(eventType: "a.b", payload: "{}"))
            let claimed = try await postgres.claimDue(
                [ClaimRequest(endpoint: endpoint, limit: 1)], owner: "w:gone", now: now.addingTimeInterval(-10), lease: 600)
            #expect(claimed.count == 1)
            #expect(try await postgres.statusTotals().inflight == 1)
            try await LogCopy.run(from: postgres, to: SQLiteEngine(store: destination.store), now: now)
        }
        let delivery = try #require(try destination.store.deliveries(DeliveryQuery(limit: 1)).first)
        #expect(delivery.status == .pending && delivery.nextAttemptAt == now)
    }

    @Test func aLogIsCopiedOnlyIntoAnEmptyOneAndOnlyWhileNothingWritesIt() async throws {
        let source = try TemporaryDatabase()
        _ = try source.store.addTestEndpoint("http://127.0.0.1:9/")
        let sqlite = SQLiteEngine(store: source.store)
        let taken = try TemporaryDatabase()
        _ = try taken.store.addTestEndpoint("http://127.0.0.1:9/")
        let refused = await #expect(throws: HooktopError.self) {
            try await LogCopy.run(from: sqlite, to: SQLiteEngine(store: taken.store))
        }
        #expect(refused?.message == "\(taken.path) already holds a log: copy into an empty database or a new file")
        try await withPostgresEngine { postgres in
            // A token alone is a log someone set up.
            _ = try await postgres.makeFirstAPIToken(now: Date(), by: testActor)
            let refused = await #expect(throws: HooktopError.self) { try await LogCopy.run(from: sqlite, to: postgres) }
            #expect(refused?.code == .conflict)
            #expect(try await postgres.endpoints().isEmpty)
        }
        try source.store.heartbeat(
            WorkerInfo(id: "w:live", pid: 77, host: "box", startedAt: Date(), heartbeatAt: Date(), version: "1.0.0", inFlight: 0))
        let empty = try TemporaryDatabase()
        let live = await #expect(throws: HooktopError.self) {
            try await LogCopy.run(from: sqlite, to: SQLiteEngine(store: empty.store))
        }
        #expect(
            live?.message
                == "\(source.path) is being written by a dispatcher (pid 77 on box): stop every `hooktop serve` on it before copying")
        #expect(try await SQLiteEngine(store: empty.store).isEmptyLog())
    }

    @Test func aLogOfManyBatchesIsCopiedWhole() async throws {
        let source = try TemporaryDatabase()
        let now = Date(milliseconds: Date().milliseconds)
        try LogSeeder.seed(source.store, deliveries: 12_000, endpoints: 7, span: 3 * 86400, now: now)
        let sqlite = SQLiteEngine(store: source.store)
        let back = try TemporaryDatabase()
        let copiedBack = SQLiteEngine(store: back.store)
        let stats = try await sqlite.exportRows(.stats, after: nil, limit: 1_000_000, now: now).count
        #expect(stats > LogTable.stats.batchSize, "the stats span batches (a two-column key)")
        let counts = try await withPostgresEngine { postgres in
            try await LogCopy.run(from: sqlite, to: postgres, now: now)
            return try await LogCopy.run(from: postgres, to: copiedBack, now: now)
        }
        #expect(counts.first { $0.table == .deliveries }?.rows == Self.total(try await sqlite.statusTotals()))
        #expect(counts.first { $0.table == .stats }?.rows == stats)
        try await Self.expectSameLog(copiedBack, sqlite, now: now)
    }

    // MARK: Support

    static func total(_ counts: StatusCounts) -> Int {
        counts.pending + counts.inflight + counts.delivered + counts.retrying + counts.dead + counts.cancelled
    }

    static let payload = #"{"name":"Zoë 🚀","text":"line\nbreak \"quoted\" \\ back\u0007","n":1.50,  "empty" : [ ] }"#

    /// The parity test's log, with a rotated secret, an endpoint's credentials and rate limit, a payload of every kind
    /// of character, an idempotency key, two API tokens (one revoked); the leases released (nothing in flight).
    static func build(_ store: Store, now: Date) throws {
        try PostgresSQLiteParityTests.build(store, now: now)
        _ = try store.rotateSecret(endpointId: "ep_two", now: now.addingTimeInterval(-600), by: testActor)
        var changes = EndpointChanges()
        changes.setHeaders = [Header(name: "X-Team", value: "payments")]
        changes.credential = .set(.bearer(token: "s3cret"))
        changes.rateLimit = .set(5)
        _ = try store.updateEndpoint(id: "ep_one", changes: changes, now: now.addingTimeInterval(-550), by: testActor)
        _ = try store.publish(
            eventType: "user.created", payload: payload, idempotencyKey: "order-42", id: "msg_unicode",
            now: now.addingTimeInterval(-500))
        _ = try store.createAPIToken(name: "ci", now: now.addingTimeInterval(-400), by: testActor)
        let old = try store.createAPIToken(name: "old", now: now.addingTimeInterval(-300), by: testActor)
        _ = try store.revokeAPIToken(id: old.token.id, now: now.addingTimeInterval(-200), by: testActor)
        _ = try store.releaseLeases(owner: "w1", now: now.addingTimeInterval(-30))
    }

    /// Every table's rows and every read of the seam are the same in both logs.
    static func expectSameLog(_ copy: any DeliveryEngine, _ original: any DeliveryEngine, now: Date) async throws {
        for table in LogTable.allCases {
            #expect(
                try await copy.exportRows(table, after: nil, limit: 1_000_000, now: now)
                    == original.exportRows(table, after: nil, limit: 1_000_000, now: now), "\(table)")
        }
        #expect(try await copy.endpoints() == original.endpoints())
        let all = try await original.deliveries(DeliveryQuery(limit: 100_000))
        #expect(try await copy.deliveries(DeliveryQuery(limit: 100_000)) == all)
        for delivery in all.prefix(50) {
            #expect(try await copy.deliveryDetail(id: delivery.id) == original.deliveryDetail(id: delivery.id))
            #expect(try await copy.attempts(deliveryId: delivery.id) == original.attempts(deliveryId: delivery.id))
        }
        #expect(try await copy.retryQueue(RetryQueueQuery()) == original.retryQueue(RetryQueueQuery()))
        #expect(try await copy.messages(eventType: nil, before: nil, limit: 1000) == original.messages(eventType: nil, before: nil, limit: 1000))
        #expect(try await copy.statusTotals() == original.statusTotals())
        #expect(try await copy.endpointSummaries(now: now) == original.endpointSummaries(now: now))
        #expect(try await copy.overview(now: now) == original.overview(now: now))
        let groups = try await original.failureGroups(endpointId: nil, limit: 1000)
        #expect(try await copy.failureGroups(endpointId: nil, limit: 1000) == groups)
        for group in groups {
            #expect(
                try await copy.failureSamples(
                    endpointId: group.endpointId, errorClass: group.errorClass, statusCode: group.statusCode, limit: 20)
                    == original.failureSamples(
                        endpointId: group.endpointId, errorClass: group.errorClass, statusCode: group.statusCode, limit: 20))
        }
        for endpoint in try await original.endpoints() {
            #expect(try await copy.recoveryProgress(endpointId: endpoint.id) == original.recoveryProgress(endpointId: endpoint.id))
        }
        #expect(try await copy.auditEntries(objectId: nil, limit: 1000) == original.auditEntries(objectId: nil, limit: 1000))
        #expect(try await copy.alerts(before: nil, limit: 100) == original.alerts(before: nil, limit: 100))
        let since = now.addingTimeInterval(-2 * 86400)
        #expect(try await copy.alertInputs(now: now, deadSince: since) == original.alertInputs(now: now, deadSince: since))
        #expect(try await copy.apiTokens() == original.apiTokens())
        #expect(try await copy.apiTokenDigests() == original.apiTokenDigests())
    }
}
