/// An endpoint as the API and `--json` show it. Secrets (the signing secret, the outbound credential) only when asked:
/// the answer to a create, a get or a rotation.
public struct EndpointObject: Encodable, Sendable {
    /// Whether a CA bundle and a client certificate are configured (never their contents).
    public struct TLS: Encodable, Sendable {
        public var caCertificates: Int
        public var clientCertificate: Bool

        enum CodingKeys: String, CodingKey {
            case caCertificates = "ca_certificates", clientCertificate = "client_certificate"
        }
    }

    public var id: String
    public var url: String
    public var description: String
    public var status: EndpointStatus
    @ExplicitNull public var disabledReason: String?
    public var eventTypes: [String]
    public var maxInFlight: Int
    public var timeoutMilliseconds: Int
    public var allowPrivateDestination: Bool
    public var createdAt: String
    public var updatedAt: String
    /// Extra headers by name; values of secret-looking headers masked unless secrets are shown.
    public var headers: [String: String]
    /// The outbound credential, masked (`Bearer ****abcd`).
    @ExplicitNull public var authorization: String?
    public var tls: TLS
    /// The endpoint's own retry delays (`5s,5m,30m`), null when it uses the dispatcher's.
    @ExplicitNull public var retrySchedule: String?
    @ExplicitNull public var rateLimit: Int?
    /// Shown with secrets only.
    public var secret: String?
    /// Shown with secrets only, then null when no previous secret is still accepted.
    public var previousSecretExpiresAt: ExplicitNull<String>?
    public var bearerToken: String?
    /// `USER:PASSWORD`, shown with secrets only.
    public var basicAuth: String?

    enum CodingKeys: String, CodingKey {
        case id, url, description, status, headers, authorization, tls, secret
        case disabledReason = "disabled_reason", eventTypes = "event_types", maxInFlight = "max_in_flight"
        case timeoutMilliseconds = "timeout_ms", allowPrivateDestination = "allow_private_destination"
        case createdAt = "created_at", updatedAt = "updated_at", retrySchedule = "retry_schedule"
        case rateLimit = "rate_limit", previousSecretExpiresAt = "previous_secret_expires_at"
        case bearerToken = "bearer_token", basicAuth = "basic_auth"
    }

    public init(_ endpoint: Endpoint, includeSecret: Bool) {
        let connection = endpoint.connection
        id = endpoint.id
        url = endpoint.url
        description = endpoint.description
        status = endpoint.status
        disabledReason = endpoint.disabledReason
        eventTypes = endpoint.eventTypes
        maxInFlight = endpoint.maxInFlight
        timeoutMilliseconds = endpoint.timeoutMilliseconds
        allowPrivateDestination = endpoint.allowPrivateDestination
        createdAt = JSONRepresentation.timestamp(endpoint.createdAt)
        updatedAt = JSONRepresentation.timestamp(endpoint.updatedAt)
        headers = Dictionary(
            connection.headers.map { includeSecret ? $0 : ConnectionRules.displayed($0) }.map { ($0.name, $0.value) },
            uniquingKeysWith: { $1 })
        authorization = connection.credential?.masked
        tls = TLS(
            caCertificates: connection.caCertificateCount, clientCertificate: connection.clientCertificatePEM != nil)
        retrySchedule = connection.retrySchedule.map { RetryPolicy.describe($0.delays) }
        rateLimit = endpoint.rateLimit
        guard includeSecret else { return }
        secret = endpoint.secret
        previousSecretExpiresAt = ExplicitNull(wrappedValue: endpoint.previousSecretExpiresAt.map(JSONRepresentation.timestamp))
        switch connection.credential {
        case .bearer(let token)?: bearerToken = token
        case .basic(let user, let password)?: basicAuth = "\(user):\(password)"
        case nil: break
        }
    }
}
