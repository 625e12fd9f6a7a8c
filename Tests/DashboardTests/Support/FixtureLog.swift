import DeliveryCore
import Foundation

/// A deterministic in-memory delivery log with known content: every endpoint and delivery status, failure groups,
/// a hostile response body, CJK text. Records every operation it is asked to perform.
///
/// `@unchecked Sendable`: all mutable state is guarded by `lock`.
final class FixtureLog: DeliveryLogReader, DeliveryOperations, @unchecked Sendable {
    /// The fixed "now" of the fixture: 2024-05-01 14:02:09 UTC.
    static let now = Date(timeIntervalSince1970: 1_714_572_129)

    private let lock = NSLock()
    private var counter: Int64 = 1
    private var endpointList: [Endpoint]
    private var deliveryList: [Delivery]  // newest (highest id) first
    private var attemptsById: [Int64: [Attempt]]
    private var messageList: [MessageSummary]
    private var workers: [WorkerInfo]
    private var attemptsByWorker: [String: Int]
    private(set) var recorded: [String] = []
    /// What `redeliver` returns: queued (a dispatcher is alive) or performed here.
    var redeliveryPerforms = false
    /// What the overview says of the log taking writes.
    var writeProblem: String?
    /// What `recoveryProgress` answers (tests move it along).
    var recovery: RecoveryProgress?
    /// Recorded alerts, newest first (none unless a test sets them).
    var alertList: [Alert] = []

    var actions: [String] { lock.withLock { recorded } }

    init(extraDeliveries: Int = 0, dispatcherAlive: Bool = true) {
        let t = Self.now
        func ep(_ id: String, _ url: String, _ description: String, _ status: EndpointStatus, _ reason: String? = nil)
            -> Endpoint
        {
            Endpoint(
                id: id, url: url, description: description, status: status, disabledReason: reason,
                secret: "whsec_dGVzdA==", createdAt: t.addingTimeInterval(-86_400 * 30),
                updatedAt: t.addingTimeInterval(-3600))
        }
        endpointList = [
            ep("ep_billing", "https://billing.example.com/webhooks", "Billing", .active),
            ep("ep_crm", "https://crm.example.org/hooks/in", "CRM sync", .active),
            ep("ep_down", "https://down.example.net/hook", "", .active),
            ep("ep_gone", "https://old.example.com/h", "Legacy", .disabled, "410 Gone from endpoint"),
            ep("ep_legacy", "https://legacy.example.com/notify", "Paused for maintenance", .paused),
            ep("ep_tokyo", "https://tokyo.example.jp/受信", "東京の受信者", .active),
        ]
        messageList = []
        deliveryList = []
        attemptsById = [:]
        workers =
            dispatcherAlive
            ? [
                WorkerInfo(
                    id: "w1", pid: 4242, host: "box1", startedAt: t.addingTimeInterval(-7200),
                    heartbeatAt: t.addingTimeInterval(-1), version: "0.1.0", inFlight: 3,
                    retryDelays: RetryPolicy.standard.delays)
            ]
            : [
                WorkerInfo(
                    id: "w0", pid: 4100, host: "box1", startedAt: t.addingTimeInterval(-9000),
                    heartbeatAt: t.addingTimeInterval(-95), version: "0.1.0", inFlight: 0,
                    retryDelays: RetryPolicy.standard.delays)
            ]
        attemptsByWorker = dispatcherAlive ? ["w1": 1200] : [:]

        let types = ["invoice.paid", "invoice.created", "user.created", "order.shipped"]
        let plan: [(String, DeliveryStatus, Int, Int?, ErrorClass?, String?)] = [
            ("ep_billing", .delivered, 1, 200, nil, nil),
            ("ep_crm", .retrying, 3, 500, .httpStatus, "Internal Server Error"),
            ("ep_down", .dead, 8, nil, .connectRefused, "connect ECONNREFUSED 203.0.113.7:443"),
            ("ep_legacy", .pending, 0, nil, nil, nil),
            ("ep_tokyo", .delivered, 1, 200, nil, nil),
            ("ep_billing", .inflight, 1, nil, nil, nil),
            ("ep_crm", .cancelled, 2, 503, .httpStatus, "Service Unavailable"),
            ("ep_down", .retrying, 2, nil, .connectRefused, "connect ECONNREFUSED 203.0.113.7:443"),
            ("ep_tokyo", .dead, 8, 502, .httpStatus, "\u{1b}]0;owned\u{07}\u{1b}[2J bad gateway 支払い"),
            ("ep_billing", .delivered, 2, 200, nil, nil),
            ("ep_gone", .dead, 1, 410, .httpStatus, "Gone"),
            ("ep_legacy", .retrying, 1, nil, .timeout, "timed out after 15000 ms"),
        ]
        let total = plan.count + extraDeliveries
        var sequence: Int64 = 1
        for index in 0..<total {
            let id = Int64(1000 + index)
            let (endpointId, status, attempts, code, errorClass, error) =
                index < plan.count ? plan[index] : ("ep_billing", .delivered, 1, 200, nil, nil)
            let created = t.addingTimeInterval(-Double(total - index) * 17)
            let messageId = String(format: "msg_%04d", index)
            let type = types[index % types.count]
            let next: Date? =
                DeliveryStatus.waiting.contains(status) ? t.addingTimeInterval(Double(index * 37 + 20)) : nil
            deliveryList.insert(
                Delivery(
                    id: id, messageId: messageId, endpointId: endpointId, eventType: type, status: status,
                    attemptCount: attempts, nextAttemptAt: next, lastStatusCode: code, lastError: error,
                    lastErrorClass: errorClass, lastLatencyMilliseconds: attempts == 0 ? nil : 35 + index % 7 * 40,
                    createdAt: created, updatedAt: created.addingTimeInterval(5)), at: 0)
            var list: [Attempt] = []
            for n in 0..<attempts {
                let last = n == attempts - 1
                let failed = !(last && (code.map { (200..<300).contains($0) } ?? false))
                list.append(
                    Attempt(
                        id: id * 10 + Int64(n), deliveryId: id, number: n + 1,
                        trigger: n == 1 && attempts == 2 ? .manual : .scheduled,
                        startedAt: created.addingTimeInterval(Double(n) * 5), durationMilliseconds: 35 + n * 12,
                        requestHeaders: [
                            Header(name: "content-type", value: "application/json"),
                            Header(name: "webhook-id", value: messageId),
                            Header(name: "webhook-timestamp", value: "1714572000"),
                            Header(name: "webhook-signature", value: "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="),
                        ],
                        responseStatus: failed ? (errorClass == .httpStatus ? code : nil) : code,
                        responseHeaders: failed && errorClass != .httpStatus
                            ? [] : [Header(name: "server", value: "nginx")],
                        responseBodyExcerpt: failed && errorClass != .httpStatus
                            ? nil
                            : (endpointId == "ep_tokyo" && failed
                                ? "\u{1b}]0;owned\u{07}\u{1b}[2J<h1>502 不正なゲートウェイ</h1>" : "{\"ok\":true}"),
                        errorClass: failed ? (errorClass ?? .timeout) : nil,
                        errorMessage: failed ? (error ?? "timed out after 15000 ms") : nil))
            }
            attemptsById[id] = list
            if index < plan.count || index % 3 == 0 {
                let payload =
                    "{\"type\":\"\(type)\",\"data\":{\"id\":\"in_\(index)\",\"amount\":\(index * 100),\"note\":\"お支払い\"}}"
                messageList.insert(
                    MessageSummary(
                        message: Message(
                            id: messageId, eventType: type, payload: payload, idempotencyKey: nil, createdAt: created),
                        sequence: sequence, deliveryCount: 1 + index % 3,
                        delivered: status == .delivered ? 1 + index % 3 : 0,
                        failing: status == .retrying ? 1 : 0, dead: status == .dead ? 1 : 0), at: 0)
                sequence += 1
            }
        }
    }

    // MARK: - Test helpers

    /// Adds a new delivery at the head of the log (what a live dispatcher does).
    @discardableResult
    func appendDelivery(status: DeliveryStatus = .delivered, endpointId: String = "ep_billing") -> Int64 {
        lock.withLock {
            let id = (deliveryList.first?.id ?? 999) + 1
            deliveryList.insert(
                Delivery(
                    id: id, messageId: "msg_new\(id)", endpointId: endpointId, eventType: "user.created",
                    status: status,
                    attemptCount: 1, nextAttemptAt: nil, lastStatusCode: 200, lastError: nil, lastErrorClass: nil,
                    lastLatencyMilliseconds: 20, createdAt: Self.now, updatedAt: Self.now), at: 0)
            counter += 1
            return id
        }
    }

    var newestDeliveryId: Int64? { lock.withLock { deliveryList.first?.id } }

    /// Changes a delivery's status (what the dispatcher does as it works).
    func setDeliveryStatus(_ id: Int64, _ status: DeliveryStatus) {
        lock.withLock {
            if let index = deliveryList.firstIndex(where: { $0.id == id }) { deliveryList[index].status = status }
            counter += 1
        }
    }

    /// Records a new manual attempt on a delivery (what the dispatcher does after a redelivery).
    func addAttempt(deliveryId: Int64, status: Int, milliseconds: Int) {
        lock.withLock {
            var list = attemptsById[deliveryId] ?? []
            list.append(
                Attempt(
                    id: deliveryId * 10 + 9, deliveryId: deliveryId, number: list.count + 1, trigger: .manual,
                    startedAt: Self.now,
                    durationMilliseconds: milliseconds, requestHeaders: [], responseStatus: status, responseHeaders: [],
                    responseBodyExcerpt: nil, errorClass: nil, errorMessage: nil))
            attemptsById[deliveryId] = list
            counter += 1
        }
    }

    // MARK: - DeliveryLogReader

    func changeCounter() throws -> Int64 { lock.withLock { counter } }

    func overview(now: Date) throws -> Overview {
        lock.withLock {
            var totals = StatusCounts()
            for d in deliveryList { totals[d.status] += 1 }
            totals.dead += 300
            totals.retrying += 12
            var recent = WindowStats()
            recent.attempts = 1200
            recent.successes = 1150
            recent.failures = 50
            recent.p50Milliseconds = 42
            recent.p95Milliseconds = 870
            var overview = Overview(
                workers: workers, deliveriesPerSecond: 3.8, recent: recent, totals: totals,
                endpointCount: endpointList.count, pausedEndpoints: endpointList.filter { $0.status == .paused }.count,
                disabledEndpoints: endpointList.filter { $0.status == .disabled }.count,
                throughput: (0..<30).map { [12, 18, 25, 40, 38, 22, 9, 0, 5, 30][$0 % 10] * ($0 / 10 + 1) },
                writeProblem: writeProblem, oldestDueAt: oldestDue)
            overview.recentAlerts = Array(alertList.prefix(Overview.recentAlertLimit))
            overview.recentAttemptsByWorker = attemptsByWorker
            return overview
        }
    }

    /// Replaces the dispatchers' heartbeat rows, and their attempts over the last 5 minutes by worker id.
    func setDispatchers(_ workers: [WorkerInfo], attempts: [String: Int]) {
        lock.withLock {
            self.workers = workers
            attemptsByWorker = attempts
        }
    }

    /// When the oldest due delivery was due (the header's `overdue`).
    var oldestDueAt: Date? {
        get { lock.withLock { oldestDue } }
        set { lock.withLock { oldestDue = newValue } }
    }
    private var oldestDue: Date?

    func endpointSummaries(now: Date) throws -> [EndpointSummary] {
        lock.withLock {
            endpointList.enumerated().map { index, endpoint in
                var counts = StatusCounts()
                for d in deliveryList where d.endpointId == endpoint.id { counts[d.status] += 1 }
                if endpoint.id == "ep_down" { counts.dead += 300 }
                var recent = WindowStats()
                recent.attempts = [400, 120, 60, 0, 0, 30][index]
                recent.successes = [399, 100, 0, 0, 0, 27][index]
                recent.failures = recent.attempts - recent.successes
                recent.p50Milliseconds = recent.attempts == 0 ? nil : Double([38, 120, 3, 0, 0, 240][index])
                recent.p95Milliseconds = recent.attempts == 0 ? nil : Double([95, 900, 8, 0, 0, 1800][index])
                let lastError = deliveryList.first { $0.endpointId == endpoint.id && $0.lastError != nil }?.lastError
                // CRM sync recovered a minute ago; the other endpoints with an error are still failing.
                let recovered = endpoint.id == "ep_crm"
                return EndpointSummary(
                    endpoint: endpoint, counts: counts, recent: recent, lastError: lastError,
                    lastAttemptAt: Self.now.addingTimeInterval(-Double(index * 30)),
                    failingSince: lastError == nil || recovered ? nil : Self.now.addingTimeInterval(-3600),
                    lastSuccessAt: recovered ? Self.now.addingTimeInterval(-60) : nil,
                    lastAction: Self.fixtureAudit.first { $0.objectId == endpoint.id })
            }
        }
    }

    func endpoint(id: String) throws -> Endpoint? { lock.withLock { endpointList.first { $0.id == id } } }

    func deliveries(_ query: DeliveryQuery) throws -> [Delivery] {
        lock.withLock {
            let ordered: [Delivery] =
                switch query.order {
                case .newest: deliveryList
                case .oldest: deliveryList.reversed()
                case .slowest: deliveryList.sorted { ($0.lastLatencyMilliseconds ?? -1, $0.id) > ($1.lastLatencyMilliseconds ?? -1, $1.id) }
                case .mostAttempts: deliveryList.sorted { ($0.attemptCount, $0.id) > ($1.attemptCount, $1.id) }
                }
            return Array(
                ordered.lazy.filter { d in
                    (query.statuses.isEmpty || query.statuses.contains(d.status))
                        && (query.endpointId.map { d.endpointId == $0 } ?? true)
                        && (query.eventType.map { d.eventType == $0 } ?? true)
                        && (query.messageId.map { d.messageId == $0 } ?? true)
                        && (query.before.map { d.id < $0 } ?? true)
                        && (query.after.map { d.id > $0 } ?? true)
                        && (query.since.map { d.createdAt >= $0 } ?? true)
                        && (query.until.map { d.createdAt < $0 } ?? true)
                        && (query.text.map { text in
                            let endpoint = self.endpointList.first { $0.id == d.endpointId }
                            return [d.eventType, d.lastError ?? "", endpoint?.description ?? "", endpoint?.url ?? ""]
                                .contains { $0.lowercased().contains(text.lowercased()) }
                        } ?? true)
                }.prefix(query.limit))
        }
    }

    func retryQueue(_ query: RetryQueueQuery) throws -> [Delivery] {
        lock.withLock {
            let waiting = deliveryList.filter { DeliveryStatus.waiting.contains($0.status) }
                .filter { d in query.endpointId.map { d.endpointId == $0 } ?? true }
                .sorted { ($0.nextAttemptAt ?? .distantPast, $0.id) < ($1.nextAttemptAt ?? .distantPast, $1.id) }
            let after = waiting.filter { d in
                guard let (date, id) = query.after else { return true }
                return (d.nextAttemptAt ?? .distantPast, d.id) > (date, id)
            }
            return Array(after.prefix(query.limit))
        }
    }

    func failureGroups(endpointId: String?, limit: Int) throws -> [FailureGroup] {
        let t = Self.now
        let groups = [
            FailureGroup(
                endpointId: "ep_down", endpointURL: "https://down.example.net/hook", errorClass: .connectRefused,
                statusCode: nil, count: 312, dead: 301, retrying: 11, lastAt: t.addingTimeInterval(-40),
                lastError: "connect ECONNREFUSED 203.0.113.7:443"),
            FailureGroup(
                endpointId: "ep_crm", endpointURL: "https://crm.example.org/hooks/in", errorClass: .httpStatus,
                statusCode: 500, count: 41, dead: 0, retrying: 41, lastAt: t.addingTimeInterval(-75),
                lastError: "Internal Server Error"),
            FailureGroup(
                endpointId: "ep_tokyo", endpointURL: "https://tokyo.example.jp/受信", errorClass: .httpStatus,
                statusCode: 502, count: 3, dead: 3, retrying: 0, lastAt: t.addingTimeInterval(-300),
                lastError: "\u{1b}]0;owned\u{07}\u{1b}[2J bad gateway 支払い"),
            FailureGroup(
                endpointId: "ep_legacy", endpointURL: "https://legacy.example.com/notify", errorClass: .timeout,
                statusCode: nil, count: 1, dead: 0, retrying: 1, lastAt: t.addingTimeInterval(-600),
                lastError: "timed out after 15000 ms"),
        ]
        return Array(groups.filter { g in endpointId.map { g.endpointId == $0 } ?? true }.prefix(limit))
    }

    func failureSamples(endpointId: String, errorClass: ErrorClass?, statusCode: Int?, limit: Int) throws
        -> [Delivery]
    {
        lock.withLock {
            Array(
                deliveryList.lazy.filter { d in
                    d.endpointId == endpointId && d.lastErrorClass == errorClass && d.lastStatusCode == statusCode
                        && (d.status == .dead || d.status == .retrying)
                }.prefix(limit))
        }
    }

    func messages(eventType: String?, before: Int64?, limit: Int) throws -> [MessageSummary] {
        lock.withLock {
            Array(
                messageList.lazy.filter { m in
                    (eventType.map { m.message.eventType == $0 } ?? true) && (before.map { m.sequence < $0 } ?? true)
                }.prefix(limit))
        }
    }

    func deliveryDetail(id: Int64) throws -> DeliveryDetail? {
        lock.withLock {
            guard let delivery = deliveryList.first(where: { $0.id == id }),
                let endpoint = endpointList.first(where: { $0.id == delivery.endpointId })
            else { return nil }
            let message =
                messageList.first { $0.message.id == delivery.messageId }?.message
                ?? Message(
                    id: delivery.messageId, eventType: delivery.eventType, payload: "not json {", idempotencyKey: nil,
                    createdAt: delivery.createdAt)
            return DeliveryDetail(
                delivery: delivery, message: message, endpoint: endpoint, attempts: attemptsById[id] ?? [],
                maxAttempts: 8)
        }
    }

    func recoverableCount(endpointId: String, since: Date) throws -> Int {
        endpointId == "ep_down" ? 312 : 0
    }

    /// Who paused Legacy (over SSH, an hour ago), then the actions taken through this log, newest first.
    static let fixtureAudit = [
        AuditEntry(
            at: now.addingTimeInterval(-3600), action: "endpoint.pause", objectType: "endpoint", objectId: "ep_legacy",
            detail: "", user: "alice", pid: 812, via: "dashboard", origin: "ssh 10.0.0.5 port 52311", tty: "/dev/pts/3"),
        AuditEntry(
            at: now.addingTimeInterval(-7200), action: "endpoint.disable", objectType: "endpoint", objectId: "ep_gone",
            detail: "410 Gone from endpoint", user: "hooktop", pid: 4242, via: "dispatcher"),
    ]

    func recoveryProgress(endpointId: String) throws -> RecoveryProgress? {
        lock.withLock { recovery?.endpointId == endpointId ? recovery : nil }
    }

    func alerts(before: Int64?, limit: Int) throws -> [Alert] {
        lock.withLock { Array(alertList.filter { $0.sequence < before ?? Int64.max }.prefix(limit)) }
    }

    func auditEntries(objectId: String?, limit: Int) throws -> [AuditEntry] {
        let taken = actions.reversed().map { text -> AuditEntry in
            let parts = text.split(separator: " ").map(String.init)
            return AuditEntry(
                at: Self.now, action: parts.first ?? text, objectType: "endpoint", objectId: parts.last ?? "",
                detail: "", user: "test", pid: 1, via: "dashboard")
        }
        return Array((taken + Self.fixtureAudit).filter { objectId == nil || $0.objectId == objectId }.prefix(limit))
    }

    /// Gives an endpoint a rate limit.
    func setRateLimit(_ id: String, _ limit: Int?) {
        lock.withLock {
            if let index = endpointList.firstIndex(where: { $0.id == id }) { endpointList[index].rateLimit = limit }
        }
    }

    /// Gives an endpoint connection settings (headers, a credential...).
    func setConnection(_ id: String, _ settings: ConnectionSettings) {
        lock.withLock {
            if let index = endpointList.firstIndex(where: { $0.id == id }) { endpointList[index].connection = settings }
        }
    }

    // MARK: - DeliveryOperations

    private func record(_ text: String) {
        lock.withLock {
            recorded.append(text)
            counter += 1
        }
    }

    private func setStatus(_ id: String, _ status: EndpointStatus) throws {
        try lock.withLock {
            guard let index = endpointList.firstIndex(where: { $0.id == id }) else {
                throw HooktopError.notFound("endpoint", id)
            }
            endpointList[index].status = status
        }
    }

    func pause(endpointId: String, by actor: Principal) async throws {
        try setStatus(endpointId, .paused)
        record("pause \(endpointId)")
    }

    func resume(endpointId: String, by actor: Principal) async throws {
        try setStatus(endpointId, .active)
        record("resume \(endpointId)")
    }

    func disable(endpointId: String, reason: String, by actor: Principal) async throws {
        try setStatus(endpointId, .disabled)
        record("disable \(endpointId)")
    }

    func enable(endpointId: String, by actor: Principal) async throws {
        try setStatus(endpointId, .active)
        record("enable \(endpointId)")
    }

    func redeliver(deliveryId: Int64, by actor: Principal) async throws -> RedeliveryOutcome {
        record("redeliver \(deliveryId)")
        if redeliveryPerforms {
            return .performed(
                Attempt(
                    id: 1, deliveryId: deliveryId, number: 9, trigger: .manual, startedAt: Self.now,
                    durationMilliseconds: 35,
                    requestHeaders: [], responseStatus: 200, responseHeaders: [], responseBodyExcerpt: nil,
                    errorClass: nil,
                    errorMessage: nil))
        }
        return .queued(deliveryId: deliveryId)
    }

    func recover(endpointId: String, since: Date, by actor: Principal) async throws -> Int {
        record("recover \(endpointId) since \(Int(since.timeIntervalSince1970))")
        return try recoverableCount(endpointId: endpointId, since: since)
    }

    func setRateLimit(endpointId: String, limit: Int?, by actor: Principal) async throws {
        record("rate limit \(endpointId) \(limit.map(String.init) ?? "none")")
        setRateLimit(endpointId, limit)
    }

    func replay(_ filter: DeliveryFilter, dryRun: Bool, by actor: Principal) async throws -> Int {
        record("replay \(filter.summary)\(dryRun ? " dry" : "")")
        return 42
    }

    func testEndpoint(id: String, by actor: Principal) async throws -> AttemptOutcome {
        record("test \(id)")
        return AttemptOutcome(
            deliveryId: 0, endpointId: id, trigger: .manual, startedAt: Self.now, durationMilliseconds: 12,
            requestHeaders: [], responseStatus: 204, responseHeaders: [], responseBodyExcerpt: nil, errorClass: nil,
            errorMessage: nil, retryAfter: nil)
    }

    func cancel(deliveryId: Int64, by actor: Principal) async throws {
        record("cancel \(deliveryId)")
    }
}
