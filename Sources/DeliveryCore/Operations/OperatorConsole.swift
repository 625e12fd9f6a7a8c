import Foundation

/// The log to read and the operations to act with, as one value: what the dashboard is given.
public struct OperatorConsole: DeliveryLogReader, DeliveryOperations {
    /// The log read: the engine behind `operations`.
    public var log: any DeliveryEngine { operations.engine }
    public let operations: Operations

    public init(operations: Operations) {
        self.operations = operations
    }

    public func changeCounter() async throws -> Int64 { try await log.changeCounter() }
    public func overview(now: Date) async throws -> Overview { try await log.overview(now: now) }
    public func endpointSummaries(now: Date) async throws -> [EndpointSummary] {
        try await log.endpointSummaries(now: now)
    }
    public func endpoint(id: String) async throws -> Endpoint? { try await log.endpoint(id: id) }
    public func deliveries(_ query: DeliveryQuery) async throws -> [Delivery] { try await log.deliveries(query) }
    public func retryQueue(_ query: RetryQueueQuery) async throws -> [Delivery] { try await log.retryQueue(query) }
    public func failureGroups(endpointId: String?, limit: Int) async throws -> [FailureGroup] {
        try await log.failureGroups(endpointId: endpointId, limit: limit)
    }
    public func failureSamples(endpointId: String, errorClass: ErrorClass?, statusCode: Int?, limit: Int) async throws
        -> [Delivery]
    {
        try await log.failureSamples(endpointId: endpointId, errorClass: errorClass, statusCode: statusCode, limit: limit)
    }
    public func messages(eventType: String?, before: Int64?, limit: Int) async throws -> [MessageSummary] {
        try await log.messages(eventType: eventType, before: before, limit: limit)
    }
    public func deliveryDetail(id: Int64) async throws -> DeliveryDetail? { try await log.deliveryDetail(id: id) }
    public func recoverableCount(endpointId: String, since: Date) async throws -> Int {
        try await log.recoverableCount(endpointId: endpointId, since: since)
    }
    public func recoveryProgress(endpointId: String) async throws -> RecoveryProgress? {
        try await log.recoveryProgress(endpointId: endpointId)
    }
    public func auditEntries(objectId: String?, limit: Int) async throws -> [AuditEntry] {
        try await log.auditEntries(objectId: objectId, limit: limit)
    }
    public func alerts(before: Int64?, limit: Int) async throws -> [Alert] {
        try await log.alerts(before: before, limit: limit)
    }

    public func pause(endpointId: String, by actor: Principal) async throws {
        try await operations.pause(endpointId: endpointId, by: actor)
    }
    public func resume(endpointId: String, by actor: Principal) async throws {
        try await operations.resume(endpointId: endpointId, by: actor)
    }
    public func disable(endpointId: String, reason: String, by actor: Principal) async throws {
        try await operations.disable(endpointId: endpointId, reason: reason, by: actor)
    }
    public func enable(endpointId: String, by actor: Principal) async throws {
        try await operations.enable(endpointId: endpointId, by: actor)
    }
    public func redeliver(deliveryId: Int64, by actor: Principal) async throws -> RedeliveryOutcome {
        try await operations.redeliver(deliveryId: deliveryId, by: actor)
    }
    public func recover(endpointId: String, since: Date, by actor: Principal) async throws -> Int {
        try await operations.recover(endpointId: endpointId, since: since, by: actor)
    }
    public func cancel(deliveryId: Int64, by actor: Principal) async throws {
        try await operations.cancel(deliveryId: deliveryId, by: actor)
    }
    public func setRateLimit(endpointId: String, limit: Int?, by actor: Principal) async throws {
        try await operations.setRateLimit(endpointId: endpointId, limit: limit, by: actor)
    }
    public func replay(_ filter: DeliveryFilter, dryRun: Bool, by actor: Principal) async throws -> Int {
        try await operations.replay(filter, dryRun: dryRun, by: actor)
    }
    public func testEndpoint(id: String, by actor: Principal) async throws -> AttemptOutcome {
        try await operations.testEndpoint(id: id, by: actor)
    }
}
