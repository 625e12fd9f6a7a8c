import DeliveryCore
import Foundation

/// Everything the dashboard shows, as a value: `update` changes it, views draw it, tests build it.
public struct DashboardState: Sendable {
    public var options: DashboardOptions
    public var glyphs: Glyphs
    /// The clock the views read (countdowns, ages): set by `.clock` actions, never read from the system here.
    public var now: Date
    public var width: Int
    public var height: Int

    public var view: ViewKind = .endpoints
    public var lists: [ViewKind: ListState] = [:]
    public var filters: [ViewKind: FilterQuery] = [:]
    public var sortIndex: [ViewKind: Int] = [:]
    /// Deliveries newer than the anchor of a live log that is not following (the `+N new` badge).
    public var newRows = 0
    /// The failure group (by `groupKey`) whose deliveries are listed under it.
    public var expandedGroup: String?
    public var detail: DetailState?
    public var modal: Modal?
    public var message: StatusMessage?
    public var watch: RedeliveryWatch?
    /// The recovery whose progress the footer follows, until every delivery it queued was attempted.
    public var recoveryWatch: RecoveryWatch?
    public var backStack: [NavigationEntry] = []
    public var quitting = false

    // MARK: Data, as last loaded

    public var overview: Overview?
    public var endpoints: [EndpointSummary] = [] {
        didSet { endpointNames = Self.names(of: endpoints) }
    }
    /// Display names of `endpoints` by id, worked out once per load (every row of every view shows one).
    public private(set) var endpointNames: [String: String] = [:]
    /// The Deliveries page.
    public var deliveries: [Delivery] = []
    /// The query `deliveries` came from.
    public var deliveriesQuery: DeliveryQuery?
    public var retryQueue: [Delivery] = []
    public var failureGroups: [FailureGroup] = []
    /// The newest deliveries of the expanded failure group, and the query they came from.
    public var groupDeliveries: [Delivery] = []
    public var groupDeliveriesQuery: FailureSampleQuery?
    public var messages: [MessageSummary] = []
    public var detailData: DeliveryDetail?
    /// The audit overlay's entries, newest first.
    public var auditEntries: [AuditEntry] = []
    /// The alerts overlay's alerts, newest first.
    public var alertEntries: [Alert] = []
    public var changeCounter: Int64 = 0
    public var lastQueryMilliseconds: Double = 0
    /// Whether data for the current request has arrived (the view shows "loading…" until then).
    public var loaded = false

    /// Deliveries listed under an expanded failure group.
    public static let groupSampleLimit = 20
    /// How long footer messages stay.
    public static let messageLifetime: TimeInterval = 4
    /// Rows above the list: header (2 lines) and tabs.
    public static let headerHeight = 3
    /// Rows below the list: keys and the message line.
    public static let footerHeight = 2
    public static let minimumWidth = 60
    public static let minimumHeight = 16

    public init(options: DashboardOptions, now: Date, width: Int = 80, height: Int = 24, glyphs: Glyphs = .unicode) {
        self.options = options
        self.now = now
        self.width = width
        self.height = height
        self.glyphs = glyphs
    }

    // MARK: Derived

    public var list: ListState {
        get { lists[view] ?? ListState() }
        set { lists[view] = newValue }
    }

    public var filter: FilterQuery { filters[view] ?? FilterQuery() }

    /// Scheduled attempts the dispatchers' retry schedule allows: the live dispatcher's, else the newest one's; nil
    /// when none has said (attempts are then shown without a limit rather than against a guess).
    public var maxAttempts: Int? {
        guard let workers = overview?.workers else { return nil }
        return (overview?.liveWorker(now: now) ?? workers.first)?.maxAttempts
            ?? workers.lazy.compactMap(\.maxAttempts).first
    }

    /// `3/8`, or `3/8 +1 manual` after redeliveries; `next` counts the attempt about to be made.
    public func attemptText(_ d: Delivery, next: Bool = false, long: Bool = false) -> String {
        let scheduled = d.attemptCount - d.manualCount + (next ? 1 : 0)
        var text = maxAttempts.map { "\(scheduled)/\($0)" } ?? "\(scheduled)"
        if d.manualCount > 0 { text += long ? " +\(d.manualCount) manual" : "+\(d.manualCount)" }
        return text
    }

    /// Actions the audit overlay lists at most.
    public static let auditLimit = 200
    /// Alerts the alerts overlay lists at most.
    public static let alertLimit = 200

    /// Newer deliveries counted at most (the badge says `99+` past it).
    public static let newRowsLimit = 100

    public var sort: SortOrder? {
        let sorts = view.sorts
        return sorts.isEmpty ? nil : sorts[(sortIndex[view] ?? 0) % sorts.count]
    }

    /// Rows of list body that fit on screen (below the column header).
    public var bodyRows: Int { max(1, height - Self.headerHeight - Self.footerHeight - 1) }

    public var isTooSmall: Bool { width < Self.minimumWidth || height < Self.minimumHeight }

    /// What the loader should fetch for this screen.
    public var dataRequest: DataRequest {
        let pageSize = options.pageSize
        // Endpoints in every view: their names and statuses label the rows (cheap: counters and minute buckets).
        var request = DataRequest(view: view, endpoints: true)
        let filter = filters[view] ?? FilterQuery()
        let cursor = lists[view]?.pages.last
        switch view {
        case .endpoints:
            break
        case .deliveries:
            // Time and free text are searched in the log, not only in the loaded page.
            var query = DeliveryQuery(
                statuses: filter.statuses, endpointId: filter.endpointId, eventType: filter.exactEventType,
                messageId: filter.messageId, limit: pageSize, since: filter.since, until: filter.until,
                text: filter.text.isEmpty ? nil : filter.text
            )
            query.order = sort?.deliveryOrder ?? .newest
            if let id = filter.deliveryId {
                // One delivery by id: the index answers it, however old, whatever the sort.
                query.before = id + 1
                query.limit = 1
                query.order = .newest
            } else if case .deliveriesBefore(let id) = cursor {
                query.before = id
            } else if case .deliveriesAfter(let id) = cursor {
                query.after = id
            } else if query.order == .newest, let anchor = lists[view]?.anchor, !(lists[view]?.following ?? true) {
                query.before = anchor + 1
                var head = query
                head.before = nil
                head.limit = Self.newRowsLimit
                request.deliveriesHead = head
            }
            request.deliveries = query
        case .failures:
            request.failureGroups = true
            // A group's deliveries are fetched only while it is expanded.
            if let key = expandedGroup, let group = failureGroups.first(where: { Self.groupKey($0) == key }) {
                request.failureSamples = FailureSampleQuery(group, limit: Self.groupSampleLimit)
            }
        case .retryQueue:
            var query = RetryQueueQuery(endpointId: filter.endpointId, limit: pageSize)
            if case .retryAfter(let date, let id) = cursor { query.after = (date, id) }
            request.retryQueue = query
        case .events:
            var query = MessagesQuery(eventType: filter.exactEventType, limit: pageSize)
            if case .messagesBefore(let sequence) = cursor { query.before = sequence }
            request.messages = query
        }
        if case .audit(let endpointId, _)? = modal { request.audit = .some(endpointId) }
        if case .alerts? = modal { request.alerts = true }
        request.recoveryOf = recoveryWatch?.endpointId
        request.detailId = detail?.deliveryId
        request.watchId = watch?.deliveryId
        return request
    }

    static func groupKey(_ group: FailureGroup) -> String {
        "\(group.endpointId)/\(group.label)"
    }

    /// Sets the footer message.
    public mutating func say(_ text: String, _ kind: StatusMessage.Kind = .info, for lifetime: TimeInterval? = nil) {
        message = StatusMessage(
            text: text, kind: kind, expiresAt: now.addingTimeInterval(lifetime ?? Self.messageLifetime)
        )
    }
}
