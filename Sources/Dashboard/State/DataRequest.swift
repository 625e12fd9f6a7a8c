import DeliveryCore
import Foundation

/// Keyset cursor of one page of a list (never an offset).
public enum PageCursor: Sendable, Equatable {
    /// Deliveries with an id below this one.
    case deliveriesBefore(Int64)
    /// Deliveries with an id above this one (oldest first).
    case deliveriesAfter(Int64)
    /// Waiting deliveries after `(nextAttemptAt, id)`.
    case retryAfter(Date, Int64)
    /// Messages with a sequence below this one.
    case messagesBefore(Int64)
}

/// What the background loader fetches: only what the current screen shows.
public struct DataRequest: Sendable, Equatable {
    public var view: ViewKind
    /// The Deliveries page (view 2).
    public var deliveries: DeliveryQuery?
    /// The newest deliveries of the same filter, when the page is anchored below them: what `+N new` counts.
    public var deliveriesHead: DeliveryQuery?
    public var retryQueue: RetryQueueQuery?
    /// `(eventType, before, limit)` of the Events page.
    public var messages: MessagesQuery?
    public var failureGroups: Bool
    /// The newest deliveries of the expanded failure group (view 3), fetched only while a group is expanded.
    public var failureSamples: FailureSampleQuery?
    public var endpoints: Bool
    /// The delivery shown in the detail overlay.
    public var detailId: Int64?
    /// A redelivered delivery whose new attempt the dashboard is waiting for.
    public var watchId: Int64?
    /// The endpoint whose recovery the footer follows.
    public var recoveryOf: String?
    /// The audit overlay is open: the newest actions, on this object when set (`.some(nil)`: on everything).
    public var audit: String??
    /// The alerts overlay is open: the newest alerts.
    public var alerts = false

    public init(
        view: ViewKind, deliveries: DeliveryQuery? = nil, retryQueue: RetryQueueQuery? = nil,
        messages: MessagesQuery? = nil, failureGroups: Bool = false, failureSamples: FailureSampleQuery? = nil,
        endpoints: Bool = false, detailId: Int64? = nil, watchId: Int64? = nil
    ) {
        self.view = view
        self.deliveries = deliveries
        self.retryQueue = retryQueue
        self.messages = messages
        self.failureGroups = failureGroups
        self.failureSamples = failureSamples
        self.endpoints = endpoints
        self.detailId = detailId
        self.watchId = watchId
    }
}

/// One page of the Events view.
public struct MessagesQuery: Sendable, Equatable {
    public var eventType: String?
    public var before: Int64?
    public var limit: Int

    public init(eventType: String? = nil, before: Int64? = nil, limit: Int = 100) {
        self.eventType = eventType
        self.before = before
        self.limit = limit
    }
}

/// The deliveries of one failure group: an endpoint and an error class (with the status code for HTTP errors).
public struct FailureSampleQuery: Sendable, Equatable {
    public var endpointId: String
    public var errorClass: ErrorClass?
    public var statusCode: Int?
    public var limit: Int

    public init(endpointId: String, errorClass: ErrorClass?, statusCode: Int?, limit: Int = 20) {
        self.endpointId = endpointId
        self.errorClass = errorClass
        self.statusCode = statusCode
        self.limit = limit
    }

    /// The query for `group`'s deliveries.
    public init(_ group: FailureGroup, limit: Int = 20) {
        self.init(endpointId: group.endpointId, errorClass: group.errorClass, statusCode: group.statusCode, limit: limit)
    }
}

/// An immutable result of one load, handed from the loader to the UI loop.
public struct DataSnapshot: Sendable {
    public var request: DataRequest
    public var changeCounter: Int64
    public var overview: Overview?
    public var endpoints: [EndpointSummary]?
    public var deliveries: [Delivery]?
    public var deliveriesHead: [Delivery]?
    public var retryQueue: [Delivery]?
    public var failureGroups: [FailureGroup]?
    public var failureSamples: [Delivery]?
    public var messages: [MessageSummary]?
    public var detail: DeliveryDetail?
    public var watched: DeliveryDetail?
    public var audit: [AuditEntry]?
    public var alerts: [Alert]?
    public var recovery: RecoveryProgress?
    /// The first error a query threw, as a line for the footer.
    public var error: String?
    /// Wall time the queries took, in milliseconds.
    public var queryMilliseconds: Double

    public init(request: DataRequest, changeCounter: Int64 = 0, queryMilliseconds: Double = 0) {
        self.request = request
        self.changeCounter = changeCounter
        self.queryMilliseconds = queryMilliseconds
    }

    /// Runs every query `request` asks for against `log` (awaiting each in turn).
    public static func load(
        _ request: DataRequest, from log: any DeliveryLogReader, now: Date
    ) async -> DataSnapshot {
        let start = DispatchTime.now().uptimeNanoseconds
        var snapshot = DataSnapshot(request: request)
        var firstError: String?
        func attempt<T>(_ body: () async throws -> T) async -> T? {
            do { return try await body() } catch {
                if firstError == nil { firstError = "query failed: \(error)" }
                return nil
            }
        }
        snapshot.changeCounter = await attempt { try await log.changeCounter() } ?? 0
        snapshot.overview = await attempt { try await log.overview(now: now) }
        if request.endpoints { snapshot.endpoints = await attempt { try await log.endpointSummaries(now: now) } }
        if let query = request.deliveries { snapshot.deliveries = await attempt { try await log.deliveries(query) } }
        if let query = request.deliveriesHead { snapshot.deliveriesHead = await attempt { try await log.deliveries(query) } }
        if let query = request.retryQueue { snapshot.retryQueue = await attempt { try await log.retryQueue(query) } }
        if request.failureGroups {
            snapshot.failureGroups = await attempt { try await log.failureGroups(endpointId: nil, limit: 200) }
        }
        if let query = request.failureSamples {
            snapshot.failureSamples = await attempt {
                try await log.failureSamples(
                    endpointId: query.endpointId, errorClass: query.errorClass, statusCode: query.statusCode,
                    limit: query.limit)
            }
        }
        if let query = request.messages {
            snapshot.messages = await attempt {
                try await log.messages(eventType: query.eventType, before: query.before, limit: query.limit)
            }
        }
        if let id = request.detailId { snapshot.detail = await attempt { try await log.deliveryDetail(id: id) } ?? nil }
        if let id = request.watchId { snapshot.watched = await attempt { try await log.deliveryDetail(id: id) } ?? nil }
        if let endpointId = request.recoveryOf {
            snapshot.recovery = await attempt { try await log.recoveryProgress(endpointId: endpointId) } ?? nil
        }
        if let objectId = request.audit {
            snapshot.audit = await attempt { try await log.auditEntries(objectId: objectId, limit: DashboardState.auditLimit) }
        }
        if request.alerts {
            snapshot.alerts = await attempt { try await log.alerts(before: nil, limit: DashboardState.alertLimit) }
        }
        snapshot.error = firstError
        snapshot.queryMilliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1_000_000
        return snapshot
    }
}
