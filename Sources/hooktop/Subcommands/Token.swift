import ArgumentParser
import DeliveryCore
import Foundation

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the API's bearer tokens (kept in the log by SHA-256 digest).",
        discussion: """
            Every `hooktop serve` on the log accepts each token in force, and re-reads them every second: a token \
            made or revoked here counts everywhere within a second. A token is shown once, when it is made.
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a token and print it (once) with its id.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "What the token is for (shown by `token list`).") var name = ""

        func run() async throws {
            try await reportingErrors {
                try APIToken.validate(name: name)
                let issued = try await Operations(engine: await database.open(create: true)).createToken(
                    name: name, by: .current(via: "cli"))
                printText("id:    \(issued.token.id)")
                printText("token: \(issued.secret)")
                printText("(shown once: the log keeps only its SHA-256 digest)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the tokens, revoked ones included (never the tokens themselves).")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let tokens = try await database.open(readOnly: true).apiTokens()
                if json {
                    try printJSON(tokens.map(CLIOutput.Token.init))
                    return
                }
                let style = Date.ISO8601FormatStyle(timeZone: .current)
                printText(TextTable.render(
                    header: ["ID", "NAME", "CREATED", "BY", "REVOKED"],
                    rows: tokens.map {
                        [$0.id, $0.name.isEmpty ? "-" : $0.name, style.format($0.createdAt), $0.createdBy,
                         $0.revokedAt.map { style.format($0) } ?? "-"]
                    }))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a token: every serve on the log refuses it within a second.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The token id (tok_...), as `token list` shows it.") var id: String

        func run() async throws {
            try await reportingErrors {
                let engine = try await database.open()
                let revoked = try await Operations(engine: engine).revokeToken(id: id, by: .current(via: "cli"))
                printText(revoked ? "\(id) revoked" : "\(id) was already revoked")
                if try await engine.apiTokenDigests().isEmpty {
                    warn("no token is in force: the API refuses every request until `hooktop token create`")
                }
            }
        }
    }
}
