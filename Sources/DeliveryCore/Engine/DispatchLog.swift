import Foundation

/// What a dispatcher needs of a storage engine: claims with leases, attempts recorded in batches, heartbeats.
///
/// A claim moves a due delivery to `inflight` under `owner` with a lease; a lease that runs out (its dispatcher died)
/// makes the delivery claimable again. Recording a batch of outcomes applies `AttemptRules` to each delivery and
/// releases its lease, in one transaction. Every method runs on the engine's own threads or connections: callers
/// await it, never blocking a cooperative thread.
public protocol DispatchLog: ChangeSignal {
    /// The endpoints deliveries may be claimed for (active ones).
    func activeEndpoints() async throws -> [Endpoint]
    /// Whether any delivery is due now (a cheap read, so idle polls take no write lock).
    func hasDueWork(now: Date) async throws -> Bool
    /// Claims due deliveries, at most `limit` per endpoint, leased for the endpoint's timeout plus `lease` seconds.
    func claimDue(_ requests: [ClaimRequest], owner: String, now: Date, lease: TimeInterval) async throws
        -> [DeliveryJob]
    /// Records finished attempts and claims due deliveries in one transaction.
    func recordAndClaim(
        _ outcomes: [AttemptOutcome], claiming requests: [ClaimRequest], owner: String, policy: RetryPolicy,
        autoDisableAfter: TimeInterval?, now: Date, lease: TimeInterval
    ) async throws -> [DeliveryJob]
    /// Records finished attempts in one transaction.
    func record(
        _ outcomes: [AttemptOutcome], owner: String, policy: RetryPolicy, autoDisableAfter: TimeInterval?, now: Date
    ) async throws
    /// Claims one delivery queued for a manual attempt (a redelivery sent by an operator's process).
    func claimOne(deliveryId: Int64, owner: String, now: Date, leaseUntil: Date) async throws -> DeliveryJob?
    /// Records that a dispatcher is alive and what it runs.
    func heartbeat(_ worker: WorkerInfo) async throws
    /// Releases `owner`'s leases (all of them, on shutdown), or when nil every lease whose holder is gone: its lease
    /// ran out, or its heartbeat is `WorkerInfo.leasesTakenOverAfter` old.
    @discardableResult
    func releaseLeases(owner: String?, now: Date) async throws -> Int
    /// Forgets dispatchers of this host whose process is gone, except `id`.
    func forgetDeadWorkers(host: String, except id: String) async throws
    /// Removes a dispatcher's heartbeat row (on a clean stop).
    func removeWorker(id: String) async throws
}
