import Foundation

/// The writes of a storage engine behind `Operations`: every mutation of the log, each audited where an operator
/// made it, each in one transaction. Only `Operations` calls these; the CLI, the API, the dashboard and the demo call
/// `Operations`.
public protocol OperatorLog: Sendable {
    /// Records groups of validated events in one transaction, each group all or none; one result per group.
    /// - Throws: only when the transaction as a whole fails (then nothing was recorded).
    func publish(groups: [[PublishRequest]], now: Date) async throws -> [Result<[PublishResult], any Error>]
    /// Where the group-commit loop runs best: the thread the engine writes on (SQLite), so that handing each group
    /// to the engine and its answer back wakes no other thread; nil for anywhere (PostgreSQL: the network).
    var commitExecutor: (any TaskExecutor)? { get }
    func addEndpoint(
        url: String, changes: EndpointChanges, secret: String?, allowPrivateDestination: Bool, id: String?, now: Date,
        by actor: Principal
    ) async throws -> Endpoint
    func updateEndpoint(id: String, changes: EndpointChanges, now: Date, by actor: Principal) async throws -> Endpoint
    func removeEndpoint(id: String, now: Date, by actor: Principal) async throws
    /// Sets an endpoint's status, refused with `conflict` (`advice` saying what to do) when it is `refusing`.
    /// Returns false when it already had the status.
    @discardableResult
    func setEndpointStatus(
        id: String, _ status: EndpointStatus, reason: String?, action: String, refusing: EndpointStatus?,
        advice: String, now: Date, by actor: Principal
    ) async throws -> Bool
    func rotateSecret(endpointId: String, now: Date, by actor: Principal) async throws -> Endpoint
    /// Queues a delivery for a manual attempt now.
    func queueRedelivery(deliveryId: Int64, now: Date, by actor: Principal) async throws
    /// Queues an endpoint's dead deliveries since `since` and what it missed while disabled; returns the count.
    func queueRecovery(endpointId: String, since: Date, now: Date, by actor: Principal) async throws -> Int
    func cancelDelivery(deliveryId: Int64, now: Date, by actor: Principal) async throws
    /// Deletes fully delivered messages older than `before`; returns how many.
    func prune(before: Date, now: Date, by actor: Principal) async throws -> Int
    /// How many deliveries `filter` matches (of active endpoints).
    func countReplay(_ filter: DeliveryFilter) async throws -> Int
    /// Queues every delivery `filter` matches for a manual attempt, audited with the filter; returns how many.
    func queueReplay(_ filter: DeliveryFilter, now: Date, by actor: Principal) async throws -> Int
    /// Records an operator's action that changes nothing else in the log (a test ping).
    func recordAudit(action: String, objectType: String, objectId: String, detail: String, now: Date, by actor: Principal)
        async throws
}
