import Foundation

/// Where one message stands with one endpoint.
public enum DeliveryStatus: String, Sendable, Codable, CaseIterable {
    /// Created, not attempted yet.
    case pending
    /// Claimed by a dispatcher and being sent.
    case inflight
    /// An attempt got a 2xx.
    case delivered
    /// An attempt failed; another is scheduled at `nextAttemptAt`.
    case retrying
    /// Every scheduled attempt failed (or the endpoint is gone); only a manual redelivery sends it again.
    case dead
    /// An operator cancelled the pending retry.
    case cancelled

    /// Statuses waiting for the dispatcher.
    public static let waiting: [DeliveryStatus] = [.pending, .retrying]
}

/// One message × one endpoint, with its latest outcome.
public struct Delivery: Sendable, Equatable, Codable, Identifiable {
    public var id: Int64
    public var messageId: String
    public var endpointId: String
    public var eventType: String
    public var status: DeliveryStatus
    /// Attempts made so far (scheduled and manual).
    public var attemptCount: Int
    /// Of those, manual redeliveries (which the retry schedule does not count).
    public var manualCount: Int
    /// When the next attempt is due, for `pending` and `retrying`.
    public var nextAttemptAt: Date?
    public var lastStatusCode: Int?
    public var lastError: String?
    public var lastErrorClass: ErrorClass?
    public var lastLatencyMilliseconds: Int?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: Int64, messageId: String, endpointId: String, eventType: String, status: DeliveryStatus,
        attemptCount: Int, nextAttemptAt: Date?, lastStatusCode: Int?, lastError: String?,
        lastErrorClass: ErrorClass?, lastLatencyMilliseconds: Int?, createdAt: Date, updatedAt: Date,
        manualCount: Int = 0
    ) {
        self.id = id
        self.messageId = messageId
        self.endpointId = endpointId
        self.eventType = eventType
        self.status = status
        self.attemptCount = attemptCount
        self.manualCount = manualCount
        self.nextAttemptAt = nextAttemptAt
        self.lastStatusCode = lastStatusCode
        self.lastError = lastError
        self.lastErrorClass = lastErrorClass
        self.lastLatencyMilliseconds = lastLatencyMilliseconds
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Why an attempt failed, as a small stable vocabulary (safe as a metrics label).
public enum ErrorClass: String, Sendable, Codable, CaseIterable {
    case timeout
    case connectRefused = "connect_refused"
    case dns
    /// A TLS handshake failed for another reason than the receiver's certificate (protocol, client certificate).
    case tls
    /// The receiver's certificate chain ends at an authority that is not trusted (`--ca-file` adds one).
    case tlsUnknownAuthority = "tls_unknown_authority"
    /// The receiver's certificate does not name the host of the endpoint's URL.
    case tlsHostnameMismatch = "tls_hostname_mismatch"
    /// The receiver's certificate (or one of its chain) has expired or is not valid yet.
    case tlsExpired = "tls_expired"
    case httpStatus = "http_status"
    case bodyTooLarge = "body_too_large"
    case destinationRefused = "destination_refused"
    case network
    case invalidURL = "invalid_url"
}

/// What started an attempt.
public enum AttemptTrigger: String, Sendable, Codable {
    case scheduled
    case manual
}

/// One HTTP header as sent or received.
public struct Header: Sendable, Equatable, Codable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// One try at sending a delivery.
public struct Attempt: Sendable, Equatable, Codable, Identifiable {
    public var id: Int64
    public var deliveryId: Int64
    /// 1-based position among the delivery's attempts.
    public var number: Int
    public var trigger: AttemptTrigger
    public var startedAt: Date
    public var durationMilliseconds: Int
    /// Request headers as sent (signature included).
    public var requestHeaders: [Header]
    public var responseStatus: Int?
    public var responseHeaders: [Header]
    /// At most 4 KiB of the response body, as text.
    public var responseBodyExcerpt: String?
    public var errorClass: ErrorClass?
    public var errorMessage: String?

    public init(
        id: Int64, deliveryId: Int64, number: Int, trigger: AttemptTrigger, startedAt: Date,
        durationMilliseconds: Int, requestHeaders: [Header], responseStatus: Int?, responseHeaders: [Header],
        responseBodyExcerpt: String?, errorClass: ErrorClass?, errorMessage: String?
    ) {
        self.id = id
        self.deliveryId = deliveryId
        self.number = number
        self.trigger = trigger
        self.startedAt = startedAt
        self.durationMilliseconds = durationMilliseconds
        self.requestHeaders = requestHeaders
        self.responseStatus = responseStatus
        self.responseHeaders = responseHeaders
        self.responseBodyExcerpt = responseBodyExcerpt
        self.errorClass = errorClass
        self.errorMessage = errorMessage
    }

    /// `true` for a 2xx response.
    public var succeeded: Bool { (responseStatus.map { (200..<300).contains($0) }) ?? false }
}
