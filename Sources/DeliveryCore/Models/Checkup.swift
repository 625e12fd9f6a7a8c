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

extension CheckFinding {
    /// The schema version found against the one this build writes.
    static func schema(_ version: Int, writes current: Int) -> CheckFinding {
        version == current
            ? CheckFinding(check: "schema", verdict: .ok, detail: "schema v\(version)")
            : CheckFinding(
                check: "schema", verdict: .problem,
                detail: "schema v\(version), this hooktop writes v\(current)"
                    + (version > current ? ": upgrade hooktop" : ": open it for writing to upgrade"))
    }

    /// Status counters kept by the writes (`endpoint status` → n) against a count of the log.
    static func counters(counted: [String: Int], kept: [String: Int]) -> CheckFinding {
        let wrong = Set(counted.keys).union(kept.keys).filter { counted[$0, default: 0] != kept[$0, default: 0] }
        guard !wrong.isEmpty else { return CheckFinding(check: "counters", verdict: .ok, detail: "status counters match the log") }
        return CheckFinding(
            check: "counters", verdict: .problem,
            detail: "\(wrong.count) status counter\(wrong.count == 1 ? " differs" : "s differ") from the log, e.g. "
                + wrong.sorted().prefix(2).map { "\($0): \(kept[$0, default: 0]) kept, \(counted[$0, default: 0]) in the log" }
                    .joined(separator: "; "),
            repairable: true)
    }

    /// Failure groups kept (`endpoint class code` → `dead/retrying`) against the log's.
    static func failureGroups(counted: [String: String], kept: [String: String]) -> CheckFinding {
        let wrong = Set(counted.keys).union(kept.keys).filter { counted[$0] != kept[$0] }
        guard !wrong.isEmpty else {
            return CheckFinding(check: "failure_groups", verdict: .ok, detail: "failure groups match the log")
        }
        return CheckFinding(
            check: "failure_groups", verdict: .problem,
            detail: "\(wrong.count) failure group\(wrong.count == 1 ? " differs" : "s differ") from the log", repairable: true)
    }

    /// How long the oldest due delivery has waited, and whether a dispatcher is alive to take it.
    static func dueWork(overdueSeconds overdue: Int, dispatcherAlive alive: Bool) -> CheckFinding {
        guard overdue >= 60 else {
            return CheckFinding(check: "due_work", verdict: .ok, detail: overdue > 0 ? "oldest due \(overdue) s" : "nothing overdue")
        }
        return CheckFinding(
            check: "due_work", verdict: .problem,
            detail: "the oldest due delivery waits for \(overdue) s"
                + (alive ? " although a dispatcher is alive (is it keeping up?)" : " and no dispatcher is alive: start hooktop serve"))
    }
}
