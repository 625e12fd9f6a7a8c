@testable import DeliveryCore
import Foundation
import HooktopTesting
import Logging
import PostgresNIO
import Testing

/// Opening a PostgreSQL log: a pool with hooktop's session limits, clear errors when the server cannot be used.
struct PostgresPoolTests {
    let logger = quietLogger

    @Test func opensQueriesAndCloses() async throws {
        try await PostgresServer.shared.withDatabase { url in
            let pool = try await PostgresPool.open(url, logger: logger)
            let rows = try await pool.client.query("SELECT 1", logger: logger)
            for try await one in rows.decode(Int.self) { #expect(one == 1) }
            #expect(try await setting(pool, "statement_timeout") == "30s")
            #expect(try await setting(pool, "idle_in_transaction_session_timeout") == "10s")
            #expect(try await setting(pool, "application_name") == "hooktop")
            await pool.close()
            await #expect(throws: (any Error).self) { try await pool.client.query("SELECT 1", logger: logger) }
        }
    }

    @Test func sessionsCarryTheConfiguredTimeouts() async throws {
        try await PostgresServer.shared.withDatabase { url in
            var configuration = PostgresPool.Configuration()
            // Long enough that the session's own setup and reads never meet it on a loaded machine.
            configuration.statementTimeout = .seconds(1)
            configuration.idleInTransactionTimeout = .seconds(10)
            try await PostgresPool.with(url, configuration: configuration, logger: logger) { pool in
                let statement = try await setting(pool, "statement_timeout")
                let idle = try await setting(pool, "idle_in_transaction_session_timeout")
                #expect(statement == "1s")
                #expect(idle == "10s")
                let error = await #expect(throws: PSQLError.self) {
                    _ = try await pool.client.query("SELECT pg_sleep(5)", logger: logger).collect()
                }
                // The server's own reason: the 5 s sleep was cut by the timeout (no wall-clock bound, which a loaded
                // machine stretches).
                #expect(error?.serverInfo?[.message] == "canceling statement due to statement timeout")
            }
        }
    }

    @Test func overAUnixSocket() async throws {
        let directory = try #require(
            try await PostgresServer.shared.socketDirectory(),
            "HOOKTOP_TEST_PG_URL names a TCP address: give its socket (?host=/dir) to test connecting through one")
        try await PostgresServer.shared.withDatabase { url in
            let socket = try PostgresURL("postgres://postgres@/\(url.database)?host=\(directory)&port=\(url.port)")
            try await PostgresPool.with(socket, logger: logger) { pool in
                let rows = try await pool.client.query("SELECT inet_server_addr() IS NULL", logger: logger)
                for try await local in rows.decode(Bool.self) { #expect(local) }
            }
        }
    }

    @Test func aMissingDatabaseIsToldAtOnce() async throws {
        var url = try await PostgresServer.shared.serverURL()
        url.database = "no_such_database"
        let started = ContinuousClock.now
        let error = await #expect(throws: HooktopError.self) {
            try await PostgresPool.with(url, logger: logger) { _ in }
        }
        #expect(error?.code == .database)
        #expect(error?.message == "PostgreSQL at \(url.redacted): database \"no_such_database\" does not exist")
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test func anUnreachableServerIsToldWithoutThePassword() async throws {
        let port = try freeTCPPort()
        let url = try PostgresURL("postgres://hook:hunter2@127.0.0.1:\(port)/hooktop?connect_timeout=2")
        let started = ContinuousClock.now
        let error = await #expect(throws: HooktopError.self) {
            try await PostgresPool.with(url, logger: logger) { _ in }
        }
        #expect(error?.code == .database)
        #expect(error?.message.hasPrefix("PostgreSQL at postgres://hook:***@127.0.0.1:\(port)/hooktop: ") == true)
        #expect(error?.message.contains("hunter2") == false)
        #expect(error?.message.lowercased().contains("refused") == true, "\(error?.message ?? "")")
        // Told, not retried until some later timeout (a bound for a hang, loose enough for a loaded machine).
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    private func setting(_ pool: PostgresPool, _ name: String) async throws -> String? {
        let rows = try await pool.client.query("SELECT current_setting(\(name))", logger: logger)
        for try await value in rows.decode(String.self) { return value }
        return nil
    }
}
