import CSQLite
import Foundation

extension Store {
    /// Checks the log's invariants; each finding says what was looked at. Reads the whole log once (the counters are
    /// recounted to be compared): seconds for millions of deliveries.
    func checkup(now: Date) throws -> [CheckFinding] {
        var (findings, alive, oldestDue) = try read { db -> ([CheckFinding], Bool, Date?) in
            var found: [CheckFinding] = []
            // The engine's own check of its pages and indexes.
            let integrity = try db.query("PRAGMA quick_check", []) { $0.text(0) }
            found.append(
                integrity == ["ok"]
                    ? CheckFinding(check: "integrity", verdict: .ok, detail: "PRAGMA quick_check: ok")
                    : CheckFinding(
                        check: "integrity", verdict: .problem,
                        detail: "PRAGMA quick_check: \(integrity.prefix(3).joined(separator: "; ")) (restore from a backup)"))
            found.append(.schema(Int(try db.scalar("PRAGMA user_version")), writes: Schema.version))
            // Counters kept by the writes, against a count of the log.
            let counted = try db.query(
                "SELECT endpoint_id, status, count(*) FROM deliveries GROUP BY endpoint_id, status", []
            ) { ("\($0.text(0)) \($0.text(1))", $0.int(2)) }
            let kept = try db.query("SELECT endpoint_id, status, n FROM delivery_counts WHERE n <> 0", []) {
                ("\($0.text(0)) \($0.text(1))", $0.int(2))
            }
            found.append(
                .counters(
                    counted: Dictionary(counted, uniquingKeysWith: +), kept: Dictionary(kept, uniquingKeysWith: +)))
            let groups = try db.query(
                """
                SELECT endpoint_id || ' ' || coalesce(last_error_class, '') || ' ' || coalesce(last_status_code, 0),
                    sum(status = 'dead'), sum(status = 'retrying')
                FROM deliveries WHERE status IN ('dead', 'retrying')
                GROUP BY endpoint_id, coalesce(last_error_class, ''), coalesce(last_status_code, 0)
                """, []) { ($0.text(0), "\($0.int(1))/\($0.int(2))") }
            let keptGroups = try db.query(
                """
                SELECT endpoint_id || ' ' || error_class || ' ' || status_code, dead, retrying FROM failure_groups
                WHERE dead <> 0 OR retrying <> 0
                """, []) { ($0.text(0), "\($0.int(1))/\($0.int(2))") }
            found.append(
                .failureGroups(
                    counted: Dictionary(groups, uniquingKeysWith: { $1 }), kept: Dictionary(keptGroups, uniquingKeysWith: { $1 })))
            // In flight with nobody behind it: a dispatcher's heartbeat is gone or stale, or the lease ran out long ago.
            // (A redelivery sent by the CLI or the dashboard itself holds an `op:` lease, with no heartbeat.)
            let staleBefore = now.addingTimeInterval(-WorkerInfo.staleAfter)
            let orphaned = Int(try db.scalar(
                """
                SELECT count(*) FROM deliveries WHERE status = 'inflight' AND (lease_expires_at < ?
                    OR lease_owner IS NULL
                    OR (lease_owner LIKE 'w:%' AND lease_owner NOT IN (SELECT id FROM workers WHERE heartbeat_at >= ?)))
                """, [.from(now.addingTimeInterval(-300)), .from(staleBefore)]))
            found.append(
                orphaned == 0
                    ? CheckFinding(check: "leases", verdict: .ok, detail: "every in-flight delivery has a live holder")
                    : CheckFinding(
                        check: "leases", verdict: .problem,
                        detail: "\(orphaned) in-flight deliver\(orphaned == 1 ? "y has" : "ies have") no live holder (dispatcher gone or lease expired 5+ minutes ago)",
                        repairable: true))
            let alive = try db.scalar("SELECT count(*) FROM workers WHERE heartbeat_at >= ?", [.from(staleBefore)]) > 0
            return (found, alive, try Self.oldestDueAt(db, now: now))
        }
        // Due work that nobody is taking.
        findings.append(.dueWork(overdueSeconds: oldestDue.map { max(0, Int(now.timeIntervalSince($0))) } ?? 0, dispatcherAlive: alive))
        findings += fileFindings()
        return findings
    }

    /// The file modes of the database, its WAL and its API token (they hold secrets), and the WAL's size.
    private func fileFindings() -> [CheckFinding] {
        var findings: [CheckFinding] = []
        var loose: [String] = []
        for file in [path, path + "-wal", path + ".token"] {
            var info = stat()
            guard stat(file, &info) == 0 else { continue }
            if info.st_mode & 0o077 != 0 { loose.append("\(file) is \(String(info.st_mode & 0o777, radix: 8))") }
        }
        findings.append(
            loose.isEmpty
                ? CheckFinding(check: "file_modes", verdict: .ok, detail: "database, WAL and token are 0600")
                : CheckFinding(
                    check: "file_modes", verdict: .problem,
                    detail: "readable by others (they hold secrets): \(loose.joined(separator: ", ")); chmod 600 them"))
        var wal = stat()
        let walBytes = stat(path + "-wal", &wal) == 0 ? Int(wal.st_size) : 0
        findings.append(
            walBytes < 256 << 20
                ? CheckFinding(check: "wal", verdict: .ok, detail: "WAL \(walBytes >> 20) MiB")
                : CheckFinding(
                    check: "wal", verdict: .warning,
                    detail: "WAL \(walBytes >> 20) MiB: a long-running reader may keep it from being checkpointed"))
        return findings
    }

    /// Fixes what is safe to fix: recounts the status counters and failure groups from the log and releases leases
    /// nobody holds any more (at least once allows the resend). Audited. Returns what was done.
    func repair(now: Date, by actor: Principal) throws -> [String] {
        var done: [String] = []
        let before = try checkup(now: now)
        if before.contains(where: { ($0.check == "counters" || $0.check == "failure_groups") && $0.verdict == .problem }) {
            try write { db in try db.execute(Schema.recountSummaries) }
            done.append("recounted the status counters and failure groups from the log")
        }
        if before.contains(where: { $0.check == "leases" && $0.verdict == .problem }) {
            let staleBefore = now.addingTimeInterval(-WorkerInfo.staleAfter)
            let released = try write { db -> Int in
                let rows = try db.query(
                    """
                    UPDATE deliveries SET status = CASE WHEN attempt_count = 0 THEN 'pending' ELSE 'retrying' END,
                        lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = ?1, updated_at = ?1
                    WHERE status = 'inflight' AND (lease_expires_at < ?2 OR lease_owner IS NULL
                        OR (lease_owner LIKE 'w:%' AND lease_owner NOT IN (SELECT id FROM workers WHERE heartbeat_at >= ?3)))
                    RETURNING endpoint_id, status
                    """, [.from(now), .from(now.addingTimeInterval(-300)), .from(staleBefore)]
                ) { ($0.text(0), $0.text(1)) }
                var moves = StatusMoves()
                for (endpointId, status) in rows { moves.move(endpointId, from: DeliveryStatus.inflight.rawValue, to: status) }
                try moves.apply(db)
                return rows.count
            }
            done.append("released \(released) orphaned lease\(released == 1 ? "" : "s"): those deliveries are sent again")
        }
        if !done.isEmpty {
            try write { db in try Self.audit(db, "log.repair", "log", "", done.joined(separator: "; "), actor, now) }
        }
        return done
    }
}
