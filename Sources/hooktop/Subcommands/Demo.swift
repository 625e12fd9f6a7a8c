import ArgumentParser
import DeliveryCore
import Dispatch
import Foundation
import HooktopLab
import Logging

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run endpoints, events, the dispatcher and the dashboard in one process, on a fresh database.")
    @Option(help: "Database file (default: a new one in a temporary folder).") var db: String?
    @Flag(help: "Run without the dashboard and print a summary at the end.") var headless = false
    @Option(help: "With --headless: seconds to run.") var duration = 30.0
    @Option(help: "Events published per second.") var rate = 5.0
    @Flag(help: "Enable the mouse in the dashboard.") var mouse = false

    func validate() throws {
        guard duration > 0, duration <= 86400 else { throw ValidationError("--duration must be between 0 and 86400 seconds") }
        guard rate > 0, rate <= 10_000 else { throw ValidationError("--rate must be between 0 and 10000 events per second") }
    }

    func run() throws {
        OpenFileLimit.raise()
        let path: String
        if let db {
            path = db
        } else {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "hooktop-demo-\(Identifier.make("d", length: 8).dropFirst(2))")
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                fail("cannot create a folder for the demo database: \(error.localizedDescription)")
            }
            path = directory.appendingPathComponent("hooktop.db").path
        }
        let store: Store
        do {
            store = try Store(path: path)
        } catch let error as HooktopError {
            fail(error.message)
        }
        var logger = Logger(label: "hooktop.demo")
        logger.logLevel = headless ? .warning : .critical
        let demoLogger = logger
        let rate = self.rate
        let started = blockingAwait { try await DemoEnvironment.start(store: store, rate: rate, logger: demoLogger) }
        let demo: DemoEnvironment
        switch started {
        case .success(let value): demo = value
        case .failure(let error): fail("demo could not start: \(error)")
        }
        if headless {
            printText("demo running for \(Int(duration)) s at \(rate) events/s; database \(path)")
            Thread.sleep(forTimeInterval: duration)
        } else {
            do {
                try runDashboard(
                    engine: SQLiteEngine(store: store), readOnly: false, mouse: mouse,
                    sender: demo.sender, wake: { demo.dispatcher.wake() })
            } catch {
                _ = blockingAwait { await demo.stop() }
                throw error
            }
        }
        _ = blockingAwait { await demo.stop() }
        if headless, let summary = try? demo.summary() { printText(summary) }
        printText("demo stopped. The database is kept: hooktop --db \(path)")
    }
}

/// Runs async work from synchronous code (the dashboard owns the main thread) and waits for it.
func blockingAwait<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Result<T, any Error> {
    let semaphore = DispatchSemaphore(value: 0)
    let box = ResultBox<T>()
    Task.detached {
        do { box.set(.success(try await body())) } catch { box.set(.failure(error)) }
        semaphore.signal()
    }
    semaphore.wait()
    return box.get()
}

// @unchecked Sendable: written once before the semaphore signals, read after it.
final class ResultBox<T>: @unchecked Sendable {
    private var result: Result<T, any Error>?
    func set(_ value: Result<T, any Error>) { result = value }
    func get() -> Result<T, any Error> { result! }
}
