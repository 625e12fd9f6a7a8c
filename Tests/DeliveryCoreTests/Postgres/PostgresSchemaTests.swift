@testable import DeliveryCore
import Foundation
import HooktopTesting
import Logging
import PostgresNIO
import Testing

/// The PostgreSQL schema on a real server: migrated once, by one of several processes, refused when newer.
struct PostgresSchemaTests {
    let logger = quietLogger

    @Test func migratesAFreshDatabaseThenDoesNothing() async throws {
        try await PostgresServer.shared.withDatabase { url in
            try await PostgresPool.withConnection(url) { connection in
                #expect(try await PostgresSchema.installedVersion(connection, logger: logger) == nil)
                #expect(try await PostgresSchema.migrate(connection, location: "test", logger: logger) == 0)
                #expect(try await PostgresSchema.installedVersion(connection, logger: logger) == PostgresSchema.version)
                let tables = try await strings(connection, "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                for table in [
                    "endpoints", "endpoint_health", "messages", "message_keys", "deliveries", "delivery_queue", "attempts",
                    "delivery_counts", "failure_groups", "stats_minute", "workers", "leases", "audit", "recoveries",
                    "recovery_deliveries", "alerts", "worker_minute", "hooktop_schema",
                ] {
                    #expect(tables.contains(table), "\(table)")
                }
                let partitioned = try await strings(
                    connection, "SELECT partrelid::regclass::text FROM pg_partitioned_table ORDER BY 1")
                #expect(partitioned == ["attempts", "deliveries", "messages"])

                // Again: nothing to do, nothing recorded.
                #expect(try await PostgresSchema.migrate(connection, location: "test", logger: logger) == PostgresSchema.version)
                #expect(try await strings(connection, "SELECT count(*)::text FROM hooktop_schema") == ["\(PostgresSchema.version)"])
            }
        }
    }

    @Test func twoProcessesStartingAtOnceMigrateOnce() async throws {
        try await PostgresServer.shared.withDatabase { url in
            // Two sessions, as two processes would have: one migrates, the other waits on the lock and finds it done.
            async let first = PostgresPool.withConnection(url) { connection in
                try await PostgresSchema.migrate(connection, location: "first", logger: logger)
            }
            async let second = PostgresPool.withConnection(url) { connection in
                try await PostgresSchema.migrate(connection, location: "second", logger: logger)
            }
            let found = try await [first, second].sorted()
            #expect(found == [0, PostgresSchema.version])
            let versions = try await PostgresPool.withConnection(url) { connection in
                try await strings(connection, "SELECT version::text FROM hooktop_schema ORDER BY 1")
            }
            #expect(versions == (1...PostgresSchema.version).map(String.init))
        }
    }

    /// A log laid out by the first release (schema v1) is brought to this version by the migrations after it, and
    /// keeps what it held.
    @Test func aVersionOneLogIsUpgraded() async throws {
        try await PostgresServer.shared.withDatabase { url in
            try await PostgresPool.withConnection(url) { connection in
                try await connection.execute(
                    "CREATE TABLE hooktop_schema (version integer PRIMARY KEY, applied_at bigint NOT NULL, hooktop text NOT NULL)",
                    logger: logger)
                for statement in PostgresSchema.migrations[0] { try await connection.execute(statement, logger: logger) }
                try await connection.execute("INSERT INTO hooktop_schema VALUES (1, 0, '0.9.0')", logger: logger)
                try await connection.execute(
                    "INSERT INTO workers (id, pid, host, started_at, heartbeat_at, version) VALUES ('w:old', 1, 'box', 0, 0, '0.9.0')",
                    logger: logger)
                #expect(try await PostgresSchema.migrate(connection, location: "test", logger: logger) == 1)
                #expect(try await strings(connection, "SELECT version::text FROM hooktop_schema ORDER BY 1")
                    == (1...PostgresSchema.version).map(String.init))
                #expect(try await strings(connection, "SELECT to_regclass('worker_minute')::text") == ["worker_minute"])
                #expect(try await strings(connection, "SELECT id FROM workers") == ["w:old"])
            }
        }
    }

    @Test func aNewerSchemaIsRefused() async throws {
        try await PostgresServer.shared.withDatabase { url in
            try await PostgresPool.withConnection(url) { connection in
                try await PostgresSchema.migrate(connection, location: "test", logger: logger)
                try await connection.query(
                    "INSERT INTO hooktop_schema (version, applied_at, hooktop) VALUES (\(PostgresSchema.version + 1), 0, '9.9.9')",
                    logger: logger)
            }
            for readOnly in [false, true] {
                var configuration = PostgresPool.Configuration()
                configuration.readOnly = readOnly
                let error = await #expect(throws: HooktopError.self) {
                    try await PostgresPool.with(url, configuration: configuration, logger: logger) { _ in }
                }
                #expect(error?.code == .database)
                #expect(
                    error?.message == "\(url.redacted) has schema v\(PostgresSchema.version + 1), newer than this hooktop (v\(PostgresSchema.version)): use the newer hooktop")
            }
            // Refused before writing: not even the coming days' partitions were made.
            let partitions = try await PostgresPool.withConnection(url) { connection in
                try await strings(connection, "SELECT count(*)::text FROM pg_inherits")
            }
            #expect(partitions == ["0"])
        }
    }

    @Test func anotherApplicationsDatabaseIsRefused() async throws {
        try await PostgresServer.shared.withDatabase { url in
            try await PostgresPool.withConnection(url) { connection in
                _ = try await connection.query("CREATE TABLE invoices (id int)", logger: logger)
            }
            let error = await #expect(throws: HooktopError.self) {
                try await PostgresPool.with(url, logger: logger) { _ in }
            }
            #expect(error?.code == .invalidInput)
            #expect(error?.message == "\(url.redacted) is not a hooktop database: it holds another application's tables (invoices)")
        }
    }

    @Test func aReaderNeedsACurrentSchema() async throws {
        try await PostgresServer.shared.withDatabase { url in
            var configuration = PostgresPool.Configuration()
            configuration.readOnly = true
            let missing = await #expect(throws: HooktopError.self) {
                try await PostgresPool.with(url, configuration: configuration, logger: logger) { _ in }
            }
            #expect(missing?.code == .notFound)
            try await PostgresPool.with(url, logger: logger) { _ in }
            try await PostgresPool.with(url, configuration: configuration, logger: logger) { pool in
                let rows = try await pool.client.query("SELECT count(*) FROM endpoints", logger: logger)
                for try await count in rows.decode(Int.self) { #expect(count == 0) }
            }
        }
    }

    @Test func dayPartitionsAreMadeAheadAndTakeTheirDaysRows() async throws {
        // 2026-03-10T12:00:00Z.
        let now = Date(timeIntervalSince1970: 1_773_144_000)
        try await PostgresServer.shared.withDatabase { url in
            try await PostgresPool.withConnection(url) { connection in
                try await PostgresSchema.migrate(connection, location: "test", logger: logger)
                #expect(PostgresSchema.day(of: now) == 20522)
                #expect(PostgresSchema.day(of: Date(timeIntervalSince1970: -1)) == -1)
                let made = try await PostgresSchema.createPartitions(
                    connection, from: now.addingTimeInterval(-86400), days: 9, logger: logger)
                #expect(made == 27)
                let messages = try await strings(
                    connection,
                    "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'messages'::regclass ORDER BY 1")
                #expect(messages == (9...17).map { String(format: "messages_202603%02d", $0) })
                // Made already: nothing more, also when two callers ask at once.
                async let again = PostgresSchema.createPartitions(connection, from: now, days: 8, logger: logger)
                let other = try await PostgresPool.withConnection(url) { other in
                    try await PostgresSchema.createPartitions(other, from: now, days: 9, logger: logger)
                }
                #expect(try await again == 0)
                #expect(other == 3)

                // A row lands in its day's partition; one outside every day is refused.
                let midnight = Int64(20522) * 86_400_000
                for (createdAt, partition) in [(midnight, "messages_20260310"), (midnight - 1, "messages_20260309")] {
                    let rows = try await connection.query(
                        """
                        INSERT INTO messages (id, event_type, payload, created_at)
                        VALUES ('msg_a', 'order.created', '{}', \(createdAt)) RETURNING tableoid::regclass::text
                        """, logger: logger)
                    for try await table in rows.decode(String.self) { #expect(table == partition) }
                }
                await #expect(throws: PSQLError.self) {
                    try await connection.query(
                        "INSERT INTO messages (id, event_type, payload, created_at) VALUES ('msg_b', 'x', '{}', 0)",
                        logger: logger)
                }
                // Each day has the parent's indexes and the deliveries' reference to their endpoint.
                let indexes = try await strings(
                    connection, "SELECT indexname::text FROM pg_indexes WHERE tablename = 'deliveries_20260310' ORDER BY 1")
                #expect(indexes.count == 7)
                let references = try await strings(
                    connection,
                    "SELECT confrelid::regclass::text FROM pg_constraint WHERE conrelid = 'deliveries_20260310'::regclass AND contype = 'f'")
                #expect(references == ["endpoints"])
            }
        }
    }

    @Test func theQueueTableIsVacuumedEagerly() async throws {
        try await PostgresServer.shared.withDatabase { url in
            try await PostgresPool.withConnection(url) { connection in
                try await PostgresSchema.migrate(connection, location: "test", logger: logger)
                let options = try await strings(
                    connection, "SELECT unnest(reloptions)::text FROM pg_class WHERE relname = 'delivery_queue'")
                #expect(options.contains("autovacuum_vacuum_scale_factor=0"))
                #expect(options.contains("autovacuum_vacuum_threshold=1000"))
                #expect(options.contains("autovacuum_vacuum_cost_delay=0"))
            }
        }
    }

    private func strings(_ connection: PostgresConnection, _ sql: String) async throws -> [String] {
        var values: [String] = []
        for try await value in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(String.self) {
            values.append(value)
        }
        return values
    }
}
