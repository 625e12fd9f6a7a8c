/// Tells when any process committed to the log: the dashboard and `serve` poll it (cheaply, every 50 to 100 ms)
/// and reload only when it moved.
public protocol ChangeSignal: Sendable {
    /// A number that changes whenever any process commits (SQLite: `PRAGMA data_version` plus own writes).
    func changeCounter() async throws -> Int64
}
