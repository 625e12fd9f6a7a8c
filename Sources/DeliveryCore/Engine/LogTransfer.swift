import Foundation

/// What `hooktop db copy` needs of a storage engine: the log read out table by table in key order, a batch at a
/// time, and written into an empty log a batch at a time, whatever engine either side is.
///
/// Rows travel as `LogTable` lays them out, the same for every engine: the exporting engine gathers what it keeps
/// apart (PostgreSQL's per-writer counters and health, its queue rows), the importing one spreads it as its own write
/// path would. Leases are not copied: a delivery in flight comes out waiting and due at once.
public protocol LogTransfer: Sendable {
    /// Whether the log holds nothing an operator made: no endpoint, message, audit entry, alert or API token.
    func isEmptyLog() async throws -> Bool
    /// Up to `limit` rows of `table` whose key follows `cursor`'s (from the first when nil), in key order.
    /// A delivery in flight comes out waiting (its status before the claim where the engine knows it, else
    /// `pending`), due at `now`.
    func exportRows(_ table: LogTable, after cursor: LogRow?, limit: Int, now: Date) async throws -> [LogRow]
    /// Writes rows read from another log, in one transaction; a row whose parent row is missing (an attempt of a
    /// delivery no longer there) is skipped.
    /// - Returns: how many rows were written.
    func importRows(_ table: LogTable, _ rows: [LogRow], now: Date) async throws -> Int
    /// Once every table is in: rebuilds the status counters and the failure groups' counts from the deliveries
    /// (keeping each group's newest error), and moves the id sequences past the copied ids.
    func finishImport(now: Date) async throws
}

/// One value of a copied row: the log's columns hold integers (times are milliseconds), text or nothing.
public enum LogValue: Sendable, Equatable {
    case null
    case int(Int64)
    case text(String)
}

/// A row of a `LogTable`: its values in the order of the table's columns.
public typealias LogRow = [LogValue]

/// The tables a copy moves, in the order it moves them (parents before the rows that refer to them), each with the
/// columns every engine reads and writes it as. The names are SQLite's; where PostgreSQL keeps a column elsewhere
/// (an endpoint's health, a delivery's next attempt) or per writer (counters, stats), its engine gathers or spreads it.
/// Not copied: the status counters (rebuilt from the deliveries), dispatchers' heartbeats and leases (of processes
/// running on the source).
public enum LogTable: String, CaseIterable, Sendable {
    case endpoints
    case apiTokens = "api_tokens"
    case messages
    case deliveries
    case attempts
    case recoveries
    case recoveryDeliveries = "recovery_deliveries"
    case failureGroups = "failure_groups"
    case stats = "stats_minute"
    case audit
    case alerts

    /// What a column holds.
    public enum Kind: Sendable {
        case int
        case text
    }

    /// The columns, the key's first.
    public var columns: [(name: String, kind: Kind)] { Self.layouts[self]!.columns }

    /// The column names, in order.
    public var columnNames: [String] { columns.map(\.name) }

    /// How many leading columns make the key the rows are read in order of.
    public var keyCount: Int { Self.layouts[self]!.keyCount }

    /// The position of the column `name`.
    public func index(of name: String) -> Int { columns.firstIndex { $0.name == name }! }

    /// Rows moved at a time: a few thousand, fewer for attempts (each holds headers and a body excerpt).
    public var batchSize: Int { self == .attempts ? 1000 : 5000 }

    private static let layouts: [LogTable: (columns: [(name: String, kind: Kind)], keyCount: Int)] = [
        .endpoints: layout(
            """
            id text, url text, description text, status text, disabled_reason text, disabled_at int, event_types text,
            secret text, previous_secret text, previous_secret_expires_at int, max_in_flight int, timeout_ms int,
            allow_private int, connection text, rate_limit int, created_at int, updated_at int, last_attempt_at int,
            last_success_at int, failing_since int, last_error text
            """),
        .apiTokens: layout("id text, digest text, name text, created_at int, created_by text, revoked_at int"),
        .messages: layout("seq int, id text, event_type text, payload text, idempotency_key text, created_at int"),
        .deliveries: layout(
            """
            id int, message_seq int, message_created_at int, endpoint_id text, event_type text, status text,
            attempt_count int, manual_count int, next_attempt_at int, manual int, last_status_code int, last_error text,
            last_error_class text, last_latency_ms int, created_at int, updated_at int
            """),
        .attempts: layout(
            """
            id int, delivery_id int, number int, trigger text, started_at int, duration_ms int, request_headers text,
            response_status int, response_headers text, response_body text, error_class text, error_message text
            """),
        .recoveries: layout("id int, endpoint_id text, at int, total int"),
        .recoveryDeliveries: layout("recovery_id int, delivery_id int, message_created_at int", keyCount: 2),
        .failureGroups: layout(
            "endpoint_id text, error_class text, status_code int, dead int, retrying int, last_at int, last_error text",
            keyCount: 3),
        .stats: layout(
            "minute int, endpoint_id text, attempts int, successes int, failures int, latency_sum_ms int, "
                + (0..<LatencyBuckets.count).map { "h\($0) int" }.joined(separator: ", "),
            keyCount: 2),
        .audit: layout(
            """
            id int, at int, action text, object_type text, object_id text, detail text, os_user text, pid int, via text,
            origin text, tty text
            """),
        .alerts: layout(
            """
            seq int, id text, type text, object_id text, dedup_key text, at int, summary text, details text,
            status text, attempts int, next_attempt_at int, last_error text, sent_at int, sent_to text
            """),
    ]

    /// Columns from `name kind, …`.
    private static func layout(_ spec: String, keyCount: Int = 1)
        -> (columns: [(name: String, kind: Kind)], keyCount: Int)
    {
        let columns = spec.split(separator: ",").map { column -> (name: String, kind: Kind) in
            let parts = column.split(whereSeparator: \.isWhitespace)
            return (String(parts[0]), parts[1] == "int" ? .int : .text)
        }
        return (columns, keyCount)
    }
}
