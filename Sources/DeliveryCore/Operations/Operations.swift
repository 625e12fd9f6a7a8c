import Foundation

/// Every mutation of the log, over any engine: the one write path that the CLI, the HTTP API, the dashboard and the
/// demo use. Operator actions are audited.
///
/// A redelivery asked for while no dispatcher is alive is performed by this process through `sender`,
/// with the same claim and recording the dispatcher uses.
public struct Operations: DeliveryOperations {
    public let engine: any DeliveryEngine
    /// Sends redeliveries when no dispatcher is alive; `nil` only queues them.
    public let sender: WebhookSender?
    /// Retry schedule applied when a redelivery of a waiting delivery fails here.
    public let retryPolicy: RetryPolicy
    /// Largest payload a publish may carry, in bytes.
    public let maxPayloadBytes: Int
    /// Wakes a dispatcher running in this process.
    public let wake: @Sendable () -> Void
    /// The clock.
    public let now: @Sendable () -> Date
    private let committer: PublishCommitter

    public init(
        engine: any DeliveryEngine, sender: WebhookSender? = nil, retryPolicy: RetryPolicy = .standard,
        maxPayloadBytes: Int = PublishLimits.defaultMaxPayloadBytes,
        wake: @escaping @Sendable () -> Void = {}, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.init(
            engine: engine, sender: sender, retryPolicy: retryPolicy, maxPayloadBytes: maxPayloadBytes,
            publishLimits: PublishCommitter.Limits(), beforeCommit: nil, wake: wake, now: now)
    }

    /// Over an SQLite store.
    public init(
        store: Store, sender: WebhookSender? = nil, retryPolicy: RetryPolicy = .standard,
        maxPayloadBytes: Int = PublishLimits.defaultMaxPayloadBytes,
        wake: @escaping @Sendable () -> Void = {}, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.init(
            engine: SQLiteEngine(store: store), sender: sender, retryPolicy: retryPolicy,
            maxPayloadBytes: maxPayloadBytes, wake: wake, now: now)
    }

    /// With the waiting line's limits, and `beforeCommit` run before each group commit (tests hold commits there).
    init(
        engine: any DeliveryEngine, sender: WebhookSender? = nil, retryPolicy: RetryPolicy = .standard,
        maxPayloadBytes: Int = PublishLimits.defaultMaxPayloadBytes, publishLimits: PublishCommitter.Limits,
        beforeCommit: (@Sendable () async -> Void)?,
        wake: @escaping @Sendable () -> Void = {}, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.engine = engine
        self.sender = sender
        self.retryPolicy = retryPolicy
        self.maxPayloadBytes = maxPayloadBytes
        self.wake = wake
        self.now = now
        self.committer = PublishCommitter(
            limits: publishLimits, executor: engine.commitExecutor,
            commit: { groups in
                await beforeCommit?()
                let at = now()
                return try await engine.publish(groups: groups, now: at)
            },
            committed: wake)
    }

    // MARK: - Publishing

    /// Events accepted and not yet committed.
    public var publishesWaiting: Int { committer.waiting }

    /// Records an event and fans it out to every subscribed endpoint; answered once the event is committed.
    /// Concurrent publishes share transactions (group commit).
    /// - Throws: `invalidInput` for a bad field, `conflict` for a taken id, `overloaded` when the log is not keeping
    ///   up, `storageFull` when the disk is.
    public func publish(_ request: PublishRequest) async throws -> PublishResult {
        try request.validate(maxPayloadBytes: maxPayloadBytes)
        return try await committer.publish([request])[0]
    }

    /// Records several events in one transaction, all or none, answered in the order given.
    /// - Throws: `invalidInput` naming the index of the first bad event (`events[3]: ...`); nothing is recorded then.
    public func publish(batch: [PublishRequest]) async throws -> [PublishResult] {
        guard batch.count <= PublishLimits.maxBatchEvents else {
            throw HooktopError.invalid("a batch holds at most \(PublishLimits.maxBatchEvents) events, not \(batch.count)")
        }
        for (index, request) in batch.enumerated() {
            do {
                try request.validate(maxPayloadBytes: maxPayloadBytes)
            } catch let error as HooktopError {
                throw HooktopError(error.code, "events[\(index)]: \(error.message)")
            }
        }
        guard !batch.isEmpty else { return [] }
        return try await committer.publish(batch)
    }

    /// Records events whose fields and payloads were already checked (the API scans its body once).
    public func publish(scanned batch: [PublishRequest]) async throws -> [PublishResult] {
        guard !batch.isEmpty else { return [] }
        return try await committer.publish(batch)
    }

    // MARK: - Endpoints

    /// Registers an endpoint after checking its fields and its destination (`DestinationPolicy`).
    /// - Throws: `invalidInput`, `destinationRefused`, or `conflict` when `id` is taken.
    public func addEndpoint(
        url: String, changes: EndpointChanges = EndpointChanges(), secret: String? = nil,
        allowPrivateDestination: Bool = false, id: String? = nil, by actor: Principal
    ) async throws -> Endpoint {
        var checked = changes
        checked.url = url
        try checked.validate()
        try await Self.checkDestination(url, allowPrivate: allowPrivateDestination)
        let at = now()
        return try await engine.addEndpoint(
            url: url, changes: changes, secret: secret, allowPrivateDestination: allowPrivateDestination, id: id,
            now: at, by: actor)
    }

    /// Applies `changes` to an endpoint; a new URL's destination is checked first.
    public func updateEndpoint(
        id: String, changes: EndpointChanges, allowPrivateDestination: Bool = false, by actor: Principal
    ) async throws -> Endpoint {
        try changes.validate()
        if let url = changes.url {
            // An endpoint allowed on private addresses keeps that allowance for its new URL.
            guard let endpoint = try await engine.endpoint(id: id) else { throw HooktopError.notFound("endpoint", id) }
            try await Self.checkDestination(url, allowPrivate: allowPrivateDestination || endpoint.allowPrivateDestination)
        }
        let at = now()
        return try await engine.updateEndpoint(id: id, changes: changes, now: at, by: actor)
    }

    /// Deletes an endpoint with its deliveries and their attempts.
    public func removeEndpoint(id: String, by actor: Principal) async throws {
        let at = now()
        try await engine.removeEndpoint(id: id, now: at, by: actor)
    }

    /// Resolves the URL's host away from the cooperative threads (name resolution blocks) and applies the policy.
    private static func checkDestination(_ url: String, allowPrivate: Bool) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result { _ = try DestinationPolicy(allowPrivate: allowPrivate).check(url: url) })
            }
        }
    }

    /// Sends one signed request of type `hooktop.ping` (payload: the endpoint's id and the time) with the endpoint's
    /// headers, credentials and TLS settings, and waits for the answer. It is not a delivery: the log's counts do not
    /// change; the audit records it with its result. Without a sender of its own (the CLI), one is made for the ping.
    public func testEndpoint(id: String, by actor: Principal) async throws -> AttemptOutcome {
        guard let endpoint = try await engine.endpoint(id: id) else { throw HooktopError.notFound("endpoint", id) }
        let at = now()
        let message = Message(
            id: Identifier.makeOrdered("msg", now: at), eventType: Self.pingType,
            payload: #"{"endpoint_id":"\#(endpoint.id)","time":"\#(JSONRepresentation.timestamp(at))"}"#,
            idempotencyKey: nil, createdAt: at)
        let job = DeliveryJob(deliveryId: 0, endpoint: endpoint, message: message, attemptNumber: 1, trigger: .manual)
        let outcome: AttemptOutcome
        if let sender {
            outcome = await sender.send(job, now: now)
        } else {
            let sender = WebhookSender()
            outcome = await sender.send(job, now: now)
            await sender.shutdown()
        }
        let result = outcome.responseStatus.map { "HTTP \($0)" } ?? outcome.summary ?? "no answer"
        try await engine.recordAudit(
            action: "endpoint.test", objectType: "endpoint", objectId: id,
            detail: "\(result) in \(outcome.durationMilliseconds) ms", now: at, by: actor)
        return outcome
    }

    /// Sets (or with nil removes) an endpoint's rate limit; the dispatcher picks it up within a second.
    public func setRateLimit(endpointId: String, limit: Int?, by actor: Principal) async throws {
        var changes = EndpointChanges()
        changes.rateLimit = limit.map { .set($0) } ?? .clear
        _ = try await updateEndpoint(id: endpointId, changes: changes, by: actor)
        wake()
    }

    /// Sends again every delivery `filter` matches (of active endpoints): queued as manual attempts, released by the
    /// dispatcher at each endpoint's rate limit (or its max in flight), audited with the filter. With `dryRun`,
    /// only counts them.
    /// - Returns: how many match (dry run) or were queued.
    public func replay(_ filter: DeliveryFilter, dryRun: Bool, by actor: Principal) async throws -> Int {
        try filter.validate()
        if let id = filter.endpointId {
            // One endpoint named: a held one is said to be held, rather than matching nothing.
            guard let endpoint = try await engine.endpoint(id: id) else { throw HooktopError.notFound("endpoint", id) }
            guard endpoint.status == .active else {
                throw HooktopError(
                    .conflict,
                    "endpoint \(id) is \(endpoint.status.rawValue): \(endpoint.status == .paused ? "resume" : "enable") it first")
            }
        }
        if dryRun { return try await engine.countReplay(filter) }
        let at = now()
        let count = try await engine.queueReplay(filter, now: at, by: actor)
        if count > 0 { wake() }
        return count
    }

    /// The event type of test pings.
    public static let pingType = "hooktop.ping"

    // MARK: - Endpoint status

    public func pause(endpointId: String, by actor: Principal) async throws {
        try await setStatus(endpointId, .paused, action: "endpoint.pause", refusing: .disabled, "enable it before pausing", by: actor)
    }

    public func resume(endpointId: String, by actor: Principal) async throws {
        try await setStatus(endpointId, .active, action: "endpoint.resume", refusing: .disabled, "use enable for a disabled endpoint", by: actor)
        wake()
    }

    public func disable(endpointId: String, reason: String, by actor: Principal) async throws {
        try await setStatus(
            endpointId, .disabled, reason: reason.isEmpty ? "disabled by \(actor.user)" : reason,
            action: "endpoint.disable", by: actor)
    }

    public func enable(endpointId: String, by actor: Principal) async throws {
        try await setStatus(endpointId, .active, action: "endpoint.enable", by: actor)
        wake()
    }

    /// Sets an endpoint's status; refused (`conflict`) when it has the status `refused`.
    private func setStatus(
        _ endpointId: String, _ status: EndpointStatus, reason: String? = nil, action: String,
        refusing refused: EndpointStatus? = nil, _ advice: String = "", by actor: Principal
    ) async throws {
        try await engine.setEndpointStatus(
            id: endpointId, status, reason: reason, action: action, refusing: refused, advice: advice, now: now(),
            by: actor)
    }

    public func redeliver(deliveryId: Int64, by actor: Principal) async throws -> RedeliveryOutcome {
        let at = now()
        try await engine.queueRedelivery(deliveryId: deliveryId, now: at, by: actor)
        let alive = try await engine.workers().contains { $0.isAlive(now: at) }
        if alive || sender == nil {
            wake()
            return .queued(deliveryId: deliveryId)
        }
        return try await performLocally(deliveryId: deliveryId)
    }

    /// Sends a queued redelivery from this process and records it.
    private func performLocally(deliveryId: Int64) async throws -> RedeliveryOutcome {
        guard let sender else { return .queued(deliveryId: deliveryId) }
        let owner = "op:\(getpid()):\(Identifier.make("r", length: 8))"
        let at = now()
        // The lease outlives the attempt's timeout; if this process dies meanwhile, a dispatcher reclaims it.
        guard
            let job = try await engine.claimOne(
                deliveryId: deliveryId, owner: owner, now: at, leaseUntil: at.addingTimeInterval(330))
        else {
            // A dispatcher that just started took it.
            return .queued(deliveryId: deliveryId)
        }
        let outcome = await sender.send(job, now: now)
        try await engine.record([outcome], owner: owner, policy: retryPolicy, autoDisableAfter: nil, now: now())
        guard let attempt = try await engine.attempts(deliveryId: deliveryId).last else {
            return .queued(deliveryId: deliveryId)
        }
        return .performed(attempt)
    }

    public func recover(endpointId: String, since: Date, by actor: Principal) async throws -> Int {
        let at = now()
        let count = try await engine.queueRecovery(endpointId: endpointId, since: since, now: at, by: actor)
        wake()
        return count
    }

    public func cancel(deliveryId: Int64, by actor: Principal) async throws {
        let at = now()
        try await engine.cancelDelivery(deliveryId: deliveryId, now: at, by: actor)
    }

    /// Replaces an endpoint's secret, keeping the old one signing for 24 hours.
    public func rotateSecret(endpointId: String, by actor: Principal) async throws -> Endpoint {
        let at = now()
        return try await engine.rotateSecret(endpointId: endpointId, now: at, by: actor)
    }

    // MARK: - API tokens

    /// Makes an API token called `name`, in force at once for every `serve` on the log; audited.
    /// - Returns: the token, to be shown once (the log keeps only its digest).
    /// - Throws: `invalidInput` for a bad name.
    public func createToken(name: String, by actor: Principal) async throws -> IssuedAPIToken {
        try APIToken.validate(name: name)
        return try await engine.createAPIToken(name: name, now: now(), by: actor)
    }

    /// Revokes an API token: every `serve` on the log refuses it within a second; audited.
    /// - Returns: false when it was already revoked.
    /// - Throws: `notFound` for an unknown id.
    @discardableResult
    public func revokeToken(id: String, by actor: Principal) async throws -> Bool {
        try await engine.revokeAPIToken(id: id, now: now(), by: actor)
    }

    /// Deletes messages older than `before` whose every delivery was delivered; messages with any failing, dead,
    /// waiting or cancelled delivery are kept.
    /// - Returns: how many messages were removed.
    public func prune(before: Date, by actor: Principal) async throws -> Int {
        try await engine.prune(before: before, now: now(), by: actor)
    }
}

