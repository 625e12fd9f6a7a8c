import Foundation

/// What an operational alert is about (its JSON `type`).
public enum AlertType: String, Sendable, Codable, CaseIterable {
    /// An endpoint was disabled by the dispatcher (410 Gone or the auto-disable window), or is still disabled
    /// (a reminder).
    case endpointDisabled = "endpoint.disabled"
    /// An active endpoint has had no success for a while and its attempts fail.
    case endpointFailing = "endpoint.failing"
    /// The first success after `endpoint.failing` or `endpoint.disabled`.
    case endpointRecovered = "endpoint.recovered"
    /// More dead deliveries than the threshold in the window, for one endpoint.
    case deliveriesDead = "deliveries.dead"
    /// The oldest due delivery is later than the threshold.
    case backlogOverdue = "backlog.overdue"
    /// A dispatcher stopped heartbeating (sent by another live process).
    case dispatcherStale = "dispatcher.stale"
    /// `hooktop alerts test`.
    case test = "alert.test"
}

/// Where an alert stands with its destinations.
public enum AlertSendStatus: String, Sendable, Codable, CaseIterable {
    /// Waiting for its (next) send.
    case pending
    /// Every destination took it.
    case sent
    /// A destination still refused it after the last retry.
    case failed
    /// Recorded by a process without alert destinations: nothing sends it.
    case unsent
}

/// One recorded alert.
public struct Alert: Sendable, Equatable {
    /// The row's number: newer alerts have larger ones (paging).
    public var sequence: Int64
    /// `alrt_…`: the `webhook-id` of its webhook.
    public var id: String
    public var type: AlertType
    /// The endpoint's id, the dispatcher's id, `backlog` or `test`.
    public var objectId: String
    public var at: Date
    /// One line for people: `endpoint ep_x (billing) disabled: endpoint answered 410 Gone`.
    public var summary: String
    /// The JSON object of details (the webhook's `data` without `alert_id` and `summary`).
    public var details: String
    public var status: AlertSendStatus
    public var attempts: Int
    public var nextAttemptAt: Date?
    public var lastError: String?
    public var sentAt: Date?
    /// Destinations that took it (`url`, `exec`), so a retry goes only to those that did not.
    public var sentTo: [String]

    public init(
        sequence: Int64, id: String, type: AlertType, objectId: String, at: Date, summary: String, details: String,
        status: AlertSendStatus, attempts: Int = 0, nextAttemptAt: Date? = nil, lastError: String? = nil,
        sentAt: Date? = nil, sentTo: [String] = []
    ) {
        self.sequence = sequence
        self.id = id
        self.type = type
        self.objectId = objectId
        self.at = at
        self.summary = summary
        self.details = details
        self.status = status
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
        self.sentAt = sentAt
        self.sentTo = sentTo
    }

    /// How long a process holds the alerts it sends: longer than a few sends, each bounded by the destinations'
    /// timeouts.
    public static let sendLease: TimeInterval = 120

    /// The webhook's `data`: `alert_id`, `summary` and the details.
    public var data: String {
        let head = #"{"alert_id":"\#(id)","summary":\#(AlertDetails.quoted(summary))"#
        let rest = details.dropFirst().drop { $0 == " " }
        return rest.hasPrefix("}") ? head + "}" : head + "," + rest
    }

    /// What its webhook and its command get: the Standard Webhooks envelope `{"type", "timestamp", "data"}`.
    public var message: Message {
        Message(id: id, eventType: type.rawValue, payload: data, idempotencyKey: nil, createdAt: at)
    }
}

/// An alert a check found, before it is recorded.
public struct NewAlert: Sendable, Equatable {
    public var type: AlertType
    public var objectId: String
    /// What makes two findings the same alert (an endpoint's `disabled_at`, a window's number): a second finding with
    /// the same type, object and key is not recorded again.
    public var key: String
    /// With a value, no alert of the same type and object is recorded within this many seconds of another.
    public var debounce: TimeInterval?
    public var summary: String
    public var details: String

    public init(type: AlertType, objectId: String, key: String, debounce: TimeInterval?, summary: String, details: String) {
        self.type = type
        self.objectId = objectId
        self.key = key
        self.debounce = debounce
        self.summary = summary
        self.details = details
    }
}

/// An endpoint as the alert checks see it.
public struct AlertEndpointState: Sendable, Equatable {
    public var endpoint: Endpoint
    public var disabledAt: Date?
    /// Whether the dispatcher disabled it (410 or the auto-disable window) rather than an operator.
    public var disabledByDispatcher: Bool
    public var failingSince: Date?
    public var lastSuccessAt: Date?
    public var lastError: String?
    /// Deliveries that died within the window.
    public var deadInWindow: Int
    /// The newest `endpoint.failing`, `endpoint.disabled` or `endpoint.recovered` alert about it.
    public var lastHealthAlert: (sequence: Int64, type: AlertType, at: Date)?
    /// For a disabled endpoint: its newest failed attempt (status, error, response excerpt).
    public var lastFailure: FailedAttempt?

    public init(
        endpoint: Endpoint, disabledAt: Date? = nil, disabledByDispatcher: Bool = false, failingSince: Date? = nil,
        lastSuccessAt: Date? = nil, lastError: String? = nil, deadInWindow: Int = 0,
        lastHealthAlert: (sequence: Int64, type: AlertType, at: Date)? = nil, lastFailure: FailedAttempt? = nil
    ) {
        self.endpoint = endpoint
        self.disabledAt = disabledAt
        self.disabledByDispatcher = disabledByDispatcher
        self.failingSince = failingSince
        self.lastSuccessAt = lastSuccessAt
        self.lastError = lastError
        self.deadInWindow = deadInWindow
        self.lastHealthAlert = lastHealthAlert
        self.lastFailure = lastFailure
    }

    public static func == (a: AlertEndpointState, b: AlertEndpointState) -> Bool {
        a.endpoint == b.endpoint && a.disabledAt == b.disabledAt && a.disabledByDispatcher == b.disabledByDispatcher
            && a.failingSince == b.failingSince && a.lastSuccessAt == b.lastSuccessAt && a.lastError == b.lastError
            && a.deadInWindow == b.deadInWindow && a.lastHealthAlert?.sequence == b.lastHealthAlert?.sequence
            && a.lastFailure == b.lastFailure
    }
}

/// A failed attempt, as an alert quotes it.
public struct FailedAttempt: Sendable, Equatable {
    public var status: Int?
    public var error: String?
    public var responseExcerpt: String?

    public init(status: Int?, error: String?, responseExcerpt: String?) {
        self.status = status
        self.error = error
        self.responseExcerpt = responseExcerpt
    }
}

/// Everything the alert checks read from the log in one go.
public struct AlertInputs: Sendable, Equatable {
    public var endpoints: [AlertEndpointState]
    public var workers: [WorkerInfo]
    /// The oldest due delivery of an active endpoint: when it was due and whose it is.
    public var oldestDue: (at: Date, endpointId: String)?

    public init(endpoints: [AlertEndpointState], workers: [WorkerInfo], oldestDue: (at: Date, endpointId: String)?) {
        self.endpoints = endpoints
        self.workers = workers
        self.oldestDue = oldestDue
    }

    public static func == (a: AlertInputs, b: AlertInputs) -> Bool {
        a.endpoints == b.endpoints && a.workers == b.workers && a.oldestDue?.at == b.oldestDue?.at
            && a.oldestDue?.endpointId == b.oldestDue?.endpointId
    }
}

/// The details object of an alert, written as JSON with sorted keys.
public enum AlertDetails {
    /// `details` as a JSON object's text.
    public static func json(_ details: [String: JSONValue]) -> String {
        (try? JSONRepresentation.encode(details)) ?? "{}"
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        (try? JSONRepresentation.encode(text)) ?? "\"\""
    }
}
