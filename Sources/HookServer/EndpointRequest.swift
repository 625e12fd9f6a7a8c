import DeliveryCore

/// The body of `POST /v1/endpoints` and `PATCH`/`PUT /v1/endpoints/{id}`: a member that is absent leaves the setting
/// alone, `null` clears it.
///
/// `headers` (an object of strings) replaces every extra header; `bearer_token` or `basic_auth` (`USER:PASSWORD`)
/// set the credential; `ca_pem` a CA bundle; `client_certificate_pem` with `client_key_pem` the client identity;
/// `retry_schedule` (`5s,5m,30m`) the endpoint's own retry delays; `rate_limit` requests per second (0 or null: none).
struct EndpointRequest: Decodable, Sendable {
    /// Largest endpoint body: room for a CA bundle and a client certificate chain.
    static let maxBytes = 1 << 20

    var url: String?
    var description: String?
    var eventTypes: [String]?
    var maxInFlight: Int?
    var timeoutMilliseconds: Int?
    /// The signing secret to use instead of a generated one (create only).
    var secret: String?
    var headers: Supplied<OrderedStrings>
    var bearerToken: Supplied<String>
    var basicAuth: Supplied<String>
    var caPEM: Supplied<String>
    var clientCertificatePEM: Supplied<String>
    var clientKeyPEM: Supplied<String>
    var rateLimit: Supplied<Int>
    var retrySchedule: Supplied<String>

    enum CodingKeys: String, CodingKey {
        case url, description, secret, headers
        case eventTypes = "event_types", maxInFlight = "max_in_flight", timeoutMilliseconds = "timeout_ms"
        case bearerToken = "bearer_token", basicAuth = "basic_auth", caPEM = "ca_pem"
        case clientCertificatePEM = "client_certificate_pem", clientKeyPEM = "client_key_pem"
        case rateLimit = "rate_limit", retrySchedule = "retry_schedule"
    }

    init(from decoder: any Decoder) throws {
        let body = try decoder.container(keyedBy: CodingKeys.self)
        url = try body.string(.url)
        description = try body.string(.description)
        eventTypes = try body.supplied([String].self, .eventTypes, "an array of strings").value
        maxInFlight = try body.supplied(Int.self, .maxInFlight, "an integer").value
        timeoutMilliseconds = try body.supplied(Int.self, .timeoutMilliseconds, "an integer").value
        secret = try body.string(.secret)
        headers = try body.supplied(OrderedStrings.self, .headers, "an object of strings")
        bearerToken = try body.supplied(String.self, .bearerToken, "a string")
        basicAuth = try body.supplied(String.self, .basicAuth, "a string")
        caPEM = try body.supplied(String.self, .caPEM, "a string")
        clientCertificatePEM = try body.supplied(String.self, .clientCertificatePEM, "a string")
        clientKeyPEM = try body.supplied(String.self, .clientKeyPEM, "a string")
        rateLimit = try body.supplied(Int.self, .rateLimit, "an integer")
        retrySchedule = try body.supplied(String.self, .retrySchedule, "a string")
    }

    /// The changes the body asks for.
    /// - Throws: 422 for a combination or a value the core refuses (both credentials, a certificate without its key,
    ///   a bad retry schedule).
    func changes() throws -> EndpointChanges {
        var changes = EndpointChanges(
            url: url, description: description, eventTypes: eventTypes, maxInFlight: maxInFlight,
            timeoutMilliseconds: timeoutMilliseconds)
        do {
            if headers.isNull {
                changes.replaceHeaders = []
            } else if let headers = headers.value {
                changes.replaceHeaders = headers.members.map { Header(name: $0.name, value: $0.value) }
            }
            switch (bearerToken.value, basicAuth.value) {
            case (_?, _?): throw APIError.invalid("give bearer_token or basic_auth, not both")
            case (let bearer?, nil): changes.credential = .set(.bearer(token: bearer))
            case (nil, let basic?): changes.credential = .set(try OutboundCredential.basic(basic))
            case (nil, nil): if bearerToken.isNull || basicAuth.isNull { changes.credential = .clear }
            }
            if let ca = caPEM.value { changes.caPEM = .set(ca) } else if caPEM.isNull { changes.caPEM = .clear }
            switch (clientCertificatePEM.value, clientKeyPEM.value) {
            case let (certificate?, key?):
                changes.clientIdentity = .set(ClientIdentity(certificatePEM: certificate, keyPEM: key))
            case (nil, nil):
                if clientCertificatePEM.isNull { changes.clientIdentity = .clear }
            default:
                throw APIError.invalid("client_certificate_pem and client_key_pem are given together")
            }
            if let limit = rateLimit.value {
                changes.rateLimit = limit == 0 ? .clear : .set(limit)
            } else if rateLimit.isNull {
                changes.rateLimit = .clear
            }
            if let schedule = retrySchedule.value {
                changes.retrySchedule = .set(try RetryPolicy.parse(schedule))
            } else if retrySchedule.isNull {
                changes.retrySchedule = .clear
            }
        } catch let error as HooktopError {
            throw APIError.invalid(error.message)
        }
        return changes
    }
}

/// The body of `POST /v1/endpoints/{id}/disable`: `{"reason"?}`.
struct DisableRequest: Decodable, Sendable {
    var reason: String?

    init(from decoder: any Decoder) throws {
        reason = try decoder.container(keyedBy: CodingKeys.self).string(.reason)
    }

    enum CodingKeys: String, CodingKey { case reason }
}

/// The body of `POST /v1/endpoints/{id}/recover`: `{"since"}`, a duration back from now or ISO 8601.
struct RecoverRequest: Decodable, Sendable {
    var since: String

    init(from decoder: any Decoder) throws {
        guard let since = try decoder.container(keyedBy: CodingKeys.self).string(.since) else {
            throw APIError.invalid("since is required")
        }
        self.since = since
    }

    enum CodingKeys: String, CodingKey { case since }
}
