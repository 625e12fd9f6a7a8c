@testable import DeliveryCore
import Foundation
import HooktopTesting

/// A real delivery log with known content, built through the store the way the daemon and the operator fill it:
/// endpoints added, events published, deliveries claimed and their attempts recorded (with the retry schedule, the
/// per-minute stats, 410 auto-disable), an endpoint paused, a delivery cancelled and one redelivered by hand.
///
/// Everything happens at fixed times around `now` (2026-11-30 14:00:00 UTC) with chosen ids and a seeded generator
/// for retry jitter, so two builds give the same database and the same screens.
///
/// Content, oldest first (delivery ids are row ids, in publish order):
///
/// | delivery | message  | endpoint   | story                                                                    |
/// | -------- | -------- | ---------- | ------------------------------------------------------------------------ |
/// | 1        | msg_0001 | ep_billing | delivered                                                                |
/// | 2        | msg_0001 | ep_tokyo   | dead: 8 × 502 with an escape-laden CJK body (the hostile delivery)        |
/// | 3        | msg_0002 | ep_down    | dead: 8 × connection refused, then a manual redelivery refused again     |
/// | 4        | msg_0002 | ep_legacy  | delivered                                                                |
/// | 5        | msg_0003 | ep_crm     | delivered                                                                |
/// | 6        | msg_0003 | ep_gone    | dead: 410 Gone, which disabled the endpoint                              |
/// | 7        | msg_0004 | ep_billing | delivered                                                                |
/// | 8        | msg_0005 | ep_down    | retrying: 3 × connection refused                                         |
/// | 9        | msg_0005 | ep_legacy  | pending, held: the endpoint is paused                                    |
/// | 10       | msg_0006 | ep_crm     | retrying: 3 × 500                                                        |
/// | 11       | msg_0007 | ep_crm     | cancelled after a 503 with Retry-After                                   |
/// | 12       | msg_0008 | ep_billing | delivered                                                                |
/// | 13       | msg_0008 | ep_tokyo   | retrying: 3 × 502                                                        |
/// | 14–18    | msg_0009…msg_0013 | ep_billing | delivered (16: a timeout, then delivered on the retry)          |
/// | 19       | msg_0014 | ep_billing | in flight                                                                |
/// | 20       | msg_0015 | ep_crm     | pending, due now                                                         |
///
/// One dispatcher row (`w:fixture0001`, pid 4242 on box1) has a heartbeat a second before `now`.
final class FixtureDatabase: Sendable {
    /// The fixed "now": 2026-11-30 14:00:00 UTC.
    static let now = Date(timeIntervalSince1970: 1_796_047_200)
    /// Every endpoint's signing secret.
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    /// The dispatcher row, and the owner of every claim.
    static let workerId = "w:fixture0001"
    /// The hostile response body: an OSC title change, a BEL, a clear-screen, and CJK text.
    static let hostileBody = "\u{1b}]0;owned\u{07}\u{1b}[2J<h1>502 不正なゲートウェイ</h1>"

    /// The dead delivery whose attempts all got `hostileBody`.
    static let hostileDeliveryId: Int64 = 2

    let database: TemporaryDatabase
    var store: Store { database.store }

    private init(database: TemporaryDatabase) {
        self.database = database
    }

    /// Builds the database in a new temporary folder (removed when the value is released).
    static func make() async throws -> FixtureDatabase {
        let fixture = FixtureDatabase(database: try TemporaryDatabase())
        var builder = Builder(store: fixture.store)
        try await builder.fill()
        return fixture
    }

    /// A failure building the fixture: the story no longer matches what the store did.
    struct Mismatch: Error, CustomStringConvertible {
        var description: String
    }
}

extension FixtureDatabase {
    /// What a receiver did with one attempt.
    enum Reply {
        case ok(milliseconds: Int)
        case status(Int, reason: String, milliseconds: Int, body: String?, headers: [Header] = [],
            retryAfter: TimeInterval? = nil)
        case refused(milliseconds: Int)
        case timeout(milliseconds: Int)
    }

    struct Builder {
        let store: Store
        var random = SeededGenerator(seed: 20_261_130)
        let actor = Principal(user: "ops", pid: 4300, via: "cli")

        func at(_ offset: TimeInterval) -> Date { FixtureDatabase.now.addingTimeInterval(offset) }

        mutating func fill() async throws {
            let minute: TimeInterval = 60
            let hour: TimeInterval = 3600

            // Endpoints, a month old, one minute apart.
            let created = -30 * 86_400.0
            try addEndpoint(
                "ep_billing", "https://billing.example.com/webhooks", "Billing", ["invoice.*"], at: created)
            try addEndpoint("ep_crm", "https://crm.example.org/hooks/in", "CRM sync", ["user.*"], at: created + 60)
            try addEndpoint("ep_down", "https://down.example.net/hook", "", ["order.*"], at: created + 120)
            try addEndpoint("ep_gone", "https://old.example.com/h", "Legacy receiver", ["user.*"], at: created + 180)
            try addEndpoint(
                "ep_legacy", "https://legacy.example.com/notify", "Paused for maintenance", ["order.*"],
                at: created + 240)
            try addEndpoint(
                "ep_tokyo", "https://tokyo.example.jp/受信", "東京の受信者", ["invoice.paid"], at: created + 300)

            // A day and a half ago: two deliveries that used up the whole retry schedule.
            try publish("msg_0001", "invoice.paid", invoice(1, 4200), at: -34 * hour, expect: [1, 2])
            try attempt("ep_billing", at: -34 * hour + 1, expect: [1], .ok(milliseconds: 84))
            try exhaust(2, "ep_tokyo", from: -34 * hour + 1, tokyoBadGateway(milliseconds: 230))
            try publish("msg_0002", "order.shipped", order(2), at: -33 * hour, expect: [3, 4])
            try attempt("ep_legacy", at: -33 * hour + 1, expect: [4], .ok(milliseconds: 140))
            try exhaust(3, "ep_down", from: -33 * hour + 1, .refused(milliseconds: 3))

            // The last 40 minutes.
            try publish("msg_0003", "user.created", user(3), at: -40 * minute, expect: [5, 6])
            try attempt("ep_crm", at: -40 * minute + 1, expect: [5], .ok(milliseconds: 120))
            // 410 Gone: dead at once, and the endpoint is disabled by the dispatcher's own rule.
            try attempt(
                "ep_gone", at: -40 * minute + 1, expect: [6],
                .status(410, reason: "Gone", milliseconds: 66, body: "gone for good"))
            try await operations(at: -35 * minute).pause(endpointId: "ep_legacy", by: actor)

            try publish("msg_0004", "invoice.created", invoice(4, 1250), at: -30 * minute, expect: [7])
            try attempt("ep_billing", at: -30 * minute + 1, expect: [7], .ok(milliseconds: 38))

            try publish("msg_0005", "order.shipped", order(5), at: -25 * minute, expect: [8, 9])
            try retry(8, "ep_down", from: -25 * minute + 1, times: 3, .refused(milliseconds: 2))

            try publish("msg_0006", "user.created", user(6), at: -20 * minute, expect: [10])
            try retry(
                10, "ep_crm", from: -20 * minute + 1, times: 3,
                .status(
                    500, reason: "Internal Server Error", milliseconds: 310,
                    body: "{\"error\":\"database is locked\"}",
                    headers: [Header(name: "content-type", value: "application/json")]))

            try publish("msg_0007", "user.updated", user(7), at: -14 * minute, expect: [11])
            try attempt(
                "ep_crm", at: -14 * minute + 1, expect: [11],
                .status(503, reason: "Service Unavailable", milliseconds: 12, body: nil, retryAfter: 1200))
            try await operations(at: -12 * minute).cancel(deliveryId: 11, by: actor)

            try publish("msg_0008", "invoice.paid", invoice(8, 99_000), at: -10 * minute, expect: [12, 13])
            try attempt("ep_billing", at: -10 * minute + 1, expect: [12], .ok(milliseconds: 42))
            try retry(13, "ep_tokyo", from: -10 * minute + 1, times: 3, tokyoBadGateway(milliseconds: 180))

            // An operator retries the long-dead delivery by hand; the receiver still refuses.
            let queued = try await operations(at: -8 * minute).redeliver(deliveryId: 3, by: actor)
            guard queued == .queued(deliveryId: 3) else { throw Mismatch(description: "redelivery: \(queued)") }
            try attempt("ep_down", at: -8 * minute, expect: [3], .refused(milliseconds: 4))

            // Steady traffic to billing; one timeout, delivered on the retry.
            let latencies = [35, 61, 180, 48, 420]
            for (index, offset) in [-8 * minute, -6 * minute, -4 * minute, -2 * minute, -1 * minute].enumerated() {
                let number = 9 + index
                let delivery = Int64(14 + index)
                try publish(
                    String(format: "msg_%04d", number), "invoice.created", invoice(number, 100 * (number + 1)),
                    at: offset, expect: [delivery])
                if number == 11 {
                    try attempt(
                        "ep_billing", at: offset + 1, expect: [delivery], .timeout(milliseconds: 15_000))
                    let next = try due(delivery)
                    try attempt("ep_billing", at: next, expect: [delivery], .ok(milliseconds: 95))
                } else {
                    try attempt("ep_billing", at: offset + 1, expect: [delivery], .ok(milliseconds: latencies[index]))
                }
            }

            // In flight: claimed two seconds ago, no outcome yet.
            try publish("msg_0014", "invoice.created", invoice(14, 1500), at: -3, expect: [19])
            let claimed = try store.claimDue(
                [ClaimRequest(endpoint: try store.requireEndpoint(id: "ep_billing"), limit: 100)], owner: FixtureDatabase.workerId, now: at(-2),
                lease: 60)
            guard claimed.map(\.deliveryId) == [19] else {
                throw Mismatch(description: "in-flight claim took \(claimed.map(\.deliveryId))")
            }
            // Pending, due now.
            try publish("msg_0015", "user.deleted", user(15), at: -1, expect: [20])

            try store.heartbeat(
                WorkerInfo(
                    id: FixtureDatabase.workerId, pid: 4242, host: "box1", startedAt: at(-3 * hour),
                    heartbeatAt: at(-1), version: "0.1.0", inFlight: 1,
                    retryDelays: RetryPolicy.standard.delays))
        }

        // MARK: - Steps

        func operations(at offset: TimeInterval) -> Operations {
            let time = at(offset)
            return Operations(store: store, now: { time })
        }

        func addEndpoint(
            _ id: String, _ url: String, _ description: String, _ types: [String], at offset: TimeInterval
        ) throws {
            _ = try store.addEndpoint(
                url: url, changes: EndpointChanges(description: description, eventTypes: types),
                secret: FixtureDatabase.secret, id: id, now: at(offset), by: actor)
        }

        /// Publishes a message and checks which deliveries it fanned out to.
        func publish(_ id: String, _ type: String, _ payload: String, at offset: TimeInterval, expect: [Int64])
            throws
        {
            _ = try store.publish(eventType: type, payload: payload, id: id, now: at(offset))
            let deliveries = try store.deliveries(DeliveryQuery(messageId: id)).map(\.id).sorted()
            guard deliveries == expect else {
                throw Mismatch(description: "\(id) fanned out to \(deliveries), expected \(expect)")
            }
        }

        /// When a waiting delivery is due.
        func due(_ deliveryId: Int64) throws -> TimeInterval {
            guard let next = try store.delivery(id: deliveryId)?.nextAttemptAt else {
                throw Mismatch(description: "delivery \(deliveryId) is not waiting")
            }
            return next.timeIntervalSince(FixtureDatabase.now)
        }

        /// Claims what is due for the endpoint at `offset`, as the dispatcher does, checks it is `expect`, and records
        /// `reply` for each, with the standard retry schedule.
        mutating func attempt(_ endpointId: String, at offset: TimeInterval, expect: [Int64], _ reply: Reply) throws {
            let started = at(offset)
            let endpoint = try store.requireEndpoint(id: endpointId)
            let jobs = try store.claimDue([ClaimRequest(endpoint: endpoint, limit: 100)], owner: FixtureDatabase.workerId, now: started, lease: 60)
            guard jobs.map(\.deliveryId).sorted() == expect else {
                throw Mismatch(
                    description: "\(endpointId) at \(offset): claimed \(jobs.map(\.deliveryId)), expected \(expect)")
            }
            let outcomes = jobs.map { outcome($0, reply, started: started) }
            let finished = started.addingTimeInterval(Double(outcomes.map(\.durationMilliseconds).max() ?? 0) / 1000)
            try store.record(
                outcomes, owner: FixtureDatabase.workerId, policy: .standard, autoDisableAfter: 5 * 86_400,
                now: finished, random: &random)
        }

        /// Attempts a delivery `times` times, each when the schedule says it is due.
        mutating func retry(
            _ deliveryId: Int64, _ endpointId: String, from offset: TimeInterval, times: Int, _ reply: Reply
        ) throws {
            var when = offset
            for _ in 0..<times {
                try attempt(endpointId, at: when, expect: [deliveryId], reply)
                if try store.delivery(id: deliveryId)?.status != .retrying { break }
                when = try due(deliveryId)
            }
        }

        /// Fails a delivery on every attempt of the schedule, until it is dead.
        mutating func exhaust(_ deliveryId: Int64, _ endpointId: String, from offset: TimeInterval, _ reply: Reply)
            throws
        {
            try retry(deliveryId, endpointId, from: offset, times: RetryPolicy.standard.maxAttempts, reply)
            guard try store.delivery(id: deliveryId)?.status == .dead else {
                throw Mismatch(description: "delivery \(deliveryId) is not dead after the whole schedule")
            }
        }

        // MARK: - Content

        func tokyoBadGateway(milliseconds: Int) -> Reply {
            .status(
                502, reason: "Bad Gateway", milliseconds: milliseconds, body: FixtureDatabase.hostileBody,
                headers: [
                    Header(name: "content-type", value: "text/html; charset=utf-8"),
                    Header(name: "x-upstream", value: "\u{1b}[31m東京-edge-2\u{1b}[0m"),
                ])
        }

        func invoice(_ number: Int, _ amount: Int) -> String {
            "{\"id\":\"in_\(1000 + number)\",\"amount\":\(amount),\"currency\":\"jpy\",\"note\":\"お支払い\"}"
        }

        func order(_ number: Int) -> String {
            "{\"id\":\"ord_\(2000 + number)\",\"carrier\":\"yamato\",\"items\":[{\"sku\":\"A-1\",\"qty\":2}]}"
        }

        func user(_ number: Int) -> String {
            "{\"id\":\"usr_\(3000 + number)\",\"email\":\"user\(number)@example.com\",\"name\":\"山田 太郎\"}"
        }

        /// The outcome the sender would produce for `reply`: the signed request headers, the response, the error.
        func outcome(_ job: DeliveryJob, _ reply: Reply, started: Date) -> AttemptOutcome {
            let timestamp = Int64(started.timeIntervalSince1970)
            let body = WebhookSender.body(for: job.message)
            let keys = [try! WebhookSignature.key(fromSecret: job.endpoint.secret)]
            let request = [
                Header(name: "content-type", value: "application/json"),
                Header(name: "user-agent", value: "hooktop/0.1.0"),
                Header(name: "webhook-id", value: job.message.id),
                Header(name: "webhook-timestamp", value: String(timestamp)),
                Header(
                    name: "webhook-signature",
                    value: WebhookSignature.header(
                        id: job.message.id, timestamp: timestamp, body: Array(body.utf8), keys: keys)),
            ]
            var outcome = AttemptOutcome(
                deliveryId: job.deliveryId, endpointId: job.endpoint.id, trigger: job.trigger, startedAt: started,
                durationMilliseconds: 0, requestHeaders: request, responseStatus: nil, responseHeaders: [],
                responseBodyExcerpt: nil, errorClass: nil, errorMessage: nil, retryAfter: nil)
            switch reply {
            case .ok(let milliseconds):
                outcome.durationMilliseconds = milliseconds
                outcome.responseStatus = 200
                outcome.responseHeaders = [
                    Header(name: "content-type", value: "application/json"), Header(name: "server", value: "nginx"),
                ]
                outcome.responseBodyExcerpt = "{\"ok\":true}"
            case .status(let status, let reason, let milliseconds, let body, let headers, let retryAfter):
                outcome.durationMilliseconds = milliseconds
                outcome.responseStatus = status
                outcome.responseHeaders =
                    headers + (retryAfter.map { [Header(name: "retry-after", value: String(Int($0)))] } ?? [])
                outcome.responseBodyExcerpt = body
                outcome.retryAfter = retryAfter
                outcome.errorClass = .httpStatus
                outcome.errorMessage = "HTTP \(status) \(reason)"
            case .refused(let milliseconds):
                outcome.durationMilliseconds = milliseconds
                outcome.errorClass = .connectRefused
                outcome.errorMessage = "connection refused"
            case .timeout(let milliseconds):
                outcome.durationMilliseconds = milliseconds
                outcome.errorClass = .timeout
                outcome.errorMessage = "no response within the timeout"
            }
            return outcome
        }
    }
}
