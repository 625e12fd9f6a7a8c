import DeliveryCore
import Foundation
import Hummingbird

/// The connection settings of an endpoint body (`POST` and `PATCH /v1/endpoints`): a field that is absent leaves
/// the setting alone, `null` clears it.
///
/// `headers` (an object of strings) replaces every extra header; `bearer_token` or `basic_auth` (`USER:PASSWORD`)
/// set the credential; `ca_pem` a CA bundle; `client_certificate_pem` with `client_key_pem` the client identity;
/// `retry_schedule` (`5s,5m,30m`) the endpoint's own retry delays.
enum EndpointBody {
    /// Largest endpoint body: room for a CA bundle and a client certificate chain.
    static let maxBytes = 1 << 20

    static func connectionChanges(_ body: JSONBody, into changes: inout EndpointChanges) throws {
        do {
            if body.isNull("headers") {
                changes.replaceHeaders = []
            } else if let headers = try body.stringMap("headers") {
                changes.replaceHeaders = headers.map { Header(name: $0.0, value: $0.1) }
            }
            let bearer = try body.string("bearer_token")
            let basic = try body.string("basic_auth")
            if bearer != nil && basic != nil { throw APIError.invalid("give bearer_token or basic_auth, not both") }
            if let bearer {
                changes.credential = .set(.bearer(token: bearer))
            } else if let basic {
                changes.credential = .set(try OutboundCredential.basic(basic))
            } else if body.isNull("bearer_token") || body.isNull("basic_auth") {
                changes.credential = .clear
            }
            if let ca = try body.string("ca_pem") {
                changes.caPEM = .set(ca)
            } else if body.isNull("ca_pem") {
                changes.caPEM = .clear
            }
            let certificate = try body.string("client_certificate_pem")
            let key = try body.string("client_key_pem")
            switch (certificate, key) {
            case let (certificate?, key?):
                changes.clientIdentity = .set(ClientIdentity(certificatePEM: certificate, keyPEM: key))
            case (nil, nil):
                if body.isNull("client_certificate_pem") { changes.clientIdentity = .clear }
            default:
                throw APIError.invalid("client_certificate_pem and client_key_pem are given together")
            }
            if let limit = try body.int("rate_limit") {
                changes.rateLimit = limit == 0 ? .clear : .set(limit)
            } else if body.isNull("rate_limit") {
                changes.rateLimit = .clear
            }
            if let schedule = try body.string("retry_schedule") {
                changes.retrySchedule = .set(try RetryPolicy.parse(schedule))
            } else if body.isNull("retry_schedule") {
                changes.retrySchedule = .clear
            }
        } catch let error as HooktopError {
            throw APIError.invalid(error.message)
        }
    }
}

extension HookServer {
    /// `POST /v1/deliveries/redeliver`: `{"status": "dead", "endpoint_id"?, "event_type"? (a glob), "error_class"?,
    /// "since"?, "until"? (durations back from now or ISO 8601), "dry_run"?}` → `{"matched" or "queued": n}`.
    func replay(_ request: Request) async throws -> Response {
        let body = try await JSONBody.read(request, limit: 16 * 1024)
        let filter: DeliveryFilter
        do {
            guard let statusText = try body.string("status", required: true),
                let status = DeliveryStatus(rawValue: statusText)
            else { throw HooktopError.invalid("status must be dead, cancelled or delivered") }
            var parsed = DeliveryFilter(
                status: status, endpointId: try body.string("endpoint_id"), eventType: try body.string("event_type"))
            if let errorClass = try body.string("error_class") {
                guard let value = ErrorClass(rawValue: errorClass) else {
                    throw HooktopError.invalid("unknown error_class \(errorClass)")
                }
                parsed.errorClass = value
            }
            parsed.since = try body.string("since").map { try SinceText.parse($0) }
            parsed.until = try body.string("until").map { try SinceText.parse($0) }
            filter = parsed
        } catch let error as HooktopError {
            throw APIError.invalid(error.message)
        }
        let dryRun = try body.bool("dry_run") ?? false
        let count = try await operations.replay(filter, dryRun: dryRun, by: Principal.current(via: "api"))
        return jsonResponse([dryRun ? "matched" : "queued": count, "dry_run": dryRun] as [String: Any])
    }
}
