import Foundation

/// How a delivery was queued for its next attempt.
enum ManualMode: Int, Sendable {
    /// The retry schedule queued it.
    case scheduled = 0
    /// An operator redelivered a finished delivery: a failure leaves it dead.
    case fromFinished = 1
    /// An operator redelivered a waiting delivery: a failure keeps its retry schedule.
    case fromWaiting = 2
}

/// One claimed delivery, with everything needed to send it.
public struct DeliveryJob: Sendable {
    public var deliveryId: Int64
    public var endpoint: Endpoint
    public var message: Message
    /// The attempt's 1-based number.
    public var attemptNumber: Int
    public var trigger: AttemptTrigger
    /// The engine's claim counter when this claim was made (0 where an engine fences by lease owner alone): a
    /// finisher records its outcome only while the delivery is still under this claim.
    public var claim: Int = 0

    public init(deliveryId: Int64, endpoint: Endpoint, message: Message, attemptNumber: Int, trigger: AttemptTrigger) {
        self.deliveryId = deliveryId
        self.endpoint = endpoint
        self.message = message
        self.attemptNumber = attemptNumber
        self.trigger = trigger
    }
}

/// What one attempt produced, to be recorded in the log.
public struct AttemptOutcome: Sendable {
    public var deliveryId: Int64
    public var endpointId: String
    public var trigger: AttemptTrigger
    public var startedAt: Date
    public var durationMilliseconds: Int
    public var requestHeaders: [Header]
    public var responseStatus: Int?
    public var responseHeaders: [Header]
    public var responseBodyExcerpt: String?
    public var errorClass: ErrorClass?
    public var errorMessage: String?
    /// Seconds a 429 or 503 asked to wait (`Retry-After`).
    public var retryAfter: TimeInterval?
    /// The endpoint's own retry delays, when it has them (they replace the dispatcher's).
    public var retrySchedule: RetryPolicy?
    /// The claim it was sent under (`DeliveryJob.claim`).
    public var claim: Int = 0
    /// When its message was published: the day PostgreSQL files the delivery under.
    public var messageCreatedAt: Date?

    public init(
        deliveryId: Int64, endpointId: String, trigger: AttemptTrigger, startedAt: Date, durationMilliseconds: Int,
        requestHeaders: [Header], responseStatus: Int?, responseHeaders: [Header], responseBodyExcerpt: String?,
        errorClass: ErrorClass?, errorMessage: String?, retryAfter: TimeInterval?
    ) {
        self.deliveryId = deliveryId
        self.endpointId = endpointId
        self.trigger = trigger
        self.startedAt = startedAt
        self.durationMilliseconds = durationMilliseconds
        self.requestHeaders = requestHeaders
        self.responseStatus = responseStatus
        self.responseHeaders = responseHeaders
        self.responseBodyExcerpt = responseBodyExcerpt
        self.errorClass = errorClass
        self.errorMessage = errorMessage
        self.retryAfter = retryAfter
    }

    public var succeeded: Bool { responseStatus.map { (200..<300).contains($0) } ?? false }

    /// The one-line error shown in lists: `http 500`, `http 503: database is locked` (the start of what the
    /// receiver said), `connect_refused: ...`.
    public var summary: String? {
        if succeeded { return nil }
        if let status = responseStatus {
            guard let said = responseBodyExcerpt.flatMap(Self.opening) else { return "http \(status)" }
            return "http \(status): \(said)"
        }
        let label = errorClass?.rawValue ?? "error"
        return errorMessage.map { "\(label): \($0)" } ?? label
    }

    /// How many characters of a response body a summary keeps.
    static let openingLength = 100

    /// The start of a response body on one line: sanitised (it is the receiver's text), runs of white space made one
    /// space, cut at `openingLength` characters with `…`. Nil when nothing printable is left. Only the body's first
    /// KiB is looked at: this runs for every failed attempt a dispatcher records, and the excerpt may hold 4 KiB.
    static func opening(_ body: String) -> String? {
        var words = Sanitizer.line(String(decoding: body.utf8.prefix(1024), as: UTF8.self)).split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        if words.count > openingLength { words = String(words.prefix(openingLength - 1)) + "…" }
        return words.isEmpty ? nil : words
    }
}

/// Latency histogram bucket upper bounds in milliseconds; the last bucket is unbounded.
public enum LatencyBuckets {
    public static let bounds: [Int] = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000]
    public static var count: Int { bounds.count + 1 }

    public static func index(forMilliseconds value: Int) -> Int {
        bounds.firstIndex { value <= $0 } ?? bounds.count
    }

    /// The `quantile` (0...1) of a histogram, interpolated within its bucket.
    public static func quantile(_ quantile: Double, histogram: [Int]) -> Double? {
        let total = histogram.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = quantile * Double(total)
        var seen = 0.0
        for (index, count) in histogram.enumerated() where count > 0 {
            let next = seen + Double(count)
            if next >= rank {
                let lower = index == 0 ? 0 : Double(bounds[index - 1])
                let upper = index < bounds.count ? Double(bounds[index]) : lower * 2
                let fraction = (rank - seen) / Double(count)
                return lower + (upper - lower) * fraction
            }
            seen = next
        }
        return Double(bounds.last!) * 2
    }
}
