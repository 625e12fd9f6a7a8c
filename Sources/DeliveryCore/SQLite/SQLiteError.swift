import CSQLite

/// A failed SQLite call: the result code, SQLite's message and the statement.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public var sql: String?

    public var description: String {
        "database error \(code): \(message)" + (sql.map { " (in \($0.prefix(80)))" } ?? "")
    }

    /// The primary result code: `SQLITE_BUSY`, `SQLITE_CONSTRAINT`, ...
    public var primaryCode: Int32 { code & 0xff }
    public var isConstraintViolation: Bool { primaryCode == SQLITE_CONSTRAINT }
    /// A UNIQUE or PRIMARY KEY constraint refused the row: the key is taken (the extended codes
    /// `SQLITE_CONSTRAINT_UNIQUE` and `SQLITE_CONSTRAINT_PRIMARYKEY`, which Swift does not import).
    public var isKeyTaken: Bool { code == SQLITE_CONSTRAINT | (8 << 8) || code == SQLITE_CONSTRAINT | (6 << 8) }
    public var isBusy: Bool { primaryCode == SQLITE_BUSY || primaryCode == SQLITE_LOCKED }
}
