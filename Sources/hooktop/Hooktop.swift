import ArgumentParser
import DeliveryCore
import Foundation
import Logging

@main
struct Hooktop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hooktop",
        abstract: "Send webhooks, and watch and steer the sending from a terminal.",
        version: HooktopVersion.current,
        subcommands: [
            DashboardCommand.self, Serve.self, Demo.self, EndpointCommand.self, Publish.self, Deliveries.self,
            Redeliver.self, Cancel.self, Stats.self, Audit.self, Alerts.self, Doctor.self, Prune.self, Token.self,
            DatabaseCommand.self, Receive.self, Seed.self, Bench.self, BenchDashboard.self,
        ],
        defaultSubcommand: DashboardCommand.self
    )
}

/// The database option every command shares.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "The SQLite file, or a postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME URL (default: $HOOKTOP_DB, else ./hooktop.db).")
    var db: String?

    var path: String {
        if let db, !db.isEmpty { return db }
        if let env = ProcessInfo.processInfo.environment["HOOKTOP_DB"], !env.isEmpty { return env }
        return "hooktop.db"
    }

    /// Whether the log is in PostgreSQL.
    var isPostgres: Bool { PostgresURL.isPostgresURL(path) }

    /// Opens the log's engine, PostgreSQL for a `postgres://` URL, else SQLite; commands that only read pass
    /// `readOnly`, commands that set a log up pass `create` (a PostgreSQL database is always set up on first use).
    /// `pollOnly` turns PostgreSQL's LISTEN/NOTIFY wake-ups off, as the URL's `poll_only=1` does.
    func open(readOnly: Bool = false, create: Bool = false, pollOnly: Bool = false, logger: Logger? = nil)
        async throws -> any DeliveryEngine
    {
        if pollOnly && !isPostgres { throw HooktopError.invalid("--poll-only applies to a PostgreSQL database only") }
        return try await Self.open(path, readOnly: readOnly, create: create, pollOnly: pollOnly, logger: logger)
    }

    /// Opens the log at `location`, a SQLite path or a `postgres://` URL (see `open(readOnly:create:pollOnly:logger:)`).
    static func open(
        _ location: String, readOnly: Bool = false, create: Bool = false, pollOnly: Bool = false, logger: Logger? = nil
    ) async throws -> any DeliveryEngine {
        guard PostgresURL.isPostgresURL(location) else {
            return try SQLiteEngine(path: location, readOnly: readOnly, create: create)
        }
        var url = try PostgresURL(location)
        url.pollOnly = url.pollOnly || pollOnly
        var configuration = PostgresPool.Configuration()
        configuration.readOnly = readOnly
        return try await PostgresEngine.open(
            url, configuration: configuration,
            logger: logger ?? Logger(label: "hooktop", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// Opens the SQLite file, for what works on one alone (the dashboard's file-backed session, seeding).
    func openSQLite(readOnly: Bool = false, create: Bool = false, for command: String? = nil) throws -> SQLiteEngine {
        if isPostgres {
            throw HooktopError.invalid("\(command ?? "this command") works on a SQLite file only, not on PostgreSQL")
        }
        return try SQLiteEngine(path: path, readOnly: readOnly, create: create)
    }
}

/// Prints a one-line error and exits non-zero for the errors a user can cause.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as HooktopError {
        fail(error.message)
    } catch let error as SQLiteError {
        fail(error.description)
    }
}

/// Writes `hooktop: message` to stderr and exits with status 1.
func fail(_ message: String, code: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("hooktop: \(Sanitizer.line(message))\n".utf8))
    exit(code)
}

/// Prints human-readable output. Every line goes through the dashboard's sanitiser: descriptions, URLs, errors and
/// event types come from outside and must not reach the operator's terminal as escape sequences.
func printText(_ text: String) {
    print(Sanitizer.lines(text).joined(separator: "\n"))
}

/// Prints a typed object as pretty JSON with sorted keys.
func printJSON(_ value: some Encodable) throws {
    print(try JSONRepresentation.encode(value, pretty: true))
}

/// A delivery id from the command line (`dlv_42` or `42`).
func parseDeliveryID(_ text: String) -> Int64 {
    guard let id = Identifier.parseDeliveryID(text) else { fail("'\(text)' is not a delivery id (like dlv_42)") }
    return id
}
