import Foundation

/// The log to read and the operations to act with, as one value: what the dashboard is given.
public struct OperatorConsole: DeliveryLogReader, DeliveryOperations {
    public let store: Store
    public let operations: Operations

    public init(store: Store, operations: Operations) {
        self.store = store
        self.operations = operations
    }

    public func changeCounter() throws -> Int64 { try store.changeCounter() }
    public func overview(now: Date) throws -> Overview { try store.overview(now: now) }
    public func endpointSummaries(now: Date) throws -> [EndpointSummary] { try store.endpointSummaries(now: now) }
    public func endpoint(id: String) throws -> Endpoint? { try store.endpoint(id: id) }
    public func deliveries(_ query: DeliveryQuery) throws -> [Delivery] { try store.deliveries(query) }
    public func retryQueue(_ query: RetryQueueQuery) throws -> [Delivery] { try store.retryQueue(query) }
    public func failureGroups(endpointId: String?, limit: Int) throws -> [FailureGroup] {
        try store.failureGroups(endpointId: endpointId, limit: limit)
    }
    public func failureSamples(endpointId: String, errorClass: ErrorClass?, statusCode: Int?, limit: Int) throws
        -> [Delivery]
    {
        try store.failureSamples(endpointId: endpointId, errorClass: errorClass, statusCode: statusCode, limit: limit)
    }
    public func messages(eventType: String?, before: Int64?, limit: Int) throws -> [MessageSummary] {
        try store.messages(eventType: eventType, before: before, limit: limit)
    }
    public func deliveryDetail(id: Int64) throws -> DeliveryDetail? { try store.deliveryDetail(id: id) }
    public func recoverableCount(endpointId: String, since: Date) throws -> Int {
        try store.recoverableCount(endpointId: endpointId, since: since)
    }

    public func recoveryProgress(endpointId: String) throws -> RecoveryProgress? {
        try store.recoveryProgress(endpointId: endpointId)
    }

    public func auditEntries(objectId: String?, limit: Int) throws -> [AuditEntry] {
        try store.auditEntries(objectId: objectId, limit: limit)
    }

    public func pause(endpointId: String, by actor: Actor) async throws {
        try await operations.pause(endpointId: endpointId, by: actor)
    }
    public func resume(endpointId: String, by actor: Actor) async throws {
        try await operations.resume(endpointId: endpointId, by: actor)
    }
    public func disable(endpointId: String, reason: String, by actor: Actor) async throws {
        try await operations.disable(endpointId: endpointId, reason: reason, by: actor)
    }
    public func enable(endpointId: String, by actor: Actor) async throws {
        try await operations.enable(endpointId: endpointId, by: actor)
    }
    public func redeliver(deliveryId: Int64, by actor: Actor) async throws -> RedeliveryOutcome {
        try await operations.redeliver(deliveryId: deliveryId, by: actor)
    }
    public func recover(endpointId: String, since: Date, by actor: Actor) async throws -> Int {
        try await operations.recover(endpointId: endpointId, since: since, by: actor)
    }
    public func cancel(deliveryId: Int64, by actor: Actor) async throws {
        try await operations.cancel(deliveryId: deliveryId, by: actor)
    }
}
