/// A test ping's result (`endpoint test --json`, `POST /v1/endpoints/{id}/test`).
public struct PingObject: Encodable, Sendable {
    public var ok: Bool
    @ExplicitNull public var status: Int?
    public var durationMilliseconds: Int
    @ExplicitNull public var errorClass: ErrorClass?
    @ExplicitNull public var error: String?
    /// The first 512 characters of the answer.
    @ExplicitNull public var responseExcerpt: String?

    enum CodingKeys: String, CodingKey {
        case ok, status, error
        case durationMilliseconds = "duration_ms", errorClass = "error_class", responseExcerpt = "response_excerpt"
    }

    public init(_ outcome: AttemptOutcome) {
        ok = outcome.succeeded
        status = outcome.responseStatus
        durationMilliseconds = outcome.durationMilliseconds
        errorClass = outcome.errorClass
        error = outcome.succeeded ? nil : (outcome.errorMessage ?? outcome.summary)
        responseExcerpt = outcome.responseBodyExcerpt.map { String($0.prefix(512)) }
    }
}
