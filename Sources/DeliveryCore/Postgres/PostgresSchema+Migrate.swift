import Foundation
import Logging
import PostgresNIO

extension PostgresSchema {
    /// Brings the database's schema to this build's version, in one transaction under an advisory lock (another
    /// process migrating at the same time waits, then finds nothing left to do).
    ///
    /// A database without hooktop's version table is laid out only when it holds no tables: another application's
    /// database is refused whole.
    /// - Returns: the version found before migrating (0 for a new log).
    /// - Throws: `HooktopError.database` when the schema is newer than this build knows (nothing is written) or a
    ///   migration fails (then nothing of it was applied); `.invalidInput` for another application's database.
    @discardableResult
    static func migrate(_ connection: PostgresConnection, location: String, logger: Logger, now: Date = Date())
        async throws -> Int
    {
        if let found = try await installedVersion(connection, logger: logger), found >= version {
            try check(found, location: location)
            return found
        }
        // Migrations may rewrite large tables: no statement timeout for them.
        return try await withoutTimeout(connection, logger: logger) {
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockNamespace), 1)", logger: logger)
            // Read again under the lock: another process may have migrated meanwhile.
            let found = try await installedVersion(connection, logger: logger)
            if found == nil {
                try await refuseForeignTables(connection, location: location, logger: logger)
                try await connection.execute(
                    """
                    CREATE TABLE hooktop_schema (
                        version integer PRIMARY KEY,
                        applied_at bigint NOT NULL,
                        hooktop text NOT NULL
                    )
                    """, logger: logger)
            }
            let current = found ?? 0
            try check(current, location: location)
            for index in current..<version {
                for statement in migrations[index] {
                    try await connection.execute(statement, logger: logger)
                }
                try await connection.query(
                    "INSERT INTO hooktop_schema (version, applied_at, hooktop) VALUES (\(index + 1), \(now.milliseconds), \(HooktopVersion.current))",
                    logger: logger)
            }
            if current < version {
                logger.info("migrating the PostgreSQL schema", metadata: ["from": "\(current)", "to": "\(version)"])
            }
            return current
        }
    }

    /// Runs `body` in a transaction without a statement timeout (schema changes wait for their locks and may take
    /// long); rolled back when `body` throws.
    private static func withoutTimeout<T>(
        _ connection: PostgresConnection, logger: Logger, _ body: () async throws -> T
    ) async throws -> T {
        try await connection.execute("BEGIN", logger: logger)
        do {
            try await connection.execute("SET LOCAL statement_timeout = 0", logger: logger)
            let result = try await body()
            try await connection.execute("COMMIT", logger: logger)
            return result
        } catch {
            try? await connection.execute("ROLLBACK", logger: logger)
            throw error
        }
    }

    /// Checks that a reader can use the schema as it is: present, and of this build's version.
    /// - Throws: `HooktopError.notFound` without a hooktop log, `.database` for an older or newer schema.
    static func checkCurrent(_ connection: PostgresConnection, location: String, logger: Logger) async throws {
        guard let found = try await installedVersion(connection, logger: logger) else {
            throw HooktopError(
                .notFound, "no hooktop log in \(location) (start `hooktop serve` on it once to create one)")
        }
        try check(found, location: location)
        guard found == version else {
            throw HooktopError(
                .database,
                "\(location) has schema v\(found), older than this hooktop's v\(version): open it once for writing (or start `hooktop serve`) to upgrade it")
        }
    }

    /// The newest migration applied, or nil when the database has no hooktop version table.
    static func installedVersion(_ connection: PostgresConnection, logger: Logger) async throws -> Int? {
        // Read from the catalog table (a fresh snapshot), not by `to_regclass`: its cached "no such table" from a look
        // before the migration lock may outlive another process's migration committed meanwhile.
        let exists = try await connection.query(
            """
            SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relname = 'hooktop_schema' AND n.nspname = current_schema())
            """, logger: logger)
        for try await present in exists.decode(Bool.self) where !present { return nil }
        let rows = try await connection.query("SELECT coalesce(max(version), 0) FROM hooktop_schema", logger: logger)
        for try await found in rows.decode(Int.self) { return found }
        return 0
    }

    /// Refuses a schema newer than this build: its writers may expect what this build does not do.
    static func check(_ found: Int, location: String) throws {
        guard found <= version else {
            throw HooktopError(
                .database,
                "\(location) has schema v\(found), newer than this hooktop (v\(version)): use the newer hooktop")
        }
    }

    private static func refuseForeignTables(_ connection: PostgresConnection, location: String, logger: Logger)
        async throws
    {
        let rows = try await connection.query(
            """
            SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
            ORDER BY c.relname LIMIT 4
            """, logger: logger)
        var tables: [String] = []
        for try await name in rows.decode(String.self) { tables.append(name) }
        guard tables.isEmpty else {
            throw HooktopError(
                .invalidInput,
                "\(location) is not a hooktop database: it holds another application's tables (\(tables.prefix(3).joined(separator: ", "))\(tables.count > 3 ? ", ..." : ""))")
        }
    }

    /// Makes the log's day partitions from the day (UTC) of `from` through `days` days, those missing.
    /// - Returns: how many tables were made.
    @discardableResult
    static func createPartitions(_ connection: PostgresConnection, from: Date, days: Int, logger: Logger)
        async throws -> Int
    {
        try await withoutTimeout(connection, logger: logger) {
            let rows = try await connection.query(
                "SELECT hooktop_create_partitions(DATE '1970-01-01' + \(Int32(day(of: from))), \(Int32(days)))",
                logger: logger)
            for try await made in rows.decode(Int.self) { return made }
            return 0
        }
    }

    /// The day (UTC) of `date`, counted from the epoch: the day partition its log rows go into.
    static func day(of date: Date) -> Int64 {
        let milliseconds = date.milliseconds
        return milliseconds >= 0 ? milliseconds / 86_400_000 : (milliseconds + 1) / 86_400_000 - 1
    }
}

extension PostgresConnection {
    /// Runs one statement of fixed text (no parameters).
    func execute(_ sql: String, logger: Logger) async throws {
        try await query(PostgresQuery(unsafeSQL: sql), logger: logger)
    }
}
