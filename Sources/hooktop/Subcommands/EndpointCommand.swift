import ArgumentParser
import DeliveryCore
import Foundation

struct EndpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "endpoint", abstract: "Manage endpoints.",
        subcommands: [Add.self, Update.self, List.self, Show.self, Test.self, Pause.self, Resume.self, Disable.self,
                      Enable.self, Remove.self, RotateSecret.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register an endpoint and print its id.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The http(s) URL that receives the webhooks.") var url: String
        @OptionGroup var fields: EndpointFieldOptions
        @Option(help: "The signing secret, whsec_<base64> (default: a new random one).") var secret: String?
        @Flag(help: "Allow loopback and private addresses for this endpoint.") var allowPrivateDestinations = false
        @OptionGroup var connection: ConnectionOptions
        @Flag(help: "Send a test ping right after adding; warn (without failing) when it is not answered 2xx.")
        var ping = false
        @Flag(help: "Print the endpoint as JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                var changes = try fields.changes(url: nil)
                try connection.apply(to: &changes)
                // Bad fields are refused before a log is set up for them.
                var withURL = changes
                withURL.url = url
                try withURL.validate()
                let operations = Operations(engine: try await database.open(create: true))
                let endpoint = try await operations.addEndpoint(
                    url: url, changes: changes, secret: secret, allowPrivateDestination: allowPrivateDestinations,
                    by: .current(via: "cli"))
                if json { try printJSON(EndpointObject(endpoint, includeSecret: true)) } else { printText(endpoint.id) }
                if ping {
                    let outcome = try await EndpointTester.ping(endpoint.id, engine: operations.engine, options: nil)
                    if !outcome.succeeded {
                        warn("endpoint \(endpoint.id) added, but its test ping got \(ConnectionLines.ping(outcome))")
                    }
                }
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change an endpoint's URL, filter, limits, headers, credentials, TLS settings or retries.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The endpoint id (ep_...).") var id: String
        @Option(help: "A new URL.") var url: String?
        @OptionGroup var fields: EndpointFieldOptions
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Stop sending a header (repeatable).") var removeHeader: [String] = []
        @Flag(help: "Stop sending the bearer token or basic authorization.") var noAuth = false
        @Flag(help: "Trust only the system's CAs (and serve's --ca-file) again.") var noCa = false
        @Flag(help: "Stop presenting a client certificate.") var noClientCert = false
        @Flag(help: "Use the dispatcher's retry schedule again.") var defaultRetries = false
        @Flag(help: "Allow a new URL on loopback and private addresses.") var allowPrivateDestinations = false
        @Flag(help: "Print the endpoint as JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                var changes = try fields.changes(url: url)
                try connection.apply(to: &changes)
                changes.removeHeaders = removeHeader
                if noAuth {
                    guard changes.credential == nil else { throw HooktopError.invalid("--no-auth with a new credential") }
                    changes.credential = .clear
                }
                if noCa {
                    guard changes.caPEM == nil else { throw HooktopError.invalid("--no-ca with --ca-file") }
                    changes.caPEM = .clear
                }
                if noClientCert {
                    guard changes.clientIdentity == nil else { throw HooktopError.invalid("--no-client-cert with --client-cert") }
                    changes.clientIdentity = .clear
                }
                if defaultRetries {
                    guard changes.retrySchedule == nil else { throw HooktopError.invalid("--default-retries with --retry-schedule") }
                    changes.retrySchedule = .clear
                }
                guard changes != EndpointChanges() else { throw HooktopError.invalid("nothing to change: give at least one option") }
                let endpoint = try await Operations(engine: await database.open()).updateEndpoint(
                    id: id, changes: changes, allowPrivateDestination: allowPrivateDestinations, by: .current(via: "cli"))
                if json { try printJSON(EndpointObject(endpoint, includeSecret: false)) } else { printText("\(id) updated") }
            }
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send one signed hooktop.ping with the endpoint's headers, credentials and TLS settings; exit 0 on 2xx.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The endpoint id (ep_...).") var id: String
        @OptionGroup var sender: SenderOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let outcome = try await EndpointTester.ping(id, engine: await database.open(), options: sender)
                if json {
                    try printJSON(PingObject(outcome))
                } else {
                    printText(ConnectionLines.ping(outcome))
                }
                if !outcome.succeeded { throw ExitCode(2) }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List endpoints.")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let summaries = try await database.open(readOnly: true).endpointSummaries(now: Date())
                if json {
                    try printJSON(
                        summaries.map {
                            Merged(EndpointObject($0.endpoint, includeSecret: false), CLIOutput.Counts(counts: $0.counts.byName))
                        })
                    return
                }
                printText(TextTable.render(
                    header: ["ID", "STATUS", "QUEUE", "DEAD", "URL"],
                    rows: summaries.map {
                        [$0.endpoint.id, $0.endpoint.status.rawValue, "\($0.counts.queued)", "\($0.counts.dead)",
                         $0.endpoint.url]
                    }))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one endpoint, with its secret.")
        @OptionGroup var database: DatabaseOptions
        @Argument var id: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let log = try await database.open(readOnly: true)
                guard let endpoint = try await log.endpoint(id: id) else {
                    throw HooktopError.notFound("endpoint", id)
                }
                if json { try printJSON(EndpointObject(endpoint, includeSecret: true)); return }
                printText("id:          \(endpoint.id)")
                printText("url:         \(endpoint.url)")
                printText("status:      \(endpoint.status.rawValue)\(endpoint.disabledReason.map { " (\($0))" } ?? "")")
                printText("description: \(endpoint.description)")
                printText("events:      \(endpoint.eventTypes.isEmpty ? "all" : endpoint.eventTypes.joined(separator: ","))")
                printText("secret:      \(endpoint.secret)")
                printText(
                    "max in flight: \(endpoint.maxInFlight), timeout: \(endpoint.timeoutMilliseconds) ms"
                        + (endpoint.rateLimit.map { ", rate limit: \($0)/s" } ?? ""))
                for line in ConnectionLines.lines(endpoint.connection) { printText(line) }
                let actions = try await log.auditEntries(objectId: endpoint.id, limit: 5)
                if !actions.isEmpty {
                    printText("")
                    printText("recent operator actions:")
                    printText(AuditLines.table(actions))
                }
            }
        }
    }

    /// The endpoint id argument of the status commands, and the one way they act.
    struct Target: ParsableArguments {
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The endpoint id (ep_...).") var id: String

        /// Runs one operation on the endpoint and prints `<id> <done>`.
        func perform(_ done: String, _ operation: (Operations, String, Principal) async throws -> Void) async throws {
            try await reportingErrors {
                try await operation(Operations(engine: await database.open()), id, .current(via: "cli"))
                printText("\(id) \(done)")
            }
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Hold an endpoint's deliveries.")
        @OptionGroup var target: Target
        func run() async throws { try await target.perform("paused") { try await $0.pause(endpointId: $1, by: $2) } }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Release a paused endpoint's deliveries.")
        @OptionGroup var target: Target
        func run() async throws { try await target.perform("resumed") { try await $0.resume(endpointId: $1, by: $2) } }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop sending to an endpoint.")
        @OptionGroup var target: Target
        @Option(help: "Why (shown in the dashboard).") var reason = ""
        func run() async throws {
            try await target.perform("disabled") { try await $0.disable(endpointId: $1, reason: reason, by: $2) }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send to a disabled endpoint again.")
        @OptionGroup var target: Target
        func run() async throws { try await target.perform("enabled") { try await $0.enable(endpointId: $1, by: $2) } }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an endpoint with its deliveries.")
        @OptionGroup var database: DatabaseOptions
        @Argument var id: String
        func run() async throws {
            try await reportingErrors {
                try await Operations(engine: await database.open()).removeEndpoint(id: id, by: .current(via: "cli"))
                printText("\(id) removed")
            }
        }
    }

    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the signing secret; the old one keeps signing for 24 hours.")
        @OptionGroup var database: DatabaseOptions
        @Argument var id: String
        func run() async throws {
            try await reportingErrors {
                let endpoint = try await Operations(engine: await database.open()).rotateSecret(endpointId: id, by: .current(via: "cli"))
                printText(endpoint.secret)
            }
        }
    }
}

/// The fields `endpoint add` and `endpoint update` both set.
struct EndpointFieldOptions: ParsableArguments {
    @Option(help: "A description shown in the dashboard.") var description: String?
    @Option(help: "Event types to send, comma-separated; `user.*` wildcards; `all` for every event (the default).")
    var events: String?
    @Option(help: "Deliveries in flight at once to this endpoint.") var maxInFlight: Int?
    @Option(help: "Timeout of one attempt, like 30s or 500ms (0.1s to 5m).") var timeout: String?
    @Option(help: "Timeout of one attempt, in milliseconds.") var timeoutMs: Int?
    @Option(help: "Requests started per second at most, 1 to 10000; 0 or none removes the limit.") var rateLimit: String?

    func changes(url: String?) throws -> EndpointChanges {
        let types = events.map { text in
            text == "all" ? [] : text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        var milliseconds = timeoutMs
        if let timeout {
            guard timeoutMs == nil else { throw HooktopError.invalid("give --timeout or --timeout-ms, not both") }
            guard let seconds = DurationText.seconds(timeout), (0.1...300).contains(seconds) else {
                throw HooktopError.invalid("--timeout must be a duration from 100ms to 5m, like 30s")
            }
            milliseconds = Int((seconds * 1000).rounded())
        }
        var changes = EndpointChanges(
            url: url, description: description, eventTypes: types, maxInFlight: maxInFlight,
            timeoutMilliseconds: milliseconds)
        if let rateLimit {
            if rateLimit == "none" || rateLimit == "0" {
                changes.rateLimit = .clear
            } else if let limit = Int(rateLimit) {
                changes.rateLimit = .set(limit)
            } else {
                throw HooktopError.invalid("--rate-limit must be a number of requests per second, or none")
            }
        }
        return changes
    }
}

/// Plain aligned columns for terminal output.
enum TextTable {
    static func render(header: [String], rows: [[String]]) -> String {
        // Cells are sanitised first, so that the widths are those of what is printed.
        let all = ([header] + rows).map { $0.map(Sanitizer.line) }
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
