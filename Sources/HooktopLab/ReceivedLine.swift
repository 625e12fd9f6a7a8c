import DeliveryCore

/// A line of `hooktop receive --json`: one per request.
struct ReceivedLine: Encodable {
    @ExplicitNull var id: String?
    var type: String
    var at: String
    /// `accepted`, `duplicate`, `failed` (`--fail-rate`) or `rejected`.
    var result: String
    /// Why a request was rejected.
    var reason: String?
    /// The event's `data`, for an accepted request.
    var payload: JSONValue?
}
