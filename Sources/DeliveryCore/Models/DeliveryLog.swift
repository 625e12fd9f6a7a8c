import Foundation

/// Counts of one endpoint's deliveries by status, kept current by the store (never counted from the log).
public struct StatusCounts: Sendable, Equatable, Codable {
    public var pending = 0
    public var inflight = 0
    public var delivered = 0
    public var retrying = 0
    public var dead = 0
    public var cancelled = 0

    public init() {}

    public subscript(status: DeliveryStatus) -> Int {
        get {
            switch status {
            case .pending: pending
            case .inflight: inflight
            case .delivered: delivered
            case .retrying: retrying
            case .dead: dead
            case .cancelled: cancelled
            }
        }
        set {
            switch status {
            case .pending: pending = newValue
            case .inflight: inflight = newValue
            case .delivered: delivered = newValue
            case .retrying: retrying = newValue
            case .dead: dead = newValue
            case .cancelled: cancelled = newValue
            }
        }
    }

    /// Deliveries waiting for an attempt (pending and retrying).
    public var queued: Int { pending + retrying }
}

/// Attempts, successes and latency over a window, from the per-minute stats buckets.
public struct WindowStats: Sendable, Equatable, Codable {
    public var attempts = 0
    public var successes = 0
    public var failures = 0
    /// Median attempt latency in milliseconds, estimated from the latency histogram.
    public var p50Milliseconds: Double?
    public var p95Milliseconds: Double?
    public var p99Milliseconds: Double?

    public init() {}

    /// Successes over attempts, or `nil` without attempts.
    public var successRate: Double? { attempts == 0 ? nil : Double(successes) / Double(attempts) }
}

/// One endpoint's health, for the Endpoints view and `hooktop stats`.
public struct EndpointSummary: Sendable, Equatable {
    public var endpoint: Endpoint
    public var counts: StatusCounts
    /// Over the last 5 minutes.
    public var recent: WindowStats
    public var lastError: String?
    public var lastAttemptAt: Date?
    /// The first failure of the current run of failures; nil once an attempt succeeds.
    public var failingSince: Date?
    public var lastSuccessAt: Date?
    /// The newest operator action on the endpoint (who paused it, and when).
    public var lastAction: AuditEntry?

    public init(
        endpoint: Endpoint, counts: StatusCounts, recent: WindowStats, lastError: String?, lastAttemptAt: Date?,
        failingSince: Date? = nil, lastSuccessAt: Date? = nil, lastAction: AuditEntry? = nil
    ) {
        self.lastAction = lastAction
        self.endpoint = endpoint
        self.counts = counts
        self.recent = recent
        self.lastError = lastError
        self.lastAttemptAt = lastAttemptAt
        self.failingSince = failingSince
        self.lastSuccessAt = lastSuccessAt
    }
}

/// Everything the dashboard header shows.
public struct Overview: Sendable, Equatable {
    /// Dispatchers with a heartbeat row, alive or stale.
    public var workers: [WorkerInfo]
    /// Successful deliveries per second over the last minute.
    public var deliveriesPerSecond: Double
    /// Over the last 5 minutes.
    public var recent: WindowStats
    public var totals: StatusCounts
    public var endpointCount: Int
    public var pausedEndpoints: Int
    public var disabledEndpoints: Int
    /// Attempts per minute for the last 30 minutes, oldest first (30 values).
    public var throughput: [Int]
    /// Why the log does not take writes (`disk full`), or nil when it does.
    public var writeProblem: String?
    /// When the oldest delivery that is due and not held (its endpoint active) was due; nil when none is.
    public var oldestDueAt: Date?
    /// The newest alerts (at most `Overview.recentAlertLimit`), newest first: the header counts the last hour's.
    public var recentAlerts: [Alert] = []
    /// Attempts each dispatcher recorded over the last 5 minutes, by worker id (one without any is missing).
    public var recentAttemptsByWorker: [String: Int] = [:]

    public static let recentAlertLimit = 20

    /// Alerts about a problem (not recoveries or tests) raised within `window` of `now`.
    public func problemAlerts(now: Date, window: TimeInterval = 3600) -> [Alert] {
        recentAlerts.filter {
            $0.type != .endpointRecovered && $0.type != .test && now.timeIntervalSince($0.at) < window
        }
    }

    public init(
        workers: [WorkerInfo], deliveriesPerSecond: Double, recent: WindowStats, totals: StatusCounts,
        endpointCount: Int, pausedEndpoints: Int, disabledEndpoints: Int, throughput: [Int], writeProblem: String? = nil,
        oldestDueAt: Date? = nil
    ) {
        self.oldestDueAt = oldestDueAt
        self.workers = workers
        self.deliveriesPerSecond = deliveriesPerSecond
        self.recent = recent
        self.totals = totals
        self.endpointCount = endpointCount
        self.pausedEndpoints = pausedEndpoints
        self.disabledEndpoints = disabledEndpoints
        self.throughput = throughput
        self.writeProblem = writeProblem
    }

    /// The first dispatcher whose heartbeat is fresh.
    public func liveWorker(now: Date) -> WorkerInfo? { workers.first { $0.isAlive(now: now) } }

    /// Attempts `worker` recorded over the last 5 minutes.
    public func recentAttempts(of worker: WorkerInfo) -> Int { recentAttemptsByWorker[worker.id] ?? 0 }

    /// How late the oldest due, unheld delivery is at `now`, in whole seconds (0 when none is due).
    public func oldestDueSeconds(now: Date) -> Int {
        guard let oldestDueAt else { return 0 }
        return max(0, Int(now.timeIntervalSince(oldestDueAt)))
    }
}

/// Which deliveries to list, newest first, one page at a time.
public struct DeliveryQuery: Sendable, Equatable {
    public var statuses: [DeliveryStatus]
    public var endpointId: String?
    public var eventType: String?
    public var messageId: String?
    /// Keyset cursor: only deliveries with an id below this one (the last id of the previous page).
    public var before: Int64?
    public var limit: Int
    /// Only deliveries of messages published at or after this time.
    public var since: Date?
    /// Only deliveries of messages published before this time.
    public var until: Date?
    /// Text searched, case-insensitively, in the event type, the endpoint's description and URL and the last error,
    /// within the newest `textSearchWindow` deliveries (or the `since` range).
    public var text: String?

    /// The order of the page: newest first (the default, keyset-paged by `before`), oldest first (paged by
    /// `after`), or the slowest or most-attempted of the newest `textSearchWindow` deliveries (or of `since`).
    public var order: DeliveryOrder = .newest
    /// Keyset cursor of `oldest`: only deliveries with an id above this one.
    public var after: Int64?

    /// Deliveries a free-text search (or a slowest / most-attempts sort) looks through without a `since` bound.
    public static let textSearchWindow: Int64 = 100_000

    public init(
        statuses: [DeliveryStatus] = [], endpointId: String? = nil, eventType: String? = nil,
        messageId: String? = nil, before: Int64? = nil, limit: Int = 100, since: Date? = nil, until: Date? = nil,
        text: String? = nil
    ) {
        self.statuses = statuses
        self.endpointId = endpointId
        self.eventType = eventType
        self.messageId = messageId
        self.before = before
        self.limit = limit
        self.since = since
        self.until = until
        self.text = text
    }
}

/// How a page of deliveries is ordered.
public enum DeliveryOrder: String, Sendable, Equatable, CaseIterable {
    case newest, oldest, slowest
    case mostAttempts = "most attempts"
}

/// Which waiting deliveries to list, soonest first.
public struct RetryQueueQuery: Sendable, Equatable {
    public var endpointId: String?
    /// Keyset cursor: `(nextAttemptAt, id)` of the last row of the previous page.
    public var after: (Date, Int64)?
    public var limit: Int

    public init(endpointId: String? = nil, after: (Date, Int64)? = nil, limit: Int = 100) {
        self.endpointId = endpointId
        self.after = after
        self.limit = limit
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.endpointId == rhs.endpointId && lhs.limit == rhs.limit && lhs.after?.0 == rhs.after?.0
            && lhs.after?.1 == rhs.after?.1
    }
}

/// Failing deliveries of one endpoint that share an error class (and status code, for HTTP errors).
public struct FailureGroup: Sendable, Equatable {
    public var endpointId: String
    public var endpointURL: String
    public var errorClass: ErrorClass?
    public var statusCode: Int?
    /// Dead and retrying deliveries in the group.
    public var count: Int
    public var dead: Int
    public var retrying: Int
    public var lastAt: Date
    /// A sample error message.
    public var lastError: String?

    public init(
        endpointId: String, endpointURL: String, errorClass: ErrorClass?, statusCode: Int?, count: Int, dead: Int,
        retrying: Int, lastAt: Date, lastError: String?
    ) {
        self.endpointId = endpointId
        self.endpointURL = endpointURL
        self.errorClass = errorClass
        self.statusCode = statusCode
        self.count = count
        self.dead = dead
        self.retrying = retrying
        self.lastAt = lastAt
        self.lastError = lastError
    }

    /// `connect_refused` or `http 500`: the label the Failures view shows.
    public var label: String {
        if errorClass == .httpStatus, let statusCode { return "http \(statusCode)" }
        return errorClass?.rawValue ?? "unknown"
    }
}

/// A delivery with its message, endpoint and every attempt, for the detail view.
public struct DeliveryDetail: Sendable, Equatable {
    public var delivery: Delivery
    public var message: Message
    public var endpoint: Endpoint
    /// Oldest first.
    public var attempts: [Attempt]
    /// Scheduled attempts the retry schedule of the newest dispatcher allows ("attempt n of N"); nil when no
    /// dispatcher has said.
    public var maxAttempts: Int?

    public init(delivery: Delivery, message: Message, endpoint: Endpoint, attempts: [Attempt], maxAttempts: Int?) {
        self.delivery = delivery
        self.message = message
        self.endpoint = endpoint
        self.attempts = attempts
        self.maxAttempts = maxAttempts
    }
}

/// Read access to the delivery log, shared by the dashboard, the CLI and the HTTP API.
///
/// Every query is served by an index and bounded by a limit; none scans the whole log.
public protocol DeliveryLogReader: ChangeSignal {
    func overview(now: Date) async throws -> Overview
    func endpointSummaries(now: Date) async throws -> [EndpointSummary]
    func endpoint(id: String) async throws -> Endpoint?
    /// Newest first.
    func deliveries(_ query: DeliveryQuery) async throws -> [Delivery]
    /// Pending and retrying deliveries, soonest first.
    func retryQueue(_ query: RetryQueueQuery) async throws -> [Delivery]
    /// Dead and retrying deliveries grouped by endpoint and error class, largest first.
    func failureGroups(endpointId: String?, limit: Int) async throws -> [FailureGroup]
    /// The newest dead and retrying deliveries of one failure group (the group's `errorClass` and `statusCode`,
    /// `nil` matching a missing value), newest first: what an expanded group lists.
    func failureSamples(endpointId: String, errorClass: ErrorClass?, statusCode: Int?, limit: Int) async throws
        -> [Delivery]
    /// Newest first; `before` is the `sequence` of the last row of the previous page.
    func messages(eventType: String?, before: Int64?, limit: Int) async throws -> [MessageSummary]
    func deliveryDetail(id: Int64) async throws -> DeliveryDetail?
    /// How many deliveries `recover(endpointId:since:)` would send again.
    func recoverableCount(endpointId: String, since: Date) async throws -> Int
    /// The newest operator actions, optionally on one object, newest first.
    func auditEntries(objectId: String?, limit: Int) async throws -> [AuditEntry]
    /// Recorded alerts, newest first; `before` is the `sequence` of the last alert of the previous page.
    func alerts(before: Int64?, limit: Int) async throws -> [Alert]
    /// How the endpoint's newest recovery is going, or nil when it has none.
    func recoveryProgress(endpointId: String) async throws -> RecoveryProgress?
}

/// Where the deliveries a recovery queued stand now.
public struct RecoveryProgress: Sendable, Equatable {
    public var endpointId: String
    public var startedAt: Date
    /// Deliveries queued.
    public var total: Int
    /// Not attempted yet (pending or in flight).
    public var waiting: Int
    public var delivered: Int
    /// Attempted and failed (dead again, or retrying on the schedule).
    public var failed: Int
    /// Cancelled since, or gone (pruned).
    public var other: Int
    /// The most common error class of the failures.
    public var topError: String?

    public init(
        endpointId: String, startedAt: Date, total: Int, waiting: Int, delivered: Int, failed: Int, other: Int,
        topError: String?
    ) {
        self.endpointId = endpointId
        self.startedAt = startedAt
        self.total = total
        self.waiting = waiting
        self.delivered = delivered
        self.failed = failed
        self.other = other
        self.topError = topError
    }

    /// Attempted so far.
    public var sent: Int { total - waiting }
    public var isDone: Bool { waiting == 0 }
}

/// What came of asking for a redelivery.
public enum RedeliveryOutcome: Sendable, Equatable {
    /// A live dispatcher will send it now; watch the log for the attempt.
    case queued(deliveryId: Int64)
    /// No dispatcher was alive: this process sent it, and this is the attempt.
    case performed(Attempt)
}

/// The operator actions, each audited; the dashboard, the CLI and the HTTP API all go through these.
public protocol DeliveryOperations: Sendable {
    func pause(endpointId: String, by actor: Principal) async throws
    func resume(endpointId: String, by actor: Principal) async throws
    func disable(endpointId: String, reason: String, by actor: Principal) async throws
    func enable(endpointId: String, by actor: Principal) async throws
    /// Sends one delivery again (any status but in flight), as a `manual` attempt.
    func redeliver(deliveryId: Int64, by actor: Principal) async throws -> RedeliveryOutcome
    /// Queues every dead delivery of the endpoint since `since`, and every message it missed while disabled.
    /// - Returns: how many deliveries were queued.
    func recover(endpointId: String, since: Date, by actor: Principal) async throws -> Int
    /// Cancels a pending or retrying delivery.
    func cancel(deliveryId: Int64, by actor: Principal) async throws
    /// Sets (or with nil removes) an endpoint's rate limit, audited.
    func setRateLimit(endpointId: String, limit: Int?, by actor: Principal) async throws
    /// Counts (`dryRun`) or queues for redelivery the deliveries `filter` matches, audited.
    func replay(_ filter: DeliveryFilter, dryRun: Bool, by actor: Principal) async throws -> Int
    /// Sends one signed `hooktop.ping` to the endpoint and waits for the answer; audited, not a delivery.
    func testEndpoint(id: String, by actor: Principal) async throws -> AttemptOutcome
}
