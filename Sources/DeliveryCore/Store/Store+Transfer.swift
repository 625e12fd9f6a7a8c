import Foundation

/// The log read out and written in for `hooktop db copy` (see `LogTransfer`).
extension Store {
    func isEmptyLog() throws -> Bool {
        try read { db in
            try db.scalar(
                """
                SELECT EXISTS (SELECT 1 FROM endpoints) OR EXISTS (SELECT 1 FROM messages)
                    OR EXISTS (SELECT 1 FROM audit) OR EXISTS (SELECT 1 FROM alerts) OR EXISTS (SELECT 1 FROM api_tokens)
                """) == 0
        }
    }

    /// See `LogTransfer.exportRows`. `?1` is `now`, the cursor's values follow, the limit comes last.
    func exportRows(_ table: LogTable, after cursor: LogRow?, limit: Int, now: Date) throws -> [LogRow] {
        let (from, expressions) = Self.exportSource(table)
        let selected = table.columnNames.map { expressions[$0] ?? "t.\($0)" }
        let key = selected.prefix(table.keyCount).joined(separator: ", ")
        var arguments: [SQLValue] = [.from(now)]
        var sql = "SELECT \(selected.joined(separator: ", ")) FROM \(from)"
        if let cursor {
            let values = cursor.prefix(table.keyCount).map(Self.sqlValue)
            sql += " WHERE (\(key)) > (\(values.indices.map { "?\($0 + 2)" }.joined(separator: ", ")))"
            arguments += values
        }
        sql += " ORDER BY \(key) LIMIT ?\(arguments.count + 1)"
        arguments.append(.from(limit))
        let kinds = table.columns.map(\.kind)
        return try read { db in
            try db.query(sql, arguments) { row in
                kinds.enumerated().map { index, kind -> LogValue in
                    let column = Int32(index)
                    if row.isNull(column) { return .null }
                    return kind == .int ? .int(row.int64(column)) : .text(row.text(column))
                }
            }
        }
    }

    /// Where a table's rows are read from (the table as `t`, joined with what else they need) and the expressions of
    /// the columns that are not `t`'s own: a delivery's message time; an in-flight delivery as pending and due now
    /// (this log does not keep the status it had before its claim).
    private static func exportSource(_ table: LogTable) -> (from: String, expressions: [String: String]) {
        switch table {
        case .deliveries:
            (
                "deliveries t JOIN messages m ON m.seq = t.message_seq",
                [
                    "message_created_at": "m.created_at",
                    "status": "CASE t.status WHEN 'inflight' THEN 'pending' ELSE t.status END",
                    "next_attempt_at": "CASE t.status WHEN 'inflight' THEN ?1 ELSE t.next_attempt_at END",
                ]
            )
        case .recoveryDeliveries:
            (
                """
                recovery_deliveries t JOIN deliveries d ON d.id = t.delivery_id
                    JOIN messages m ON m.seq = d.message_seq
                """,
                ["message_created_at": "m.created_at"]
            )
        default: ("\(table.rawValue) t", [:])
        }
    }

    /// See `LogTransfer.importRows`: one prepared insert run per row, `?N` being the row's Nth value.
    func importRows(_ table: LogTable, _ rows: [LogRow]) throws -> Int {
        let names = table.columnNames
        func value(_ name: String) -> String { "?\(table.index(of: name) + 1)" }
        // Kept elsewhere in this log: a delivery's message time is its message's.
        let stored = names.filter { $0 != "message_created_at" }
        let parents: [String] =
            switch table {
            case .deliveries:
                ["SELECT 1 FROM messages WHERE seq = \(value("message_seq"))",
                 "SELECT 1 FROM endpoints WHERE id = \(value("endpoint_id"))"]
            case .attempts: ["SELECT 1 FROM deliveries WHERE id = \(value("delivery_id"))"]
            case .recoveryDeliveries:
                ["SELECT 1 FROM recoveries WHERE id = \(value("recovery_id"))",
                 "SELECT 1 FROM deliveries WHERE id = \(value("delivery_id"))"]
            default: []
            }
        let sql = """
            INSERT INTO \(table.rawValue) (\(stored.joined(separator: ", ")))
            SELECT \(stored.map(value).joined(separator: ", "))
            \(parents.isEmpty ? "" : "WHERE " + parents.map { "EXISTS (\($0))" }.joined(separator: " AND "))
            """
        // Values past the last one the statement names are not bound (SQLite refuses them).
        let bound = stored.map { table.index(of: $0) + 1 }.max() ?? 0
        return try write { db in
            try rows.reduce(0) { written, row in written + (try db.run(sql, row.prefix(bound).map(Self.sqlValue))) }
        }
    }

    func finishImport() throws {
        try write { db in
            try db.execute(Schema.recountDeliveryCounts)
            // Each group's counts from the deliveries in it; its newest error stays the newer of the copied one and
            // that of its deliveries.
            try db.execute(
                """
                UPDATE failure_groups SET dead = 0, retrying = 0;
                INSERT INTO failure_groups (endpoint_id, error_class, status_code, dead, retrying, last_at, last_error)
                SELECT endpoint_id, coalesce(last_error_class, ''), coalesce(last_status_code, 0), sum(status = 'dead'),
                    sum(status = 'retrying'), max(updated_at), last_error
                FROM deliveries WHERE status IN ('dead', 'retrying')
                GROUP BY endpoint_id, coalesce(last_error_class, ''), coalesce(last_status_code, 0)
                ON CONFLICT (endpoint_id, error_class, status_code) DO UPDATE SET dead = excluded.dead,
                    retrying = excluded.retrying,
                    last_error = CASE WHEN excluded.last_at > last_at THEN excluded.last_error ELSE last_error END,
                    last_at = max(last_at, excluded.last_at);
                """)
        }
    }

    private static func sqlValue(_ value: LogValue) -> SQLValue {
        switch value {
        case .null: .null
        case .int(let number): .int(number)
        case .text(let text): .text(text)
        }
    }
}
