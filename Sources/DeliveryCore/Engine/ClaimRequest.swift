/// How many due deliveries of one endpoint a dispatcher asks to claim.
public struct ClaimRequest: Sendable {
    public var endpoint: Endpoint
    public var limit: Int

    public init(endpoint: Endpoint, limit: Int) {
        self.endpoint = endpoint
        self.limit = limit
    }
}
