import DeliveryCore
import Foundation

/// The engines a log can be in, for tests that run on each: `@Test(arguments: TestEngine.allCases)`.
///
/// ```swift
/// try await engine.withEngine { log in
///     let operations = Operations(engine: log)
///     ...
/// }
/// ```
public enum TestEngine: String, CaseIterable, Sendable {
    case sqlite, postgres

    /// A new, empty log: a file in a temporary folder, or a database of `PostgresServer.shared` (a copy of one
    /// migrated once). Call `remove()` when done (or use `withLog`).
    public func makeLog() async throws -> TestLog {
        switch self {
        case .sqlite:
            let database = try TemporaryDatabase()
            return TestLog(kind: self, location: database.path, place: .file(database))
        case .postgres:
            let url = try await PostgresServer.shared.makeLogDatabase()
            return TestLog(kind: self, location: url.full, place: .database(url))
        }
    }

    /// Runs `body` with a new, empty log, removed afterwards.
    public func withLog<T>(_ body: (TestLog) async throws -> T) async throws -> T {
        let log = try await makeLog()
        let outcome: Result<T, any Error>
        do { outcome = .success(try await body(log)) } catch { outcome = .failure(error) }
        do {
            try await log.remove()
        } catch {
            // A failure to remove is told only when nothing failed before it.
            if case .success = outcome { throw error }
        }
        return try outcome.get()
    }

    /// Runs `body` with an engine on a new, empty log; the engine is closed and the log removed afterwards.
    public func withEngine<T>(_ body: (any DeliveryEngine) async throws -> T) async throws -> T {
        try await withLog { log in try await log.withEngine(body) }
    }
}

/// A log made for a test.
public struct TestLog: Sendable {
    /// Where a log lives: the file's folder is removed with its `TemporaryDatabase`; a database is dropped.
    enum Place: Sendable {
        case file(TemporaryDatabase)
        case database(PostgresURL)
    }

    public let kind: TestEngine
    /// Its `--db` value.
    public let location: String
    let place: Place

    /// Opens the log: a new engine, with a connection (or a pool of at most four) of its own, each call. A
    /// read-only one takes no writes.
    public func open(readOnly: Bool = false) async throws -> any DeliveryEngine {
        switch place {
        case .file(let database):
            return try SQLiteEngine(path: database.path, readOnly: readOnly)
        case .database(let url):
            var configuration = PostgresPool.Configuration()
            configuration.readOnly = readOnly
            // Many tests run at once, each on a database of its own, all on one server.
            configuration.maximumConnections = 4
            return try await PostgresEngine.open(url, configuration: configuration, logger: quietLogger)
        }
    }

    /// Runs `body` with a new engine on the log, closed afterwards.
    public func withEngine<T>(readOnly: Bool = false, _ body: (any DeliveryEngine) async throws -> T) async throws -> T {
        let engine = try await open(readOnly: readOnly)
        do {
            let result = try await body(engine)
            await engine.close()
            return result
        } catch {
            await engine.close()
            throw error
        }
    }

    /// Drops a PostgreSQL log's database, closing any session still on it (a file goes with its folder when the last
    /// copy of this value is released).
    public func remove() async throws {
        if case .database(let url) = place { try await PostgresServer.shared.dropDatabase(url) }
    }
}
