import Foundation
import PostgresNIO

/// The log read out and written in for `hooktop db copy` (see `LogTransfer`): counters, stats and health are gathered
/// over the writers' rows on the way out and written as this process's rows on the way in; a waiting delivery's
/// queue row carries its next attempt.
extension PostgresEngine {
    public func isEmptyLog() async throws -> Bool {
        try await rows(
            """
            SELECT NOT (EXISTS (SELECT 1 FROM endpoints) OR EXISTS (SELECT 1 FROM messages)
                OR EXISTS (SELECT 1 FROM audit) OR EXISTS (SELECT 1 FROM alerts) OR EXISTS (SELECT 1 FROM api_tokens))
            """
        ).first?.bool(0) ?? true
    }

    public func exportRows(_ table: LogTable, after cursor: LogRow?, limit: Int, now: Date) async throws -> [LogRow] {
        let sql = StatementBuilder()
        let (from, expressions) = Self.exportSource(table, now: { sql.bind(now.milliseconds) })
        let plain = table.columnNames.map { expressions[$0] ?? "t.\($0)" }
        let selected = zip(plain, table.columns).map { "(\($0))::\($1.kind == .int ? "bigint" : "text")" }
        let key = plain.prefix(table.keyCount).joined(separator: ", ")
        var statement = "SELECT \(selected.joined(separator: ", ")) FROM \(from)"
        if let cursor {
            let values = cursor.prefix(table.keyCount).map { value -> String in
                switch value {
                case .int(let number): sql.bind(number)
                case .text(let text): sql.bind(text)
                case .null: "NULL"
                }
            }
            statement += " WHERE (\(key)) > (\(values.joined(separator: ", ")))"
        }
        statement += " ORDER BY \(key) LIMIT \(sql.bind(limit))"
        let kinds = table.columns.map(\.kind)
        return try await rows(sql.query(statement)).map { row in
            try kinds.enumerated().map { index, kind -> LogValue in
                switch kind {
                case .int: try row.optionalInt64(index).map { .int($0) } ?? .null
                case .text: try row.optionalText(index).map { .text($0) } ?? .null
                }
            }
        }
    }

    /// Where a table's rows are read from (as `t`) and the expressions of the columns that are not `t`'s own: an
    /// endpoint's health over its writers' rows; a delivery's next attempt from its queue row (due at `now` when
    /// leased to a dispatcher now, the lease not being copied); failure groups and stats summed over writers.
    private static func exportSource(_ table: LogTable, now: () -> String)
        -> (from: String, expressions: [String: String])
    {
        switch table {
        case .endpoints:
            return (
                "endpoints t LEFT JOIN (\(health)) h ON h.endpoint_id = t.id",
                [
                    "allow_private": "CASE WHEN t.allow_private THEN 1 ELSE 0 END",
                    "last_attempt_at": "h.last_attempt_at", "last_success_at": "h.last_success_at",
                    "failing_since": "h.failing_since", "last_error": "h.last_error",
                ]
            )
        case .deliveries:
            let now = now()
            return (
                "deliveries t LEFT JOIN delivery_queue q ON q.delivery_id = t.id",
                [
                    "next_attempt_at":
                        "CASE WHEN q.lease_owner IS NOT NULL AND q.available_at > \(now) THEN \(now) ELSE q.available_at END",
                    "manual": "coalesce(q.manual, 0)",
                ]
            )
        case .failureGroups: return ("(\(failureGroupSums())) t", [:])
        case .stats:
            let sums = table.columnNames.dropFirst(table.keyCount).map { "sum(\($0)) AS \($0)" }.joined(separator: ", ")
            return ("(SELECT minute, endpoint_id, \(sums) FROM stats_minute GROUP BY minute, endpoint_id) t", [:])
        default: return ("\(table.rawValue) t", [:])
        }
    }

    public func importRows(_ table: LogTable, _ rows: [LogRow], now: Date) async throws -> Int {
        guard !rows.isEmpty else { return 0 }
        let days: [LogTable: String] = [
            .messages: "created_at", .deliveries: "message_created_at", .attempts: "started_at",
        ]
        if let column = days[table] { try await makePartitions(covering: rows, at: table.index(of: column)) }
        let batch = Self.json(table, rows)
        try await write { connection in
            for statement in Self.importStatements(table) {
                let query = PostgresQuery(unsafeSQL: statement, binds: binds(batch, writerId, now.milliseconds))
                try await execute(query, on: connection)
            }
        }
        return rows.count
    }

    /// The statements that write a batch of copied rows: `$1` is the batch (JSON, read as `r`), `$2` this process's
    /// writer id and `$3` the time (both as `p`). Message ids and idempotency keys are claimed as publishing claims
    /// them (every id: the copied log's ids were unique); a waiting delivery is queued.
    private static func importStatements(_ table: LogTable) -> [String] {
        let types = table.columns.map { "\($0.name) \($0.kind == .int ? "bigint" : "text")" }.joined(separator: ", ")
        let batch = "json_to_recordset($1::json) AS r(\(types)), (SELECT $2::text AS writer, $3::bigint AS now) p"
        func insert(
            _ target: String, _ columns: [String], _ expressions: [String: String] = [:], where condition: String? = nil
        ) -> String {
            """
            INSERT INTO \(target) (\(columns.joined(separator: ", ")))
            SELECT \(columns.map { expressions[$0] ?? "r.\($0)" }.joined(separator: ", ")) FROM \(batch)
            \(condition.map { "WHERE \($0)" } ?? "")
            """
        }
        let names = table.columnNames
        switch table {
        case .endpoints:
            let health = ["last_attempt_at", "last_success_at", "failing_since", "last_error"]
            return [
                insert("endpoints", names.filter { !health.contains($0) }, ["allow_private": "r.allow_private <> 0"]),
                insert(
                    "endpoint_health", ["endpoint_id", "writer_id"] + health,
                    ["endpoint_id": "r.id", "writer_id": "p.writer"],
                    where: health.map { "r.\($0) IS NOT NULL" }.joined(separator: " OR ")),
            ]
        case .messages:
            return [
                insert(table.rawValue, names),
                """
                INSERT INTO message_keys (kind, key, message_seq, message_created_at)
                SELECT 'id', r.id, r.seq, r.created_at FROM \(batch) ON CONFLICT (kind, key) DO NOTHING
                """,
                // A key reused after its window belongs to its newest message.
                """
                INSERT INTO message_keys (kind, key, message_seq, message_created_at)
                SELECT DISTINCT ON (r.idempotency_key) 'idempotency', r.idempotency_key, r.seq, r.created_at
                FROM \(batch)
                WHERE r.idempotency_key IS NOT NULL ORDER BY r.idempotency_key, r.created_at DESC
                ON CONFLICT (kind, key) DO UPDATE SET message_seq = excluded.message_seq,
                    message_created_at = excluded.message_created_at
                WHERE message_keys.message_created_at < excluded.message_created_at
                """,
            ]
        case .deliveries:
            return [
                insert(table.rawValue, names.filter { $0 != "next_attempt_at" && $0 != "manual" }),
                insert(
                    "delivery_queue", ["delivery_id", "message_created_at", "endpoint_id", "available_at", "manual"],
                    ["delivery_id": "r.id", "available_at": "coalesce(r.next_attempt_at, p.now)"],
                    where: "r.status IN ('pending', 'retrying')"),
            ]
        case .failureGroups, .stats:
            return [insert(table.rawValue, names + ["writer_id"], ["writer_id": "p.writer"])]
        default:
            return [insert(table.rawValue, names)]
        }
    }

    /// Makes the day partitions the rows' times (column `column`) fall in, those missing.
    private func makePartitions(covering rows: [LogRow], at column: Int) async throws {
        let days = Set(rows.compactMap { row -> Int64? in
            guard case .int(let at) = row[column] else { return nil }
            return PostgresSchema.day(of: Date(milliseconds: at))
        })
        try await pool.client.withConnection { connection in
            for day in days.sorted() {
                try await PostgresSchema.createPartitions(
                    connection, from: Date(milliseconds: day * 86_400_000), days: 1, logger: logger)
            }
        }
    }

    public func finishImport(now: Date) async throws {
        try await write { connection in
            try await execute(PostgresQuery(unsafeSQL: Self.recountStatusCounters), on: connection)
            // Each group's counts from the deliveries in it; its newest error stays the newer of the copied one and
            // that of its deliveries.
            try await execute("UPDATE failure_groups SET dead = 0, retrying = 0", on: connection)
            try await execute(
                """
                INSERT INTO failure_groups (endpoint_id, error_class, status_code, writer_id, dead, retrying, last_at,
                    last_error)
                SELECT endpoint_id, coalesce(last_error_class, ''), coalesce(last_status_code, 0), \(writerId),
                    count(*) FILTER (WHERE status = 'dead'), count(*) FILTER (WHERE status = 'retrying'),
                    max(updated_at), (array_agg(last_error ORDER BY updated_at DESC))[1]
                FROM deliveries WHERE status IN ('dead', 'retrying')
                GROUP BY endpoint_id, coalesce(last_error_class, ''), coalesce(last_status_code, 0)
                ON CONFLICT (endpoint_id, error_class, status_code, writer_id) DO UPDATE SET dead = excluded.dead,
                    retrying = excluded.retrying,
                    last_error = CASE WHEN excluded.last_at > failure_groups.last_at THEN excluded.last_error
                        ELSE failure_groups.last_error END,
                    last_at = greatest(failure_groups.last_at, excluded.last_at)
                """, on: connection)
            // New rows get ids after the copied ones.
            for (table, column) in [
                ("messages", "seq"), ("deliveries", "id"), ("attempts", "id"), ("audit", "id"), ("recoveries", "id"),
                ("alerts", "seq"),
            ] {
                try await execute(
                    """
                    SELECT setval(pg_get_serial_sequence(\(table), \(column)),
                        coalesce((SELECT max(\(unescaped: column)) FROM \(unescaped: table)), 0) + 1, false)
                    """, on: connection)
            }
        }
        // Statistics for the planner, of tables that grew at once.
        try await pool.client.query("ANALYZE", logger: logger)
    }

    /// A batch as JSON objects for `json_to_recordset`, keyed by the table's column names. PostgreSQL's text cannot
    /// hold NUL: it becomes U+FFFD (as `storable` makes it).
    static func json(_ table: LogTable, _ rows: [LogRow]) -> String {
        let keys = table.columnNames.map { "\"\($0)\":" }
        var out = "["
        for (number, row) in rows.enumerated() {
            out += number == 0 ? "{" : ",{"
            for (index, value) in row.enumerated() {
                if index > 0 { out += "," }
                out += keys[index]
                switch value {
                case .null: out += "null"
                case .int(let number): out += String(number)
                case .text(let text): appendJSONString(text, to: &out)
                }
            }
            out += "}"
        }
        return out + "]"
    }

    private static func appendJSONString(_ text: String, to out: inout String) {
        out += "\""
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out += text
        } else {
            for scalar in text.unicodeScalars {
                switch scalar.value {
                case 0: out += "\u{FFFD}"
                case 0x22: out += "\\\""
                case 0x5C: out += "\\\\"
                case ..<0x20: out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
                default: out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
