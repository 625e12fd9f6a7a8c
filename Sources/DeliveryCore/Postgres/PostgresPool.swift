import Foundation
import Logging
import PostgresNIO

/// hooktop's connections to one PostgreSQL log: a pool whose sessions carry hooktop's time limits, opened on a
/// schema brought up to date.
///
/// Opening first makes one connection of its own, which tells a wrong address, password or database at once (a pool
/// retries quietly for a minute), migrates on it and makes the coming days' partitions, then starts the pool. Every
/// session is started with `statement_timeout` and `idle_in_transaction_session_timeout` (startup parameters, so
/// they hold from the first statement on): no statement or forgotten transaction holds a snapshot that keeps vacuum
/// from cleaning the queue table. PgBouncer refuses startup parameters it does not know unless
/// `ignore_startup_parameters` lists them, and then drops them: behind it, set the limits on the role instead
/// (`ALTER ROLE … SET statement_timeout = '30s'`).
public final class PostgresPool: Sendable {
    public struct Configuration: Sendable {
        /// Longest a statement may run before the server cancels it; default 30 s.
        public var statementTimeout: Duration = .seconds(30)
        /// Longest a session may sit idle inside a transaction before the server ends it; default 10 s.
        public var idleInTransactionTimeout: Duration = .seconds(10)
        /// Most connections the pool opens (postgres-nio runs one query at a time on each); default 8.
        public var maximumConnections = 8
        /// Days of log partitions made ahead of today on open; default 7.
        public var partitionDaysAhead = 7
        /// Opens without migrating or making partitions (the schema must be this build's), and every session refuses
        /// writes (`default_transaction_read_only`); default false.
        public var readOnly = false

        public init() {}

        /// The run-time settings each session starts with (milliseconds).
        var startupParameters: [(String, String)] {
            [
                ("statement_timeout", "\(Int64(statementTimeout / .milliseconds(1)))"),
                ("idle_in_transaction_session_timeout", "\(Int64(idleInTransactionTimeout / .milliseconds(1)))"),
            ] + (readOnly ? [("default_transaction_read_only", "on")] : [])
        }
    }

    public let url: PostgresURL
    public let configuration: Configuration
    /// The pool; runs until `close()`.
    public let client: PostgresClient
    private let running: Task<Void, Never>

    private init(url: PostgresURL, configuration: Configuration, client: PostgresClient, running: Task<Void, Never>) {
        self.url = url
        self.configuration = configuration
        self.client = client
        self.running = running
    }

    /// Connects to `url`, migrates its schema (unless `readOnly`) and starts the pool. Call `close()` when done.
    /// - Throws: `HooktopError` with a one-line reason naming the redacted URL: unreachable server, refused login,
    ///   missing database, another application's database, a schema newer than this build.
    public static func open(
        _ url: PostgresURL, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "hooktop.postgres"), now: Date = Date()
    ) async throws -> PostgresPool {
        try await withConnection(url, configuration: configuration, logger: logger) { connection in
            if configuration.readOnly {
                try await PostgresSchema.checkCurrent(connection, location: url.redacted, logger: logger)
            } else {
                try await PostgresSchema.migrate(connection, location: url.redacted, logger: logger, now: now)
                // From yesterday: a process whose clock is a little behind still finds its day.
                try await PostgresSchema.createPartitions(
                    connection, from: now.addingTimeInterval(-86400), days: configuration.partitionDaysAhead + 2,
                    logger: logger)
            }
        }
        var options = url.clientConfiguration(startupParameters: configuration.startupParameters)
        options.options.maximumConnections = configuration.maximumConnections
        let client = PostgresClient(configuration: options, backgroundLogger: logger)
        // The client counts as running from the first instant of `run()`; waiting here until the task has begun
        // keeps a query made at once from finding it not yet started (postgres-nio warns about that).
        let (started, begun) = AsyncStream<Void>.makeStream()
        let running = Task {
            begun.finish()
            await client.run()
        }
        for await _ in started {}
        return PostgresPool(url: url, configuration: configuration, client: client, running: running)
    }

    /// Opens a pool on `url`, runs `body` with it and closes it, whether `body` returns or throws.
    public static func with<T: Sendable>(
        _ url: PostgresURL, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "hooktop.postgres"), _ body: (PostgresPool) async throws -> T
    ) async throws -> T {
        let pool = try await open(url, configuration: configuration, logger: logger)
        let outcome: Result<T, any Error>
        do { outcome = .success(try await body(pool)) } catch { outcome = .failure(error) }
        await pool.close()
        return try outcome.get()
    }

    /// Closes the pool's connections and waits until they are closed.
    public func close() async {
        running.cancel()
        await running.value
    }

    deinit { running.cancel() }

    /// Runs `body` on one connection of its own (not a pool's), closed afterwards; connecting is bounded by the URL's
    /// connect timeout plus five seconds for the login. For work apart from the pool: migrations, administration.
    /// - Throws: `HooktopError` with a one-line reason naming the redacted URL.
    public static func withConnection<T: Sendable>(
        _ url: PostgresURL, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "hooktop.postgres"), _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection: PostgresConnection
        do {
            let settings = try url.connectionConfiguration(startupParameters: configuration.startupParameters)
            connection = try await withDeadline(url.connectTimeout + .seconds(5)) {
                try await PostgresConnection.connect(configuration: settings, id: 0, logger: logger)
            }
        } catch {
            throw failure(error, url: url)
        }
        do {
            let result = try await body(connection)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw failure(error, url: url)
        }
    }

    /// An error of a PostgreSQL call as a `HooktopError`: the server's own message when it sent one, else the
    /// connection's failure, after the redacted URL. postgres-nio's errors describe themselves generically on
    /// purpose (they may carry values); only the server's message line is used, never its detail.
    static func failure(_ error: any Error, url: PostgresURL) -> HooktopError {
        if let error = error as? HooktopError { return error }
        return HooktopError(.database, "PostgreSQL at \(url.redacted): \(reason(error))")
    }

    static func reason(_ error: any Error) -> String {
        switch error {
        case let error as PSQLError:
            if let message = error.serverInfo?[.message] { return message }
            if let underlying = error.underlying { return reason(underlying) }
            return "\(error.code)"
        case let error as PostgresTransactionError:
            if let inner = error.closureError ?? error.beginError ?? error.commitError { return reason(inner) }
            return "transaction failed"
        case is DeadlineExceeded:
            return "no answer within the connect timeout"
        default:
            return "\(error)"
        }
    }
}

/// `body` did not finish in time (and was cancelled).
struct DeadlineExceeded: Error {}

/// Runs `body`, cancelling it when `timeout` passes first.
/// - Throws: `DeadlineExceeded` on timeout, else what `body` throws.
func withDeadline<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw DeadlineExceeded()
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw DeadlineExceeded() }
        return first
    }
}
