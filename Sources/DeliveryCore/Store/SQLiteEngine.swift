import Foundation

/// The embedded engine: one SQLite file, one `Store` connection per process, its work run on the store's own
/// thread so that callers await it instead of blocking a cooperative thread.
public final class SQLiteEngine: DeliveryEngine {
    /// The connection and its SQL; only the engine and the tests that look inside it use it.
    public let store: Store

    public init(store: Store) { self.store = store }

    /// Opens the database file (see `Store.init(path:readOnly:create:)`).
    public convenience init(path: String, readOnly: Bool = false, create: Bool = false) throws {
        self.init(store: try Store(path: path, readOnly: readOnly, create: create))
    }

    public var location: String { store.path }

    private func run<T: Sendable>(_ body: @escaping @Sendable (Store) throws -> T) async throws -> T {
        let store = self.store
        return try await store.offload { try body(store) }
    }

    // MARK: ChangeSignal, reads

    public func changeCounter() async throws -> Int64 { try await run { try $0.changeCounter() } }
    public func overview(now: Date) async throws -> Overview { try await run { try $0.overview(now: now) } }
    public func endpointSummaries(now: Date) async throws -> [EndpointSummary] {
        try await run { try $0.endpointSummaries(now: now) }
    }
    public func endpoint(id: String) async throws -> Endpoint? { try await run { try $0.endpoint(id: id) } }
    public func endpoints() async throws -> [Endpoint] { try await run { try $0.endpoints() } }
    public func deliveries(_ query: DeliveryQuery) async throws -> [Delivery] {
        try await run { try $0.deliveries(query) }
    }
    public func retryQueue(_ query: RetryQueueQuery) async throws -> [Delivery] {
        try await run { try $0.retryQueue(query) }
    }
    public func failureGroups(endpointId: String?, limit: Int) async throws -> [FailureGroup] {
        try await run { try $0.failureGroups(endpointId: endpointId, limit: limit) }
    }
    public func failureSamples(endpointId: String, errorClass: ErrorClass?, statusCode: Int?, limit: Int) async throws
        -> [Delivery]
    {
        try await run {
            try $0.failureSamples(endpointId: endpointId, errorClass: errorClass, statusCode: statusCode, limit: limit)
        }
    }
    public func messages(eventType: String?, before: Int64?, limit: Int) async throws -> [MessageSummary] {
        try await run { try $0.messages(eventType: eventType, before: before, limit: limit) }
    }
    public func message(id: String) async throws -> Message? { try await run { try $0.message(id: id) } }
    public func deliveryDetail(id: Int64) async throws -> DeliveryDetail? {
        try await run { try $0.deliveryDetail(id: id) }
    }
    public func recoverableCount(endpointId: String, since: Date) async throws -> Int {
        try await run { try $0.recoverableCount(endpointId: endpointId, since: since) }
    }
    public func auditEntries(objectId: String?, limit: Int) async throws -> [AuditEntry] {
        try await run { try $0.auditEntries(objectId: objectId, limit: limit) }
    }
    public func recoveryProgress(endpointId: String) async throws -> RecoveryProgress? {
        try await run { try $0.recoveryProgress(endpointId: endpointId) }
    }
    public func writeProblem() async -> String? { store.writeProblem() }
    public func workers() async throws -> [WorkerInfo] { try await run { try $0.workers() } }
    public func attempts(deliveryId: Int64) async throws -> [Attempt] {
        try await run { try $0.attempts(deliveryId: deliveryId) }
    }
    public func statusTotals() async throws -> StatusCounts { try await run { try $0.statusTotals() } }

    public func close() async {
        let store = self.store
        _ = try? await store.offload { store.checkpoint() }
    }

    // MARK: OperatorLog

    public func publish(groups: [[PublishRequest]], now: Date) async throws -> [Result<[PublishResult], any Error>] {
        try await run { try $0.publish(groups: groups, now: now) }
    }
    public var commitExecutor: (any TaskExecutor)? { store.executor }
    public func addEndpoint(
        url: String, changes: EndpointChanges, secret: String?, allowPrivateDestination: Bool, id: String?, now: Date,
        by actor: Principal
    ) async throws -> Endpoint {
        try await run {
            try $0.addEndpoint(
                url: url, changes: changes, secret: secret, allowPrivateDestination: allowPrivateDestination, id: id,
                now: now, by: actor)
        }
    }
    public func updateEndpoint(id: String, changes: EndpointChanges, now: Date, by actor: Principal) async throws -> Endpoint {
        try await run { try $0.updateEndpoint(id: id, changes: changes, now: now, by: actor) }
    }
    public func removeEndpoint(id: String, now: Date, by actor: Principal) async throws {
        try await run { try $0.removeEndpoint(id: id, now: now, by: actor) }
    }
    public func setEndpointStatus(
        id: String, _ status: EndpointStatus, reason: String?, action: String, refusing: EndpointStatus?,
        advice: String, now: Date, by actor: Principal
    ) async throws -> Bool {
        try await run {
            try $0.setEndpointStatus(
                id: id, status, reason: reason, action: action, refusing: refusing, advice: advice, now: now, by: actor)
        }
    }
    public func rotateSecret(endpointId: String, now: Date, by actor: Principal) async throws -> Endpoint {
        try await run { try $0.rotateSecret(endpointId: endpointId, now: now, by: actor) }
    }
    public func queueRedelivery(deliveryId: Int64, now: Date, by actor: Principal) async throws {
        try await run { try $0.queueRedelivery(deliveryId: deliveryId, now: now, by: actor) }
    }
    public func queueRecovery(endpointId: String, since: Date, now: Date, by actor: Principal) async throws -> Int {
        try await run { try $0.queueRecovery(endpointId: endpointId, since: since, now: now, by: actor) }
    }
    public func cancelDelivery(deliveryId: Int64, now: Date, by actor: Principal) async throws {
        try await run { try $0.cancelDelivery(deliveryId: deliveryId, now: now, by: actor) }
    }
    public func prune(before: Date, now: Date, by actor: Principal) async throws -> Int {
        try await run { try $0.prune(before: before, now: now, by: actor) }
    }
    public func checkup(now: Date) async throws -> [CheckFinding] {
        try await run { try $0.checkup(now: now) }
    }
    public func repair(now: Date, by actor: Principal) async throws -> [String] {
        try await run { try $0.repair(now: now, by: actor) }
    }
    public func countReplay(_ filter: DeliveryFilter) async throws -> Int {
        try await run { try $0.countReplay(filter) }
    }
    public func queueReplay(_ filter: DeliveryFilter, now: Date, by actor: Principal) async throws -> Int {
        try await run { try $0.queueReplay(filter, now: now, by: actor) }
    }
    public func recordAudit(
        action: String, objectType: String, objectId: String, detail: String, now: Date, by actor: Principal
    ) async throws {
        try await run { store in
            try store.write { db in try Store.audit(db, action, objectType, objectId, detail, actor, now) }
        }
    }

    // MARK: APITokenLog

    public func makeFirstAPIToken(now: Date, by actor: Principal) async throws -> IssuedAPIToken? {
        try await run { try $0.makeFirstAPIToken(now: now, by: actor) }
    }
    public func apiTokenDigests() async throws -> Set<String> { try await run { try $0.apiTokenDigests() } }
    public func apiTokens() async throws -> [APIToken] { try await run { try $0.apiTokens() } }
    public func createAPIToken(name: String, now: Date, by actor: Principal) async throws -> IssuedAPIToken {
        try await run { try $0.createAPIToken(name: name, now: now, by: actor) }
    }
    public func revokeAPIToken(id: String, now: Date, by actor: Principal) async throws -> Bool {
        try await run { try $0.revokeAPIToken(id: id, now: now, by: actor) }
    }

    // MARK: LogTransfer

    public func isEmptyLog() async throws -> Bool { try await run { try $0.isEmptyLog() } }
    public func exportRows(_ table: LogTable, after cursor: LogRow?, limit: Int, now: Date) async throws -> [LogRow] {
        try await run { try $0.exportRows(table, after: cursor, limit: limit, now: now) }
    }
    public func importRows(_ table: LogTable, _ rows: [LogRow], now: Date) async throws -> Int {
        try await run { try $0.importRows(table, rows) }
    }
    public func finishImport(now: Date) async throws { try await run { try $0.finishImport() } }

    // MARK: DispatchLog

    public func activeEndpoints() async throws -> [Endpoint] {
        try await run { try $0.endpoints().filter { $0.status == .active } }
    }
    public func hasDueWork(now: Date) async throws -> Bool { try await run { try $0.hasDueWork(now: now) } }
    public func claimDue(_ requests: [ClaimRequest], owner: String, now: Date, lease: TimeInterval) async throws
        -> [DeliveryJob]
    {
        try await run { try $0.claimDue(requests, owner: owner, now: now, lease: lease) }
    }
    public func recordAndClaim(
        _ outcomes: [AttemptOutcome], claiming requests: [ClaimRequest], owner: String, policy: RetryPolicy,
        autoDisableAfter: TimeInterval?, now: Date, lease: TimeInterval
    ) async throws -> [DeliveryJob] {
        try await run {
            var random = SystemRandomNumberGenerator()
            return try $0.recordAndClaim(
                outcomes, claiming: requests, owner: owner, policy: policy, autoDisableAfter: autoDisableAfter,
                now: now, lease: lease, random: &random)
        }
    }
    public func record(
        _ outcomes: [AttemptOutcome], owner: String, policy: RetryPolicy, autoDisableAfter: TimeInterval?, now: Date
    ) async throws {
        try await run {
            var random = SystemRandomNumberGenerator()
            _ = try $0.record(
                outcomes, owner: owner, policy: policy, autoDisableAfter: autoDisableAfter, now: now, random: &random)
        }
    }
    public func claimOne(deliveryId: Int64, owner: String, now: Date, leaseUntil: Date) async throws -> DeliveryJob? {
        try await run { try $0.claimOne(deliveryId: deliveryId, owner: owner, now: now, leaseUntil: leaseUntil) }
    }
    public func heartbeat(_ worker: WorkerInfo) async throws { try await run { try $0.heartbeat(worker) } }
    public func releaseLeases(owner: String?, now: Date) async throws -> Int {
        try await run { try $0.releaseLeases(owner: owner, now: now) }
    }
    public func forgetDeadWorkers(host: String, except id: String) async throws {
        try await run { try $0.forgetDeadWorkers(host: host, except: id) }
    }
    public func removeWorker(id: String) async throws { try await run { try $0.removeWorker(id: id) } }

    // MARK: AlertLog

    public func alertInputs(now: Date, deadSince: Date) async throws -> AlertInputs {
        try await run { try $0.alertInputs(now: now, deadSince: deadSince) }
    }
    public func recordAlert(_ alert: NewAlert, status: AlertSendStatus, leasedTo owner: String?, now: Date) async throws
        -> Alert?
    {
        try await run { try $0.recordAlert(alert, status: status, leasedTo: owner, now: now) }
    }
    public func alerts(before: Int64?, limit: Int) async throws -> [Alert] {
        try await run { try $0.alerts(before: before, limit: limit) }
    }
    public func alert(id: String) async throws -> Alert? { try await run { try $0.alert(id: id) } }
    public func claimAlerts(owner: String, now: Date, lease: TimeInterval, limit: Int) async throws -> [Alert] {
        try await run { try $0.claimAlerts(owner: owner, now: now, lease: lease, limit: limit) }
    }
    public func finishAlert(
        sequence: Int64, owner: String, status: AlertSendStatus, sentTo: [String], error: String?,
        nextAttemptAt: Date?, now: Date
    ) async throws {
        try await run {
            try $0.finishAlert(
                sequence: sequence, owner: owner, status: status, sentTo: sentTo, error: error,
                nextAttemptAt: nextAttemptAt, now: now)
        }
    }
    public func abandonAlert(sequence: Int64, reason: String, now: Date) async throws -> Bool {
        try await run { try $0.abandonAlert(sequence: sequence, reason: reason, now: now) }
    }
}
