/// One attempt as the API and `--json` show it. Headers are `[name, value]` pairs in the order sent or received.
public struct AttemptObject: Encodable, Sendable {
    public var number: Int
    public var trigger: AttemptTrigger
    public var startedAt: String
    public var durationMilliseconds: Int
    @ExplicitNull public var responseStatus: Int?
    @ExplicitNull public var errorClass: ErrorClass?
    @ExplicitNull public var errorMessage: String?
    public var requestHeaders: [[String]]
    public var responseHeaders: [[String]]
    @ExplicitNull public var responseBodyExcerpt: String?

    enum CodingKeys: String, CodingKey {
        case number, trigger
        case startedAt = "started_at", durationMilliseconds = "duration_ms", responseStatus = "response_status"
        case errorClass = "error_class", errorMessage = "error_message", requestHeaders = "request_headers"
        case responseHeaders = "response_headers", responseBodyExcerpt = "response_body_excerpt"
    }

    public init(_ attempt: Attempt) {
        number = attempt.number
        trigger = attempt.trigger
        startedAt = JSONRepresentation.timestamp(attempt.startedAt)
        durationMilliseconds = attempt.durationMilliseconds
        responseStatus = attempt.responseStatus
        errorClass = attempt.errorClass
        errorMessage = attempt.errorMessage
        requestHeaders = attempt.requestHeaders.map { [$0.name, $0.value] }
        responseHeaders = attempt.responseHeaders.map { [$0.name, $0.value] }
        responseBodyExcerpt = attempt.responseBodyExcerpt
    }
}
