import ArgumentParser
import DeliveryCore
import Foundation

struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Move a log between databases.", subcommands: [Copy.self])

    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a whole log into an empty database: SQLite to PostgreSQL, or back.",
            discussion: """
                Copies endpoints with their secrets and settings, messages, deliveries, attempts, stats, failure \
                groups, recoveries, the audit, alerts and API tokens, a batch at a time, and prints each table's row \
                count. The destination (a new or empty SQLite file, or an empty PostgreSQL database) gets hooktop's \
                schema; one that holds a log is refused. Stop every `hooktop serve` on the source first. Deliveries \
                in flight arrive waiting and due at once (leases are not copied).
                """)
        @Option(help: "The log to copy: a SQLite file or a postgres:// URL.") var from: String
        @Option(help: "Where to: a new or empty SQLite file, or a postgres:// URL of an empty database.") var to: String

        func run() async throws {
            try await reportingErrors {
                let source = try await DatabaseOptions.open(from, readOnly: true)
                let destination = try await DatabaseOptions.open(to, create: true)
                let started = ContinuousClock.now
                let counts = try await LogCopy.run(from: source, to: destination) { progress in
                    switch progress {
                    case .started: printText("copying \(source.location) to \(destination.location)")
                    case .copied(let table, let rows):
                        printText("\(table.rawValue.padding(toLength: 20, withPad: " ", startingAt: 0)) \(rows)")
                    }
                    fflush(nil)
                }
                await destination.close()
                await source.close()
                let elapsed = (ContinuousClock.now - started).formatted(
                    .units(allowed: [.seconds], fractionalPart: .show(length: 1)))
                printText("copied \(counts.reduce(0) { $0 + $1.rows }) rows in \(elapsed)")
            }
        }
    }
}
