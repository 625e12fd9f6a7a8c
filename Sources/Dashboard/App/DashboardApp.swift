import DeliveryCore
import Foundation

/// The entry point the `hooktop` executable calls.
public enum DashboardApp {
    /// Opens the dashboard on the terminal and blocks until the user quits (q, Ctrl-C, SIGTERM, SIGHUP).
    ///
    /// Call it from a thread that may block (the main thread); operations run on the global concurrent executor.
    /// - Parameters:
    ///   - log: the delivery log to show and the operations to perform.
    ///   - options: what to show and allow.
    ///   - clock: the time the dashboard shows and computes countdowns from (tests and demos may fix it).
    /// - Throws: `TerminalError` before curses starts (no terminal, unknown `TERM`); never while it runs.
    public static func run(
        log: any DeliveryLogReader & DeliveryOperations, options: DashboardOptions,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        let terminal = try NCursesTerminal(options: options)
        defer { terminal.close() }
        let session = DashboardSession(log: log, options: options, screen: terminal, clock: clock)
        session.run()
    }
}
