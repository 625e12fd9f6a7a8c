@testable import DeliveryCore
import Foundation
import HooktopReceivers
import HooktopTesting
import PostgresNIO
import Testing

/// The PostgreSQL engine's reads on a log written by SQL as its write path writes it: two days' partitions, every
/// status, a delivery in flight and one whose lease ran out, counts, failure groups, stats and health from two
/// writers.
struct PostgresReadTests {
    static let minute: Int64 = 60_000
    static let hour: Int64 = 3_600_000

    /// The seeded log: what was written, to compute what the reads should say.
    struct SeededLog: Sendable {
        var now: Int64
        var messages: [PostgresLogSeeder.SeededMessage]
        var deliveries: [PostgresLogSeeder.DeliverySpec]
        var alerts: [Int64]

        func delivery(_ message: Int, _ endpointId: String) -> PostgresLogSeeder.DeliverySpec {
            deliveries.first { $0.message.id == messages[message].id && $0.endpointId == endpointId }!
        }

        /// Deliveries newest first, as reported at `now`.
        var newestFirst: [PostgresLogSeeder.DeliverySpec] { deliveries.sorted { $0.id > $1.id } }
    }

    /// Messages 0–5 thirty hours ago (an earlier day's partition), 6–11 in the last hour; `ep_a` takes every type,
    /// `ep_b` `user.*`, `ep_c` (disabled by the dispatcher) got messages 0–3 only; `ep_p` is paused.
    static func seed(_ engine: PostgresEngine) async throws -> SeededLog {
        let seeder = PostgresLogSeeder(engine: engine)
        let now = Date().milliseconds
        try await seeder.makeDays(before: now, days: 3)
        try await seeder.endpoint("ep_a", url: "http://a.example/hook", description: "billing service", createdAt: now - 72 * hour)
        try await seeder.endpoint(
            "ep_b", url: "http://b.example/hook", description: "crm", eventTypes: ["user.*"], createdAt: now - 71 * hour)
        try await seeder.endpoint(
            "ep_c", url: "http://c.example/gone", status: .disabled, createdAt: now - 70 * hour, disabledAt: now - hour,
            reason: "endpoint answered 410 Gone")
        try await seeder.endpoint("ep_p", url: "http://p.example/hook", status: .paused, createdAt: now - 69 * hour)
        var messages: [PostgresLogSeeder.SeededMessage] = []
        for index in 0..<12 {
            let at = index < 6 ? now - 30 * hour + Int64(index) * minute : now - 50 * minute + Int64(index - 6) * minute
            messages.append(
                try await seeder.message(
                    "msg_\(index)", type: index % 2 == 0 ? "invoice.paid" : "user.created", at: at,
                    payload: #"{"n":\#(index)}"#))
        }
        typealias Spec = PostgresLogSeeder.DeliverySpec
        func spec(
            _ index: Int, _ endpointId: String, _ status: DeliveryStatus, queue: PostgresLogSeeder.Queue? = nil,
            attempts: Int = 0, error: (ErrorClass, Int?, String)? = nil, latency: Int? = nil, finisher: String? = nil,
            from: DeliveryStatus = .pending
        ) -> Spec {
            let message = messages[index]
            return Spec(
                message: message, endpointId: endpointId, status: status, queue: queue, attempts: attempts,
                errorClass: error?.0, statusCode: error?.1, error: error?.2, latency: latency,
                createdAt: message.at, updatedAt: message.at + Int64(1000 * (attempts + 1)),
                writer: index % 2 == 0 ? "w1" : "w2", finisher: finisher, from: from)
        }
        let http500: (ErrorClass, Int?, String) = (.httpStatus, 500, "HTTP 500 Internal Server Error")
        let refused: (ErrorClass, Int?, String) = (.connectRefused, nil, "connection refused")
        let timeout: (ErrorClass, Int?, String) = (.timeout, nil, "timed out after 5s")
        let gone: (ErrorClass, Int?, String) = (.httpStatus, 410, "HTTP 410 Gone")
        var specs: [Spec] = [
            spec(0, "ep_a", .delivered, attempts: 1, latency: 120, finisher: "w2"),
            spec(1, "ep_a", .dead, attempts: 3, error: http500, latency: 900, finisher: "w1", from: .retrying),
            spec(2, "ep_a", .dead, attempts: 3, error: http500, latency: 30),
            spec(3, "ep_a", .cancelled, attempts: 1, error: refused),
            spec(4, "ep_a", .delivered, attempts: 2, latency: 15, finisher: "w1"),
            spec(5, "ep_a", .retrying, queue: .waiting(due: now + 10 * minute), attempts: 1, error: refused),
            spec(6, "ep_a", .delivered, attempts: 1, latency: 2500),
            spec(7, "ep_a", .pending, queue: .waiting(due: now - 5 * minute)),
            spec(8, "ep_a", .pending, queue: .leased(until: now + 60_000, owner: "w1")),
            spec(9, "ep_a", .retrying, queue: .leased(until: now - 2 * minute, owner: "w2"), attempts: 2,
                 error: (.httpStatus, 503, "HTTP 503 Service Unavailable")),
            spec(10, "ep_a", .pending, queue: .waiting(due: now + minute, manual: 1)),
            spec(11, "ep_a", .delivered, attempts: 4, latency: 70),
            spec(1, "ep_b", .delivered, attempts: 1, latency: 40),
            spec(3, "ep_b", .dead, attempts: 3, error: timeout, latency: 5000),
            spec(5, "ep_b", .retrying, queue: .waiting(due: now + 20 * minute), attempts: 1, error: timeout),
            spec(7, "ep_b", .delivered, attempts: 1, latency: 44),
            spec(9, "ep_b", .pending, queue: .waiting(due: now - minute)),
            spec(11, "ep_b", .retrying, queue: .leased(until: now + 120_000, owner: "w2"), attempts: 1, error: timeout),
        ]
        specs += (0..<4).map { spec($0, "ep_c", .dead, attempts: 5, error: gone, latency: 10) }
        var seeded: [Spec] = []
        for spec in specs { seeded.append(try await seeder.delivery(spec)) }
        // Two writers moved one delivery into a DNS failure and out again: a group whose sums are zero.
        try await seeder.failureGroup("ep_a", "dns", 0, writer: "w1", dead: 0, retrying: 1, at: now - hour, error: "no such host")
        try await seeder.failureGroup("ep_a", "dns", 0, writer: "w2", dead: 0, retrying: -1, at: now - hour, error: nil)

        for spec in seeded where spec.attempts > 0 {
            for number in 1...spec.attempts {
                let last = number == spec.attempts
                let succeeded = last && spec.status == .delivered
                // The second attempt of ep_a's message 1 was made today: a later day's partition than its delivery.
                let startedAt = spec.message.id == "msg_1" && spec.endpointId == "ep_a" && number >= 2
                    ? now - hour + Int64(number) * 1000 : spec.createdAt + Int64(number) * 1000
                try await seeder.attempt(
                    deliveryId: spec.id, number: number, startedAt: startedAt,
                    status: succeeded ? 200 : spec.statusCode, errorClass: succeeded ? nil : spec.errorClass,
                    error: succeeded ? nil : spec.error, body: succeeded ? "ok" : (spec.statusCode == nil ? nil : "no, \(number)"))
            }
        }

        try await seeder.health("ep_a", writer: "w1", lastAttemptAt: now - 3 * minute, lastSuccessAt: now - 10 * minute,
                                failingSince: now - 20 * minute, lastError: "HTTP 500 from w1")
        try await seeder.health("ep_a", writer: "w2", lastAttemptAt: now - minute, lastSuccessAt: now - 30 * minute,
                                failingSince: now - 5 * minute, lastError: "HTTP 503 from w2")
        try await seeder.health("ep_b", writer: "w1", lastAttemptAt: now - 2 * minute, lastSuccessAt: now - 2 * minute,
                                failingSince: nil, lastError: nil)
        try await seeder.health("ep_c", writer: "w1", lastAttemptAt: now - 40 * minute, lastSuccessAt: nil,
                                failingSince: now - 2 * hour, lastError: "gone (w1)")
        try await seeder.health("ep_c", writer: "w2", lastAttemptAt: now - 50 * minute, lastSuccessAt: nil,
                                failingSince: now - hour, lastError: "gone (w2)")

        let nowMinute = now / minute
        try await seeder.stats(minute: nowMinute - 1, "ep_a", writer: "w1", attempts: 10, successes: 8, bucket: 3)
        try await seeder.stats(minute: nowMinute - 1, "ep_a", writer: "w2", attempts: 6, successes: 6, bucket: 4)
        try await seeder.stats(minute: nowMinute - 3, "ep_b", writer: "w2", attempts: 4, successes: 1, bucket: 2)
        try await seeder.stats(minute: nowMinute - 20, "ep_b", writer: "w1", attempts: 100, successes: 100, bucket: 1)

        try await seeder.worker("w1", heartbeatAt: now - 1000, inFlight: 1, retryDelays: "1,5,30")
        try await seeder.worker("w2", heartbeatAt: now - 60_000, inFlight: 1, retryDelays: nil)

        try await seeder.audit("endpoint.pause", objectId: "ep_a", at: now - 2 * hour)
        try await seeder.audit("endpoint.resume", objectId: "ep_a", at: now - 90 * minute, detail: "back")
        try await seeder.audit("endpoint.disable", objectId: "ep_c", at: now - hour, via: "dispatcher", detail: "410")
        var alerts: [Int64] = []
        alerts.append(try await seeder.alert("alrt_1", type: .endpointFailing, objectId: "ep_a", at: now - 40 * minute))
        alerts.append(try await seeder.alert("alrt_2", type: .endpointDisabled, objectId: "ep_c", at: now - hour + 5))
        alerts.append(try await seeder.alert("alrt_3", type: .deliveriesDead, objectId: "ep_a", at: now - 10 * minute))

        let log = SeededLog(now: now, messages: messages, deliveries: seeded, alerts: alerts)
        try await seeder.recovery(
            "ep_a", at: now - 30 * minute,
            deliveries: [log.delivery(7, "ep_a"), log.delivery(8, "ep_a"), log.delivery(0, "ep_a"), log.delivery(2, "ep_a")])
        return log
    }

    // MARK: Deliveries

    @Test func theLogIsListedNewestFirstAndPagedByKeyset() async throws {
        try await withPostgresEngine { engine in
            let log = try await Self.seed(engine)
            let days = try await engine.rows("SELECT count(DISTINCT tableoid) FROM deliveries")[0].int(0)
            #expect(days >= 2)
            let all = try await engine.deliveries(DeliveryQuery(limit: 1000))
            #expect(all.map(\.id) == log.newestFirst.map(\.id))
            #expect(all.map(\.status) == log.newestFirst.map { $0.reported(now: log.now) })
            #expect(all.map(\.nextAttemptAt) == log.newestFirst.map { $0.nextAttempt(now: log.now) })
            #expect(all.map(\.messageId) == log.newestFirst.map(\.message.id))

            // Pages of 5 walk the same list.
            var paged: [Delivery] = []
            var before: Int64?
            repeat {
                let page = try await engine.deliveries(DeliveryQuery(before: before, limit: 5))
                paged += page
                before = page.count == 5 ? page.last?.id : nil
            } while before != nil
            #expect(paged == all)

            // Oldest first, by `after`.
            var oldest = DeliveryQuery(limit: 7)
            oldest.order = .oldest
            let first = try await engine.deliveries(oldest)
            oldest.after = first.last?.id
            let second = try await engine.deliveries(oldest)
            #expect((first + second).map(\.id) == Array(all.reversed().prefix(14)).map(\.id))

            let one = try #require(all.first { $0.messageId == "msg_1" && $0.endpointId == "ep_a" })
            #expect(one.status == .dead && one.attemptCount == 3 && one.lastStatusCode == 500 && one.lastErrorClass == .httpStatus)
            #expect(one.lastError == "HTTP 500 Internal Server Error" && one.lastLatencyMilliseconds == 900)
            #expect(one.createdAt == Date(milliseconds: log.messages[1].at))
            #expect(try await engine.delivery(id: one.id) == one)
            #expect(try await engine.delivery(id: 999_999) == nil)
        }
    }

    @Test func leasedDeliveriesAreInFlightAndExpiredLeasesWaitAgain() async throws {
        try await withPostgresEngine { engine in
            let log = try await Self.seed(engine)
            let inflight = try await engine.deliveries(DeliveryQuery(statuses: [.inflight]))
            #expect(inflight.map(\.id) == [log.delivery(11, "ep_b").id, log.delivery(8, "ep_a").id])
            #expect(inflight.allSatisfy { $0.status == .inflight && $0.nextAttemptAt == nil })

            let pending = try await engine.deliveries(DeliveryQuery(statuses: [.pending]))
            #expect(pending.map(\.id) == [log.delivery(9, "ep_b").id, log.delivery(10, "ep_a").id, log.delivery(7, "ep_a").id])
            let retrying = try await engine.deliveries(DeliveryQuery(statuses: [.retrying]))
            #expect(retrying.map(\.id) == [log.delivery(5, "ep_b").id, log.delivery(9, "ep_a").id, log.delivery(5, "ep_a").id])
            // The lease ran out two minutes ago: due since then.
            #expect(retrying[1].nextAttemptAt == Date(milliseconds: log.now - 2 * Self.minute))

            for statuses in [
                [DeliveryStatus.pending, .inflight], [.retrying, .inflight], [.pending, .retrying], [.dead, .inflight],
                [.pending, .retrying, .inflight, .delivered], [.cancelled], [.delivered, .dead],
            ] {
                let found = try await engine.deliveries(DeliveryQuery(statuses: statuses, limit: 1000))
                let expected = log.newestFirst.filter { statuses.contains($0.reported(now: log.now)) }
                #expect(found.map(\.id) == expected.map(\.id), "\(statuses)")
            }

            // Totals: the writers' counts summed, the two leased deliveries moved from pending and retrying.
            var expected = StatusCounts()
            for spec in log.deliveries { expected[spec.reported(now: log.now)] += 1 }
            #expect(expected.inflight == 2)
            #expect(try await engine.statusTotals() == expected)
        }
    }

    @Test func filtersNarrowTheLog() async throws {
        try await withPostgresEngine { engine in
            let log = try await Self.seed(engine)
            func ids(_ query: DeliveryQuery) async throws -> [Int64] { try await engine.deliveries(query).map(\.id) }
            func expected(_ include: (PostgresLogSeeder.DeliverySpec) -> Bool) -> [Int64] {
                log.newestFirst.filter(include).map(\.id)
            }
            #expect(try await ids(DeliveryQuery(endpointId: "ep_b")) == expected { $0.endpointId == "ep_b" })
            #expect(try await ids(DeliveryQuery(eventType: "user.created")) == expected { $0.message.type == "user.created" })
            #expect(try await ids(DeliveryQuery(eventType: "user.*")) == expected { $0.message.type.hasPrefix("user.") })
            #expect(try await ids(DeliveryQuery(eventType: "invoice.*", limit: 2)) == Array(expected { $0.message.type == "invoice.paid" }.prefix(2)))
            #expect(try await ids(DeliveryQuery(messageId: "msg_3")) == expected { $0.message.id == "msg_3" })
            #expect(try await ids(DeliveryQuery(messageId: "msg_none")) == [])
            #expect(
                try await ids(DeliveryQuery(statuses: [.dead], endpointId: "ep_c", before: log.delivery(2, "ep_c").id))
                    == [log.delivery(1, "ep_c").id, log.delivery(0, "ep_c").id])

            // Published since / until: the message's time, which is also the partition key.
            let since = Date(milliseconds: log.messages[6].at)
            #expect(try await ids(DeliveryQuery(since: since)) == expected { $0.message.at >= log.messages[6].at })
            #expect(try await ids(DeliveryQuery(until: since)) == expected { $0.message.at < log.messages[6].at })
            #expect(
                try await ids(DeliveryQuery(since: Date(milliseconds: log.messages[2].at), until: Date(milliseconds: log.messages[4].at)))
                    == expected { $0.message.id == "msg_2" || $0.message.id == "msg_3" })

            // Free text: the event type, the last error, the endpoint's description or URL, case-insensitively.
            #expect(try await ids(DeliveryQuery(text: "BILLING")) == expected { $0.endpointId == "ep_a" })
            #expect(try await ids(DeliveryQuery(text: "timed out")) == expected { $0.error?.contains("timed out") == true })
            #expect(try await ids(DeliveryQuery(text: "c.example")) == expected { $0.endpointId == "ep_c" })
            #expect(try await ids(DeliveryQuery(text: "100%")) == [])
            #expect(try await ids(DeliveryQuery(since: since, text: "invoice")) == expected {
                $0.message.at >= log.messages[6].at && $0.message.type == "invoice.paid"
            })

            var slowest = DeliveryQuery(limit: 3)
            slowest.order = .slowest
            #expect(try await ids(slowest) == log.deliveries.sorted {
                ($0.latency ?? -1, $0.id) > ($1.latency ?? -1, $1.id)
            }.prefix(3).map(\.id))
            var most = DeliveryQuery(endpointId: "ep_a", limit: 4)
            most.order = .mostAttempts
            #expect(try await ids(most) == log.deliveries.filter { $0.endpointId == "ep_a" }.sorted {
                ($0.attempts, $0.id) > ($1.attempts, $1.id)
            }.prefix(4).map(\.id))
        }
    }

    @Test func theRetryQueueIsSoonestFirstWithoutDeliveriesInFlight() async throws {
        try await withPostgresEngine { engine in
            let log = try await Self.seed(engine)
            let waiting = log.deliveries.filter {
                ($0.reported(now: log.now) == .pending || $0.reported(now: log.now) == .retrying)
            }.sorted { ($0.nextAttempt(now: log.now)!, $0.id) < ($1.nextAttempt(now: log.now)!, $1.id) }
            let queue = try await engine.retryQueue(RetryQueueQuery())
            #expect(queue.map(\.id) == waiting.map(\.id))
            #expect(queue.map(\.nextAttemptAt) == waiting.map { $0.nextAttempt(now: log.now) })
            #expect(queue.first?.id == log.delivery(7, "ep_a").id)

            let first = try await engine.retryQueue(RetryQueueQuery(limit: 2))
            let last = try #require(first.last)
            let rest = try await engine.retryQueue(RetryQueueQuery(after: (last.nextAttemptAt!, last.id), limit: 100))
            #expect((first + rest).map(\.id) == waiting.map(\.id))
            let ofB = try await engine.retryQueue(RetryQueueQuery(endpointId: "ep_b"))
            #expect(ofB.map(\.id) == waiting.filter { $0.endpointId == "ep_b" }.map(\.id))
        }
    }

    // MARK: Failures

    @Test func failureGroupsSumTheirWriters() async throws {
        try await withPostgresEngine { engine in
            let log = try await Self.seed(engine)
            let groups = try await engine.failureGroups(endpointId: nil, limit: 100)
            #expect(groups.map(\.label) == ["http 410", "timeout", "http 500", "http 503", "connect_refused"])
            #expect(groups.map(\.endpointId) == ["ep_c", "ep_b", "ep_a", "ep_a", "ep_a"])
            let http500 = groups[2]
            #expect(http500.dead == 2 && http500.retrying == 0 && http500.count == 2)
            #expect(http500.endpointURL == "http://a.example/hook")
            // Its error is that of the newest writer row (w2 saw message 1's delivery fail first, with another error).
            #expect(http500.lastError == "HTTP 500 Internal Server Error")
            #expect(http500.lastAt == Date(milliseconds: max(log.delivery(1, "ep_a").updatedAt, log.delivery(2, "ep_a").updatedAt)))
            // ep_b's timeouts: one dead, two retrying (one of them in flight now, still counted by its status).
            #expect(groups[1].dead == 1 && groups[1].retrying == 2 && groups[1].statusCode == nil)
            // No group for the DNS failure that two writers counted in and out.
            #expect(!groups.contains { $0.errorClass == .dns })
            #expect(try await engine.failureGroups(endpointId: "ep_b", limit: 10).map(\.label) == ["timeout"])
            #expect(try await engine.failureGroups(endpointId: nil, limit: 2).count == 2)

            let samples = try await engine.failureSamples(endpointId: "ep_a", errorClass: .httpStatus, statusCode: 500, limit: 10)
            #expect(samples.map(\.id) == [log.delivery(2, "ep_a").id, log.delivery(1, "ep_a").id])
            let timeouts = try await engine.failureSamples(endpointId: "ep_b", errorClass: .timeout, statusCode: nil, limit: 10)
            #expect(timeouts.map(\.id) == [log.delivery(11, "ep_b").id, log.delivery(5, "ep_b").id, log.delivery(3, "ep_b").id])
            #expect(timeouts.map(\.status) == [.inflight, .retrying, .dead])
            #expect(try await engine.failureSamples(endpointId: "ep_c", errorClass: .httpStatus, statusCode: 410, limit: 3).count == 3)
            #expect(try await engine.failureSamples(endpointId: "ep_a", errorClass: nil, statusCode: nil, limit: 10).isEmpty)
        }
    }

    // MARK: Messages and one delivery

    @Test func messagesCountTheirDeliveries() async throws {
        try await withPostgresEngine { engine in
            let log = try await Self.seed(engine)
            let messages = try await engine.messages(eventType: nil, before: nil, limit: 100)
            #expect(messages.map(\.message.id) == log.messages.reversed().map(\.id))
            for summary in messages {
                let specs = log.deliveries.filter { $0.message.id == summary.message.id }
                #expect(summary.deliveryCount == specs.count)
                #expect(summary.delivered == specs.filter { $0.status == .delivered }.count)
                #expect(summary.failing == specs.filter { $0.reported(now: log.now) == .retrying }.count)
                #expect(summary.dead == specs.filter { $0.status == .dead }.count)
            }
            let last = try #require(messages.first { $0.message.id == "msg_11" })
            #expect(last.deliveryCount == 2 && last.failing == 0 && last.delivered == 1)
            #expect(last.message.payload == #"{"n":11}"# && last.message.createdAt == Date(milliseconds: log.messages[11].at))
            let page = try await engine.messages(eventType: "user.created", before: log.messages[7].seq, limit: 2)
            #expect(page.map(\.message.id) == ["msg_5", "msg_3"])
            #expect(try await engine.message(id: "msg_4")?.eventType == "invoice.paid")
            #expect(try await engine.message(id: "msg_x") == nil)
        }
    }

    @Test func aDeliverysDetailHasItsAttemptsAcrossDays() async throws {
        try await withPostgresEngine { engine in
            let log = try await Self.seed(engine)
            let spec = log.delivery(1, "ep_a")
            let detail = try #require(try await engine.deliveryDetail(id: spec.id))
            #expect(detail.delivery.id == spec.id && detail.delivery.status == .dead)
            #expect(detail.message.id == "msg_1" && detail.message.payload == #"{"n":1}"#)
            #expect(detail.endpoint.id == "ep_a" && detail.endpoint.description == "billing service")
            #expect(detail.attempts.map(\.number) == [1, 2, 3])
            let partitions = try await engine.rows(
                "SELECT count(DISTINCT tableoid) FROM attempts WHERE delivery_id = \(spec.id)")[0].int(0)
            #expect(partitions == 2)
            #expect(detail.attempts[0].requestHeaders == [Header(name: "webhook-id", value: "msg")])
            #expect(detail.attempts[2].responseStatus == 500 && detail.attempts[2].responseBodyExcerpt == "no, 3")
            #expect(detail.attempts[2].errorClass == .httpStatus && detail.attempts[2].trigger == .scheduled)
            // The newest dispatcher's schedule: three delays, four attempts.
            #expect(detail.maxAttempts == 4)
            #expect(try await engine.attempts(deliveryId: spec.id) == detail.attempts)
            #expect(try await engine.attempts(deliveryId: log.delivery(7, "ep_a").id).isEmpty)
            #expect(try await engine.deliveryDetail(id: 424_242) == nil)

            let leased = try #require(try await engine.deliveryDetail(id: log.delivery(8, "ep_a").id))
            #expect(leased.delivery.status == .inflight && leased.attempts.isEmpty)
        }
    }

    // MARK: Summaries

    @Test func endpointSummariesTakeHealthFromEveryWriter() async throws {
        try await withPostgresEngine { engine in
            let log = try await Self.seed(engine)
            let now = Date(milliseconds: log.now)
            let summaries = try await engine.endpointSummaries(now: now)
            #expect(summaries.map(\.endpoint.id) == ["ep_a", "ep_b", "ep_c", "ep_p"])
            let (a, b, c, p) = (summaries[0], summaries[1], summaries[2], summaries[3])
            func minutesAgo(_ n: Int64) -> Date { Date(milliseconds: log.now - n * Self.minute) }
            // ep_a: newest success 10 min ago (w1); w1's streak began before it, w2's after: failing since w2's.
            #expect(a.lastAttemptAt == minutesAgo(1) && a.lastSuccessAt == minutesAgo(10))
            #expect(a.failingSince == minutesAgo(5) && a.lastError == "HTTP 503 from w2")
            #expect(b.failingSince == nil && b.lastSuccessAt == minutesAgo(2) && b.lastError == nil)
            // ep_c never succeeded: failing since the earliest streak; its error from the writer that tried last.
            #expect(c.failingSince == minutesAgo(120) && c.lastError == "gone (w1)" && c.lastSuccessAt == nil)
            #expect(p.lastAttemptAt == nil && p.failingSince == nil && p.counts == StatusCounts())
            #expect(c.endpoint.status == .disabled && c.endpoint.disabledReason == "endpoint answered 410 Gone")

            for summary in summaries {
                var expected = StatusCounts()
                for spec in log.deliveries where spec.endpointId == summary.endpoint.id {
                    expected[spec.reported(now: log.now)] += 1
                }
                #expect(summary.counts == expected, "\(summary.endpoint.id)")
            }
            // The last 5 minutes, both writers' rows summed (ep_b's 20-minute-old minute left out).
            #expect(a.recent.attempts == 16 && a.recent.successes == 14 && a.recent.failures == 2)
            #expect(a.recent.p50Milliseconds != nil)
            #expect(b.recent.attempts == 4 && b.recent.successes == 1)
            #expect(a.lastAction?.action == "endpoint.resume" && a.lastAction?.detail == "back")
            #expect(a.lastAction?.origin == "10.0.0.5" && a.lastAction?.tty == nil && a.lastAction?.user == "alice")
            #expect(c.lastAction?.via == "dispatcher" && b.lastAction == nil)
        }
    }

    @Test func theOverviewSumsWritersAndFindsTheOldestDueDelivery() async throws {
        try await withPostgresEngine { engine in
            let log = try await Self.seed(engine)
            let now = Date(milliseconds: log.now)
            let overview = try await engine.overview(now: now)
            #expect(overview.workers.map(\.id) == ["w1", "w2"])
            #expect(overview.workers[0].retryDelays == [1, 5, 30] && overview.workers[1].retryDelays == nil)
            #expect(try await engine.workers() == overview.workers)
            var totals = StatusCounts()
            for spec in log.deliveries { totals[spec.reported(now: log.now)] += 1 }
            #expect(overview.totals == totals)
            #expect(overview.endpointCount == 4 && overview.pausedEndpoints == 1 && overview.disabledEndpoints == 1)
            #expect(overview.recent.attempts == 20 && overview.recent.successes == 15)
            var throughput = [Int](repeating: 0, count: 30)
            throughput[28] = 16
            throughput[26] = 4
            throughput[9] = 100
            #expect(overview.throughput == throughput)
            #expect(overview.deliveriesPerSecond > 0)
            // ep_a's pending delivery due 5 minutes ago; the expired lease (2 minutes) and ep_b's (1 minute) are later.
            #expect(overview.oldestDueAt == Date(milliseconds: log.now - 5 * Self.minute))
            #expect(overview.recentAlerts.map(\.sequence) == log.alerts.reversed())
            #expect(overview.writeProblem == nil)
        }
    }

    // MARK: Operators' history, recovery, alerts

    @Test func auditRecoveryAndAlerts() async throws {
        try await withPostgresEngine { engine in
            let log = try await Self.seed(engine)
            let audit = try await engine.auditEntries(objectId: nil, limit: 10)
            #expect(audit.map(\.action) == ["endpoint.disable", "endpoint.resume", "endpoint.pause"])
            #expect(try await engine.auditEntries(objectId: "ep_a", limit: 1).map(\.action) == ["endpoint.resume"])
            #expect(audit[0].who == "alice (10.0.0.5) via dispatcher")

            let progress = try #require(try await engine.recoveryProgress(endpointId: "ep_a"))
            #expect(progress.total == 4 && progress.waiting == 2 && progress.delivered == 1 && progress.failed == 1)
            #expect(progress.other == 0 && progress.topError == "http_status")
            #expect(progress.startedAt == Date(milliseconds: log.now - 30 * Self.minute))
            #expect(try await engine.recoveryProgress(endpointId: "ep_b") == nil)

            // ep_c: its four dead deliveries, and the eight messages it never got.
            let since = Date(milliseconds: log.now - 48 * Self.hour)
            #expect(try await engine.recoverableCount(endpointId: "ep_c", since: since) == 12)
            #expect(try await engine.recoverableCount(endpointId: "ep_a", since: since) == 2)
            // ep_b takes user.* only: it missed no message of its types.
            #expect(try await engine.recoverableCount(endpointId: "ep_b", since: since) == 1)
            await #expect(throws: HooktopError.self) { try await engine.recoverableCount(endpointId: "ep_x", since: since) }

            let newest = try await engine.alerts(before: nil, limit: 2)
            #expect(newest.map(\.id) == ["alrt_3", "alrt_2"])
            #expect(try await engine.alerts(before: newest[1].sequence, limit: 2).map(\.id) == ["alrt_1"])
            let alert = try #require(try await engine.alert(id: "alrt_2"))
            #expect(alert.type == .endpointDisabled && alert.status == .sent && alert.sentTo == ["url", "exec"])
            #expect(alert.summary == "summary of alrt_2" && alert.sentAt == Date(milliseconds: log.now - Self.hour + 15))
            #expect(try await engine.alert(id: "alrt_none") == nil)
        }
    }

    @Test func alertInputsReadEachEndpointsState() async throws {
        try await withPostgresEngine { engine in
            let log = try await Self.seed(engine)
            let now = Date(milliseconds: log.now)
            let inputs = try await engine.alertInputs(now: now, deadSince: Date(milliseconds: log.now - 40 * Self.hour))
            #expect(inputs.endpoints.map(\.endpoint.id) == ["ep_a", "ep_b", "ep_c", "ep_p"])
            let (a, b, c) = (inputs.endpoints[0], inputs.endpoints[1], inputs.endpoints[2])
            #expect(a.deadInWindow == 2 && b.deadInWindow == 1 && c.deadInWindow == 4)
            #expect(a.lastHealthAlert?.sequence == log.alerts[0] && a.lastHealthAlert?.type == .endpointFailing)
            #expect(b.lastHealthAlert == nil)
            #expect(a.failingSince == Date(milliseconds: log.now - 5 * Self.minute) && a.lastError == "HTTP 503 from w2")
            #expect(c.lastHealthAlert?.type == .endpointDisabled && c.disabledByDispatcher)
            #expect(c.disabledAt == Date(milliseconds: log.now - Self.hour))
            #expect(c.lastFailure == FailedAttempt(status: 410, error: "HTTP 410 Gone", responseExcerpt: "no, 5"))
            #expect(a.lastFailure == nil && !a.disabledByDispatcher)
            #expect(inputs.workers.map(\.id) == ["w1", "w2"])
            #expect(inputs.oldestDue?.endpointId == "ep_a")
            #expect(inputs.oldestDue?.at == Date(milliseconds: log.now - 5 * Self.minute))
            // Nothing due yet an hour ago.
            let earlier = try await engine.alertInputs(now: Date(milliseconds: log.now - Self.hour), deadSince: now)
            #expect(earlier.oldestDue == nil && earlier.endpoints[2].deadInWindow == 0)
        }
    }
}
