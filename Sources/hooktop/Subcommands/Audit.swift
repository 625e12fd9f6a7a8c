import ArgumentParser
import DeliveryCore
import Foundation

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Who did what, when and from where: the newest operator actions, newest first.")
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Only the actions on this endpoint or delivery id.") var object: String?
    @Option(help: "How many actions, from 1 to 10000.") var limit = 50
    @Flag(help: "Print JSON lines.") var json = false

    func run() async throws {
        try await reportingErrors {
            guard (1...10_000).contains(limit) else { throw HooktopError.invalid("--limit must be from 1 to 10000") }
            let entries = try await database.open(readOnly: true).auditEntries(objectId: object, limit: limit)
            if json {
                for entry in entries { print(try JSONRepresentation.encode(CLIOutput.AuditLine(entry))) }
                return
            }
            printText(AuditLines.table(entries))
        }
    }
}

/// Audit entries as people and scripts read them.
enum AuditLines {
    /// ISO 8601 times in the local offset, the operator, where from, the action and its object.
    static func table(_ entries: [AuditEntry]) -> String {
        let style = Date.ISO8601FormatStyle(timeZone: .current)
        return TextTable.render(
            header: ["AT", "WHO", "FROM", "VIA", "ACTION", "OBJECT", "DETAIL"],
            rows: entries.map { entry in
                [
                    style.format(entry.at), entry.user, [entry.origin, entry.tty].compactMap { $0 }.joined(separator: " "),
                    entry.via, entry.action, entry.objectId, entry.detail,
                ]
            })
    }
}
