import DeliveryCore
import Hummingbird

/// The body of `POST /v1/deliveries/redeliver`: `{"status": "dead", "endpoint_id"?, "event_type"? (a glob),
/// "error_class"?, "since"?, "until"? (durations back from now or ISO 8601), "dry_run"?}`.
struct ReplayRequest: Decodable, Sendable {
    var filter: DeliveryFilter
    var dryRun: Bool

    enum CodingKeys: String, CodingKey {
        case status, since, until
        case endpointId = "endpoint_id", eventType = "event_type", errorClass = "error_class", dryRun = "dry_run"
    }

    init(from decoder: any Decoder) throws {
        let body = try decoder.container(keyedBy: CodingKeys.self)
        do {
            guard let statusText = try body.string(.status) else { throw HooktopError.invalid("status is required") }
            guard let status = DeliveryStatus(rawValue: statusText) else {
                throw HooktopError.invalid("status must be dead, cancelled or delivered")
            }
            var filter = DeliveryFilter(
                status: status, endpointId: try body.string(.endpointId), eventType: try body.string(.eventType))
            if let errorClass = try body.string(.errorClass) {
                guard let value = ErrorClass(rawValue: errorClass) else {
                    throw HooktopError.invalid("unknown error_class \(errorClass)")
                }
                filter.errorClass = value
            }
            filter.since = try body.string(.since).map { try SinceText.parse($0) }
            filter.until = try body.string(.until).map { try SinceText.parse($0) }
            self.filter = filter
        } catch let error as HooktopError {
            throw APIError.invalid(error.message)
        }
        dryRun = try body.supplied(Bool.self, .dryRun, "true or false").value ?? false
    }
}

extension HookServer {
    /// `POST /v1/deliveries/redeliver` → `{"matched" or "queued": n, "dry_run"}`.
    func replay(_ request: Request) async throws -> Response {
        let body = try await RequestDecoding.decode(ReplayRequest.self, from: request, limit: 16 * 1024)
        let count = try await operations.replay(body.filter, dryRun: body.dryRun, by: Principal.current(via: "api"))
        return try jsonResponse(
            APIAnswer.Replayed(
                matched: body.dryRun ? count : nil, queued: body.dryRun ? nil : count, dryRun: body.dryRun))
    }
}
