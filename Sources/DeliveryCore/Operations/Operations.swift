import Foundation

/// The operator actions over a store, each audited. The CLI, the HTTP API and the dashboard all use this type.
///
/// A redelivery asked for while no dispatcher is alive is performed by this process through `sender`,
/// with the same claim and recording the dispatcher uses.
public struct Operations: DeliveryOperations {
    public let store: Store
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
        store: Store, sender: WebhookSender? = nil, retryPolicy: RetryPolicy = .standard,
        maxPayloadBytes: Int = PublishLimits.defaultMaxPayloadBytes,
        wake: @escaping @Sendable () -> Void = {}, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.init(
            store: store, sender: sender, retryPolicy: retryPolicy, maxPayloadBytes: maxPayloadBytes,
            publishLimits: PublishCommitter.Limits(), beforeCommit: nil, wake: wake, now: now)
    }

    /// With the waiting line's limits, and `beforeCommit` run before each group commit (tests hold commits there).
    init(
        store: Store, sender: WebhookSender? = nil, retryPolicy: RetryPolicy = .standard,
        maxPayloadBytes: Int = PublishLimits.defaultMaxPayloadBytes, publishLimits: PublishCommitter.Limits,
        beforeCommit: (@Sendable () async -> Void)?,
        wake: @escaping @Sendable () -> Void = {}, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.store = store
        self.sender = sender
        self.retryPolicy = retryPolicy
        self.maxPayloadBytes = maxPayloadBytes
        self.wake = wake
        self.now = now
        self.committer = PublishCommitter(
            limits: publishLimits,
            commit: { groups in
                await beforeCommit?()
                let at = now()
                return try await store.offload { try store.publish(groups: groups, now: at) }
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
        allowPrivateDestination: Bool = false, id: String? = nil, by actor: Actor
    ) async throws -> Endpoint {
        var checked = changes
        checked.url = url
        try checked.validate()
        try await Self.checkDestination(url, allowPrivate: allowPrivateDestination)
        let at = now()
        return try await store.offload {
            try store.addEndpoint(
                url: url, changes: changes, secret: secret, allowPrivateDestination: allowPrivateDestination, id: id,
                now: at, by: actor)
        }
    }

    /// Applies `changes` to an endpoint; a new URL's destination is checked first.
    public func updateEndpoint(
        id: String, changes: EndpointChanges, allowPrivateDestination: Bool = false, by actor: Actor
    ) async throws -> Endpoint {
        try changes.validate()
        if let url = changes.url { try await Self.checkDestination(url, allowPrivate: allowPrivateDestination) }
        let at = now()
        return try await store.offload { try store.updateEndpoint(id: id, changes: changes, now: at, by: actor) }
    }

    /// Deletes an endpoint with its deliveries and their attempts.
    public func removeEndpoint(id: String, by actor: Actor) async throws {
        let at = now()
        try await store.offload { try store.removeEndpoint(id: id, now: at, by: actor) }
    }

    /// Resolves the URL's host away from the cooperative threads (name resolution blocks) and applies the policy.
    private static func checkDestination(_ url: String, allowPrivate: Bool) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result { _ = try DestinationPolicy(allowPrivate: allowPrivate).check(url: url) })
            }
        }
    }

    // MARK: - Endpoint status

    public func pause(endpointId: String, by actor: Actor) async throws {
        try await setStatus(endpointId, .paused, action: "endpoint.pause", refusing: .disabled, "enable it before pausing", by: actor)
    }

    public func resume(endpointId: String, by actor: Actor) async throws {
        try await setStatus(endpointId, .active, action: "endpoint.resume", refusing: .disabled, "use enable for a disabled endpoint", by: actor)
        wake()
    }

    public func disable(endpointId: String, reason: String, by actor: Actor) async throws {
        try await setStatus(
            endpointId, .disabled, reason: reason.isEmpty ? "disabled by \(actor.user)" : reason,
            action: "endpoint.disable", by: actor)
    }

    public func enable(endpointId: String, by actor: Actor) async throws {
        try await setStatus(endpointId, .active, action: "endpoint.enable", by: actor)
        wake()
    }

    /// Sets an endpoint's status on the store's thread; refused (`conflict`) when it has the status `refused`.
    private func setStatus(
        _ endpointId: String, _ status: EndpointStatus, reason: String? = nil, action: String,
        refusing refused: EndpointStatus? = nil, _ advice: String = "", by actor: Actor
    ) async throws {
        let at = now()
        try await store.offload {
            if let refused, try store.requireEndpoint(id: endpointId).status == refused {
                throw HooktopError(.conflict, "endpoint \(endpointId) is \(refused.rawValue): \(advice)")
            }
            try store.setEndpointStatus(id: endpointId, status, reason: reason, action: action, now: at, by: actor)
        }
    }

    public func redeliver(deliveryId: Int64, by actor: Actor) async throws -> RedeliveryOutcome {
        let at = now()
        let alive = try await store.offload {
            try store.queueRedelivery(deliveryId: deliveryId, now: at, by: actor)
            return try store.workers().contains { $0.isAlive(now: at) }
        }
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
            let job = try await store.offload({
                try store.claimOne(deliveryId: deliveryId, owner: owner, now: at, leaseUntil: at.addingTimeInterval(330))
            })
        else {
            // A dispatcher that just started took it.
            return .queued(deliveryId: deliveryId)
        }
        let outcome = await sender.send(job, now: now)
        let recordedAt = now()
        let policy = retryPolicy
        let attempts = try await store.offload {
            var random = SystemRandomNumberGenerator()
            try store.record(
                [outcome], owner: owner, policy: policy, autoDisableAfter: nil, now: recordedAt, random: &random)
            return try store.attempts(deliveryId: deliveryId)
        }
        guard let attempt = attempts.last else {
            return .queued(deliveryId: deliveryId)
        }
        return .performed(attempt)
    }

    public func recover(endpointId: String, since: Date, by actor: Actor) async throws -> Int {
        let at = now()
        let count = try await store.offload {
            try store.queueRecovery(endpointId: endpointId, since: since, now: at, by: actor)
        }
        wake()
        return count
    }

    public func cancel(deliveryId: Int64, by actor: Actor) async throws {
        let at = now()
        try await store.offload { try store.cancelDelivery(deliveryId: deliveryId, now: at, by: actor) }
    }

    /// Replaces an endpoint's secret, keeping the old one signing for 24 hours.
    public func rotateSecret(endpointId: String, by actor: Actor) async throws -> Endpoint {
        let at = now()
        return try await store.offload { try store.rotateSecret(endpointId: endpointId, now: at, by: actor) }
    }

    /// Deletes messages older than `before` whose every delivery was delivered (see `Store.prune`).
    /// - Returns: how many messages were removed.
    public func prune(before: Date, by actor: Actor) async throws -> Int {
        let at = now()
        return try await store.offload { try store.prune(before: before, now: at, by: actor) }
    }
}

extension Store {
    /// Queues a delivery for a manual attempt now.
    /// - Throws: `notFound`, or `conflict` when it is in flight or its endpoint is paused or disabled.
    func queueRedelivery(deliveryId: Int64, now: Date, by actor: Actor) throws {
        try write { db in
            guard
                let (status, endpointStatus, endpointId) = try db.queryOne(
                    """
                    SELECT d.status, e.status, e.id FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
                    WHERE d.id = ?
                    """, [.int(deliveryId)], { ($0.text(0), $0.text(1), $0.text(2)) })
            else { throw HooktopError.notFound("delivery", Identifier.formatDeliveryID(deliveryId)) }
            guard status != DeliveryStatus.inflight.rawValue else {
                throw HooktopError(.conflict, "delivery \(Identifier.formatDeliveryID(deliveryId)) is in flight")
            }
            guard endpointStatus == EndpointStatus.active.rawValue else {
                throw HooktopError(
                    .conflict,
                    "its endpoint is \(endpointStatus): \(endpointStatus == "paused" ? "resume" : "enable") it first")
            }
            let waiting = status == DeliveryStatus.pending.rawValue || status == DeliveryStatus.retrying.rawValue
            try db.run(
                """
                UPDATE deliveries SET status = CASE WHEN ?2 THEN status ELSE 'pending' END, manual = ?3,
                    next_attempt_at = ?1, updated_at = ?1
                WHERE id = ?4
                """,
                [.from(now), .int(waiting ? 1 : 0),
                 .from((waiting ? ManualMode.fromWaiting : ManualMode.fromFinished).rawValue), .int(deliveryId)])
            var moves = StatusMoves()
            moves.move(endpointId, from: status, to: waiting ? status : DeliveryStatus.pending.rawValue)
            try moves.apply(db)
            try Self.audit(db, "delivery.redeliver", "delivery", Identifier.formatDeliveryID(deliveryId), status, actor, now)
        }
    }

    /// Queues every dead delivery of the endpoint created since `since`, and creates deliveries for the messages
    /// it never received (while disabled). Returns how many were queued.
    func queueRecovery(endpointId: String, since: Date, now: Date, by actor: Actor) throws -> Int {
        try write { db in
            guard
                let endpoint = try db.queryOne(
                    "SELECT \(Self.endpointColumns) FROM endpoints WHERE id = ?", [.text(endpointId)], Self.endpoint)
            else { throw HooktopError.notFound("endpoint", endpointId) }
            guard endpoint.status == .active else {
                throw HooktopError(
                    .conflict,
                    "endpoint \(endpointId) is \(endpoint.status.rawValue): \(endpoint.status == .paused ? "resume" : "enable") it first")
            }
            let dead = try Self.deadSince(db, endpointId: endpointId, since: since, count: false)
            var moves = StatusMoves()
            var queued: [Int64] = []
            for id in dead {
                let changed = try db.run(
                    """
                    UPDATE deliveries SET status = 'pending', manual = ?, next_attempt_at = ?, updated_at = ?
                    WHERE id = ? AND status = 'dead'
                    """, [.from(ManualMode.fromFinished.rawValue), .from(now), .from(now), .int(id)])
                moves.move(endpointId, from: .dead, to: .pending, count: changed)
                if changed > 0 { queued.append(id) }
            }
            let missed = try Self.missedMessages(db, endpoint: endpoint, since: since)
            for sequence in missed {
                let inserted = try db.run(
                    """
                    INSERT INTO deliveries (message_seq, endpoint_id, event_type, status, next_attempt_at, created_at,
                        updated_at)
                    SELECT seq, ?, event_type, 'pending', ?, ?, ? FROM messages WHERE seq = ?
                    """, [.text(endpointId), .from(now), .from(now), .from(now), .int(sequence)])
                moves.insert(endpointId, status: .pending, count: inserted)
                if inserted > 0 { queued.append(try db.scalar("SELECT last_insert_rowid()")) }
            }
            try moves.apply(db)
            let total = dead.count + missed.count
            // Remembered, so the progress of this recovery can be followed (`recoveryProgress`).
            guard !queued.isEmpty else {
                try Self.audit(db, "endpoint.recover", "endpoint", endpointId, "nothing to recover", actor, now)
                return 0
            }
            try db.run(
                "INSERT INTO recoveries (endpoint_id, at, total) VALUES (?, ?, ?)",
                [.text(endpointId), .from(now), .from(queued.count)])
            let recoveryId = try db.scalar("SELECT last_insert_rowid()")
            for id in queued {
                try db.run(
                    "INSERT INTO recovery_deliveries (recovery_id, delivery_id) VALUES (?, ?)", [.int(recoveryId), .int(id)])
            }
            try Self.audit(
                db, "endpoint.recover", "endpoint", endpointId,
                "since \(ISO8601DateFormatter().string(from: since)): \(dead.count) dead, \(missed.count) missed", actor, now)
            return total
        }
    }

    /// Cancels a waiting delivery.
    func cancelDelivery(deliveryId: Int64, now: Date, by actor: Actor) throws {
        try write { db in
            guard
                let (status, endpointId) = try db.queryOne(
                    "SELECT status, endpoint_id FROM deliveries WHERE id = ?", [.int(deliveryId)], { ($0.text(0), $0.text(1)) })
            else { throw HooktopError.notFound("delivery", Identifier.formatDeliveryID(deliveryId)) }
            guard status == DeliveryStatus.pending.rawValue || status == DeliveryStatus.retrying.rawValue else {
                throw HooktopError(
                    .conflict, "delivery \(Identifier.formatDeliveryID(deliveryId)) is \(status): only a pending or retrying delivery can be cancelled")
            }
            try db.run(
                "UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, manual = 0, updated_at = ? WHERE id = ?",
                [.from(now), .int(deliveryId)])
            var moves = StatusMoves()
            moves.move(endpointId, from: status, to: DeliveryStatus.cancelled.rawValue)
            try moves.apply(db)
            try Self.audit(db, "delivery.cancel", "delivery", Identifier.formatDeliveryID(deliveryId), "", actor, now)
        }
    }

    /// Deletes messages older than `before` whose every delivery was delivered, with their deliveries and attempts.
    /// Messages with any failing, dead, waiting or cancelled delivery are kept. Works in batches.
    /// - Returns: how many messages were removed.
    func prune(before: Date, now: Date = Date(), by actor: Actor) throws -> Int {
        var total = 0
        while true {
            let removed = try write { db in
                try db.run(
                    """
                    DELETE FROM messages WHERE seq IN (
                        SELECT m.seq FROM messages m WHERE m.created_at < ? AND NOT EXISTS (
                            SELECT 1 FROM deliveries d WHERE d.message_seq = m.seq AND d.status <> 'delivered')
                        LIMIT 2000)
                    """, [.from(before)])
            }
            total += removed
            if removed < 2000 { break }
        }
        try write { db in
            try db.run("DELETE FROM stats_minute WHERE minute < ?", [.int(before.milliseconds / 60_000)])
            try Self.audit(db, "log.prune", "log", "messages", "before \(ISO8601DateFormatter().string(from: before)): \(total) removed", actor, now)
        }
        return total
    }
}
