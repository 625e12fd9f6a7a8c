import DeliveryCore
import Foundation
import Synchronization

/// Polls the change counter on its own thread and loads what the screen shows when something changed.
///
/// The UI thread only sets the request and reads snapshots from the mailbox; it never waits on the database.
/// `@unchecked Sendable`: `request`, `version` and `stopped` are only touched with `condition` locked; the rest is
/// immutable or confined to the loader thread.
final class DataLoader: @unchecked Sendable {
    private let log: any DeliveryLogReader
    private let mailbox: Mailbox
    private let interval: TimeInterval
    private let clock: @Sendable () -> Date
    private let condition = NSCondition()
    private var request: DataRequest?
    private var version = 0
    private var stopped = false
    private let finished = NSCondition()
    private var running = false

    /// Reload at least this often even without a change (rates and 5-minute windows move with time).
    static let maximumAge: TimeInterval = 5

    init(log: any DeliveryLogReader, mailbox: Mailbox, interval: TimeInterval, clock: @escaping @Sendable () -> Date) {
        self.log = log
        self.mailbox = mailbox
        self.interval = interval
        self.clock = clock
    }

    func start() {
        finished.lock()
        running = true
        finished.unlock()
        let thread = Thread { [self] in
            run()
            finished.lock()
            running = false
            finished.broadcast()
            finished.unlock()
        }
        thread.name = "hooktop.dashboard.loader"
        thread.start()
    }

    /// Asks for `request`; loads at once when it differs from the last one.
    func set(_ request: DataRequest) {
        condition.lock()
        if request != self.request {
            self.request = request
            version += 1
            condition.signal()
        }
        condition.unlock()
    }

    /// Loads again now (after an operation changed something).
    func poke() {
        condition.lock()
        version += 1
        condition.signal()
        condition.unlock()
    }

    /// Stops the thread and waits (up to a second) for a query in progress to finish.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
        finished.lock()
        let deadline = Date().addingTimeInterval(1)
        while running, finished.wait(until: deadline) {}
        finished.unlock()
    }

    private func run() {
        var seenVersion = -1
        var seenCounter: Int64?
        var lastLoad = Date.distantPast
        while true {
            condition.lock()
            let deadline = Date().addingTimeInterval(interval)
            while !stopped, version == seenVersion, condition.wait(until: deadline) {}
            let stop = stopped
            let request = self.request
            let version = self.version
            condition.unlock()
            if stop { return }
            guard let request else { continue }
            let log = self.log
            let counter = Self.awaiting { try? await log.changeCounter() }
            let now = clock()
            guard version != seenVersion || counter != seenCounter || now.timeIntervalSince(lastLoad) >= Self.maximumAge
            else { continue }
            let snapshot = Self.awaiting { await DataSnapshot.load(request, from: log, now: now) }
            seenVersion = version
            seenCounter = counter ?? snapshot.changeCounter
            lastLoad = now
            mailbox.post(.dataLoaded(snapshot))
        }
    }

    /// Runs `body` and waits for it on this, the loader's own thread (never a cooperative one): the engine's reads
    /// are async, the loader's pacing is a thread waiting on a condition.
    private static func awaiting<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<T?>(nil)
        Task {
            let value = await body()
            result.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return result.withLock { $0 }!
    }
}
