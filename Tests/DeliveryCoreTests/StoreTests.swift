@testable import DeliveryCore
import Foundation
import HooktopTesting
import Testing

struct StoreTests {
    // MARK: Opening

    @Test func opensWithSchemaWALForeignKeysAndPrivateFileMode() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        #expect(try store.sqlScalar("PRAGMA user_version") == Int64(Schema.version))
        #expect(try store.read { db in try db.queryOne("PRAGMA journal_mode", [], { $0.text(0) }) } == "wal")
        #expect(try store.sqlScalar("PRAGMA foreign_keys") == 1)
        let attributes = try FileManager.default.attributesOfItem(atPath: database.path)
        let mode = try #require(attributes[.posixPermissions] as? Int)
        #expect(mode & 0o777 == 0o600)
        _ = try store.addTestEndpoint("http://127.0.0.1:9/a")
        for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: database.path + suffix) {
            let sidecar = try FileManager.default.attributesOfItem(atPath: database.path + suffix)
            #expect((sidecar[.posixPermissions] as? Int).map { $0 & 0o777 } == 0o600, "\(suffix)")
        }
        for table in ["endpoints", "messages", "deliveries", "attempts", "workers", "stats_minute", "worker_minute", "audit"] {
            #expect(try store.sqlScalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '\(table)'") == 1)
        }
    }

    @Test func reopensAnExistingDatabaseWithoutMigratingAgain() throws {
        let database = try TemporaryDatabase()
        let endpoint = try database.store.addTestEndpoint("http://127.0.0.1:9/a")
        _ = try database.store.publish(eventType: "user.created", payload: #"{"n":1}"#)
        let reopened = try Store(path: database.path)
        #expect(try reopened.sqlScalar("PRAGMA user_version") == Int64(Schema.version))
        #expect(try reopened.endpoint(id: endpoint.id) == endpoint)
        #expect(try reopened.deliveries(endpointId: endpoint.id).count == 1)
        let readOnly = try Store(path: database.path, readOnly: true)
        #expect(try readOnly.endpoints().map(\.id) == [endpoint.id])
    }

    @Test func migratesAVersionOneDatabaseKeepingItsFailureGroups() throws {
        // A database as the first release wrote it: schema v1.
        let old = try OldDatabase(version: 1)
        defer { old.remove() }
        let path = old.path
        let store = try Store(path: path)
        #expect(try store.sqlScalar("PRAGMA user_version") == Int64(Schema.version))
        let trigger = try store.read { db in
            try db.queryOne(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'deliveries_failures_update'", [],
                { $0.text(0) })
        }
        #expect(trigger?.contains("WHEN OLD.status IN ('dead', 'retrying')") == true)
        // The migrated trigger still moves deliveries between groups: failing, then delivered.
        let endpoint = try store.addTestEndpoint("http://127.0.0.1:9/a")
        _ = try store.publish(eventType: "user.created", payload: #"{"n":1}"#)
        try store.recordOutcome(try store.claimAll(endpoint), status: nil)
        #expect(try store.failureGroups(endpointId: endpoint.id, limit: 5).map(\.retrying) == [1])
        try store.recordOutcome(try store.claimAll(endpoint, now: Date().addingTimeInterval(3600)), status: 200)
        #expect(try store.failureGroups(endpointId: endpoint.id, limit: 5).allSatisfy { $0.count == 0 })
    }

    @Test func aStoreStopsWritingOnceANewerVersionMigratedTheFile() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        _ = try store.addTestEndpoint("http://127.0.0.1:9/a")
        // A newer hooktop opens the same file meanwhile and migrates it past this version.
        try store.read { db in try db.execute("PRAGMA user_version = \(Schema.version + 1)") }
        let refused = #expect(throws: HooktopError.self) {
            _ = try store.publish(eventType: "a.b", payload: "{}")
        }
        #expect(refused?.message.contains("newer than this hooktop") == true)
        #expect(try store.sqlScalar("SELECT count(*) FROM messages") == 0)
        // Reading goes on; a process opening the file now is refused at once.
        #expect(try store.endpoints().count == 1)
        #expect(throws: HooktopError.self) { try Store(path: database.path) }
    }

    @Test func readOnlyStoreRefusesEveryWrite() async throws {
        let database = try TemporaryDatabase()
        let endpoint = try database.store.addTestEndpoint("http://127.0.0.1:9/a")
        let result = try database.store.publish(eventType: "a.b", payload: "{}")
        let readOnly = try Store(path: database.path, readOnly: true)
        #expect(readOnly.isReadOnly)
        func expectReadOnly(_ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async {
            do {
                try await body()
                Issue.record("a write succeeded on a read-only store", sourceLocation: sourceLocation)
            } catch let error as HooktopError {
                #expect(error.code == .readOnly, sourceLocation: sourceLocation)
            } catch {
                Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
            }
        }
        let operations = Operations(store: readOnly)
        let deliveryId = try database.store.onlyDelivery(messageId: result.message.id).id
        await expectReadOnly { _ = try readOnly.addTestEndpoint("http://127.0.0.1:9/b") }
        await expectReadOnly { _ = try readOnly.publish(eventType: "a.b", payload: "{}") }
        await expectReadOnly { _ = try readOnly.updateEndpoint(id: endpoint.id, changes: .init(description: "x"), by: testActor) }
        await expectReadOnly { try readOnly.removeEndpoint(id: endpoint.id, by: testActor) }
        await expectReadOnly { try await operations.pause(endpointId: endpoint.id, by: testActor) }
        await expectReadOnly { _ = try await operations.redeliver(deliveryId: deliveryId, by: testActor) }
        await expectReadOnly { try await operations.cancel(deliveryId: deliveryId, by: testActor) }
        await expectReadOnly { _ = try readOnly.prune(before: Date(), by: testActor) }
        #expect(try database.store.endpoints().count == 1)
        #expect(try database.store.status(deliveryId) == .pending)
    }

    @Test func missingFileReadOnlyIsAOneLineError() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hooktop-missing-\(UUID())").path
        let error = #expect(throws: HooktopError.self) { try Store(path: directory + "/nothing.db", readOnly: true) }
        #expect(error?.code == .notFound)
        #expect(error?.message.contains("\n") == false)
        #expect(!FileManager.default.fileExists(atPath: directory + "/nothing.db"))
        let noCreate = #expect(throws: HooktopError.self) { try Store(path: directory + "/nothing.db", create: false) }
        #expect(noCreate?.code == .notFound)
    }

    @Test(arguments: [false, true])
    func notADatabaseIsAOneLineError(readOnly: Bool) throws {
        let database = try TemporaryDatabase()
        let path = database.directory + "/notes.txt"
        try Data(String(repeating: "this is not a database\n", count: 200).utf8).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: HooktopError.self) { try Store(path: path, readOnly: readOnly) }
        #expect(error?.code == .database)
        #expect(error?.message.contains("\n") == false)
        #expect(error?.message.contains(path) == true)
    }

    @Test func emptyFileOpenedReadOnlyIsNotAHooktopDatabase() throws {
        let database = try TemporaryDatabase()
        let path = database.directory + "/empty.db"
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        for (readOnly, create) in [(true, false), (false, false)] {
            let error = #expect(throws: HooktopError.self) { try Store(path: path, readOnly: readOnly, create: create) }
            #expect(error?.code == .notFound)
            #expect(error?.message == "no hooktop database at \(path) (start `hooktop serve` or `hooktop demo`, or pass --db)")
        }
        // A command that sets up a log may lay the schema into the empty file.
        _ = try Store(path: path, create: true)
        _ = try Store(path: path, readOnly: true, create: false)
    }

    /// A reader meets a log of an older schema: one line saying how to upgrade it, not a query error.
    @Test func aReaderRefusesAnOlderSchemaInOneLine() throws {
        let database = try TemporaryDatabase()
        try database.store.read { try $0.execute("PRAGMA user_version = \(Schema.version - 1)") }
        let error = #expect(throws: HooktopError.self) { try Store(path: database.path, readOnly: true, create: false) }
        #expect(error?.message.contains("older than this hooktop") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("\n") == false)
    }

    @Test func aMissingFileIsCreatedOnlyByCommandsThatSetUpALog() throws {
        let database = try TemporaryDatabase()
        let path = database.directory + "/typo.db"
        for readOnly in [true, false] {
            let error = #expect(throws: HooktopError.self) { try Store(path: path, readOnly: readOnly, create: false) }
            #expect(error?.code == .notFound)
            #expect(error?.message.hasPrefix("no hooktop database at \(path)") == true)
        }
        #expect(!FileManager.default.fileExists(atPath: path), "a reader left a file behind")
    }

    /// Another application's SQLite file: refused by every kind of open, and left exactly as it was.
    @Test func anotherApplicationsDatabaseIsRefusedAndUntouched() throws {
        let database = try TemporaryDatabase()
        let path = database.directory + "/app.db"
        let other = try Connection(path: path, readOnly: false, create: true)
        try other.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ada')")
        let schemaBefore = try other.query("SELECT name FROM sqlite_master ORDER BY name", []) { $0.text(0) }
        #expect(chmod(path, 0o644) == 0)
        for (readOnly, create) in [(false, true), (false, false), (true, false)] {
            let error = #expect(throws: HooktopError.self) { try Store(path: path, readOnly: readOnly, create: create) }
            #expect(error?.code == .invalidInput)
            #expect(error?.message == "\(path) is not a hooktop database: it holds another application's tables (users)")
        }
        #expect(try other.query("SELECT name FROM sqlite_master ORDER BY name", []) { $0.text(0) } == schemaBefore)
        #expect(try other.scalar("PRAGMA user_version") == 0)
        let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
        #expect(mode == 0o644, "another application's file keeps its mode: \(String(mode, radix: 8))")
    }

    /// hooktop writes signing secrets into the file: one left readable by others is tightened on open.
    @Test func aLooseDatabaseFileIsTightenedTo0600() throws {
        let database = try TemporaryDatabase()
        let path = database.store.path
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
            #expect(chmod(file, 0o644) == 0)
        }
        _ = try Store(path: path, create: false)
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
            let mode = (try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int) ?? -1
            #expect(mode == 0o600, "\(file) is \(String(mode, radix: 8))")
        }
    }

    /// `since:`, `until:` and free text are answered by the log, not the loaded page.
    @Test func deliveriesBySinceUntilAndText() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let acme = try store.addEndpoint(
            url: "http://127.0.0.1:9/acme", changes: EndpointChanges(description: "Acme Billing"),
            allowPrivateDestination: true, now: t0, by: testActor)
        let times = (0..<6).map { t0.addingTimeInterval(Double($0) * 600) }
        let messages = try times.enumerated().map { index, time in
            try store.publish(eventType: index % 2 == 0 ? "invoice.paid" : "user.created", payload: "{}", now: time).message
        }
        func ids(_ query: DeliveryQuery) throws -> [String] { try store.deliveries(query).map(\.messageId) }
        #expect(try ids(DeliveryQuery(since: times[4])) == [messages[5].id, messages[4].id])
        #expect(try ids(DeliveryQuery(until: times[1])) == [messages[0].id])
        #expect(try ids(DeliveryQuery(since: times[1], until: times[3])) == [messages[2].id, messages[1].id])
        #expect(try ids(DeliveryQuery(since: t0.addingTimeInterval(99_999))).isEmpty)
        #expect(try ids(DeliveryQuery(text: "USER.cre")) == [messages[5].id, messages[3].id, messages[1].id])
        #expect(try ids(DeliveryQuery(text: "acme bill")).count == 6, "the endpoint's description")
        #expect(try ids(DeliveryQuery(text: "127.0.0.1:9/acme")).count == 6, "the endpoint's URL")
        #expect(try ids(DeliveryQuery(text: "50%_off")).isEmpty, "LIKE wildcards are literal")
        #expect(try ids(DeliveryQuery(since: times[4], text: "invoice")) == [messages[4].id])
        _ = acme
    }

    /// The orders of a Deliveries page: newest and oldest keyset-paged, slowest and most attempts ranked.
    @Test func deliveriesInEveryOrder() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let endpoint = try store.addTestEndpoint("http://127.0.0.1:9/a")
        for n in 0..<5 { _ = try store.publish(eventType: "a.b", payload: #"{"n":\#(n)}"#) }
        let jobs = try store.claimAll(endpoint)
        var random = SeededGenerator(seed: 1)
        let outcomes = jobs.enumerated().map { index, job in
            var outcome = fakeOutcome(job, status: index == 2 ? 500 : 200)
            outcome.durationMilliseconds = [5, 50, 20, 900, 1][index]
            return outcome
        }
        _ = try store.record(
            outcomes, owner: "w:test", policy: shortPolicy, autoDisableAfter: 86400, now: Date(), random: &random)
        func ids(_ order: DeliveryOrder, before: Int64? = nil, after: Int64? = nil, limit: Int = 10) throws -> [Int64] {
            var query = DeliveryQuery(before: before, limit: limit)
            query.order = order
            query.after = after
            return try store.deliveries(query).map(\.id)
        }
        let newest = try ids(.newest)
        #expect(try ids(.oldest) == newest.reversed())
        #expect(try ids(.oldest, after: newest.reversed()[1], limit: 2) == Array(newest.reversed()[2...3]))
        let latency = Dictionary(uniqueKeysWithValues: try store.deliveries(DeliveryQuery()).map { ($0.id, $0.lastLatencyMilliseconds ?? -1) })
        #expect(try ids(.slowest).map { latency[$0]! } == latency.values.sorted(by: >))
        #expect(try ids(.mostAttempts).count == 5)
    }

    /// A dispatcher's heartbeat carries its retry schedule; a delivery's detail counts attempts against it.
    @Test func theDispatchersRetryScheduleIsRecorded() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        _ = try store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: testActor)
        _ = try store.publish(eventType: "a.b", payload: "{}")
        let delivery = try #require(try store.deliveries(DeliveryQuery()).first)
        #expect(try store.deliveryDetail(id: delivery.id)?.maxAttempts == nil, "no dispatcher has said yet")
        try store.heartbeat(WorkerInfo(
            id: "w:1", pid: 1, host: "h", startedAt: Date(), heartbeatAt: Date(), version: "0", inFlight: 0,
            retryDelays: [1, 2.5, 60]))
        #expect(try store.workers().first?.retryDelays == [1, 2.5, 60])
        #expect(try store.workers().first?.maxAttempts == 4)
        #expect(try store.deliveryDetail(id: delivery.id)?.maxAttempts == 4)
    }

    /// An endpoint's own retry schedule decides its deliveries' retries and when they are dead, and the detail counts
    /// attempts against it.
    @Test func anEndpointsOwnRetryScheduleReplacesTheDispatchers() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        var changes = EndpointChanges()
        changes.retrySchedule = .set(RetryPolicy(delays: [100]))
        let endpoint = try store.addEndpoint(
            url: "http://127.0.0.1:9/a", changes: changes, allowPrivateDestination: true, by: testActor)
        _ = try store.publish(eventType: "a.b", payload: "{}")
        var random = SeededGenerator(seed: 3)
        let start = Date()
        let dispatcherPolicy = RetryPolicy(delays: [1, 1, 1, 1], jitter: 0)
        // The sender copies the endpoint's schedule into each outcome.
        func fail(at now: Date) throws {
            let jobs = try store.claimAll(endpoint, now: now)
            #expect(jobs.count == 1)
            var outcome = fakeOutcome(jobs[0], status: 500)
            outcome.retrySchedule = jobs[0].endpoint.connection.retrySchedule
            _ = try store.record([outcome], owner: "w:test", policy: dispatcherPolicy, autoDisableAfter: nil, now: now, random: &random)
        }
        try fail(at: start)
        let retrying = try #require(try store.deliveries(DeliveryQuery()).first)
        #expect(retrying.status == .retrying)
        let delay = try #require(retrying.nextAttemptAt).timeIntervalSince(start)
        #expect((80...120).contains(delay), "the endpoint's 100 s (±20%), not the dispatcher's 1 s: \(delay)")
        #expect(try store.deliveryDetail(id: retrying.id)?.maxAttempts == 2)
        try fail(at: start.addingTimeInterval(200))
        #expect(try store.deliveries(DeliveryQuery()).first?.status == .dead, "two attempts in all, as its schedule says")
    }

    /// How late the oldest due delivery is: only active endpoints' deliveries count (held ones are not due), and
    /// retries scheduled for later are not due yet.
    @Test func theOldestDueDeliveryOfAnActiveEndpoint() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let now = Date()
        #expect(try store.overview(now: now).oldestDueAt == nil)
        let active = try store.addTestEndpoint("http://127.0.0.1:9/a")
        let paused = try store.addTestEndpoint("http://127.0.0.1:9/b")
        _ = try store.setEndpointStatus(id: paused.id, .paused, reason: nil, action: "endpoint.pause", now: now, by: testActor)
        _ = try store.publish(eventType: "a.b", payload: "{}", now: now.addingTimeInterval(-300))
        _ = try store.setEndpointStatus(id: active.id, .paused, reason: nil, action: "endpoint.pause", now: now, by: testActor)
        #expect(try store.overview(now: now).oldestDueAt == nil, "held deliveries are not overdue")
        _ = try store.setEndpointStatus(id: active.id, .active, reason: nil, action: "endpoint.resume", now: now, by: testActor)
        let overview = try store.overview(now: now)
        #expect((299...300).contains(overview.oldestDueSeconds(now: now)), "the log keeps milliseconds")
        // Claimed (in flight) is not due; a retry later is not due yet.
        let jobs = try store.claimAll(active, now: now)
        #expect(try store.overview(now: now).oldestDueAt == nil)
        var random = SeededGenerator(seed: 1)
        _ = try store.record(
            [fakeOutcome(jobs[0], status: 500)], owner: "w:test", policy: RetryPolicy(delays: [60], jitter: 0),
            autoDisableAfter: nil, now: now, random: &random)
        #expect(try store.overview(now: now).oldestDueAt == nil)
        let later = now.addingTimeInterval(90)
        #expect((29...30).contains(try store.overview(now: later).oldestDueSeconds(now: later)))
    }

    // MARK: Endpoints

    @Test func addsUpdatesAndRemovesEndpoints() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let endpoint = try store.addEndpoint(
            url: "https://example.com/hook",
            changes: EndpointChanges(description: "billing", eventTypes: ["invoice.*"], maxInFlight: 4), by: testActor)
        #expect(endpoint.status == .active)
        #expect(endpoint.secret.hasPrefix("whsec_"))
        #expect(endpoint.eventTypes == ["invoice.*"])
        #expect(try store.requireEndpoint(id: endpoint.id) == endpoint)

        let updated = try store.updateEndpoint(
            id: endpoint.id, changes: EndpointChanges(description: "billing v2", timeoutMilliseconds: 2000),
            by: testActor)
        #expect(updated.description == "billing v2")
        #expect(updated.timeoutMilliseconds == 2000)
        #expect(updated.eventTypes == ["invoice.*"])
        #expect(updated.maxInFlight == 4)
        #expect(updated.url == endpoint.url)

        try store.removeEndpoint(id: endpoint.id, by: testActor)
        #expect(try store.endpoint(id: endpoint.id) == nil)
        #expect(throws: HooktopError.notFound("endpoint", endpoint.id)) { try store.removeEndpoint(id: endpoint.id, by: testActor) }
        #expect(throws: HooktopError.self) {
            try store.updateEndpoint(id: endpoint.id, changes: EndpointChanges(description: "x"), by: testActor)
        }
    }

    @Test(arguments: [
        EndpointChanges(url: "ftp://example.com/"),
        EndpointChanges(description: String(repeating: "d", count: 1025)),
        EndpointChanges(eventTypes: ["user..created"]),
        EndpointChanges(eventTypes: ["user created"]),
        EndpointChanges(eventTypes: ["*.user"]),
        EndpointChanges(maxInFlight: 0),
        EndpointChanges(timeoutMilliseconds: 50),
        EndpointChanges(timeoutMilliseconds: 300_001),
    ])
    func refusesInvalidEndpointChanges(_ changes: EndpointChanges) throws {
        let database = try TemporaryDatabase()
        let endpoint = try database.store.addTestEndpoint("http://127.0.0.1:9/a")
        let error = #expect(throws: HooktopError.self) {
            try database.store.updateEndpoint(id: endpoint.id, changes: changes, by: testActor)
        }
        #expect(error?.code == .invalidInput)
        #expect(try database.store.requireEndpoint(id: endpoint.id) == endpoint)
    }

    @Test func refusesBadSecrets() throws {
        let database = try TemporaryDatabase()
        for secret in ["", "whsec_", "whsec_!!!!", "plain-secret", "whsec_" + Data(count: 8).base64EncodedString()] {
            #expect(throws: HooktopError.self) {
                try database.store.addTestEndpoint("http://127.0.0.1:9/a", secret: secret)
            }
        }
        #expect(try database.store.endpoints().isEmpty)
    }

    @Test func removingAnEndpointRemovesItsDeliveriesAttemptsAndCounters() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let doomed = try store.addTestEndpoint("http://127.0.0.1:9/doomed")
        let kept = try store.addTestEndpoint("http://127.0.0.1:9/kept")
        for n in 0..<3 { _ = try store.publish(eventType: "a.b", payload: #"{"n":\#(n)}"#) }
        try store.recordOutcome(try store.claimAll(doomed), status: 500)
        try store.recordOutcome(try store.claimAll(kept), status: 200)
        #expect(try store.sqlScalar("SELECT count(*) FROM attempts") == 6)

        try store.removeEndpoint(id: doomed.id, by: testActor)
        #expect(try store.sqlScalar("SELECT count(*) FROM deliveries WHERE endpoint_id = '\(doomed.id)'") == 0)
        #expect(try store.sqlScalar("SELECT count(*) FROM deliveries") == 3)
        #expect(try store.sqlScalar("SELECT count(*) FROM attempts") == 3)
        #expect(try store.sqlScalar("SELECT count(*) FROM delivery_counts WHERE endpoint_id = '\(doomed.id)'") == 0)
        #expect(try store.sqlScalar("SELECT count(*) FROM failure_groups WHERE endpoint_id = '\(doomed.id)'") == 0)
        #expect(try store.failureGroups(endpointId: nil, limit: 10).isEmpty)
        #expect(try store.sqlScalar("SELECT count(*) FROM messages") == 3)
        try expectCountersMatchTheLog(store)
    }

    // MARK: Publishing

    @Test func fanOutHonoursFiltersAndEndpointStatus() async throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let all = try store.addTestEndpoint("http://127.0.0.1:9/all")
        let users = try store.addTestEndpoint("http://127.0.0.1:9/users", eventTypes: ["user.*"])
        let invoices = try store.addTestEndpoint("http://127.0.0.1:9/invoices", eventTypes: ["invoice.paid", "invoice.voided"])
        let paused = try store.addTestEndpoint("http://127.0.0.1:9/paused", eventTypes: ["user.*"])
        let disabled = try store.addTestEndpoint("http://127.0.0.1:9/disabled")
        let operations = Operations(store: store)
        try await operations.pause(endpointId: paused.id, by: testActor)
        try await operations.disable(endpointId: disabled.id, reason: "test", by: testActor)

        let cases: [(String, Set<String>)] = [
            ("user.created", [all.id, users.id, paused.id]),
            ("user.profile.updated", [all.id, users.id, paused.id]),
            ("username.changed", [all.id]),
            ("user", [all.id]),
            ("invoice.paid", [all.id, invoices.id]),
            ("invoice.created", [all.id]),
        ]
        for (type, expected) in cases {
            let result = try store.publish(eventType: type, payload: "{}")
            #expect(result.deliveryCount == expected.count, "\(type)")
            let got = try store.deliveries(DeliveryQuery(messageId: result.message.id))
            #expect(Set(got.map(\.endpointId)) == expected, "\(type)")
            #expect(got.allSatisfy { $0.status == .pending && $0.eventType == type && $0.attemptCount == 0 })
        }
    }

    @Test func idempotencyKeyReturnsTheFirstMessageWithin24Hours() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        _ = try store.addTestEndpoint("http://127.0.0.1:9/a")
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let first = try store.publish(eventType: "a.b", payload: #"{"v":1}"#, idempotencyKey: "k1", now: start)
        #expect(!first.duplicate)
        #expect(first.deliveryCount == 1)

        let again = try store.publish(
            eventType: "a.b", payload: #"{"v":2}"#, idempotencyKey: "k1", now: start.addingTimeInterval(23 * 3600))
        #expect(again.duplicate)
        #expect(again.deliveryCount == 0)
        #expect(again.message == first.message)

        let other = try store.publish(eventType: "a.b", payload: "{}", idempotencyKey: "k2", now: start.addingTimeInterval(60))
        #expect(!other.duplicate)

        let later = try store.publish(
            eventType: "a.b", payload: #"{"v":3}"#, idempotencyKey: "k1", now: start.addingTimeInterval(24 * 3600 + 1))
        #expect(!later.duplicate)
        #expect(later.message.id != first.message.id)
        #expect(later.deliveryCount == 1)
        #expect(try store.sqlScalar("SELECT count(*) FROM messages") == 3)
        #expect(try store.sqlScalar("SELECT count(*) FROM deliveries") == 3)
    }

    @Test(arguments: [
        "[1, 2]", #""text""#, "42", "null", "{", "", #"{"a": }"#,
    ])
    func refusesPayloadsThatAreNotJSONObjects(_ payload: String) throws {
        let database = try TemporaryDatabase()
        let error = #expect(throws: HooktopError.self) { try database.store.publish(eventType: "a.b", payload: payload) }
        #expect(error?.code == .invalidInput)
        #expect(try database.store.sqlScalar("SELECT count(*) FROM messages") == 0)
    }

    @Test func refusesOversizedPayloadsBadTypesAndBadKeys() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let limit = PublishLimits.defaultMaxPayloadBytes
        let filler = #"{"x":""# + String(repeating: "a", count: limit) + #""}"#
        let tooLarge = #expect(throws: HooktopError.self) { try store.publish(eventType: "a.b", payload: filler) }
        #expect(tooLarge?.message.contains("limit") == true)
        let justFits = #"{"x":""# + String(repeating: "a", count: limit - 8) + #""}"#
        #expect(justFits.utf8.count == limit)
        #expect(try store.publish(eventType: "a.b", payload: justFits).duplicate == false)
        for type in ["", "a b", "a..b", ".a", "a.", String(repeating: "a", count: 129), "a.*"] {
            #expect(throws: HooktopError.self, "\(type)") { try store.publish(eventType: type, payload: "{}") }
        }
        for key in ["", String(repeating: "k", count: 257)] {
            #expect(throws: HooktopError.self) { try store.publish(eventType: "a.b", payload: "{}", idempotencyKey: key) }
        }
    }

    // MARK: Reading the log

    @Test func deliveriesPageByKeysetWithFilters() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let a = try store.addTestEndpoint("http://127.0.0.1:9/a")
        let b = try store.addTestEndpoint("http://127.0.0.1:9/b", eventTypes: ["user.*"])
        for n in 0..<12 {
            _ = try store.publish(eventType: n % 2 == 0 ? "user.created" : "invoice.paid", payload: #"{"n":\#(n)}"#)
        }
        // 12 to a, 6 to b. Deliver a's first four, fail b's.
        let aJobs = try store.claimDue([ClaimRequest(endpoint: a, limit: 4)], owner: "w:test", now: Date(), lease: 60)
        try store.recordOutcome(aJobs, status: 200)
        try store.recordOutcome(try store.claimAll(b), status: 500)

        func pages(_ query: DeliveryQuery) throws -> [[Delivery]] {
            var result: [[Delivery]] = []
            var query = query
            while true {
                let page = try store.deliveries(query)
                if page.isEmpty { break }
                result.append(page)
                query.before = page.last!.id
            }
            return result
        }
        let everything = try pages(DeliveryQuery(limit: 5))
        #expect(everything.map(\.count) == [5, 5, 5, 3])
        let ids = everything.flatMap { $0 }.map(\.id)
        #expect(ids == ids.sorted(by: >))
        #expect(Set(ids).count == 18)

        let ofB = try pages(DeliveryQuery(endpointId: b.id, limit: 4)).flatMap { $0 }
        #expect(ofB.count == 6)
        #expect(ofB.allSatisfy { $0.endpointId == b.id && $0.status == .retrying && $0.lastStatusCode == 500 })

        let delivered = try pages(DeliveryQuery(statuses: [.delivered], limit: 3)).flatMap { $0 }
        #expect(Set(delivered.map(\.id)) == Set(aJobs.map(\.deliveryId)))

        let pendingOrRetrying = try store.deliveries(DeliveryQuery(statuses: [.pending, .retrying], limit: 100))
        #expect(pendingOrRetrying.count == 14)

        let usersOfA = try pages(DeliveryQuery(endpointId: a.id, eventType: "user.*", limit: 2)).flatMap { $0 }
        #expect(usersOfA.count == 6)
        #expect(usersOfA.allSatisfy { $0.eventType == "user.created" && $0.endpointId == a.id })

        let invoices = try store.deliveries(DeliveryQuery(eventType: "invoice.paid"))
        #expect(invoices.count == 6)

        let middle = try store.deliveries(DeliveryQuery(before: ids[9], limit: 100))
        #expect(middle.map(\.id) == Array(ids[10...]))
    }

    @Test func statusCountersStayExactThroughEveryTransition() async throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let endpoint = try store.addTestEndpoint("http://127.0.0.1:9/a")
        let other = try store.addTestEndpoint("http://127.0.0.1:9/b")
        let operations = Operations(store: store)
        for n in 0..<10 { _ = try store.publish(eventType: "a.b", payload: #"{"n":\#(n)}"#) }
        try expectCountersMatchTheLog(store)
        #expect(try counts(store, endpoint.id).pending == 10)

        let jobs = try store.claimDue([ClaimRequest(endpoint: endpoint, limit: 6)], owner: "w:test", now: Date(), lease: 60)
        try expectCountersMatchTheLog(store)
        #expect(try counts(store, endpoint.id).inflight == 6)

        try store.recordOutcome(Array(jobs[0..<2]), status: 200)
        try store.recordOutcome(Array(jobs[2..<4]), status: 500)
        try store.recordOutcome(Array(jobs[4..<6]), status: nil, policy: RetryPolicy(delays: []))
        try expectCountersMatchTheLog(store)
        var now = try counts(store, endpoint.id)
        #expect((now.pending, now.inflight, now.delivered, now.retrying, now.dead) == (4, 0, 2, 2, 2))

        try await operations.cancel(deliveryId: jobs[2].deliveryId, by: testActor)
        _ = try await operations.redeliver(deliveryId: jobs[4].deliveryId, by: testActor)
        _ = try await operations.redeliver(deliveryId: jobs[0].deliveryId, by: testActor)
        try expectCountersMatchTheLog(store)
        now = try counts(store, endpoint.id)
        #expect((now.pending, now.delivered, now.retrying, now.dead, now.cancelled) == (6, 1, 1, 1, 1))

        try store.releaseLeases(now: Date())
        try store.removeEndpoint(id: other.id, by: testActor)
        try expectCountersMatchTheLog(store)
        let overview = try store.overview(now: Date())
        #expect(overview.totals == now)
        #expect(try store.endpointSummaries(now: Date()).map(\.counts) == [now])

        // Leases: expired ones go back to the queue; an attempt recorded by a dispatcher that lost its lease
        // leaves the status (and the counters) alone.
        let leased = try store.claimDue([ClaimRequest(endpoint: endpoint, limit: 3)], owner: "w:test", now: Date(), lease: 60)
        #expect(try counts(store, endpoint.id).inflight == 3)
        try store.releaseLeases(now: Date().addingTimeInterval(3600))
        try expectCountersMatchTheLog(store)
        #expect(try counts(store, endpoint.id).inflight == 0)
        let relet = try store.claimDue([ClaimRequest(endpoint: endpoint, limit: 1)], owner: "w:new", now: Date(), lease: 60)
        #expect(try store.recordOutcome(leased, status: 200, owner: "w:test").count == leased.count)
        try expectCountersMatchTheLog(store)
        try store.recordOutcome(relet, status: 500, owner: "w:new")
        try expectCountersMatchTheLog(store)

        // Recovery: every dead delivery goes back to pending.
        let dead = try counts(store, endpoint.id).dead
        #expect(dead > 0)
        #expect(try await operations.recover(endpointId: endpoint.id, since: .distantPast, by: testActor) == dead)
        try expectCountersMatchTheLog(store)
        #expect(try counts(store, endpoint.id).dead == 0)

        // Recovery of what a disabled endpoint missed inserts new pending deliveries.
        let pendingBefore = try counts(store, endpoint.id).pending
        try await operations.disable(endpointId: endpoint.id, reason: "test", by: testActor)
        for n in 0..<3 { _ = try store.publish(eventType: "a.b", payload: #"{"missed":\#(n)}"#) }
        try await operations.enable(endpointId: endpoint.id, by: testActor)
        #expect(try await operations.recover(endpointId: endpoint.id, since: .distantPast, by: testActor) == 3)
        try expectCountersMatchTheLog(store)
        #expect(try counts(store, endpoint.id).pending == pendingBefore + 3)
    }

    @Test func upgradeToV4RecountsDriftedCountersAndFailureGroups() throws {
        // A v3 database (insert triggers still in place) whose counters drifted, as a process of an older version
        // writing after an upgrade could leave them.
        let old = try OldDatabase(
            version: 3,
            holding: """
                INSERT INTO endpoints (id, url, secret, created_at, updated_at) VALUES ('ep_a', 'http://x', 'whsec_x', 1, 1);
                INSERT INTO messages (seq, id, event_type, payload, created_at)
                VALUES (1, 'msg_1', 'a.b', '{}', 1), (2, 'msg_2', 'a.b', '{}', 1), (3, 'msg_3', 'a.b', '{}', 1),
                    (4, 'msg_4', 'a.b', '{}', 1);
                INSERT INTO deliveries (message_seq, endpoint_id, event_type, status, last_status_code, last_error,
                    last_error_class, created_at, updated_at)
                VALUES (1, 'ep_a', 'a.b', 'delivered', 200, NULL, NULL, 1, 1),
                    (2, 'ep_a', 'a.b', 'retrying', 503, 'HTTP 503', 'http_status', 1, 2),
                    (3, 'ep_a', 'a.b', 'dead', 503, 'HTTP 503 later', 'http_status', 1, 3),
                    (4, 'ep_a', 'a.b', 'dead', NULL, 'connection refused', 'connect_refused', 1, 4);
                UPDATE delivery_counts SET n = n + 7 WHERE status = 'pending';
                DELETE FROM failure_groups WHERE status_code = 503;
                """)
        defer { old.remove() }
        let store = try Store(path: old.path)
        #expect(try store.sqlScalar("PRAGMA user_version") == Int64(Schema.version))
        try expectCountersMatchTheLog(store)
        let counts = try counts(store, "ep_a")
        #expect((counts.pending, counts.delivered, counts.retrying, counts.dead) == (0, 1, 1, 2))
        let groups = try store.failureGroups(endpointId: "ep_a", limit: 10)
        let http = try #require(groups.first { $0.statusCode == 503 })
        #expect((http.dead, http.retrying, http.lastError) == (1, 1, "HTTP 503 later"))
        #expect(groups.first { $0.statusCode == nil }?.dead == 1)
        // Inserts are counted without the dropped triggers.
        _ = try store.publish(eventType: "a.b", payload: "{}")
        #expect(try self.counts(store, "ep_a").pending == 1)
        try expectCountersMatchTheLog(store)
    }

    @Test func upgradeToV5RebuildsDeliveriesKeepingRowsReferencesAndConstraints() throws {
        // A v4 database with a delivered delivery (and its attempt) and a retrying one on one endpoint, a pending one
        // on another.
        let old = try OldDatabase(
            version: 4,
            holding: """
                INSERT INTO endpoints (id, url, secret, created_at, updated_at)
                VALUES ('ep_a', 'http://x', 'whsec_x', 1, 1), ('ep_b', 'http://y', 'whsec_y', 1, 1);
                INSERT INTO messages (seq, id, event_type, payload, created_at)
                VALUES (1, 'msg_1', 'a.b', '{}', 1), (2, 'msg_2', 'a.b', '{}', 1);
                INSERT INTO deliveries (id, message_seq, endpoint_id, event_type, status, attempt_count, next_attempt_at,
                    last_status_code, last_error, last_error_class, created_at, updated_at)
                VALUES (10, 1, 'ep_a', 'a.b', 'delivered', 1, NULL, 200, NULL, NULL, 1, 1),
                    (11, 2, 'ep_a', 'a.b', 'retrying', 1, 1, 500, 'HTTP 500', 'http_status', 1, 2),
                    (12, 1, 'ep_b', 'a.b', 'pending', 0, 1, NULL, NULL, NULL, 1, 1);
                INSERT INTO attempts (delivery_id, number, trigger, started_at, duration_ms, request_headers)
                VALUES (10, 1, 'scheduled', 1, 5, '[]'), (11, 1, 'scheduled', 1, 5, '[]');
                \(Schema.recountSummaries)
                """)
        defer { old.remove() }
        let store = try Store(path: old.path)
        #expect(try store.sqlScalar("PRAGMA user_version") == Int64(Schema.version))
        #expect(try store.deliveries(endpointId: "ep_a").map(\.id).sorted() == [10, 11])
        #expect(try store.attemptCount() == 2)
        try expectCountersMatchTheLog(store)
        let objects = try store.read { db in
            try db.query(
                "SELECT name FROM sqlite_master WHERE tbl_name = 'deliveries' AND type IN ('index', 'trigger') ORDER BY name",
                [], { $0.text(0) })
        }
        #expect(objects == [
            "deliveries_count_delete", "deliveries_dead", "deliveries_due", "deliveries_endpoint", "deliveries_failures",
            "deliveries_failures_delete", "deliveries_failures_update", "deliveries_queue", "deliveries_status",
            "deliveries_type", "sqlite_autoindex_deliveries_1",
        ])
        // The constraint still holds, the failure groups still follow status changes, and references still cascade.
        let refused = #expect(throws: (any Error).self) {
            try store.read { db in try db.execute("UPDATE deliveries SET status = 'lost' WHERE id = 12") }
        }
        #expect(String(describing: refused).contains("CHECK constraint failed"))
        #expect(try store.failureGroups(endpointId: "ep_a", limit: 5).map(\.retrying) == [1])
        let retrying = try store.claimAll(try #require(try store.endpoint(id: "ep_a")))
        #expect(retrying.map(\.deliveryId) == [11])
        try store.recordOutcome(retrying, status: 200)
        #expect(try store.failureGroups(endpointId: "ep_a", limit: 5).allSatisfy { $0.count == 0 })
        try store.removeEndpoint(id: "ep_a", by: testActor)
        #expect(try store.attemptCount() == 0)
        try expectCountersMatchTheLog(store)
        #expect(try store.sqlScalar("PRAGMA foreign_keys") == 1)
    }

    /// The statements behind every delivery (publish, claim, record) must not build a temporary b-tree per row, as
    /// an IN list of more than two values in the status CHECK made them do.
    @Test func deliveryWritesBuildNoTemporaryTables() throws {
        let database = try TemporaryDatabase()
        let statements = [
            """
            INSERT INTO deliveries (message_seq, endpoint_id, event_type, status, next_attempt_at, created_at, updated_at)
            VALUES (?, ?, ?, 'pending', ?, ?, ?)
            """,
            "UPDATE deliveries SET status = 'delivered', updated_at = ? WHERE id = ? AND status = 'inflight'",
            "UPDATE deliveries SET status = ?, next_attempt_at = ? WHERE id = ?",
        ]
        for sql in statements {
            let opcodes = try database.store.read { db in try db.query("EXPLAIN " + sql, [], { $0.text(1) }) }
            #expect(opcodes.contains("Halt"))
            #expect(!opcodes.contains("OpenEphemeral"), "\(sql)")
        }
    }

    @Test func failureGroupsFollowTheLog() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let endpoint = try store.addTestEndpoint("http://127.0.0.1:9/a")
        for n in 0..<6 { _ = try store.publish(eventType: "a.b", payload: #"{"n":\#(n)}"#) }
        let jobs = try store.claimAll(endpoint)
        try store.recordOutcome(Array(jobs[0..<3]), status: 500)
        try store.recordOutcome(Array(jobs[3..<5]), status: nil, policy: RetryPolicy(delays: []))
        try store.recordOutcome(Array(jobs[5..<6]), status: 200)

        var groups = try store.failureGroups(endpointId: nil, limit: 10)
        #expect(groups.count == 2)
        let http = try #require(groups.first { $0.statusCode == 500 })
        #expect(http.errorClass == .httpStatus)
        #expect((http.count, http.dead, http.retrying) == (3, 0, 3))
        #expect(http.label == "http 500")
        let samples = try store.failureSamples(
            endpointId: endpoint.id, errorClass: http.errorClass, statusCode: http.statusCode, limit: 20)
        #expect(samples.map(\.id) == jobs[0..<3].map(\.deliveryId).sorted(by: >))
        #expect(samples.allSatisfy { $0.lastStatusCode == 500 && $0.status == .retrying })
        let refusedSamples = try store.failureSamples(
            endpointId: endpoint.id, errorClass: .connectRefused, statusCode: nil, limit: 1)
        #expect(refusedSamples.map(\.id) == [max(jobs[3].deliveryId, jobs[4].deliveryId)])
        let refused = try #require(groups.first { $0.errorClass == .connectRefused })
        #expect((refused.count, refused.dead, refused.retrying) == (2, 2, 0))
        #expect(refused.statusCode == nil)
        #expect(refused.label == "connect_refused")
        #expect(groups.first?.statusCode == 500)  // largest first

        // Retried to success: the group shrinks; failing again differently moves it.
        let retried = try store.claimDue([ClaimRequest(endpoint: endpoint, limit: 10)], owner: "w:test", now: Date().addingTimeInterval(1), lease: 60)
        #expect(retried.count == 3)
        try store.recordOutcome([retried[0]], status: 200)
        try store.recordOutcome([retried[1]], status: 503)
        try store.recordOutcome([retried[2]], status: 500)
        groups = try store.failureGroups(endpointId: endpoint.id, limit: 10)
        #expect(groups.first { $0.statusCode == 500 }?.count == 1)
        #expect(groups.first { $0.statusCode == 503 }?.count == 1)
        #expect(groups.first { $0.errorClass == .connectRefused }?.count == 2)
        #expect(try store.failureGroups(endpointId: "ep_nobody", limit: 10).isEmpty)
    }

    @Test func autoDisablesAfterTheWindowWithoutASuccess() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let endpoint = try store.addTestEndpoint("http://127.0.0.1:9/a")
        let start = Date().addingTimeInterval(-10 * 86400)
        let window: TimeInterval = 5 * 86400
        let longPolicy = RetryPolicy(delays: Array(repeating: 60, count: 20), jitter: 0)
        func attempt(at offset: TimeInterval, status: Int) throws {
            let now = start.addingTimeInterval(offset)
            _ = try store.publish(eventType: "a.b", payload: "{}", now: now)
            try store.recordOutcome(
                try store.claimAll(endpoint, now: now), status: status, policy: longPolicy, autoDisableAfter: window, now: now)
        }
        try attempt(at: 0, status: 500)
        try attempt(at: 3 * 86400, status: 200)  // a success resets the window
        try attempt(at: 4 * 86400, status: 500)
        try attempt(at: 8.5 * 86400, status: 500)
        #expect(try store.requireEndpoint(id: endpoint.id).status == .active, "4.5 days of failures")
        try attempt(at: 9.1 * 86400, status: 500)
        let disabled = try store.requireEndpoint(id: endpoint.id)
        #expect(disabled.status == .disabled)
        #expect(disabled.disabledReason == "no successful delivery for 5d")
        #expect(try store.auditEntries(objectId: endpoint.id).first?.action == "endpoint.disable")
    }

    // MARK: Retention

    @Test func pruneRemovesOnlyFullyDeliveredOldMessages() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let a = try store.addTestEndpoint("http://127.0.0.1:9/a")
        let b = try store.addTestEndpoint("http://127.0.0.1:9/b")
        let old = Date().addingTimeInterval(-40 * 86400)
        let oldDelivered = try store.publish(eventType: "a.b", payload: #"{"k":"old-delivered"}"#, now: old)
        let oldHalfDead = try store.publish(eventType: "a.b", payload: #"{"k":"old-half-dead"}"#, now: old)
        let oldPending = try store.publish(eventType: "a.b", payload: #"{"k":"old-pending"}"#, now: old)
        let recent = try store.publish(eventType: "a.b", payload: #"{"k":"recent"}"#)

        let now = Date()
        for job in try store.claimAll(a, now: now) + (try store.claimAll(b, now: now)) {
            let dead = job.message.id == oldHalfDead.message.id && job.endpoint.id == b.id
            if job.message.id == oldPending.message.id && job.endpoint.id == b.id {
                try store.recordOutcome([job], status: 500)  // retrying
            } else {
                try store.recordOutcome([job], status: dead ? 500 : 200, policy: dead ? RetryPolicy(delays: []) : shortPolicy)
            }
        }
        #expect(try store.sqlScalar("SELECT count(*) FROM attempts") == 8)

        let removed = try store.prune(before: Date().addingTimeInterval(-30 * 86400), by: testActor)
        #expect(removed == 1)
        #expect(try store.message(id: oldDelivered.message.id) == nil)
        #expect(try store.deliveries(DeliveryQuery(messageId: oldDelivered.message.id)).isEmpty)
        for kept in [oldHalfDead, oldPending, recent] {
            #expect(try store.message(id: kept.message.id) != nil)
            #expect(try store.deliveries(DeliveryQuery(messageId: kept.message.id)).count == 2)
        }
        #expect(try store.sqlScalar("SELECT count(*) FROM attempts") == 6)
        #expect(try store.sqlScalar("SELECT count(*) FROM attempts WHERE delivery_id NOT IN (SELECT id FROM deliveries)") == 0)
        try expectCountersMatchTheLog(store)
        #expect(try store.prune(before: Date().addingTimeInterval(-30 * 86400), by: testActor) == 0)
    }

    // MARK: Audit

    @Test func everyOperationIsAuditedWithWhoAndHow() async throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let operations = Operations(store: store)
        let actor = Principal(user: "alice", pid: 4242, via: "dashboard")
        let endpoint = try store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: actor)
        _ = try store.updateEndpoint(id: endpoint.id, changes: EndpointChanges(description: "x"), by: actor)
        let first = try store.publish(eventType: "a.b", payload: "{}")
        let second = try store.publish(eventType: "a.b", payload: "{}")
        let firstDelivery = try store.onlyDelivery(messageId: first.message.id).id
        let secondDelivery = try store.onlyDelivery(messageId: second.message.id).id
        try await operations.pause(endpointId: endpoint.id, by: actor)
        try await operations.resume(endpointId: endpoint.id, by: actor)
        try await operations.disable(endpointId: endpoint.id, reason: "maintenance", by: actor)
        try await operations.enable(endpointId: endpoint.id, by: actor)
        _ = try await operations.redeliver(deliveryId: firstDelivery, by: actor)
        try await operations.cancel(deliveryId: secondDelivery, by: actor)
        _ = try await operations.recover(endpointId: endpoint.id, since: Date().addingTimeInterval(-3600), by: actor)
        _ = try await operations.rotateSecret(endpointId: endpoint.id, by: actor)
        _ = try store.prune(before: Date().addingTimeInterval(-86400), by: actor)
        try store.removeEndpoint(id: endpoint.id, by: actor)

        let entries = try store.auditEntries(limit: 100).reversed()
        #expect(
            entries.map(\.action) == [
                "endpoint.add", "endpoint.update", "endpoint.pause", "endpoint.resume", "endpoint.disable",
                "endpoint.enable", "delivery.redeliver", "delivery.cancel", "endpoint.recover",
                "endpoint.rotate_secret", "log.prune", "endpoint.remove",
            ])
        #expect(entries.allSatisfy { $0.user == "alice" && $0.pid == 4242 && $0.via == "dashboard" })
        #expect(entries.first { $0.action == "endpoint.disable" }?.detail == "maintenance")
        #expect(entries.first { $0.action == "delivery.cancel" }?.objectId == "dlv_\(secondDelivery)")
        #expect(entries.first { $0.action == "delivery.redeliver" }?.objectType == "delivery")
        #expect(try store.auditEntries(objectId: endpoint.id).count == 9)

        // An operation that changes nothing records nothing; a refused one neither.
        let count = try store.auditEntries().count
        await #expect(throws: HooktopError.self) { try await operations.pause(endpointId: endpoint.id, by: actor) }
        #expect(try store.auditEntries().count == count)
    }

    @Test func changeCounterMovesOnOwnAndOtherProcessesWrites() throws {
        let database = try TemporaryDatabase()
        let reader = try Store(path: database.path, readOnly: true)
        let before = try reader.changeCounter()
        let ownBefore = try database.store.changeCounter()
        _ = try database.store.addTestEndpoint("http://127.0.0.1:9/a")
        #expect(try reader.changeCounter() != before)
        #expect(try database.store.changeCounter() != ownBefore)
        let still = try reader.changeCounter()
        #expect(try reader.changeCounter() == still)
    }

    // MARK: Helpers

    private func counts(_ store: Store, _ endpointId: String) throws -> StatusCounts {
        try #require(try store.endpointSummaries(now: Date()).first { $0.endpoint.id == endpointId }).counts
    }

    /// The kept counters equal a COUNT(*) of the log, for every endpoint and status.
    private func expectCountersMatchTheLog(_ store: Store, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let mismatches = try store.sqlScalar(
            """
            SELECT count(*) FROM delivery_counts c
            WHERE c.n <> (SELECT count(*) FROM deliveries d WHERE d.endpoint_id = c.endpoint_id AND d.status = c.status)
            """)
        #expect(mismatches == 0, sourceLocation: sourceLocation)
        let failureMismatches = try store.sqlScalar(
            """
            SELECT count(*) FROM failure_groups f
            WHERE f.dead <> (SELECT count(*) FROM deliveries d WHERE d.endpoint_id = f.endpoint_id AND d.status = 'dead'
                    AND coalesce(d.last_error_class, '') = f.error_class AND coalesce(d.last_status_code, 0) = f.status_code)
                OR f.retrying <> (SELECT count(*) FROM deliveries d WHERE d.endpoint_id = f.endpoint_id
                    AND d.status = 'retrying' AND coalesce(d.last_error_class, '') = f.error_class
                    AND coalesce(d.last_status_code, 0) = f.status_code)
            """)
        #expect(failureMismatches == 0, sourceLocation: sourceLocation)
        let ungrouped = try store.sqlScalar(
            """
            SELECT count(*) FROM deliveries d WHERE d.status IN ('dead', 'retrying') AND NOT EXISTS (
                SELECT 1 FROM failure_groups f WHERE f.endpoint_id = d.endpoint_id
                    AND f.error_class = coalesce(d.last_error_class, '') AND f.status_code = coalesce(d.last_status_code, 0))
            """)
        #expect(ungrouped == 0, sourceLocation: sourceLocation)
    }
}

struct HeaderCodingTests {
    @Test func headersSurviveTheRoundTripWhateverTheyHold() throws {
        let headers = [
            Header(name: "content-type", value: "application/json"),
            Header(name: "x-quote", value: #"say "hi" \ back\slash"#),
            Header(name: "x-control", value: "line\nbreak\ttab\r\u{01}\u{1f}"),
            Header(name: "x-unicode", value: "café ✓ 🚀"),
            Header(name: "", value: ""),
        ]
        let text = HeaderCoding.encode(headers)
        #expect(HeaderCoding.decode(text) == headers)
        #expect(text.hasPrefix(#"[["content-type","application/json"],["x-quote","say \"hi\" \\ back\\slash"]"#))
        #expect(text.contains(#""line\nbreak\ttab\r\u0001\u001f""#))
        #expect(HeaderCoding.encode([]) == "[]")
        #expect(HeaderCoding.decode("[]").isEmpty)
        #expect(HeaderCoding.decode("not json").isEmpty)
    }
}

/// A database file as an older hooktop left it: the first `version` migrations applied, then `rows` (SQL), in a
/// temporary folder of its own.
private struct OldDatabase {
    let path: String
    private let directory: URL

    init(version: Int, holding rows: String = "") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hooktop-v\(version)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent("v\(version).db").path
        let connection = try Connection(path: path, readOnly: false, create: true)
        for migration in Schema.migrations[0..<version] { try connection.execute(migration) }
        try connection.execute("PRAGMA user_version = \(version);\n" + rows)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// The audit names operators the same way from every tool, with where they came from.
struct AuditOriginTests {
    @Test func theUserComesFromTheUserDatabaseNotTheEnvironment() {
        let expected = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "uid \(geteuid())"
        #expect(Principal.current(via: "cli").user == expected)
        #expect(Principal.current(via: "dashboard").user == Principal.current(via: "api").user)
    }

    @Test func anSSHSessionIsRecordedWithItsClientAddress() {
        #expect(Principal.origin(sshConnection: "10.0.0.5 52311 10.0.0.1 22") == "ssh 10.0.0.5 port 52311")
        #expect(Principal.origin(sshConnection: nil) == nil)
        #expect(Principal.origin(sshConnection: "garbage") == nil)
    }

    @Test func theAuditKeepsOriginAndTerminal() throws {
        let database = try TemporaryDatabase()
        let actor = Principal(user: "alice", pid: 7, via: "dashboard", origin: "ssh 10.0.0.5 port 52311", tty: "/dev/pts/3")
        let endpoint = try database.store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: actor)
        let entry = try #require(try database.store.auditEntries(objectId: endpoint.id).first)
        #expect(entry.origin == "ssh 10.0.0.5 port 52311")
        #expect(entry.tty == "/dev/pts/3")
        #expect(entry.who == "alice (ssh 10.0.0.5 port 52311, /dev/pts/3) via dashboard")
        #expect(try database.store.lastEndpointActions()[endpoint.id]?.action == "endpoint.add")
    }
}
