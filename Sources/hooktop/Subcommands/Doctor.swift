import ArgumentParser
import DeliveryCore
import Foundation

struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the log's invariants: one line per check; exit 0 when healthy, 1 otherwise.",
        discussion: """
            Checks: the engine's integrity check, the schema version, status counters and failure groups against the \
            log, in-flight deliveries without a live holder, due work nobody takes, file modes, the WAL's size. \
            --repair recounts the counters and groups and releases orphaned leases (at least once: those deliveries \
            are sent again), and is audited.
            """)
    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Fix what is safe to fix, then check again.") var repair = false
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await reportingErrors {
            let engine = try await database.open(readOnly: !repair)
            var repaired: [String] = []
            if repair { repaired = try await engine.repair(now: Date(), by: .current(via: "cli")) }
            let findings = try await engine.checkup(now: Date())
            let healthy = findings.allSatisfy { $0.verdict != .problem }
            if json {
                try printJSON(
                    CLIOutput.Checkup(
                        healthy: healthy, repaired: repaired,
                        findings: findings.map {
                            .init(
                                check: $0.check, verdict: $0.verdict.rawValue, detail: $0.detail,
                                repairable: $0.repairable)
                        }))
            } else {
                for line in repaired { printText("repaired: \(line)") }
                for finding in findings {
                    let mark = switch finding.verdict {
                    case .ok: "ok     "
                    case .warning: "warning"
                    case .problem: "PROBLEM"
                    }
                    printText("\(mark)  \(finding.check.padding(toLength: 15, withPad: " ", startingAt: 0)) \(finding.detail)"
                        + (finding.verdict == .problem && finding.repairable ? " (doctor --repair fixes it)" : ""))
                }
            }
            if !healthy { throw ExitCode(1) }
        }
    }
}
