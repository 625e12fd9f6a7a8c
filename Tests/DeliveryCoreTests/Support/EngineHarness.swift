@testable import DeliveryCore
import Foundation
import HooktopTesting
import PostgresNIO
import Testing

/// The test helpers of `Store` (see Harness.swift) over any engine, through the seam alone, for the tests that run
/// on each engine.
extension DeliveryEngine {
    /// Adds a loopback endpoint for tests, with a short timeout.
    func addTestEndpoint(
        _ url: String, eventTypes: [String] = [], maxInFlight: Int? = nil, timeoutMilliseconds: Int = 5000,
        secret: String? = nil, now: Date = Date()
    ) async throws -> Endpoint {
        try await addEndpoint(
            url: url,
            changes: EndpointChanges(
                eventTypes: eventTypes, maxInFlight: maxInFlight, timeoutMilliseconds: timeoutMilliseconds),
            secret: secret, allowPrivateDestination: true, id: nil, now: now, by: testActor)
    }

    /// Records an event (checked first, as `Operations` checks it) at `now`.
    func publish(
        eventType: String, payload: String, idempotencyKey: String? = nil, id: String? = nil, now: Date = Date()
    ) async throws -> PublishResult {
        let request = PublishRequest(eventType: eventType, payload: payload, idempotencyKey: idempotencyKey, id: id)
        try request.validate()
        return try await publish(batch: [request], now: now)[0]
    }

    /// Records several events in one transaction, all or none.
    func publish(batch: [PublishRequest], now: Date = Date()) async throws -> [PublishResult] {
        try await makeDay(of: now)
        return try await publish(groups: [batch], now: now)[0].get()
    }

    /// Makes sure the log can hold rows of the day of `date`: PostgreSQL keeps its log in day partitions, made on
    /// open from yesterday to the days ahead; a test writing at another time makes its day first.
    func makeDay(of date: Date) async throws {
        guard let postgres = self as? PostgresEngine else { return }
        _ = try await postgres.pool.client.withConnection { connection in
            try await PostgresSchema.createPartitions(connection, from: date, days: 1, logger: quietLogger)
        }
    }

    /// Every delivery of an endpoint, oldest first.
    func deliveries(endpointId: String) async throws -> [Delivery] {
        try await deliveries(DeliveryQuery(endpointId: endpointId, limit: 1000)).reversed()
    }

    /// The only delivery of a message.
    func onlyDelivery(messageId: String) async throws -> Delivery {
        let found = try await deliveries(DeliveryQuery(messageId: messageId))
        try #require(found.count == 1)
        return found[0]
    }

    /// One delivery by id, or nil when it is gone.
    func delivery(id: Int64) async throws -> Delivery? {
        try await deliveryDetail(id: id)?.delivery
    }

    /// Status of a delivery, or nil when it is gone.
    func status(_ deliveryId: Int64) async throws -> DeliveryStatus? {
        try await delivery(id: deliveryId)?.status
    }

    /// An endpoint that must exist.
    func requireEndpoint(id: String) async throws -> Endpoint {
        try #require(try await endpoint(id: id))
    }

    /// Every attempt in the log.
    func attemptTotal() async throws -> Int {
        var total = 0
        for delivery in try await deliveries(DeliveryQuery(limit: 10_000)) {
            total += try await attempts(deliveryId: delivery.id).count
        }
        return total
    }

    /// Messages in the log.
    func messageTotal() async throws -> Int {
        try await messages(eventType: nil, before: nil, limit: 1000).count
    }

    /// Claims every due delivery of `endpoint` for `owner` (as a dispatcher would).
    func claimAll(_ endpoint: Endpoint, owner: String = "w:test", now: Date = Date(), lease: TimeInterval = 60)
        async throws -> [DeliveryJob]
    {
        try await claimDue([ClaimRequest(endpoint: endpoint, limit: 1000)], owner: owner, now: now, lease: lease)
    }

    /// Records an outcome for each job without any HTTP: `status` nil means a connection refused.
    func recordOutcome(
        _ jobs: [DeliveryJob], status: Int?, owner: String = "w:test", policy: RetryPolicy = shortPolicy,
        retryAfter: TimeInterval? = nil, autoDisableAfter: TimeInterval = 5 * 86400, now: Date = Date()
    ) async throws {
        let outcomes = jobs.map { fakeOutcome($0, status: status, retryAfter: retryAfter, at: now) }
        try await record(outcomes, owner: owner, policy: policy, autoDisableAfter: autoDisableAfter, now: now)
    }

    /// Deliveries whose lease is held: a look inside each engine (SQLite keeps the lease on the delivery,
    /// PostgreSQL on its queue row).
    func leasesHeld() async throws -> Int {
        switch self {
        case let sqlite as SQLiteEngine:
            return Int(try sqlite.store.sqlScalar("SELECT count(*) FROM deliveries WHERE lease_owner IS NOT NULL"))
        case let postgres as PostgresEngine:
            return try await postgres.rows("SELECT count(*) FROM delivery_queue WHERE lease_owner IS NOT NULL")
                .first?.int(0) ?? 0
        default:
            throw HooktopError.invalid("no lease probe for \(type(of: self))")
        }
    }
}

/// The kept counters and failure groups (and PostgreSQL's queue) agree with a count of the log, for every endpoint
/// and status: doctor's checks, which recount the log.
func expectCountersMatchTheLog(_ engine: any DeliveryEngine, sourceLocation: SourceLocation = #_sourceLocation)
    async throws
{
    let findings = try await engine.checkup(now: Date())
        .filter { ["counters", "failure_groups", "queue"].contains($0.check) }
    #expect(Set(findings.map(\.check)).isSuperset(of: ["counters", "failure_groups"]), sourceLocation: sourceLocation)
    for finding in findings {
        #expect(finding.verdict == .ok, "\(finding.check): \(finding.detail)", sourceLocation: sourceLocation)
    }
}
