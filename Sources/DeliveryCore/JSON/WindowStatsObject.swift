/// Attempts in a window (`last_5m` of `stats --json`): counts, success rate and latency percentiles.
public struct WindowStatsObject: Encodable, Sendable {
    public var attempts: Int
    public var successes: Int
    public var failures: Int
    @ExplicitNull public var successRate: Double?
    @ExplicitNull public var p50Milliseconds: Double?
    @ExplicitNull public var p95Milliseconds: Double?
    @ExplicitNull public var p99Milliseconds: Double?

    enum CodingKeys: String, CodingKey {
        case attempts, successes, failures
        case successRate = "success_rate", p50Milliseconds = "p50_ms", p95Milliseconds = "p95_ms"
        case p99Milliseconds = "p99_ms"
    }

    public init(_ stats: WindowStats) {
        attempts = stats.attempts
        successes = stats.successes
        failures = stats.failures
        successRate = stats.successRate
        p50Milliseconds = stats.p50Milliseconds
        p95Milliseconds = stats.p95Milliseconds
        p99Milliseconds = stats.p99Milliseconds
    }
}

extension StatusCounts {
    /// Deliveries by status name, every status named.
    public var byName: [String: Int] {
        Dictionary(uniqueKeysWithValues: DeliveryStatus.allCases.map { ($0.rawValue, self[$0]) })
    }
}
