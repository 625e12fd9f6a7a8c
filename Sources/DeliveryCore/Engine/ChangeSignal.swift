/// Tells when any process committed to the log: the dashboard and `serve` poll it (cheaply, every 50 to 100 ms)
/// and reload only when it moved.
public protocol ChangeSignal: Sendable {
    /// A number that changes whenever any process commits (SQLite: `PRAGMA data_version` plus own writes).
    func changeCounter() async throws -> Int64
    /// Calls `wake` as soon as another process tells that it committed work that may be due (PostgreSQL's
    /// LISTEN/NOTIFY), so a dispatcher need not wait for its next poll. Polling stays the safety net: an engine may
    /// never call it.
    func watchForWork(_ wake: @escaping @Sendable () -> Void)
}

extension ChangeSignal {
    /// Never calls `wake`: other processes' commits are found by polling `changeCounter` (SQLite).
    public func watchForWork(_ wake: @escaping @Sendable () -> Void) {}
}
