import Foundation

/// One check of the log's health (`hooktop doctor`): what was looked at, whether it holds, and what is wrong if not.
public struct CheckFinding: Sendable, Equatable {
    public enum Verdict: String, Sendable, Equatable {
        case ok
        /// Worth knowing; the log works (a large WAL).
        case warning
        /// An invariant does not hold (counters off, orphaned leases, corruption).
        case problem
    }

    /// A short name: `counters`, `failure_groups`, `leases`, `due_work`, `schema`, `file_modes`, `wal`, `integrity`.
    public var check: String
    public var verdict: Verdict
    public var detail: String
    /// Whether `doctor --repair` fixes it.
    public var repairable: Bool

    public init(check: String, verdict: Verdict, detail: String, repairable: Bool = false) {
        self.check = check
        self.verdict = verdict
        self.detail = detail
        self.repairable = repairable
    }
}
