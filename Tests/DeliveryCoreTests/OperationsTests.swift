@testable import DeliveryCore
import Foundation
import HooktopLab
import HooktopTesting
import Testing

struct OperationsTests {
    @Test(.timeLimit(.minutes(1)))
    func pauseHoldsDeliveriesAndResumeReleasesThemAtOnce() async throws {
        let database = try TemporaryDatabase()
        let store = database.store
        try await withReceiver(["held": .healthy, "control": .healthy]) { receiver in
            let held = try store.addTestEndpoint(receiver.url("held"))
            let control = try store.addTestEndpoint(receiver.url("control"))
            try await withSender { sender in
                try await withDispatcher(store, sender: sender) { dispatcher in
                    let operations = Operations(store: store, sender: sender, wake: { dispatcher.wake() })
                    try await operations.pause(endpointId: held.id, by: testActor)
                    #expect(try store.requireEndpoint(id: held.id).status == .paused)
                    var messages: [String] = []
                    for n in 0..<3 {
                        messages.append(try store.publish(eventType: "a.b", payload: #"{"n":\#(n)}"#).message.id)
                        dispatcher.wake()
                    }
                    // The control endpoint shares the dispatcher's loop: once its deliveries are done, the paused
                    // endpoint's would have been claimed too, had they not been held.
                    let controlDone = try await eventually(timeout: .seconds(5)) {
                        try store.deliveries(endpointId: control.id).allSatisfy { $0.status == .delivered }
                    }
                    #expect(controlDone)
                    let heldDeliveries = try store.deliveries(endpointId: held.id)
                    #expect(heldDeliveries.count == 3)
                    #expect(heldDeliveries.allSatisfy { $0.status == .pending && $0.attemptCount == 0 })
                    #expect(receiver.requests.allSatisfy { $0.path == "control" })
                    #expect(try store.endpointSummaries(now: Date()).first { $0.endpoint.id == held.id }?.counts.pending == 3)

                    try await operations.resume(endpointId: held.id, by: testActor)
                    let released = try await eventually(timeout: .seconds(15)) {
                        try store.deliveries(endpointId: held.id).allSatisfy { $0.status == .delivered }
                    }
                    #expect(released)
                    #expect(receiver.requests.filter { $0.path == "held" }.count == 3)
                    #expect(try store.deliveries(endpointId: held.id).allSatisfy { $0.attemptCount == 1 })
                }
            }
        }
    }

    @Test func disableAndEnable() async throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let operations = Operations(store: store)
        let endpoint = try store.addTestEndpoint("http://127.0.0.1:9/a")
        try await operations.disable(endpointId: endpoint.id, reason: "", by: testActor)
        var current = try store.requireEndpoint(id: endpoint.id)
        #expect(current.status == .disabled)
        #expect(current.disabledReason == "disabled by tester")
        #expect(try store.publish(eventType: "a.b", payload: "{}").deliveryCount == 0)

        let pause = await #expect(throws: HooktopError.self) { try await operations.pause(endpointId: endpoint.id, by: testActor) }
        #expect(pause?.code == .conflict)
        let resume = await #expect(throws: HooktopError.self) { try await operations.resume(endpointId: endpoint.id, by: testActor) }
        #expect(resume?.code == .conflict)

        try await operations.enable(endpointId: endpoint.id, by: testActor)
        current = try store.requireEndpoint(id: endpoint.id)
        #expect(current.status == .active)
        #expect(current.disabledReason == nil)
        #expect(try store.publish(eventType: "a.b", payload: "{}").deliveryCount == 1)

        // Paused endpoints can be disabled; unknown ones are not found.
        try await operations.pause(endpointId: endpoint.id, by: testActor)
        try await operations.disable(endpointId: endpoint.id, reason: "gone for good", by: testActor)
        #expect(try store.requireEndpoint(id: endpoint.id).disabledReason == "gone for good")
        let missing = await #expect(throws: HooktopError.self) { try await operations.enable(endpointId: "ep_missing", by: testActor) }
        #expect(missing?.code == .notFound)
    }

    /// Redelivery of a delivery in each state, performed by this process (no dispatcher alive).
    @Test(.timeLimit(.minutes(1)), arguments: [DeliveryStatus.pending, .delivered, .retrying, .dead, .cancelled])
    func redeliverPerformsItHereWhenNoDispatcherIsAlive(from status: DeliveryStatus) async throws {
        let database = try TemporaryDatabase()
        let store = database.store
        try await withReceiver(["ok": .healthy]) { receiver in
            let endpoint = try store.addTestEndpoint(receiver.url("ok"))
            let published = try store.publish(eventType: "a.b", payload: #"{"x":1}"#)
            let deliveryId = try store.onlyDelivery(messageId: published.message.id).id
            let priorAttempts = try put(store, endpoint, into: status)
            #expect(try store.status(deliveryId) == status)
            try await withSender { sender in
                let attempt = try await redeliverHere(store, sender, deliveryId)
                #expect(attempt.responseStatus == 200)
                #expect(attempt.trigger == .manual)
                #expect(attempt.number == priorAttempts + 1)
                #expect(attempt.requestHeaders.contains { $0.name == "webhook-id" && $0.value == published.message.id })
            }
            let delivery = try #require(try store.delivery(id: deliveryId))
            #expect(delivery.status == .delivered)
            #expect(delivery.attemptCount == priorAttempts + 1)
            #expect(delivery.nextAttemptAt == nil)
            let request = try #require(receiver.requests.last)
            #expect(request.header("webhook-id") == published.message.id)
            try verifySignature(request, secret: endpoint.secret)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func failedManualRedeliveryOfADeadDeliveryStaysDead() async throws {
        let database = try TemporaryDatabase()
        let store = database.store
        try await withReceiver(["down": .status(500)]) { receiver in
            let endpoint = try store.addTestEndpoint(receiver.url("down"))
            let published = try store.publish(eventType: "a.b", payload: "{}")
            let deliveryId = try store.onlyDelivery(messageId: published.message.id).id
            _ = try put(store, endpoint, into: .dead)
            try await withSender { sender in
                let attempt = try await redeliverHere(store, sender, deliveryId)
                #expect(attempt.responseStatus == 500)
                #expect(attempt.errorClass == .httpStatus)
                #expect(attempt.trigger == .manual)
            }
            let delivery = try #require(try store.delivery(id: deliveryId))
            #expect(delivery.status == .dead)
            #expect(delivery.nextAttemptAt == nil)
            #expect(delivery.lastStatusCode == 500)
            #expect(try store.attempts(deliveryId: deliveryId).map(\.trigger) == [.scheduled, .manual])
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func failedManualRedeliveryOfARetryingDeliveryKeepsItsSchedule() async throws {
        let database = try TemporaryDatabase()
        let store = database.store
        try await withReceiver(["down": .status(503)]) { receiver in
            let endpoint = try store.addTestEndpoint(receiver.url("down"))
            let published = try store.publish(eventType: "a.b", payload: "{}")
            let deliveryId = try store.onlyDelivery(messageId: published.message.id).id
            _ = try put(store, endpoint, into: .retrying)  // one scheduled failure; one retry left
            try await withSender { sender in
                let operations = Operations(store: store, sender: sender, retryPolicy: shortPolicy)
                _ = try await operations.redeliver(deliveryId: deliveryId, by: testActor)
            }
            var delivery = try #require(try store.delivery(id: deliveryId))
            #expect(delivery.status == .retrying, "a manual attempt does not use up the schedule")
            #expect(delivery.attemptCount == 2)
            // The next scheduled failure (the 2nd scheduled attempt) uses the last retry; the 3rd is fatal.
            for expected in [DeliveryStatus.retrying, .dead] {
                let jobs = try store.claimAll(endpoint, now: Date().addingTimeInterval(1))
                try store.recordOutcome(jobs, status: 500)
                delivery = try #require(try store.delivery(id: deliveryId))
                #expect(delivery.status == expected)
            }
            #expect(try store.attempts(deliveryId: deliveryId).map(\.trigger) == [.scheduled, .manual, .scheduled, .scheduled])
        }
    }

    @Test func redeliverRefusesInflightPausedDisabledAndUnknown() async throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let endpoint = try store.addTestEndpoint("http://127.0.0.1:9/a")
        let operations = Operations(store: store)
        let first = try store.onlyDelivery(messageId: try store.publish(eventType: "a.b", payload: "{}").message.id).id
        let claimed = try store.claimAll(endpoint)
        #expect(claimed.map(\.deliveryId) == [first])
        let inflight = await #expect(throws: HooktopError.self) { try await operations.redeliver(deliveryId: first, by: testActor) }
        #expect(inflight?.code == .conflict)
        #expect(try store.status(first) == .inflight)

        let second = try store.onlyDelivery(messageId: try store.publish(eventType: "a.b", payload: "{}").message.id).id
        try await operations.pause(endpointId: endpoint.id, by: testActor)
        let paused = await #expect(throws: HooktopError.self) { try await operations.redeliver(deliveryId: second, by: testActor) }
        #expect(paused?.code == .conflict)
        #expect(paused?.message.contains("resume") == true)
        try await operations.disable(endpointId: endpoint.id, reason: "x", by: testActor)
        let disabled = await #expect(throws: HooktopError.self) { try await operations.redeliver(deliveryId: second, by: testActor) }
        #expect(disabled?.code == .conflict)
        let unknown = await #expect(throws: HooktopError.self) { try await operations.redeliver(deliveryId: 9999, by: testActor) }
        #expect(unknown?.code == .notFound)
        #expect(try store.attempts(deliveryId: second).isEmpty)
        #expect(try store.auditEntries().allSatisfy { $0.action != "delivery.redeliver" })
    }

    @Test(.timeLimit(.minutes(1)))
    func redeliverIsQueuedWhenADispatcherIsAlive() async throws {
        let database = try TemporaryDatabase()
        let store = database.store
        try await withReceiver(["ok": .healthy]) { receiver in
            let endpoint = try store.addTestEndpoint(receiver.url("ok"))
            let published = try store.publish(eventType: "a.b", payload: "{}")
            let deliveryId = try store.onlyDelivery(messageId: published.message.id).id
            _ = try put(store, endpoint, into: .dead)
            try await withSender { sender in
                try await withDispatcher(store, sender: sender) { dispatcher in
                    let alive = try await eventually(timeout: .seconds(5)) {
                        try store.workers().contains { $0.id == dispatcher.workerID && $0.isAlive(now: Date()) }
                    }
                    try #require(alive)
                    let operations = Operations(store: store, sender: sender, wake: { dispatcher.wake() })
                    let outcome = try await operations.redeliver(deliveryId: deliveryId, by: testActor)
                    #expect(outcome == .queued(deliveryId: deliveryId))
                    let delivered = try await eventually(timeout: .seconds(5)) { try store.status(deliveryId) == .delivered }
                    #expect(delivered)
                    let attempts = try store.attempts(deliveryId: deliveryId)
                    #expect(attempts.map(\.trigger) == [.scheduled, .manual])
                    #expect(attempts.last?.responseStatus == 200)
                }
            }
            #expect(try store.workers().isEmpty, "a stopped dispatcher removes its worker row")
        }
    }

    @Test func recoverQueuesDeadDeliveriesAndMessagesMissedWhileDisabled() async throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let operations = Operations(store: store)
        let start = Date().addingTimeInterval(-7200)
        let endpoint = try store.addTestEndpoint("http://127.0.0.1:9/a", eventTypes: ["user.*"], now: start)
        let tooOld = try store.publish(eventType: "user.created", payload: #"{"n":0}"#, now: start.addingTimeInterval(60))
        let deadOne = try store.publish(eventType: "user.created", payload: #"{"n":1}"#, now: start.addingTimeInterval(1800))
        let delivered = try store.publish(eventType: "user.created", payload: #"{"n":2}"#, now: start.addingTimeInterval(1900))
        for job in try store.claimAll(endpoint) {
            let fails = job.message.id != delivered.message.id
            try store.recordOutcome([job], status: fails ? 500 : 200, policy: RetryPolicy(delays: []))
        }
        #expect(try store.deliveries(endpointId: endpoint.id).map(\.status) == [.dead, .dead, .delivered])

        try await operations.disable(endpointId: endpoint.id, reason: "maintenance", by: testActor)
        let missed = [
            try store.publish(eventType: "user.deleted", payload: #"{"n":3}"#, now: start.addingTimeInterval(3600)),
            try store.publish(eventType: "user.updated", payload: #"{"n":4}"#, now: start.addingTimeInterval(3700)),
        ]
        _ = try store.publish(eventType: "invoice.paid", payload: #"{"n":5}"#, now: start.addingTimeInterval(3800))
        #expect(missed.allSatisfy { $0.deliveryCount == 0 })

        let since = start.addingTimeInterval(900)
        let recover = await #expect(throws: HooktopError.self) {
            try await operations.recover(endpointId: endpoint.id, since: since, by: testActor)
        }
        #expect(recover?.code == .conflict, "a disabled endpoint must be enabled first")
        try await operations.enable(endpointId: endpoint.id, by: testActor)

        let expected = try store.recoverableCount(endpointId: endpoint.id, since: since)
        #expect(expected == 3)
        #expect(try store.recoverableCount(endpointId: endpoint.id, since: start) == 4)
        let queued = try await operations.recover(endpointId: endpoint.id, since: since, by: testActor)
        #expect(queued == expected)
        let after = try store.deliveries(endpointId: endpoint.id)
        let pending = Set(after.filter { $0.status == .pending }.map(\.messageId))
        #expect(pending == Set([deadOne.message.id] + missed.map(\.message.id)))
        #expect(after.first { $0.messageId == tooOld.message.id }?.status == .dead)
        #expect(try store.recoverableCount(endpointId: endpoint.id, since: since) == 0)
        #expect(try await operations.recover(endpointId: endpoint.id, since: since, by: testActor) == 0)
        let queuedProgress = try #require(try store.recoveryProgress(endpointId: endpoint.id))
        #expect(queuedProgress.total == 3)
        #expect(queuedProgress.waiting == 3)
        #expect(queuedProgress.sent == 0)
        #expect(!queuedProgress.isDone)

        // A failed recovered delivery of a dead one stays dead; the missed ones get a full schedule.
        let jobs = try store.claimAll(endpoint)
        #expect(jobs.count == 3)
        #expect(jobs.first { $0.message.id == deadOne.message.id }?.trigger == .manual)
        try store.recordOutcome(jobs, status: 500)
        let statuses = try store.deliveries(endpointId: endpoint.id).reduce(into: [String: DeliveryStatus]()) {
            $0[$1.messageId] = $1.status
        }
        #expect(statuses[deadOne.message.id] == .dead)
        #expect(missed.allSatisfy { statuses[$0.message.id] == .retrying })
        // The recovery's progress: every queued delivery attempted, all failed, with their error class.
        let progress = try #require(try store.recoveryProgress(endpointId: endpoint.id))
        #expect(progress.isDone)
        #expect(progress.sent == 3)
        #expect(progress.failed == 3)
        #expect(progress.delivered == 0)
        #expect(progress.topError != nil)
        let unknown = await #expect(throws: HooktopError.self) {
            try await operations.recover(endpointId: "ep_missing", since: since, by: testActor)
        }
        #expect(unknown?.code == .notFound)
    }

    @Test(arguments: [
        (DeliveryStatus.pending, true), (.retrying, true), (.inflight, false), (.delivered, false), (.dead, false),
        (.cancelled, false),
    ])
    func cancelOnlyWaitingDeliveries(status: DeliveryStatus, allowed: Bool) async throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let operations = Operations(store: store)
        let endpoint = try store.addTestEndpoint("http://127.0.0.1:9/a")
        let deliveryId = try store.onlyDelivery(messageId: try store.publish(eventType: "a.b", payload: "{}").message.id).id
        _ = try put(store, endpoint, into: status)
        if allowed {
            try await operations.cancel(deliveryId: deliveryId, by: testActor)
            let delivery = try #require(try store.delivery(id: deliveryId))
            #expect(delivery.status == .cancelled)
            #expect(delivery.nextAttemptAt == nil)
            #expect(try store.claimAll(endpoint, now: Date().addingTimeInterval(60)).isEmpty)
        } else {
            let error = await #expect(throws: HooktopError.self) { try await operations.cancel(deliveryId: deliveryId, by: testActor) }
            #expect(error?.code == .conflict)
            #expect(try store.status(deliveryId) == status)
        }
        let unknown = await #expect(throws: HooktopError.self) { try await operations.cancel(deliveryId: 424242, by: testActor) }
        #expect(unknown?.code == .notFound)
    }

    /// Moves the endpoint's only delivery into `status` through the store's own transitions.
    /// - Returns: how many attempts that took.
    private func put(_ store: Store, _ endpoint: Endpoint, into status: DeliveryStatus) throws -> Int {
        switch status {
        case .pending:
            return 0
        case .inflight:
            _ = try store.claimAll(endpoint)
            return 0
        case .delivered:
            try store.recordOutcome(try store.claimAll(endpoint), status: 200)
            return 1
        case .retrying:
            try store.recordOutcome(try store.claimAll(endpoint), status: 500)
            return 1
        case .dead:
            try store.recordOutcome(try store.claimAll(endpoint), status: 500, policy: RetryPolicy(delays: []))
            return 1
        case .cancelled:
            let delivery = try #require(try store.deliveries(endpointId: endpoint.id).first)
            try store.cancelDelivery(deliveryId: delivery.id, now: Date(), by: testActor)
            return 0
        }
    }
}

struct PauseRaceTests {
    /// A dispatcher's endpoint list can be a moment old: a claim made with it must still honour a pause or disable
    /// committed meanwhile (by the dashboard or the CLI, in another process).
    @Test(arguments: [EndpointStatus.paused, .disabled])
    func claimsWithAStaleEndpointListHonourTheStoredStatus(_ status: EndpointStatus) async throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let stale = try store.addTestEndpoint("http://127.0.0.1:9/a")
        _ = try store.publish(eventType: "a.b", payload: "{}")
        let other = try Store(path: database.path)
        let operations = Operations(store: other)
        if status == .paused {
            try await operations.pause(endpointId: stale.id, by: testActor)
        } else {
            try await operations.disable(endpointId: stale.id, reason: "x", by: testActor)
        }
        #expect(stale.status == .active)
        #expect(try store.claimAll(stale).isEmpty)
        #expect(try store.deliveries(endpointId: stale.id).map(\.status) == [.pending])
        try await operations.enable(endpointId: stale.id, by: testActor)
        #expect(try store.claimAll(stale).count == 1)
    }
}

/// Redelivers with no dispatcher alive, so this process performs it; returns the attempt it made.
private func redeliverHere(_ store: Store, _ sender: WebhookSender, _ deliveryId: Int64) async throws -> Attempt {
    let operations = Operations(store: store, sender: sender, retryPolicy: shortPolicy)
    let outcome = try await operations.redeliver(deliveryId: deliveryId, by: testActor)
    guard case .performed(let attempt) = outcome else {
        throw HooktopError(.conflict, "expected the redelivery to be performed here, got \(outcome)")
    }
    return attempt
}
