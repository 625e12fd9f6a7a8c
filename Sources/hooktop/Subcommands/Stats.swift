import ArgumentParser
import DeliveryCore
import Foundation

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Totals, per-endpoint success rate and latency (last 5 minutes), queue depth and dead count.")
    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await reportingErrors {
            let log = try await database.open(readOnly: true)
            let now = Date()
            let overview = try await log.overview(now: now)
            let summaries = try await log.endpointSummaries(now: now)
            if json {
                try printJSON(CLIOutput.Stats(overview, summaries, now: now))
                return
            }
            let t = overview.totals
            printText("deliveries: \(t.delivered) delivered, \(t.queued) queued (\(t.retrying) retrying), \(t.inflight) in flight, \(t.dead) dead, \(t.cancelled) cancelled")
            printText("last 5 min: \(overview.recent.attempts) attempts, success \(percent(overview.recent.successRate)), p50 \(ms(overview.recent.p50Milliseconds)), p95 \(ms(overview.recent.p95Milliseconds))")
            let alive = overview.workers.filter { $0.isAlive(now: now) }.count
            let stale = overview.workers.count - alive
            printText("dispatchers: \(alive == 0 ? "none" : "\(alive)") alive\(stale > 0 ? ", \(stale) stale" : "")")
            let overdue = overview.oldestDueSeconds(now: now)
            if overdue > 0 { printText("overdue: the oldest due delivery waits for \(overdue) s") }
            printText("")
            if !overview.workers.isEmpty {
                printText(TextTable.render(
                    header: ["DISPATCHER", "STATE", "IN FLIGHT", "ATTEMPTS 5M", "PID", "HOST"],
                    rows: overview.workers.map { worker in
                        let state = worker.isAlive(now: now)
                            ? "alive" : "stale \(DurationText.format(now.timeIntervalSince(worker.heartbeatAt)))"
                        return [worker.id, state, "\(worker.inFlight)", "\(overview.recentAttempts(of: worker))",
                                "\(worker.pid)", worker.host]
                    }))
                printText("")
            }
            printText(TextTable.render(
                header: ["ENDPOINT", "STATUS", "SUCCESS", "P50", "P95", "QUEUE", "DEAD", "URL"],
                rows: summaries.map {
                    [$0.endpoint.id, $0.endpoint.status.rawValue, percent($0.recent.successRate),
                     ms($0.recent.p50Milliseconds), ms($0.recent.p95Milliseconds), "\($0.counts.queued)",
                     "\($0.counts.dead)", $0.endpoint.url]
                }))
        }
    }

    private func percent(_ value: Double?) -> String { value.map { String(format: "%.1f%%", $0 * 100) } ?? "-" }
    private func ms(_ value: Double?) -> String { value.map { String(format: "%.0fms", $0) } ?? "-" }
}
