@testable import DeliveryCore
import Foundation
import HooktopReceivers
import HooktopTesting
import Logging
import PostgresNIO
import Synchronization
import Testing

/// Wake-ups across processes: two engines on one database stand for two processes (a pool each). A publish through
/// one wakes the other's dispatcher long before its poll; a burst of publishes sends few notifications; the listening
/// connection comes back after it is killed; with `poll_only` nothing is listened for or sent, and polling delivers.
struct PostgresWakeupTests {
    /// Runs `body` with two engines on a new database: a publisher and a worker.
    func withTwoEngines<T: Sendable>(
        pollOnly: Bool = false, _ body: (PostgresURL, PostgresEngine, PostgresEngine) async throws -> T
    ) async throws -> T {
        try await withPostgresEngines(2, pollOnly: pollOnly) { url, engines in try await body(url, engines[0], engines[1]) }
    }

    /// Runs a dispatcher over `engine` polling every `poll` while `body` runs; it has run its first iteration (its
    /// heartbeat is in) when `body` starts.
    func withDispatcher<T>(_ engine: PostgresEngine, poll: Duration, _ body: () async throws -> T) async throws -> T {
        try await withSender { sender in
            var configuration = testDispatcherConfiguration()
            configuration.pollInterval = poll
            return try await DeliveryCoreTests.withDispatcher(engine, sender: sender, configuration: configuration) { _ in
                try #require(
                    try await eventually(timeout: .seconds(10)) { try await !engine.workers().isEmpty },
                    "the dispatcher never ran its first iteration")
                return try await body()
            }
        }
    }

    /// Runs `body` with a receiver the publisher's endpoint points at, while the worker's dispatcher polls only every
    /// 30 s (so only a wake-up delivers within a test's few seconds) and listens.
    func whileWorkerListens(
        _ publisher: PostgresEngine, _ worker: PostgresEngine, _ body: (ScriptedReceiver) async throws -> Void
    ) async throws {
        try await withReceiver(["ok": .healthy]) { receiver in
            try await addEndpoint(publisher, receiver.url("ok"))
            try await withDispatcher(worker, poll: .seconds(30)) {
                try #require(await eventually(timeout: .seconds(5)) { worker.isListening })
                try await body(receiver)
            }
        }
    }

    func addEndpoint(_ engine: PostgresEngine, _ url: String) async throws {
        _ = try await engine.addEndpoint(
            url: url, changes: EndpointChanges(timeoutMilliseconds: 5000), secret: nil, allowPrivateDestination: true,
            id: nil, now: Date(), by: testActor)
    }

    func publish(_ engine: PostgresEngine, key: String? = nil) async throws {
        let results = try await engine.publish(
            groups: [[PublishRequest(eventType: "user.created", payload: "{}", idempotencyKey: key)]], now: Date())
        _ = try results[0].get()
    }

    /// Backend ids of the sessions on `url`'s database that last ran a LISTEN.
    func listeningSessions(_ engine: PostgresEngine) async throws -> [Int32] {
        try await engine.rows(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        ).map { try $0.row[0].decode(Int32.self) }
    }

    @Test(.timeLimit(.minutes(3)))
    func aPublishThroughOneEngineWakesTheOthersDispatcherLongBeforeItsPoll() async throws {
        try await withTwoEngines { _, publisher, worker in
            try await whileWorkerListens(publisher, worker) { receiver in
                #expect(try await listeningSessions(worker).count == 1)
                try await publish(publisher)
                #expect(await eventually(timeout: .seconds(15)) { receiver.count == 1 })
                // The first may have been claimed by the dispatcher's first iteration, still running on a loaded
                // machine when it was published. Once its outcome is recorded the dispatcher waits for its 30 s poll:
                // the second can only come by a wake-up.
                #expect(try await eventually(timeout: .seconds(15)) { try await worker.statusTotals()[.delivered] == 1 })
                let before = worker.notificationsReceived
                try await publish(publisher)
                #expect(await eventually(timeout: .seconds(15)) { receiver.count == 2 })
                // The notification goes out from a task of its own after the commit; a dispatcher still claiming
                // after the first outcome may take the second before it arrives.
                #expect(await eventually { worker.notificationsReceived > before })
            }
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func theListeningConnectionComesBackAfterItIsKilled() async throws {
        try await withTwoEngines { _, publisher, worker in
            try await whileWorkerListens(publisher, worker) { receiver in
                let killed = try #require(try await listeningSessions(worker).first)
                _ = try await publisher.rows("SELECT pg_terminate_backend(\(killed))")
                // Listening again on a new session, after a short wait; the dispatcher kept running.
                try #require(
                    try await eventually(timeout: .seconds(10)) {
                        let sessions = try await listeningSessions(worker)
                        return worker.isListening && sessions.count == 1 && sessions[0] != killed
                    })
                try await publish(publisher)
                #expect(await eventually(timeout: .seconds(15)) { receiver.count == 1 })
            }
        }
    }

    /// Runs `body` while a connection of the test's own listens on the wake-up channel, counting notifications by
    /// payload (the sender's writer id).
    func whileListening<T: Sendable>(_ url: PostgresURL, _ body: (NotificationCounts) async throws -> T) async throws -> T {
        let counts = NotificationCounts()
        return try await PostgresPool.withConnection(url, logger: quietLogger) { connection in
            try await connection.listen(on: PostgresWakeups.channel) { notifications in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await notification in notifications { counts.add(notification.payload) }
                    }
                    defer { group.cancelAll() }
                    return try await body(counts)
                }
            }
        }
    }

    /// (The limit is a hang guard: beside the whole suite the burst took up to 106 s when it was 1,000 publishes.)
    @Test(.timeLimit(.minutes(5)))
    func aBurstOfPublishesSendsFewNotificationsAndALonePublishOne() async throws {
        try await withTwoEngines { url, publisher, other in
            try await addEndpoint(publisher, "http://127.0.0.1:9/hook")
            try await whileListening(url) { received in
                let started = ContinuousClock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<8 {
                        group.addTask { for _ in 0..<60 { try await publish(publisher) } }
                    }
                    try await group.waitForAll()
                }
                // Closing sends what is still scheduled.
                await publisher.close()
                let elapsed = ContinuousClock.now - started
                try await publish(other)
                #expect(await eventually { received[other.writerId] == 1 })
                let burst = received[publisher.writerId]
                // At least one, at most one per 100 ms window (and the one after the last window).
                #expect(burst >= 1)
                #expect(burst <= Int(elapsed / .milliseconds(100)) + 2)
                #expect(burst < 480)
            }
            #expect(try await other.rows("SELECT count(*) FROM messages").first?.int(0) == 481)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func pollOnlyListensForNothingSendsNothingAndPollingStillDelivers() async throws {
        try await withTwoEngines(pollOnly: true) { url, publisher, worker in
            #expect(url.redacted.hasSuffix("poll_only=1"))
            try await whileListening(url) { received in
                try await withReceiver(["ok": .healthy]) { receiver in
                    try await addEndpoint(publisher, receiver.url("ok"))
                    try await withDispatcher(worker, poll: .milliseconds(100)) {
                        try await publish(publisher)
                        #expect(await eventually(timeout: .seconds(10)) { receiver.count == 1 })
                        // The test's own listener is the only one: the engines neither listen nor notify.
                        #expect(try await listeningSessions(worker).count == 1)
                        #expect(!worker.isListening && worker.notificationsReceived == 0)
                    }
                }
                await publisher.close()
                // A notification of the test's own arrives: had the engines sent any, they came before it.
                _ = try await worker.rows("SELECT pg_notify(\(PostgresWakeups.channel), 'probe')")
                #expect(await eventually { received["probe"] == 1 })
                #expect(received.total == 1)
            }
        }
    }
}

/// Notifications received, by payload.
final class NotificationCounts: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    func add(_ payload: String) { counts.withLock { $0[payload, default: 0] += 1 } }

    subscript(payload: String) -> Int { counts.withLock { $0[payload] ?? 0 } }

    var total: Int { counts.withLock { $0.values.reduce(0, +) } }
}
