import Foundation
import Logging
import PostgresNIO

/// The PostgreSQL engine: the log in a database that several `serve` processes, on several machines, share.
///
/// Every method is one short transaction or one autocommit statement on the pool (no snapshot is held between
/// them). Writes made by this process are counted per writer (`writerId`) where many processes would otherwise
/// update one row; reads sum them. See `PostgresSchema` for the layout.
public final class PostgresEngine: Sendable {
    public let pool: PostgresPool
    /// This process's name in the per-writer rows: host, pid and a random part.
    public let writerId: String
    let logger: Logger
    /// Notifications to and from other processes when work becomes due.
    let wakeups: PostgresWakeups

    init(pool: PostgresPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
        let writerId = "\(ProcessInfo.processInfo.hostName):\(getpid()):\(Identifier.make("x", length: 8))"
        self.writerId = writerId
        self.wakeups = PostgresWakeups(pool: pool, sender: writerId, logger: logger)
    }

    /// Connects, migrates (unless `readOnly`) and starts the pool.
    public static func open(
        _ url: PostgresURL, configuration: PostgresPool.Configuration = PostgresPool.Configuration(),
        logger: Logger = Logger(label: "hooktop.postgres")
    ) async throws -> PostgresEngine {
        PostgresEngine(pool: try await PostgresPool.open(url, configuration: configuration, logger: logger), logger: logger)
    }

    /// Where the log is, without the password.
    public var location: String { pool.url.redacted }

    /// Sends the wake-up still scheduled, stops listening, then closes the pool.
    public func close() async {
        await wakeups.close()
        await pool.close()
    }

    // MARK: Running statements

    /// Runs one statement on a pooled connection and reads every row.
    func rows(_ query: PostgresQuery) async throws -> [PGRow] {
        Self.noteForPlans(query, by: writerId)
        return try await Self.collect(pool.client.query(query, logger: logger))
    }

    /// Runs one statement on `connection` (inside a transaction) and reads every row.
    func rows(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> [PGRow] {
        Self.noteForPlans(query, by: writerId)
        return try await Self.collect(connection.query(query, logger: logger))
    }

    /// Runs one statement on `connection` (inside a transaction), its rows unread.
    func execute(_ query: PostgresQuery, on connection: PostgresConnection) async throws {
        Self.noteForPlans(query, by: writerId)
        try await connection.query(query, logger: logger)
    }

    /// Keeps `query` for the query-plan tests, which explain every statement the engine issues (debug builds only).
    static func noteForPlans(_ query: PostgresQuery, by writer: String) {
        #if DEBUG
        PostgresStatements.record(query, by: writer)
        #endif
    }

    private static func collect(_ sequence: PostgresRowSequence) async throws -> [PGRow] {
        var rows: [PGRow] = []
        for try await row in sequence { rows.append(PGRow(row)) }
        return rows
    }

    /// Runs `body` in a transaction, then moves the change counter (after the commit, so a reader that sees it
    /// move reads what was committed).
    func write<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let result = try await transaction(body)
        try await pool.client.query("SELECT nextval('hooktop_changes')", logger: logger)
        return result
    }

    /// Runs `body` in a transaction; an error `body` threw (a refusal, a missing row) comes out as itself once the
    /// transaction is rolled back, not wrapped. A write on a log opened read-only is refused with
    /// `HooktopError.readOnly`, as SQLite refuses it.
    func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await pool.client.withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            if let closureError = error.closureError, error.rollbackError == nil {
                if let refused = closureError as? PSQLError, refused.serverInfo?[.sqlState] == "25006" {
                    throw HooktopError(.readOnly, "the database is open read-only")
                }
                throw closureError
            }
            throw error
        }
    }

    /// A number that moves whenever any process committed a write (`hooktop_changes`, a sequence: no row to lock):
    /// how many values the sequence has handed out (its `last_value` alone does not move on the first `nextval`,
    /// which returns the start value it already showed), plus every wake-up notification received.
    public func changeCounter() async throws -> Int64 {
        try await (rows("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM hooktop_changes").first?.int64(0) ?? 0)
            + wakeups.received
    }

    /// Calls `wake` whenever a process notifies that it committed work that may be due, and once each time the
    /// listening connection (opened by the first call) opens; never with the URL's `poll_only`.
    public func watchForWork(_ wake: @escaping @Sendable () -> Void) {
        wakeups.onNotification(wake)
    }

    /// Wake-up notifications received from processes that committed work (this one's included).
    public var notificationsReceived: Int64 { wakeups.received }

    /// Whether this engine's listening connection is open (see `watchForWork`).
    public var isListening: Bool { wakeups.listening }

    // MARK: Endpoints

    static let endpointColumns = """
        id, url, description, status, disabled_reason, event_types, secret, previous_secret, \
        previous_secret_expires_at, max_in_flight, timeout_ms, allow_private, created_at, updated_at, connection, \
        rate_limit
        """

    static func endpoint(_ row: PGRow) throws -> Endpoint {
        let types = try row.text(5)
        return Endpoint(
            id: try row.text(0), url: try row.text(1), description: try row.text(2),
            status: EndpointStatus(rawValue: try row.text(3)) ?? .disabled, disabledReason: try row.optionalText(4),
            eventTypes: types.isEmpty ? [] : types.split(separator: ",").map(String.init), secret: try row.text(6),
            previousSecret: try row.optionalText(7), previousSecretExpiresAt: try row.optionalDate(8),
            maxInFlight: try row.int(9), timeoutMilliseconds: try row.int(10), allowPrivateDestination: try row.bool(11),
            connection: ConnectionSettings.fromStored(try row.text(14)), rateLimit: try row.optionalInt(15),
            createdAt: try row.date(12), updatedAt: try row.date(13))
    }

    public func endpoints() async throws -> [Endpoint] {
        try await rows("SELECT \(unescaped: Self.endpointColumns) FROM endpoints ORDER BY created_at, id").map(Self.endpoint)
    }

    public func endpoint(id: String) async throws -> Endpoint? {
        try await rows("SELECT \(unescaped: Self.endpointColumns) FROM endpoints WHERE id = \(id)").first.map(Self.endpoint)
    }
}

/// One row, read by column position as the SQLite engine reads its rows. Times are milliseconds since the epoch.
struct PGRow: Sendable {
    let row: PostgresRandomAccessRow

    init(_ row: PostgresRow) { self.row = row.makeRandomAccess() }

    func text(_ index: Int) throws -> String { try row[index].decode(String.self) }
    func optionalText(_ index: Int) throws -> String? { try row[index].decode(String?.self) }
    func int64(_ index: Int) throws -> Int64 { try row[index].decode(Int64.self) }
    func optionalInt64(_ index: Int) throws -> Int64? { try row[index].decode(Int64?.self) }
    func int(_ index: Int) throws -> Int { try row[index].decode(Int.self) }
    func optionalInt(_ index: Int) throws -> Int? { try row[index].decode(Int?.self) }
    func bool(_ index: Int) throws -> Bool { try row[index].decode(Bool.self) }
    func date(_ index: Int) throws -> Date { Date(milliseconds: try int64(index)) }
    func optionalDate(_ index: Int) throws -> Date? { try optionalInt64(index).map { Date(milliseconds: $0) } }
}

/// The whole engine seam: reads, operators' writes, the dispatcher's side and alerts.
extension PostgresEngine: DeliveryEngine {}
