import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Wake-ups across processes: a notification on `hooktop_work` after commits that make work due, and one connection
/// per process listening for them, so that a dispatcher on another machine claims a new delivery at once rather than
/// at its next poll. Polling stays the safety net: a lost notification or a lost connection only delays work.
///
/// Sending is paced (`WakeupPacer`, 100 ms) and never holds up the commit that asked for it: the notification goes
/// out from a task of its own, after the commit, on a pooled connection. Listening starts with the first handler (a
/// dispatcher's) on a connection of its own, outside the pool; when that connection fails, it is opened again after
/// 0.5, 1, 2, … up to 30 seconds, and every handler is called once it is back (notifications sent meanwhile are
/// lost). With the URL's `poll_only` set, nothing is sent or listened for: behind PgBouncer or Supavisor in
/// transaction pooling a session's LISTEN does not survive.
final class PostgresWakeups: Sendable {
    /// The channel notified; the payload is the sending engine's writer id.
    static let channel = "hooktop_work"
    /// How often the listening connection is checked to be alive: a connection cut without a reset (a NAT's idle
    /// timeout, a machine gone) would otherwise pass unnoticed.
    static let livenessInterval: Duration = .seconds(30)

    private let pool: PostgresPool
    private let sender: String
    private let logger: Logger
    private let state: Mutex<State>

    private struct State {
        var pacer: WakeupPacer
        /// The last send queued; each waits for the one before, so awaiting it awaits them all.
        var sends: Task<Void, Never>?
        /// The wait of the scheduled send (cut short on close).
        var delay: Task<Void, Never>?
        var listener: Task<Void, Never>?
        var handlers: [@Sendable () -> Void] = []
        var received: Int64 = 0
        var listening = false
        var closed = false
    }

    init(pool: PostgresPool, sender: String, window: Duration = .milliseconds(100), logger: Logger) {
        self.pool = pool
        self.sender = sender
        self.logger = logger
        self.state = Mutex(State(pacer: WakeupPacer(window: window)))
    }

    /// Whether notifications are sent and listened for (the URL's `poll_only` is not set).
    var enabled: Bool { !pool.url.pollOnly }

    /// Notifications received on the listening connection so far.
    var received: Int64 { state.withLock { $0.received } }

    /// Whether the listening connection is open and listening.
    var listening: Bool { state.withLock { $0.listening } }

    // MARK: Sending

    /// Work other processes may claim was committed: notifies now, or at the end of the current window.
    func workCommitted() {
        guard enabled else { return }
        let now = ContinuousClock.now
        state.withLock { state in
            guard !state.closed else { return }
            let delay: Task<Void, Never>?
            switch state.pacer.workCommitted(now: now) {
            case .none: return
            case .sendNow: delay = nil
            case .sendAt(let instant):
                delay = Task { try? await Task.sleep(until: instant, clock: .continuous) }
                state.delay = delay
            }
            let previous = state.sends
            state.sends = Task {
                await previous?.value
                if let delay {
                    await delay.value
                    self.state.withLock { $0.pacer.scheduledSendBegins() }
                }
                await self.notify()
            }
        }
    }

    private func notify() async {
        do {
            try await pool.client.query("SELECT pg_notify(\(Self.channel), \(sender))", logger: logger)
        } catch {
            logger.debug("wake-up notification not sent", metadata: ["error": "\(PostgresPool.reason(error))"])
        }
    }

    // MARK: Listening

    /// Calls `handler` whenever another process (or this one) notifies, and once each time listening (re)starts;
    /// the first handler starts the listening connection.
    func onNotification(_ handler: @escaping @Sendable () -> Void) {
        guard enabled else { return }
        state.withLock { state in
            guard !state.closed else { return }
            state.handlers.append(handler)
            if state.listener == nil { state.listener = Task { await self.listen() } }
        }
    }

    /// Listens until cancelled, opening the connection again whenever it fails.
    private func listen() async {
        let (url, configuration) = (pool.url, pool.configuration)
        var failures = 0
        while !Task.isCancelled {
            do {
                try await PostgresPool.withConnection(url, configuration: configuration, logger: logger) { connection in
                    try await connection.listen(on: Self.channel) { notifications in
                        if failures > 0 { logger.info("listening for other processes' work again") }
                        failures = 0
                        state.withLock { $0.listening = true }
                        // Work notified while nobody listened is found now rather than at the next poll.
                        wake(counting: false)
                        try await consume(notifications, on: connection)
                    }
                }
            } catch {
                if Task.isCancelled { break }
                failures += 1
                let delay = Self.reconnectDelay(failures: failures)
                logger.log(
                    level: failures == 1 ? .warning : .debug,
                    "not listening for other processes' work: polling meanwhile, listening again in \(delay)",
                    metadata: ["error": "\(PostgresPool.reason(error))"])
                state.withLock { $0.listening = false }
                try? await Task.sleep(for: delay)
            }
        }
        state.withLock { $0.listening = false }
    }

    /// Calls the handlers for each notification, checking the connection now and then, until the connection fails
    /// or the task is cancelled.
    private func consume(_ notifications: PostgresNotificationSequence, on connection: PostgresConnection) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await _ in notifications { self.wake(counting: true) }
                throw ListeningEnded()
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: Self.livenessInterval)
                    try await withDeadline(.seconds(10)) {
                        try await connection.query("SELECT 1", logger: self.logger)
                    }
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    private func wake(counting: Bool) {
        let handlers = state.withLock { state in
            if counting { state.received += 1 }
            return state.handlers
        }
        for handler in handlers { handler() }
    }

    /// The wait before listening again after `failures` failures in a row: 0.5 s, doubled each time, at most 30 s.
    static func reconnectDelay(failures: Int) -> Duration {
        .milliseconds(min(30_000, 500 << min(max(failures - 1, 0), 10)))
    }

    /// Sends what is scheduled at once and stops listening; waits for both.
    func close() async {
        let (sends, delay, listener) = state.withLock { state in
            state.closed = true
            return (state.sends, state.delay, state.listener)
        }
        delay?.cancel()
        listener?.cancel()
        await sends?.value
        await listener?.value
    }
}

/// The notification sequence ended without an error (the connection was closed).
private struct ListeningEnded: Error, CustomStringConvertible {
    var description: String { "the listening connection was closed" }
}
