import DeliveryCore
import Foundation

/// A database in a new temporary folder, removed when released.
public final class TemporaryDatabase: Sendable {
    public let directory: String
    public let path: String
    public let store: Store

    public init() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("hooktop-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
        self.path = directory + "/hooktop.db"
        self.store = try Store(path: path)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
}

/// The actor recorded for test actions.
public let testActor = Principal(user: "tester", pid: 1, via: "test")

/// Polls `condition` every 20 ms until it holds or the wait runs out.
///
/// Every wait is a hang guard, never a measure: no test expects a condition to stay false. So a wait lasts at least
/// a minute whatever `timeout` says, because a full parallel run on 2 cores (PostgreSQL's throwaway server, `serve`
/// processes, tmux sessions) has starved a single test's dispatcher for 15 – 20 s.
/// - Returns: whether it held.
@discardableResult
public func eventually(
    timeout: Duration = .seconds(10), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + max(timeout, .seconds(60))
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// The built `hooktop` executable, next to the test bundle.
public func hooktopExecutable() -> String? {
    var url = URL(fileURLWithPath: CommandLine.arguments.first ?? "")
    for _ in 0..<4 {
        url.deleteLastPathComponent()
        let candidate = url.appendingPathComponent("hooktop").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    let fallback = FileManager.default.currentDirectoryPath + "/.build/debug/hooktop"
    return FileManager.default.isExecutableFile(atPath: fallback) ? fallback : nil
}

/// Runs blocking `body` (a UI loop, say) on a thread of its own and waits for it without holding one of Swift's few
/// cooperative threads, which the code under test may need meanwhile (its background tasks run there).
public func onOwnThread(_ body: @escaping () -> Void) async {
    let work = UncheckedBox(body)
    _ = try? await offThePool { work.value() }
}

/// Runs blocking work (waiting for a child process) on a thread of its own, never on one of the threads Swift's
/// concurrency runs every test's tasks on: there are as many of those as cores (2 here), and a test holding one for
/// seconds starves the dispatchers, receivers and waits of every other test running beside it.
public func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}

/// Hands a value to another thread that alone uses it from then on.
private final class UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
