@testable import DeliveryCore
import Foundation
import HooktopTesting
import PostgresNIO
import Testing

/// Every statement the PostgreSQL engine's writes issue (publishing, claims, recording, operators' writes, alerts,
/// heartbeats, the leader's upkeep, API tokens, `db copy`'s paged reads) is served by an index on the seeded log of the read test: none reads a whole
/// table of the log. Writes bounded by a time read only the days their bound names: a recovery the days since its
/// `since`, `prune` the days up to its cutoff's (which it deletes from). Statements are explained with their own values, not
/// run again. (`doctor` recounts and cross-checks the whole log by design, as on SQLite, and is left out.)
struct PostgresWriteQueryPlanTests {
    @Test func noWriteScansTheLog() async throws {
        try await withPostgresEngine { engine in
            let nowMilliseconds = Date().milliseconds
            try await PostgresQueryPlanTests.seedLargeLog(engine, now: nowMilliseconds)
            // The seeded rows chose their own ids: new rows take theirs after them.
            _ = try await engine.rows(
                """
                SELECT setval(pg_get_serial_sequence('deliveries', 'id'), (SELECT max(id) FROM deliveries)),
                    setval(pg_get_serial_sequence('messages', 'seq'), (SELECT max(seq) FROM messages))
                """)
            let now = Date(milliseconds: nowMilliseconds)
            let writer = engine.writerId
            let actor = Principal(user: "alice", pid: 1, via: "test")
            let owner = "w:plan"
            let endpoint = try #require(try await engine.endpoint(id: "ep_03"))
            let delivered = try #require(try await engine.deliveries(DeliveryQuery(statuses: [.delivered], limit: 1)).first)
            let waiting = try #require(try await engine.deliveries(DeliveryQuery(statuses: [.pending], limit: 1)).first)

            PostgresStatements.start(writer)
            _ = try await engine.publish(
                groups: [
                    [PublishRequest(eventType: "invoice.paid", payload: "{}"), PublishRequest(eventType: "user.created", payload: "{}")],
                    [PublishRequest(eventType: "invoice.paid", payload: "{}", idempotencyKey: "k-1")],
                    [PublishRequest(eventType: "invoice.paid", payload: "{}", id: "msg_chosen")],
                ], now: now)
            let jobs = try await engine.claimDue(
                [ClaimRequest(endpoint: endpoint, limit: 6)], owner: owner, now: now.addingTimeInterval(60), lease: 30)
            #expect(jobs.count == 6)
            let outcomes = jobs.enumerated().map { index, job in
                var outcome = AttemptOutcome(
                    deliveryId: job.deliveryId, endpointId: job.endpoint.id, trigger: job.trigger, startedAt: now,
                    durationMilliseconds: 12, requestHeaders: [Header(name: "webhook-id", value: job.message.id)],
                    responseStatus: [200, 500, 410][index % 3], responseHeaders: [], responseBodyExcerpt: "x",
                    errorClass: index % 3 == 0 ? nil : .httpStatus, errorMessage: index % 3 == 0 ? nil : "http",
                    retryAfter: nil)
                outcome.claim = job.claim
                outcome.messageCreatedAt = job.message.createdAt
                return outcome
            }
            _ = try await engine.recordAndClaim(
                outcomes, claiming: [ClaimRequest(endpoint: endpoint, limit: 2)], owner: owner,
                policy: RetryPolicy(delays: [5], jitter: 0), autoDisableAfter: 3600, now: now, lease: 30)
            // An outcome without its message's day, of a delivery no longer queued.
            var late = outcomes[0]
            late.messageCreatedAt = nil
            try await engine.record(
                [late], owner: owner, policy: RetryPolicy(delays: [5], jitter: 0), autoDisableAfter: nil, now: now)
            try await engine.queueRedelivery(deliveryId: delivered.id, now: now, by: actor)
            _ = try await engine.claimOne(deliveryId: delivered.id, owner: "op:plan", now: now, leaseUntil: now.addingTimeInterval(30))
            try await engine.cancelDelivery(deliveryId: waiting.id, now: now, by: actor)
            let replay = DeliveryFilter(status: .dead, endpointId: "ep_07", since: now.addingTimeInterval(-86_400))
            _ = try await engine.countReplay(replay)
            _ = try await engine.queueReplay(replay, now: now, by: actor)
            var changes = EndpointChanges()
            changes.description = "renamed"
            _ = try await engine.updateEndpoint(id: "ep_04", changes: changes, now: now, by: actor)
            try await engine.setEndpointStatus(
                id: "ep_04", .paused, reason: nil, action: "endpoint.pause", refusing: nil, advice: "", now: now, by: actor)
            try await engine.setEndpointStatus(
                id: "ep_04", .active, reason: nil, action: "endpoint.resume", refusing: nil, advice: "", now: now, by: actor)
            _ = try await engine.rotateSecret(endpointId: "ep_06", now: now, by: actor)
            try await engine.removeEndpoint(id: "ep_08", now: now, by: actor)
            let alert = try #require(
                try await engine.recordAlert(
                    NewAlert(type: .endpointFailing, objectId: "ep_03", key: "plan", debounce: 3600, summary: "s", details: "{}"),
                    status: .pending, leasedTo: nil, now: now))
            _ = try await engine.claimAlerts(owner: owner, now: now, lease: 60, limit: 4)
            try await engine.finishAlert(
                sequence: alert.sequence, owner: owner, status: .sent, sentTo: ["url"], error: nil, nextAttemptAt: nil, now: now)
            try await engine.heartbeat(
                WorkerInfo(
                    id: owner, pid: 1, host: "plan", startedAt: now, heartbeatAt: now, version: "test", inFlight: 2,
                    retryDelays: [5]))
            try await engine.releaseLeases(owner: nil, now: now)
            try await engine.releaseLeases(owner: owner, now: now)
            _ = try await engine.upkeep(now: now)
            try await engine.removeWorker(id: owner)
            let token = try await engine.createAPIToken(name: "plan", now: now, by: actor)
            _ = try await engine.apiTokens()
            _ = try await engine.apiTokenDigests()
            _ = try await engine.revokeAPIToken(id: token.token.id, now: now, by: actor)
            // `db copy` reads every table a page at a time, in key order.
            for table in LogTable.allCases {
                let page = try await engine.exportRows(table, after: nil, limit: 100, now: now)
                if let last = page.last { _ = try await engine.exportRows(table, after: last, limit: 100, now: now) }
            }
            let indexed = Self.explainable(PostgresStatements.stop(writer))

            let since = now.addingTimeInterval(-86_400)
            PostgresStatements.start(writer)
            _ = try await engine.queueRecovery(endpointId: "ep_05", since: since, now: now, by: actor)
            let recovery = Self.explainable(PostgresStatements.stop(writer))

            let cutoff = now.addingTimeInterval(-2 * 86_400)
            PostgresStatements.start(writer)
            _ = try await engine.prune(before: cutoff, now: now, by: actor)
            let prune = Self.explainable(PostgresStatements.stop(writer))

            #expect(indexed.count > 40 && recovery.count >= 4 && prune.count >= 6)
            let sizes = try await PostgresQueryPlanTests.relationSizes(engine)
            var offenders: [String] = []
            func check(_ statements: [PostgresQuery], allowing allowed: (String) -> Bool) async throws {
                for query in statements {
                    let scans: [String]
                    do {
                        scans = try await PostgresQueryPlanTests.sequentialScans(engine, query)
                    } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42P01" {
                        continue  // a day partition that `prune` dropped since
                    }
                    for relation in scans where !PostgresQueryPlanTests.mayBeReadWhole(relation, sizes) && !allowed(relation) {
                        let offender = "Seq Scan on \(relation) ← \(PostgresQueryPlanTests.oneLine(query.sql))"
                        if !offenders.contains(offender) { offenders.append(offender) }
                    }
                }
            }
            try await check(indexed) { _ in false }
            let firstDay = PostgresQueryPlanTests.partitionSuffix(of: since)
            try await check(recovery) { relation in Self.day(of: relation).map { $0 >= firstDay } ?? false }
            let cutoffDay = PostgresQueryPlanTests.partitionSuffix(of: cutoff)
            try await check(prune) { relation in Self.day(of: relation).map { $0 <= cutoffDay } ?? false }
            #expect(offenders.isEmpty, "\(offenders.joined(separator: "\n"))")
        }
    }

    /// The statements EXPLAIN takes (not SAVEPOINT, not DDL).
    static func explainable(_ statements: [PostgresQuery]) -> [PostgresQuery] {
        statements.filter { query in
            let verb = query.sql.drop { $0 == " " || $0 == "\n" }.prefix(6).uppercased()
            return ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"].contains { verb.hasPrefix($0) }
        }
    }

    /// `20261202` for a day partition (`deliveries_20261202`), nil for another relation.
    static func day(of relation: String) -> String? {
        guard let day = relation.split(separator: "_").last, day.count == 8, day.allSatisfy(\.isNumber) else { return nil }
        return String(day)
    }
}
