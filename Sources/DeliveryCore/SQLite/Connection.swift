import CSQLite
import Foundation

/// One SQLite connection. Not thread-safe: `Store` serialises all use of it.
final class Connection {
    let handle: OpaquePointer
    let path: String
    private var statements: [String: Statement] = [:]

    /// SQLite's process-wide settings, applied once before the first connection opens.
    private static let configured: Int32 = hooktop_sqlite_configure()

    /// Opens (and with `create`, creates) the database at `path`.
    init(path: String, readOnly: Bool, create: Bool) throws {
        _ = Self.configured
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        if readOnly {
            flags |= SQLITE_OPEN_READONLY
        } else {
            flags |= SQLITE_OPEN_READWRITE
            if create { flags |= SQLITE_OPEN_CREATE }
        }
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(db)
            throw SQLiteError(code: rc, message: message, sql: nil)
        }
        self.handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
        _ = hooktop_sqlite_lookaside(db, 1200, 1000)
    }

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Turns a result code other than OK/ROW/DONE into a `SQLiteError`.
    @discardableResult
    func check(_ rc: Int32, sql: String? = nil) throws -> Int32 {
        switch rc & 0xff {
        case SQLITE_OK, SQLITE_ROW, SQLITE_DONE: return rc
        default: throw SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle)), sql: sql)
        }
    }

    /// Runs one or more statements without results.
    func execute(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &error)
        if rc != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(error)
            throw SQLiteError(code: rc, message: message, sql: sql)
        }
    }

    /// A prepared statement for `sql`, cached for reuse; its bindings are cleared.
    func prepare(_ sql: String) throws -> Statement {
        if let statement = statements[sql] {
            statement.reset()
            return statement
        }
        let statement = try Statement(connection: self, sql: sql)
        statements[sql] = statement
        return statement
    }

    /// Runs `sql` with `arguments` and returns the number of changed rows.
    @discardableResult
    func run(_ sql: String, _ arguments: [SQLValue] = []) throws -> Int {
        let statement = try prepare(sql)
        try statement.bind(arguments)
        while try statement.step() {}
        return Int(sqlite3_changes(handle))
    }

    /// Runs `sql` and maps each row.
    func query<T>(_ sql: String, _ arguments: [SQLValue] = [], _ map: (SQLiteRow) throws -> T) throws -> [T] {
        let statement = try prepare(sql)
        try statement.bind(arguments)
        var results: [T] = []
        while try statement.step() {
            results.append(try map(SQLiteRow(statement: statement)))
        }
        return results
    }

    /// The first row of `sql`, mapped, or nil.
    func queryOne<T>(_ sql: String, _ arguments: [SQLValue] = [], _ map: (SQLiteRow) throws -> T) throws -> T? {
        let statement = try prepare(sql)
        try statement.bind(arguments)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return try map(SQLiteRow(statement: statement))
    }

    /// A single integer (e.g. a COUNT or a PRAGMA), or 0.
    func scalar(_ sql: String, _ arguments: [SQLValue] = []) throws -> Int64 {
        try queryOne(sql, arguments) { $0.int64(0) } ?? 0
    }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Runs `body` in a transaction: IMMEDIATE (takes the write lock at once) by default.
    func transaction<T>(immediate: Bool = true, _ body: () throws -> T) throws -> T {
        // Prepared once and kept, like every other statement (`execute` would compile them on each transaction).
        try run(immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED")
        do {
            let result = try body()
            try run("COMMIT")
            return result
        } catch {
            _ = try? run("ROLLBACK")
            throw error
        }
    }

    /// Interrupts a running query from another thread.
    func interrupt() { sqlite3_interrupt(handle) }
}

@available(*, unavailable)
extension Connection: Sendable {}
