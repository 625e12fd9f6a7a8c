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
        #expect(try reopened.deliveries(DeliveryQuery(endpointId: endpoint.id)).count == 1)
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

    @Test(arguments: TestEngine.allCases)
    func aReadOnlyLogRefusesEveryWrite(_ kind: TestEngine) async throws {
        try await kind.withLog { log in
            try await log.withEngine { writer in
                let endpoint = try await writer.addTestEndpoint("http://127.0.0.1:9/a")
                let result = try await writer.publish(eventType: "a.b", payload: "{}")
                let deliveryId = try await writer.onlyDelivery(messageId: result.message.id).id
                try await log.withEngine(readOnly: true) { readOnly in
                    func expectReadOnly(
                        _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
                    ) async {
                        do {
                            try await body()
                            Issue.record("a write succeeded on a read-only log", sourceLocation: sourceLocation)
                        } catch let error as HooktopError {
                            #expect(error.code == .readOnly, "\(error)", sourceLocation: sourceLocation)
                        } catch {
                            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
                        }
                    }
                    let operations = Operations(engine: readOnly)
                    await expectReadOnly { _ = try await readOnly.addTestEndpoint("http://127.0.0.1:9/b") }
                    await expectReadOnly { _ = try await readOnly.publish(eventType: "a.b", payload: "{}") }
                    await expectReadOnly {
                        _ = try await operations.updateEndpoint(
                            id: endpoint.id, changes: .init(description: "x"), by: testActor)
                    }
                    await expectReadOnly { try await operations.removeEndpoint(id: endpoint.id, by: testActor) }
                    await expectReadOnly { try await operations.pause(endpointId: endpoint.id, by: testActor) }
                    await expectReadOnly { _ = try await operations.redeliver(deliveryId: deliveryId, by: testActor) }
                    await expectReadOnly { try await operations.cancel(deliveryId: deliveryId, by: testActor) }
                    await expectReadOnly { _ = try await operations.prune(before: Date(), by: testActor) }
                }
                #expect(try await writer.endpoints().count == 1)
                #expect(try await writer.requireEndpoint(id: endpoint.id) == endpoint)
                #expect(try await writer.status(deliveryId) == .pending)
            }
        }
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
    @Test(arguments: TestEngine.allCases)
    func deliveriesBySinceUntilAndText(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            _ = try await engine.addEndpoint(
                url: "http://127.0.0.1:9/acme", changes: EndpointChanges(description: "Acme Billing"), secret: nil,
                allowPrivateDestination: true, id: nil, now: t0, by: testActor)
            let times = (0..<6).map { t0.addingTimeInterval(Double($0) * 600) }
            var messages: [Message] = []
            for (index, time) in times.enumerated() {
                messages.append(
                    try await engine.publish(
                        eventType: index % 2 == 0 ? "invoice.paid" : "user.created", payload: "{}", now: time
                    ).message)
            }
            func ids(_ query: DeliveryQuery) async throws -> [String] { try await engine.deliveries(query).map(\.messageId) }
            #expect(try await ids(DeliveryQuery(since: times[4])) == [messages[5].id, messages[4].id])
            #expect(try await ids(DeliveryQuery(until: times[1])) == [messages[0].id])
            #expect(try await ids(DeliveryQuery(since: times[1], until: times[3])) == [messages[2].id, messages[1].id])
            #expect(try await ids(DeliveryQuery(since: t0.addingTimeInterval(99_999))).isEmpty)
            #expect(try await ids(DeliveryQuery(text: "USER.cre")) == [messages[5].id, messages[3].id, messages[1].id])
            #expect(try await ids(DeliveryQuery(text: "acme bill")).count == 6, "the endpoint's description")
            #expect(try await ids(DeliveryQuery(text: "127.0.0.1:9/acme")).count == 6, "the endpoint's URL")
            #expect(try await ids(DeliveryQuery(text: "50%_off")).isEmpty, "LIKE wildcards are literal")
            #expect(try await ids(DeliveryQuery(since: times[4], text: "invoice")) == [messages[4].id])
        }
    }

    /// The orders of a Deliveries page: newest and oldest keyset-paged, slowest and most attempts ranked.
    @Test(arguments: TestEngine.allCases)
    func deliveriesInEveryOrder(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let endpoint = try await engine.addTestEndpoint("http://127.0.0.1:9/a")
            for n in 0..<5 { _ = try await engine.publish(eventType: "a.b", payload: #"{"n":\#(n)}"#) }
            let jobs = try await engine.claimAll(endpoint)
            let outcomes = jobs.enumerated().map { index, job in
                var outcome = fakeOutcome(job, status: index == 2 ? 500 : 200)
                outcome.durationMilliseconds = [5, 50, 20, 900, 1][index]
                return outcome
            }
            try await engine.record(outcomes, owner: "w:test", policy: shortPolicy, autoDisableAfter: 86400, now: Date())
            func ids(_ order: DeliveryOrder, before: Int64? = nil, after: Int64? = nil, limit: Int = 10) async throws
                -> [Int64]
            {
                var query = DeliveryQuery(before: before, limit: limit)
                query.order = order
                query.after = after
                return try await engine.deliveries(query).map(\.id)
            }
            let newest = try await ids(.newest)
            #expect(try await ids(.oldest) == newest.reversed())
            #expect(try await ids(.oldest, after: newest.reversed()[1], limit: 2) == Array(newest.reversed()[2...3]))
            let latency = Dictionary(
                uniqueKeysWithValues: try await engine.deliveries(DeliveryQuery()).map { ($0.id, $0.lastLatencyMilliseconds ?? -1) })
            #expect(try await ids(.slowest).map { latency[$0]! } == latency.values.sorted(by: >))
            #expect(try await ids(.mostAttempts).count == 5)
        }
    }

    /// A dispatcher's heartbeat carries its retry schedule; a delivery's detail counts attempts against it.
    @Test(arguments: TestEngine.allCases)
    func theDispatchersRetryScheduleIsRecorded(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            _ = try await engine.addTestEndpoint("http://127.0.0.1:9/a")
            _ = try await engine.publish(eventType: "a.b", payload: "{}")
            let delivery = try #require(try await engine.deliveries(DeliveryQuery()).first)
            #expect(try await engine.deliveryDetail(id: delivery.id)?.maxAttempts == nil, "no dispatcher has said yet")
            try await engine.heartbeat(WorkerInfo(
                id: "w:1", pid: 1, host: "h", startedAt: Date(), heartbeatAt: Date(), version: "0", inFlight: 0,
                retryDelays: [1, 2.5, 60]))
            #expect(try await engine.workers().first?.retryDelays == [1, 2.5, 60])
            #expect(try await engine.workers().first?.maxAttempts == 4)
            #expect(try await engine.deliveryDetail(id: delivery.id)?.maxAttempts == 4)
        }
    }

    /// An endpoint's own retry schedule decides its deliveries' retries and when they are dead, and the detail counts
    /// attempts against it.
    @Test(arguments: TestEngine.allCases)
    func anEndpointsOwnRetryScheduleReplacesTheDispatchers(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            var changes = EndpointChanges()
            changes.retrySchedule = .set(RetryPolicy(delays: [100]))
            let endpoint = try await engine.addEndpoint(
                url: "http://127.0.0.1:9/a", changes: changes, secret: nil, allowPrivateDestination: true, id: nil,
                now: Date(), by: testActor)
            _ = try await engine.publish(eventType: "a.b", payload: "{}")
            let start = Date()
            let dispatcherPolicy = RetryPolicy(delays: [1, 1, 1, 1], jitter: 0)
            // The sender copies the endpoint's schedule into each outcome.
            func fail(at now: Date) async throws {
                let jobs = try await engine.claimAll(endpoint, now: now)
                #expect(jobs.count == 1)
                var outcome = fakeOutcome(jobs[0], status: 500)
                outcome.retrySchedule = jobs[0].endpoint.connection.retrySchedule
                try await engine.record([outcome], owner: "w:test", policy: dispatcherPolicy, autoDisableAfter: nil, now: now)
            }
            try await fail(at: start)
            let retrying = try #require(try await engine.deliveries(DeliveryQuery()).first)
            #expect(retrying.status == .retrying)
            let delay = try #require(retrying.nextAttemptAt).timeIntervalSince(start)
            #expect((80...120).contains(delay), "the endpoint's 100 s (±20%), not the dispatcher's 1 s: \(delay)")
            #expect(try await engine.deliveryDetail(id: retrying.id)?.maxAttempts == 2)
            try await fail(at: start.addingTimeInterval(200))
            #expect(
                try await engine.deliveries(DeliveryQuery()).first?.status == .dead, "two attempts in all, as its schedule says")
        }
    }

    /// How late the oldest due delivery is: only active endpoints' deliveries count (held ones are not due), and
    /// retries scheduled for later are not due yet.
    @Test(arguments: TestEngine.allCases)
    func theOldestDueDeliveryOfAnActiveEndpoint(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let now = Date()
            func setStatus(_ endpoint: Endpoint, _ status: EndpointStatus, _ action: String) async throws {
                _ = try await engine.setEndpointStatus(
                    id: endpoint.id, status, reason: nil, action: action, refusing: nil, advice: "", now: now, by: testActor)
            }
            #expect(try await engine.overview(now: now).oldestDueAt == nil)
            let active = try await engine.addTestEndpoint("http://127.0.0.1:9/a")
            let paused = try await engine.addTestEndpoint("http://127.0.0.1:9/b")
            try await setStatus(paused, .paused, "endpoint.pause")
            _ = try await engine.publish(eventType: "a.b", payload: "{}", now: now.addingTimeInterval(-300))
            try await setStatus(active, .paused, "endpoint.pause")
            #expect(try await engine.overview(now: now).oldestDueAt == nil, "held deliveries are not overdue")
            try await setStatus(active, .active, "endpoint.resume")
            let overview = try await engine.overview(now: now)
            #expect((299...300).contains(overview.oldestDueSeconds(now: now)), "the log keeps milliseconds")
            // Claimed (in flight) is not due; a retry later is not due yet.
            let jobs = try await engine.claimAll(active, now: now)
            #expect(try await engine.overview(now: now).oldestDueAt == nil)
            try await engine.record(
                [fakeOutcome(jobs[0], status: 500)], owner: "w:test", policy: RetryPolicy(delays: [60], jitter: 0),
                autoDisableAfter: nil, now: now)
            #expect(try await engine.overview(now: now).oldestDueAt == nil)
            let later = now.addingTimeInterval(90)
            #expect((29...30).contains(try await engine.overview(now: later).oldestDueSeconds(now: later)))
        }
    }

    // MARK: Endpoints

    @Test(arguments: TestEngine.allCases)
    func addsUpdatesAndRemovesEndpoints(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let endpoint = try await engine.addEndpoint(
                url: "https://example.com/hook",
                changes: EndpointChanges(description: "billing", eventTypes: ["invoice.*"], maxInFlight: 4), secret: nil,
                allowPrivateDestination: false, id: nil, now: Date(), by: testActor)
            #expect(endpoint.status == .active)
            #expect(endpoint.secret.hasPrefix("whsec_"))
            #expect(endpoint.eventTypes == ["invoice.*"])
            #expect(try await engine.requireEndpoint(id: endpoint.id) == endpoint)

            let operations = Operations(engine: engine)
            let updated = try await operations.updateEndpoint(
                id: endpoint.id, changes: EndpointChanges(description: "billing v2", timeoutMilliseconds: 2000),
                by: testActor)
            #expect(updated.description == "billing v2")
            #expect(updated.timeoutMilliseconds == 2000)
            #expect(updated.eventTypes == ["invoice.*"])
            #expect(updated.maxInFlight == 4)
            #expect(updated.url == endpoint.url)

            try await operations.removeEndpoint(id: endpoint.id, by: testActor)
            #expect(try await engine.endpoint(id: endpoint.id) == nil)
            await #expect(throws: HooktopError.notFound("endpoint", endpoint.id)) {
                try await operations.removeEndpoint(id: endpoint.id, by: testActor)
            }
            await #expect(throws: HooktopError.self) {
                try await operations.updateEndpoint(id: endpoint.id, changes: EndpointChanges(description: "x"), by: testActor)
            }
        }
    }

    @Test(arguments: TestEngine.allCases)
    func refusesInvalidEndpointChanges(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let endpoint = try await engine.addTestEndpoint("http://127.0.0.1:9/a")
            let operations = Operations(engine: engine)
            for changes in [
                EndpointChanges(url: "ftp://example.com/"),
                EndpointChanges(description: String(repeating: "d", count: 1025)),
                EndpointChanges(eventTypes: ["user..created"]),
                EndpointChanges(eventTypes: ["user created"]),
                EndpointChanges(eventTypes: ["*.user"]),
                EndpointChanges(maxInFlight: 0),
                EndpointChanges(timeoutMilliseconds: 50),
                EndpointChanges(timeoutMilliseconds: 300_001),
            ] {
                let error = await #expect(throws: HooktopError.self, "\(changes)") {
                    try await operations.updateEndpoint(id: endpoint.id, changes: changes, by: testActor)
                }
                #expect(error?.code == .invalidInput)
                #expect(try await engine.requireEndpoint(id: endpoint.id) == endpoint)
            }
        }
    }

    @Test(arguments: TestEngine.allCases)
    func refusesBadSecrets(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine throws in
            let operations = Operations(engine: engine)
            for secret in ["", "whsec_", "whsec_!!!!", "plain-secret", "whsec_" + Data(count: 8).base64EncodedString()] {
                await #expect(throws: HooktopError.self) {
                    try await operations.addEndpoint(
                        url: "http://127.0.0.1:9/a", secret: secret, allowPrivateDestination: true, by: testActor)
                }
            }
            #expect(try await engine.endpoints().isEmpty)
        }
    }

    @Test(arguments: TestEngine.allCases)
    func removingAnEndpointRemovesItsDeliveriesAttemptsAndCounters(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let doomed = try await engine.addTestEndpoint("http://127.0.0.1:9/doomed")
            let kept = try await engine.addTestEndpoint("http://127.0.0.1:9/kept")
            for n in 0..<3 { _ = try await engine.publish(eventType: "a.b", payload: #"{"n":\#(n)}"#) }
            try await engine.recordOutcome(try await engine.claimAll(doomed), status: 500)
            try await engine.recordOutcome(try await engine.claimAll(kept), status: 200)
            #expect(try await engine.attemptTotal() == 6)

            try await engine.removeEndpoint(id: doomed.id, now: Date(), by: testActor)
            #expect(try await engine.deliveries(endpointId: doomed.id).isEmpty)
            #expect(try await engine.deliveries(DeliveryQuery(limit: 1000)).count == 3)
            #expect(try await engine.attemptTotal() == 3)
            #expect(try await engine.endpointSummaries(now: Date()).map(\.endpoint.id) == [kept.id])
            #expect(try await engine.statusTotals().retrying == 0, "the removed endpoint's counters are gone")
            #expect(try await engine.failureGroups(endpointId: nil, limit: 10).isEmpty)
            #expect(try await engine.messageTotal() == 3)
            try await expectCountersMatchTheLog(engine)
        }
    }

    // MARK: Publishing

    @Test(arguments: TestEngine.allCases)
    func fanOutHonoursFiltersAndEndpointStatus(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let all = try await engine.addTestEndpoint("http://127.0.0.1:9/all")
            let users = try await engine.addTestEndpoint("http://127.0.0.1:9/users", eventTypes: ["user.*"])
            let invoices = try await engine.addTestEndpoint(
                "http://127.0.0.1:9/invoices", eventTypes: ["invoice.paid", "invoice.voided"])
            let paused = try await engine.addTestEndpoint("http://127.0.0.1:9/paused", eventTypes: ["user.*"])
            let disabled = try await engine.addTestEndpoint("http://127.0.0.1:9/disabled")
            let operations = Operations(engine: engine)
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
                let result = try await operations.publish(PublishRequest(eventType: type, payload: "{}"))
                #expect(result.deliveryCount == expected.count, "\(type)")
                let got = try await engine.deliveries(DeliveryQuery(messageId: result.message.id))
                #expect(Set(got.map(\.endpointId)) == expected, "\(type)")
                #expect(got.allSatisfy { $0.status == .pending && $0.eventType == type && $0.attemptCount == 0 })
            }
        }
    }

    @Test(arguments: TestEngine.allCases)
    func idempotencyKeyReturnsTheFirstMessageWithin24Hours(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            _ = try await engine.addTestEndpoint("http://127.0.0.1:9/a")
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            let first = try await engine.publish(eventType: "a.b", payload: #"{"v":1}"#, idempotencyKey: "k1", now: start)
            #expect(!first.duplicate)
            #expect(first.deliveryCount == 1)

            let again = try await engine.publish(
                eventType: "a.b", payload: #"{"v":2}"#, idempotencyKey: "k1", now: start.addingTimeInterval(23 * 3600))
            #expect(again.duplicate)
            #expect(again.deliveryCount == 0)
            #expect(again.message == first.message)

            let other = try await engine.publish(
                eventType: "a.b", payload: "{}", idempotencyKey: "k2", now: start.addingTimeInterval(60))
            #expect(!other.duplicate)

            let later = try await engine.publish(
                eventType: "a.b", payload: #"{"v":3}"#, idempotencyKey: "k1", now: start.addingTimeInterval(24 * 3600 + 1))
            #expect(!later.duplicate)
            #expect(later.message.id != first.message.id)
            #expect(later.deliveryCount == 1)
            #expect(try await engine.messageTotal() == 3)
            #expect(try await engine.deliveries(DeliveryQuery(limit: 1000)).count == 3)
        }
    }

    @Test(arguments: TestEngine.allCases)
    func refusesPayloadsThatAreNotJSONObjects(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine throws in
            let operations = Operations(engine: engine)
            for payload in ["[1, 2]", #""text""#, "42", "null", "{", "", #"{"a": }"#] {
                let error = await #expect(throws: HooktopError.self, "\(payload)") {
                    try await operations.publish(PublishRequest(eventType: "a.b", payload: payload))
                }
                #expect(error?.code == .invalidInput)
            }
            #expect(try await engine.messageTotal() == 0)
        }
    }

    @Test(arguments: TestEngine.allCases)
    func refusesOversizedPayloadsBadTypesAndBadKeys(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine throws in
            let operations = Operations(engine: engine)
            func publish(_ type: String, _ payload: String, key: String? = nil) async throws -> PublishResult {
                try await operations.publish(PublishRequest(eventType: type, payload: payload, idempotencyKey: key))
            }
            let limit = PublishLimits.defaultMaxPayloadBytes
            let filler = #"{"x":""# + String(repeating: "a", count: limit) + #""}"#
            let tooLarge = await #expect(throws: HooktopError.self) { try await publish("a.b", filler) }
            #expect(tooLarge?.message.contains("limit") == true)
            let justFits = #"{"x":""# + String(repeating: "a", count: limit - 8) + #""}"#
            #expect(justFits.utf8.count == limit)
            #expect(try await publish("a.b", justFits).duplicate == false)
            for type in ["", "a b", "a..b", ".a", "a.", String(repeating: "a", count: 129), "a.*"] {
                await #expect(throws: HooktopError.self, "\(type)") { try await publish(type, "{}") }
            }
            for key in ["", String(repeating: "k", count: 257)] {
                await #expect(throws: HooktopError.self) { try await publish("a.b", "{}", key: key) }
            }
            #expect(try await engine.messageTotal() == 1)
        }
    }

    // MARK: Reading the log

    @Test(arguments: TestEngine.allCases)
    func deliveriesPageByKeysetWithFilters(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let a = try await engine.addTestEndpoint("http://127.0.0.1:9/a")
            let b = try await engine.addTestEndpoint("http://127.0.0.1:9/b", eventTypes: ["user.*"])
            for n in 0..<12 {
                _ = try await engine.publish(
                    eventType: n % 2 == 0 ? "user.created" : "invoice.paid", payload: #"{"n":\#(n)}"#)
            }
            // 12 to a, 6 to b. Deliver a's first four, fail b's.
            let aJobs = try await engine.claimDue([ClaimRequest(endpoint: a, limit: 4)], owner: "w:test", now: Date(), lease: 60)
            try await engine.recordOutcome(aJobs, status: 200)
            try await engine.recordOutcome(try await engine.claimAll(b), status: 500)

            func pages(_ query: DeliveryQuery) async throws -> [[Delivery]] {
                var result: [[Delivery]] = []
                var query = query
                while true {
                    let page = try await engine.deliveries(query)
                    if page.isEmpty { break }
                    result.append(page)
                    query.before = page.last!.id
                }
                return result
            }
            let everything = try await pages(DeliveryQuery(limit: 5))
            #expect(everything.map(\.count) == [5, 5, 5, 3])
            let ids = everything.flatMap { $0 }.map(\.id)
            #expect(ids == ids.sorted(by: >))
            #expect(Set(ids).count == 18)

            let ofB = try await pages(DeliveryQuery(endpointId: b.id, limit: 4)).flatMap { $0 }
            #expect(ofB.count == 6)
            #expect(ofB.allSatisfy { $0.endpointId == b.id && $0.status == .retrying && $0.lastStatusCode == 500 })

            let delivered = try await pages(DeliveryQuery(statuses: [.delivered], limit: 3)).flatMap { $0 }
            #expect(Set(delivered.map(\.id)) == Set(aJobs.map(\.deliveryId)))

            let pendingOrRetrying = try await engine.deliveries(DeliveryQuery(statuses: [.pending, .retrying], limit: 100))
            #expect(pendingOrRetrying.count == 14)

            let usersOfA = try await pages(DeliveryQuery(endpointId: a.id, eventType: "user.*", limit: 2)).flatMap { $0 }
            #expect(usersOfA.count == 6)
            #expect(usersOfA.allSatisfy { $0.eventType == "user.created" && $0.endpointId == a.id })

            let invoices = try await engine.deliveries(DeliveryQuery(eventType: "invoice.paid"))
            #expect(invoices.count == 6)

            let middle = try await engine.deliveries(DeliveryQuery(before: ids[9], limit: 100))
            #expect(middle.map(\.id) == Array(ids[10...]))
        }
    }

    @Test(arguments: TestEngine.allCases)
    func statusCountersStayExactThroughEveryTransition(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let endpoint = try await engine.addTestEndpoint("http://127.0.0.1:9/a")
            let other = try await engine.addTestEndpoint("http://127.0.0.1:9/b")
            let operations = Operations(engine: engine)
            // Published two hours ago: due at any time the leases below are taken.
            for n in 0..<10 {
                _ = try await engine.publish(
                    eventType: "a.b", payload: #"{"n":\#(n)}"#, now: Date().addingTimeInterval(-7200))
            }
            try await expectCountersMatchTheLog(engine)
            #expect(try await counts(engine, endpoint.id).pending == 10)

            let jobs = try await engine.claimDue([ClaimRequest(endpoint: endpoint, limit: 6)], owner: "w:test", now: Date(), lease: 60)
            try await expectCountersMatchTheLog(engine)
            #expect(try await counts(engine, endpoint.id).inflight == 6)

            try await engine.recordOutcome(Array(jobs[0..<2]), status: 200)
            try await engine.recordOutcome(Array(jobs[2..<4]), status: 500)
            try await engine.recordOutcome(Array(jobs[4..<6]), status: nil, policy: RetryPolicy(delays: []))
            try await expectCountersMatchTheLog(engine)
            var now = try await counts(engine, endpoint.id)
            #expect((now.pending, now.inflight, now.delivered, now.retrying, now.dead) == (4, 0, 2, 2, 2))

            try await operations.cancel(deliveryId: jobs[2].deliveryId, by: testActor)
            _ = try await operations.redeliver(deliveryId: jobs[4].deliveryId, by: testActor)
            _ = try await operations.redeliver(deliveryId: jobs[0].deliveryId, by: testActor)
            try await expectCountersMatchTheLog(engine)
            now = try await counts(engine, endpoint.id)
            #expect((now.pending, now.delivered, now.retrying, now.dead, now.cancelled) == (6, 1, 1, 1, 1))

            try await engine.releaseLeases(owner: nil, now: Date())
            try await engine.removeEndpoint(id: other.id, now: Date(), by: testActor)
            try await expectCountersMatchTheLog(engine)
            let overview = try await engine.overview(now: Date())
            #expect(overview.totals == now)
            #expect(try await engine.endpointSummaries(now: Date()).map(\.counts) == [now])

            // Leases: one that ran out makes its delivery claimable again (SQLite releases it; on PostgreSQL a lease
            // is the time its queue row comes due again); an attempt recorded by a dispatcher that lost its lease
            // leaves the status (and the counters) alone.
            let leased = try await engine.claimDue(
                [ClaimRequest(endpoint: endpoint, limit: 3)], owner: "w:test", now: Date().addingTimeInterval(-3600),
                lease: 60)
            #expect(leased.count == 3)
            try await engine.releaseLeases(owner: nil, now: Date())
            try await expectCountersMatchTheLog(engine)
            #expect(try await counts(engine, endpoint.id).inflight == 0)
            let relet = try await engine.claimDue(
                [ClaimRequest(endpoint: endpoint, limit: 10)], owner: "w:new", now: Date(), lease: 60)
            #expect(Set(leased.map(\.deliveryId)).isSubset(of: relet.map(\.deliveryId)))
            try await engine.recordOutcome(leased, status: 200, owner: "w:test")
            for job in leased {
                #expect(try await engine.status(job.deliveryId) == .inflight, "a lost lease's outcome moves nothing")
            }
            try await expectCountersMatchTheLog(engine)
            try await engine.recordOutcome(relet, status: 500, owner: "w:new")
            try await expectCountersMatchTheLog(engine)

            // Recovery: every dead delivery goes back to pending.
            let dead = try await counts(engine, endpoint.id).dead
            #expect(dead > 0)
            #expect(try await operations.recover(endpointId: endpoint.id, since: .distantPast, by: testActor) == dead)
            try await expectCountersMatchTheLog(engine)
            #expect(try await counts(engine, endpoint.id).dead == 0)

            // Recovery of what a disabled endpoint missed inserts new pending deliveries.
            let pendingBefore = try await counts(engine, endpoint.id).pending
            try await operations.disable(endpointId: endpoint.id, reason: "test", by: testActor)
            for n in 0..<3 { _ = try await engine.publish(eventType: "a.b", payload: #"{"missed":\#(n)}"#) }
            try await operations.enable(endpointId: endpoint.id, by: testActor)
            #expect(try await operations.recover(endpointId: endpoint.id, since: .distantPast, by: testActor) == 3)
            try await expectCountersMatchTheLog(engine)
            #expect(try await counts(engine, endpoint.id).pending == pendingBefore + 3)
        }
    }

    @Test func upgradeToV4RecountsDriftedCountersAndFailureGroups() async throws {
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
        try await expectCountersMatchTheLog(SQLiteEngine(store: store))
        let counts = try await counts(SQLiteEngine(store: store), "ep_a")
        #expect((counts.pending, counts.delivered, counts.retrying, counts.dead) == (0, 1, 1, 2))
        let groups = try store.failureGroups(endpointId: "ep_a", limit: 10)
        let http = try #require(groups.first { $0.statusCode == 503 })
        #expect((http.dead, http.retrying, http.lastError) == (1, 1, "HTTP 503 later"))
        #expect(groups.first { $0.statusCode == nil }?.dead == 1)
        // Inserts are counted without the dropped triggers.
        _ = try store.publish(eventType: "a.b", payload: "{}")
        #expect(try await self.counts(SQLiteEngine(store: store), "ep_a").pending == 1)
        try await expectCountersMatchTheLog(SQLiteEngine(store: store))
    }

    @Test func upgradeToV5RebuildsDeliveriesKeepingRowsReferencesAndConstraints() async throws {
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
        #expect(try store.deliveries(DeliveryQuery(endpointId: "ep_a")).map(\.id).sorted() == [10, 11])
        #expect(try store.attemptCount() == 2)
        try await expectCountersMatchTheLog(SQLiteEngine(store: store))
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
        try await expectCountersMatchTheLog(SQLiteEngine(store: store))
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

    @Test(arguments: TestEngine.allCases)
    func failureGroupsFollowTheLog(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let endpoint = try await engine.addTestEndpoint("http://127.0.0.1:9/a")
            for n in 0..<6 { _ = try await engine.publish(eventType: "a.b", payload: #"{"n":\#(n)}"#) }
            let jobs = try await engine.claimAll(endpoint)
            try await engine.recordOutcome(Array(jobs[0..<3]), status: 500)
            try await engine.recordOutcome(Array(jobs[3..<5]), status: nil, policy: RetryPolicy(delays: []))
            try await engine.recordOutcome(Array(jobs[5..<6]), status: 200)

            var groups = try await engine.failureGroups(endpointId: nil, limit: 10)
            #expect(groups.count == 2)
            let http = try #require(groups.first { $0.statusCode == 500 })
            #expect(http.errorClass == .httpStatus)
            #expect((http.count, http.dead, http.retrying) == (3, 0, 3))
            #expect(http.label == "http 500")
            let samples = try await engine.failureSamples(
                endpointId: endpoint.id, errorClass: http.errorClass, statusCode: http.statusCode, limit: 20)
            #expect(samples.map(\.id) == jobs[0..<3].map(\.deliveryId).sorted(by: >))
            #expect(samples.allSatisfy { $0.lastStatusCode == 500 && $0.status == .retrying })
            let refusedSamples = try await engine.failureSamples(
                endpointId: endpoint.id, errorClass: .connectRefused, statusCode: nil, limit: 1)
            #expect(refusedSamples.map(\.id) == [max(jobs[3].deliveryId, jobs[4].deliveryId)])
            let refused = try #require(groups.first { $0.errorClass == .connectRefused })
            #expect((refused.count, refused.dead, refused.retrying) == (2, 2, 0))
            #expect(refused.statusCode == nil)
            #expect(refused.label == "connect_refused")
            #expect(groups.first?.statusCode == 500)  // largest first

            // Retried to success: the group shrinks; failing again differently moves it.
            let retried = try await engine.claimDue(
                [ClaimRequest(endpoint: endpoint, limit: 10)], owner: "w:test", now: Date().addingTimeInterval(1), lease: 60)
            #expect(retried.count == 3)
            try await engine.recordOutcome([retried[0]], status: 200)
            try await engine.recordOutcome([retried[1]], status: 503)
            try await engine.recordOutcome([retried[2]], status: 500)
            groups = try await engine.failureGroups(endpointId: endpoint.id, limit: 10)
            #expect(groups.first { $0.statusCode == 500 }?.count == 1)
            #expect(groups.first { $0.statusCode == 503 }?.count == 1)
            #expect(groups.first { $0.errorClass == .connectRefused }?.count == 2)
            #expect(try await engine.failureGroups(endpointId: "ep_nobody", limit: 10).isEmpty)
        }
    }

    @Test(arguments: TestEngine.allCases)
    func autoDisablesAfterTheWindowWithoutASuccess(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let endpoint = try await engine.addTestEndpoint("http://127.0.0.1:9/a")
            let start = Date().addingTimeInterval(-10 * 86400)
            let window: TimeInterval = 5 * 86400
            let longPolicy = RetryPolicy(delays: Array(repeating: 60, count: 20), jitter: 0)
            func attempt(at offset: TimeInterval, status: Int) async throws {
                let now = start.addingTimeInterval(offset)
                _ = try await engine.publish(eventType: "a.b", payload: "{}", now: now)
                try await engine.recordOutcome(
                    try await engine.claimAll(endpoint, now: now), status: status, policy: longPolicy,
                    autoDisableAfter: window, now: now)
            }
            try await attempt(at: 0, status: 500)
            try await attempt(at: 3 * 86400, status: 200)  // a success resets the window
            try await attempt(at: 4 * 86400, status: 500)
            try await attempt(at: 8.5 * 86400, status: 500)
            #expect(try await engine.requireEndpoint(id: endpoint.id).status == .active, "4.5 days of failures")
            try await attempt(at: 9.1 * 86400, status: 500)
            let disabled = try await engine.requireEndpoint(id: endpoint.id)
            #expect(disabled.status == .disabled)
            #expect(disabled.disabledReason == "no successful delivery for 5d")
            #expect(try await engine.auditEntries(objectId: endpoint.id, limit: 100).first?.action == "endpoint.disable")
        }
    }

    // MARK: Retention

    @Test(arguments: TestEngine.allCases)
    func pruneRemovesOnlyFullyDeliveredOldMessages(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let a = try await engine.addTestEndpoint("http://127.0.0.1:9/a")
            let b = try await engine.addTestEndpoint("http://127.0.0.1:9/b")
            let old = Date().addingTimeInterval(-40 * 86400)
            let oldDelivered = try await engine.publish(eventType: "a.b", payload: #"{"k":"old-delivered"}"#, now: old)
            let oldHalfDead = try await engine.publish(eventType: "a.b", payload: #"{"k":"old-half-dead"}"#, now: old)
            let oldPending = try await engine.publish(eventType: "a.b", payload: #"{"k":"old-pending"}"#, now: old)
            let recent = try await engine.publish(eventType: "a.b", payload: #"{"k":"recent"}"#)

            let now = Date()
            for job in try await engine.claimAll(a, now: now) + (try await engine.claimAll(b, now: now)) {
                let dead = job.message.id == oldHalfDead.message.id && job.endpoint.id == b.id
                if job.message.id == oldPending.message.id && job.endpoint.id == b.id {
                    try await engine.recordOutcome([job], status: 500)  // retrying
                } else {
                    try await engine.recordOutcome(
                        [job], status: dead ? 500 : 200, policy: dead ? RetryPolicy(delays: []) : shortPolicy)
                }
            }
            #expect(try await engine.attemptTotal() == 8)

            let operations = Operations(engine: engine)
            let removed = try await operations.prune(before: Date().addingTimeInterval(-30 * 86400), by: testActor)
            #expect(removed == 1)
            #expect(try await engine.message(id: oldDelivered.message.id) == nil)
            #expect(try await engine.deliveries(DeliveryQuery(messageId: oldDelivered.message.id)).isEmpty)
            for kept in [oldHalfDead, oldPending, recent] {
                #expect(try await engine.message(id: kept.message.id) != nil)
                #expect(try await engine.deliveries(DeliveryQuery(messageId: kept.message.id)).count == 2)
            }
            #expect(try await engine.attemptTotal() == 6)
            try await expectCountersMatchTheLog(engine)
            #expect(try await operations.prune(before: Date().addingTimeInterval(-30 * 86400), by: testActor) == 0)
        }
    }

    // MARK: Audit

    @Test(arguments: TestEngine.allCases)
    func everyOperationIsAuditedWithWhoAndHow(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let operations = Operations(engine: engine)
            let actor = Principal(user: "alice", pid: 4242, via: "dashboard")
            let endpoint = try await operations.addEndpoint(
                url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: actor)
            _ = try await operations.updateEndpoint(id: endpoint.id, changes: EndpointChanges(description: "x"), by: actor)
            let first = try await engine.publish(eventType: "a.b", payload: "{}")
            let second = try await engine.publish(eventType: "a.b", payload: "{}")
            let firstDelivery = try await engine.onlyDelivery(messageId: first.message.id).id
            let secondDelivery = try await engine.onlyDelivery(messageId: second.message.id).id
            try await operations.pause(endpointId: endpoint.id, by: actor)
            try await operations.resume(endpointId: endpoint.id, by: actor)
            try await operations.disable(endpointId: endpoint.id, reason: "maintenance", by: actor)
            try await operations.enable(endpointId: endpoint.id, by: actor)
            _ = try await operations.redeliver(deliveryId: firstDelivery, by: actor)
            try await operations.cancel(deliveryId: secondDelivery, by: actor)
            _ = try await operations.recover(endpointId: endpoint.id, since: Date().addingTimeInterval(-3600), by: actor)
            _ = try await operations.rotateSecret(endpointId: endpoint.id, by: actor)
            _ = try await operations.prune(before: Date().addingTimeInterval(-86400), by: actor)
            try await operations.removeEndpoint(id: endpoint.id, by: actor)

            let entries = try await engine.auditEntries(objectId: nil, limit: 100).reversed()
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
            #expect(try await engine.auditEntries(objectId: endpoint.id, limit: 100).count == 9)

            // An operation that changes nothing records nothing; a refused one neither.
            let count = try await engine.auditEntries(objectId: nil, limit: 100).count
            await #expect(throws: HooktopError.self) { try await operations.pause(endpointId: endpoint.id, by: actor) }
            #expect(try await engine.auditEntries(objectId: nil, limit: 100).count == count)
        }
    }

    @Test(arguments: TestEngine.allCases)
    func changeCounterMovesOnOwnAndOtherProcessesWrites(_ kind: TestEngine) async throws {
        try await kind.withLog { log in
            try await log.withEngine { writer in
                try await log.withEngine(readOnly: true) { reader in
                    let before = try await reader.changeCounter()
                    let ownBefore = try await writer.changeCounter()
                    _ = try await writer.addTestEndpoint("http://127.0.0.1:9/a")
                    #expect(try await reader.changeCounter() != before)
                    #expect(try await writer.changeCounter() != ownBefore)
                    let still = try await reader.changeCounter()
                    #expect(try await reader.changeCounter() == still)
                }
            }
        }
    }

    // MARK: Helpers

    private func counts(_ engine: any DeliveryEngine, _ endpointId: String) async throws -> StatusCounts {
        try #require(try await engine.endpointSummaries(now: Date()).first { $0.endpoint.id == endpointId }).counts
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
struct OldDatabase {
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

    @Test(arguments: TestEngine.allCases)
    func theAuditKeepsOriginAndTerminal(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let actor = Principal(user: "alice", pid: 7, via: "dashboard", origin: "ssh 10.0.0.5 port 52311", tty: "/dev/pts/3")
            let endpoint = try await Operations(engine: engine).addEndpoint(
                url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: actor)
            let entry = try #require(try await engine.auditEntries(objectId: endpoint.id, limit: 100).first)
            #expect(entry.origin == "ssh 10.0.0.5 port 52311")
            #expect(entry.tty == "/dev/pts/3")
            #expect(entry.who == "alice (ssh 10.0.0.5 port 52311, /dev/pts/3) via dashboard")
            let summary = try #require(try await engine.endpointSummaries(now: Date()).first)
            #expect(summary.lastAction?.action == "endpoint.add")
            #expect(summary.lastAction?.who == entry.who)
        }
    }
}
