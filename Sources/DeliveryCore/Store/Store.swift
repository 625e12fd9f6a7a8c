import CSQLite
import Foundation
import Synchronization

/// The delivery log: one SQLite database shared by the daemon, the dashboard and the CLI.
///
/// Calls are serialised on one connection; other processes reach the same file through their own `Store`.
/// WAL mode lets readers proceed while a writer commits, and `busy_timeout` makes writers queue up.
// @unchecked Sendable: the connection is only touched while `lock` is held (see `withConnection`).
public final class Store: @unchecked Sendable {
    /// The database file.
    public let path: String
    /// Opened read-only: every write is refused with `HooktopError.readOnly`.
    public let isReadOnly: Bool
    private let connection: Connection
    private let lock = NSLock()
    /// The thread `offload` runs work on: the engine's own.
    private let queue = DispatchQueue(label: "hooktop.store")
    /// Tasks that prefer this run on the store's thread, so their calls into the store wake no other thread.
    let executor: QueueTaskExecutor
    /// Writes made through this store, added to `PRAGMA data_version` (which counts only other connections').
    /// Guarded by `lock`.
    private var localWrites: Int64 = 0
    /// Why the last write through this store failed for lack of space or an I/O error; nil once one succeeds.
    private let writeFailure = Mutex<String?>(nil)

    /// Opens the database at `path`.
    ///
    /// Only a command that sets up a log passes `create`: it may create the file (mode 0600) or lay hooktop's schema
    /// into an existing empty one. Every other caller needs a hooktop database already there. A file holding another
    /// application's tables is never touched. A file opened for writing is tightened to mode 0600, since hooktop
    /// writes signing secrets into it.
    /// - Throws: `HooktopError` with a one-line reason when the file is missing, unreadable, not a hooktop database,
    ///   or readable by others and cannot be tightened.
    public init(path: String, readOnly: Bool = false, create: Bool = true) throws {
        self.path = path
        self.executor = QueueTaskExecutor(queue: queue)
        self.isReadOnly = readOnly
        let exists = FileManager.default.fileExists(atPath: path)
        if !exists {
            if readOnly || !create { throw Self.missing(path) }
            let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
            if fd < 0 {
                throw HooktopError(.database, "cannot create database \(path): \(String(cString: strerror(errno)))")
            }
            close(fd)
        } else if access(path, readOnly ? R_OK : (R_OK | W_OK)) != 0 {
            throw HooktopError(.database, "cannot open database \(path): \(String(cString: strerror(errno)))")
        }
        let connection: Connection
        do {
            connection = try Connection(path: path, readOnly: readOnly, create: false)
            try Self.configure(connection, path: path, readOnly: readOnly, create: create)
        } catch let error as SQLiteError {
            throw HooktopError(.database, "cannot open database \(path): \(error.message)")
        }
        // Only a file found to be a hooktop log (or made one) is tightened: another application's file is left alone.
        if !readOnly { try Self.tightenMode(path) }
        self.connection = connection
    }

    private static func missing(_ path: String) -> HooktopError {
        HooktopError(.notFound, "no hooktop database at \(path) (start `hooktop serve` or `hooktop demo`, or pass --db)")
    }

    /// Makes the database and its WAL files readable by their owner only, or refuses when that cannot be done.
    private static func tightenMode(_ path: String) throws {
        for file in [path, path + "-wal", path + "-shm"] {
            var info = stat()
            guard stat(file, &info) == 0, info.st_mode & 0o077 != 0 else { continue }
            if chmod(file, 0o600) != 0 {
                throw HooktopError(
                    .database,
                    "\(file) is readable by others (mode \(String(info.st_mode & 0o777, radix: 8))) and cannot be tightened to 0600: \(String(cString: strerror(errno)))")
            }
        }
    }

    private static func configure(_ db: Connection, path: String, readOnly: Bool, create: Bool) throws {
        sqlite3_busy_timeout(db.handle, 5_000)
        // Validates the file is a database before anything else touches it.
        let version = try db.scalar("PRAGMA user_version")
        if version == 0 {
            // Not a hooktop database (yet): another application's file is refused whole; an empty one is a new log
            // only for the commands that set one up.
            let tables = try db.query(
                "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name LIMIT 4", []) { $0.text(0) }
            if !tables.isEmpty {
                throw HooktopError(
                    .invalidInput,
                    "\(path) is not a hooktop database: it holds another application's tables (\(tables.prefix(3).joined(separator: ", "))\(tables.count > 3 ? ", ..." : ""))")
            }
            if readOnly || !create { throw missing(path) }
        }
        if readOnly {
            guard version <= Schema.version else {
                throw SQLiteError(code: SQLITE_ERROR, message: newerSchema(version), sql: nil)
            }
            // Readers query what the current schema has; an older log is upgraded by the first writer.
            guard version == Schema.version else {
                throw HooktopError(
                    .database,
                    "\(path) has schema v\(version), older than this hooktop's v\(Schema.version): open it once without --read-only (or start `hooktop serve`) to upgrade it")
            }
            return
        }
        if try db.queryOne("PRAGMA journal_mode = WAL", [], { $0.text(0) }) != "wal" {
            throw SQLiteError(code: SQLITE_ERROR, message: "cannot switch to WAL journal mode", sql: nil)
        }
        try db.execute("PRAGMA synchronous = NORMAL")
        try db.execute("PRAGMA cache_size = -16000")
        // The automatic checkpoint copies the WAL into the database once it holds this many pages (16 MiB; SQLite's
        // default is 1,000). Small commits rewrite the same index pages over and over: checkpointing less often
        // copies each of them once for many commits, and syncs the file a quarter as often.
        try db.execute("PRAGMA wal_autocheckpoint = 4000")
        // Migrations run with a new connection's defaults: foreign keys off (a rebuilt table's drop must cascade
        // nowhere; they cannot change inside the migration's transaction, so references are checked before it
        // commits) and temporary storage in files (a large log's index builds sort there, not in memory).
        try migrate(db, from: Int(version), path: path)
        try db.execute("PRAGMA foreign_keys = ON")
        try db.execute("PRAGMA temp_store = MEMORY")
    }

    private static func newerSchema(_ version: Int64) -> String {
        "database schema v\(version) is newer than this hooktop (v\(Schema.version))"
    }

    private static func migrate(_ db: Connection, from version: Int, path: String) throws {
        guard version < Schema.version else {
            if version > Schema.version {
                throw SQLiteError(code: SQLITE_ERROR, message: newerSchema(Int64(version)), sql: nil)
            }
            return
        }
        try db.transaction {
            // Re-read inside the write lock: another process may have migrated meanwhile.
            let current = Int(try db.scalar("PRAGMA user_version"))
            for index in current..<Schema.version {
                try db.execute(Schema.migrations[index])
            }
            if current < Schema.apiTokensVersion { try importTokenFile(db, databasePath: path, now: Date()) }
            if let broken = try db.queryOne("PRAGMA foreign_key_check", [], { $0.text(0) }) {
                throw SQLiteError(code: SQLITE_CONSTRAINT, message: "migration left a broken reference in \(broken)", sql: nil)
            }
            try db.execute("PRAGMA user_version = \(Schema.version)")
        }
    }

    private func withConnection<T>(_ body: (Connection) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(connection)
    }

    /// Runs `body` with the connection, outside any transaction.
    func read<T>(_ body: (Connection) throws -> T) throws -> T {
        try withConnection { db in
            do {
                return try body(db)
            } catch let error as SQLiteError {
                throw HooktopError(.database, error.description)
            }
        }
    }

    /// Runs `body` in an immediate transaction; refused when read-only.
    /// - Throws: `HooktopError.storageFull` when the disk is full, `HooktopError.database` for other SQLite errors.
    func write<T>(_ body: (Connection) throws -> T) throws -> T {
        guard !isReadOnly else { throw HooktopError(.readOnly, "the database is open read-only") }
        return try withConnection { db in
            do {
                let before = sqlite3_total_changes64(db.handle)
                let result = try db.transaction {
                    // A newer hooktop may have migrated the file since this process opened it; writing on would
                    // miss what the new schema expects of writers (v4 moved the counting of inserts from triggers
                    // into the statements, for one), so this process stops writing instead.
                    let version = try db.scalar("PRAGMA user_version")
                    guard version <= Schema.version else {
                        throw HooktopError(.database, Self.newerSchema(version) + ": restart with the newer hooktop")
                    }
                    return try body(db)
                }
                if sqlite3_total_changes64(db.handle) != before { localWrites += 1 }
                writeFailure.withLock { $0 = nil }
                return result
            } catch let error as SQLiteError {
                switch error.primaryCode {
                case SQLITE_FULL:
                    writeFailure.withLock { $0 = "disk full" }
                    throw HooktopError(.storageFull, "the log is not writable: disk full (\(error.message))")
                case SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_READONLY:
                    writeFailure.withLock { $0 = error.message }
                    throw HooktopError(.database, error.description)
                default:
                    throw HooktopError(.database, error.description)
                }
            }
        }
    }

    /// Whether the log takes writes: nil when it does, else the reason (`disk full`, an I/O error). Judged by the
    /// last write through this store and by the free space on the database's file system, so that a reader (the
    /// dashboard) sees a full disk too.
    public func writeProblem() -> String? {
        if let failure = writeFailure.withLock({ $0 }) { return failure }
        return Self.diskSpaceProblem(at: path)
    }

    /// Below this much free space, SQLite cannot be counted on to grow the log or its WAL.
    static let minimumFreeBytes: UInt64 = 4 << 20

    /// `disk full` when the file system holding `path` has less than `minimumFreeBytes` free for this user.
    static func diskSpaceProblem(at path: String) -> String? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let free = UInt64(info.f_bavail) * UInt64(info.f_frsize)
        return free < minimumFreeBytes ? "disk full (\(free / 1024) KiB free)" : nil
    }

    /// Runs `body` (store calls) on the store's own thread and returns its result, so that waiting for SQLite never
    /// holds one of Swift's cooperative threads.
    public func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// A number that changes whenever any process commits to the database.
    public func changeCounter() throws -> Int64 {
        try read { db in try db.scalar("PRAGMA data_version") + localWrites }
    }

    /// Checkpoints the WAL into the database file (on shutdown).
    public func checkpoint() {
        _ = try? read { db in try db.execute("PRAGMA wal_checkpoint(TRUNCATE)") }
    }
}
