import Foundation

/// A storage engine behind the delivery core: the log's reads, its writes, the dispatcher's claims, a change signal,
/// the API tokens and the log's rows for a copy into another engine. `SQLiteEngine` is the embedded one.
public protocol DeliveryEngine: DeliveryLogReader, OperatorLog, DispatchLog, AlertLog, APITokenLog,
    LogTransfer
{
    /// Where the log is, for messages (`/var/lib/hooktop.db`); never a credential.
    var location: String { get }
    /// Why the log takes no writes (a full disk), or nil when it does.
    func writeProblem() async -> String?
    /// Every endpoint, oldest first.
    func endpoints() async throws -> [Endpoint]
    /// One message by id.
    func message(id: String) async throws -> Message?
    /// The dispatchers that heartbeat into this log, newest first.
    func workers() async throws -> [WorkerInfo]
    /// Every attempt of one delivery, oldest first.
    func attempts(deliveryId: Int64) async throws -> [Attempt]
    /// Per-status totals over the whole log.
    func statusTotals() async throws -> StatusCounts
    /// Checks the log's invariants (`hooktop doctor`), the engine's own included.
    func checkup(now: Date) async throws -> [CheckFinding]
    /// Fixes what is safe to fix (recounts, orphaned leases), audited; returns what was done.
    func repair(now: Date, by actor: Principal) async throws -> [String]
    /// Flushes what the engine buffers (SQLite: checkpoints the WAL) before the process exits.
    func close() async
}
