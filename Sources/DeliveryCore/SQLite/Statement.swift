import CSQLite
import Foundation

/// A value bound to a statement parameter.
enum SQLValue {
    case null
    case int(Int64)
    case double(Double)
    case text(String)

    static func from(_ value: Int?) -> SQLValue { value.map { .int(Int64($0)) } ?? .null }
    static func from(_ value: Int64?) -> SQLValue { value.map { .int($0) } ?? .null }
    static func from(_ value: String?) -> SQLValue { value.map { .text($0) } ?? .null }
    static func from(_ value: Date?) -> SQLValue { value.map { .int($0.milliseconds) } ?? .null }
}

/// A prepared statement, finalised when released.
final class Statement {
    let handle: OpaquePointer
    let sql: String
    unowned let connection: Connection
    /// Where bound text is copied and kept until the next binding (SQLITE_STATIC): SQLite then makes no copy of its
    /// own, one allocation and one free per text parameter on every run of the statement.
    private var arena: UnsafeMutableRawPointer
    private var arenaCapacity = 256

    init(connection: Connection, sql: String) throws {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(connection.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            throw SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(connection.handle)), sql: sql)
        }
        self.handle = statement
        self.sql = sql
        self.connection = connection
        self.arena = .allocate(byteCount: arenaCapacity, alignment: 16)
    }

    deinit {
        sqlite3_finalize(handle)
        arena.deallocate()
    }

    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    func bind(_ values: [SQLValue]) throws {
        assert(sqlite3_stmt_busy(handle) == 0, "a statement is reset before it is bound again")
        var textBytes = 0
        for case .text(let text) in values { textBytes += text.utf8.count }
        if textBytes > arenaCapacity {
            // Nothing bound points into the old arena any more: every statement is reset before it is bound again.
            sqlite3_clear_bindings(handle)
            arena.deallocate()
            arenaCapacity = max(textBytes, arenaCapacity * 2)
            arena = .allocate(byteCount: arenaCapacity, alignment: 16)
        }
        var used = 0
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(handle, index)
            case .int(let v): rc = sqlite3_bind_int64(handle, index, v)
            case .double(let v): rc = sqlite3_bind_double(handle, index, v)
            case .text(let v):
                var text = v
                // An empty text still gets an address: a NULL pointer would bind NULL instead of ''.
                let destination = arena + used
                let count = text.withUTF8 { bytes in
                    if let base = bytes.baseAddress { destination.copyMemory(from: base, byteCount: bytes.count) }
                    return bytes.count
                }
                used += count
                rc = sqlite3_bind_text(handle, index, destination.assumingMemoryBound(to: CChar.self), Int32(count), nil)
            }
            try connection.check(rc, sql: sql)
        }
    }

    /// Advances to the next row; `false` when done.
    func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE {
            sqlite3_reset(handle)
            return false
        }
        sqlite3_reset(handle)
        try connection.check(rc, sql: sql)
        return false
    }
}

@available(*, unavailable)
extension Statement: Sendable {}

/// The current row of a statement, read by column index.
struct SQLiteRow {
    let statement: Statement

    func isNull(_ index: Int32) -> Bool { sqlite3_column_type(statement.handle, index) == SQLITE_NULL }
    func int64(_ index: Int32) -> Int64 { sqlite3_column_int64(statement.handle, index) }
    func int(_ index: Int32) -> Int { Int(sqlite3_column_int64(statement.handle, index)) }
    func double(_ index: Int32) -> Double { sqlite3_column_double(statement.handle, index) }
    func optionalInt(_ index: Int32) -> Int? { isNull(index) ? nil : int(index) }
    func optionalInt64(_ index: Int32) -> Int64? { isNull(index) ? nil : int64(index) }
    func text(_ index: Int32) -> String {
        guard let pointer = sqlite3_column_text(statement.handle, index) else { return "" }
        let count = Int(sqlite3_column_bytes(statement.handle, index))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }
    func optionalText(_ index: Int32) -> String? { isNull(index) ? nil : text(index) }
    func date(_ index: Int32) -> Date { Date(milliseconds: int64(index)) }
    func optionalDate(_ index: Int32) -> Date? { isNull(index) ? nil : date(index) }
}

extension Date {
    /// Milliseconds since 1970, the unit every timestamp in the database uses.
    /// Clamped to ±10^15 ms so that `distantPast`/`distantFuture` arithmetic never traps.
    var milliseconds: Int64 {
        let value = (timeIntervalSince1970 * 1000).rounded()
        guard value.isFinite else { return value > 0 ? 1_000_000_000_000_000 : -1_000_000_000_000_000 }
        return Int64(max(-1e15, min(1e15, value)))
    }
    init(milliseconds: Int64) { self.init(timeIntervalSince1970: Double(milliseconds) / 1000) }
}
