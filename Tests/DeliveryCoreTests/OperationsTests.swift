@testable import DeliveryCore
import Foundation
import HooktopReceivers
import HooktopTesting
import Testing

/// The operator actions over each engine.
struct OperationsTests {
    @Test(.timeLimit(.minutes(3)), arguments: TestEngine.allCases)
    func pauseHoldsDeliveriesAndResumeReleasesThemAtOnce(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            try await withReceiver(["held": .healthy, "control": .healthy]) { receiver in
                let held = try await engine.addTestEndpoint(receiver.url("held"))
                let control = try await engine.addTestEndpoint(receiver.url("control"))
                try await withSender { sender in
                    try await withDispatcher(engine, sender: sender) { dispatcher in
                        let operations = Operations(engine: engine, sender: sender, wake: { dispatcher.wake() })
                        try await operations.pause(endpointId: held.id, by: testActor)
                        #expect(try await engine.requireEndpoint(id: held.id).status == .paused)
                        var messages: [String] = []
                        for n in 0..<3 {
                            messages.append(try await engine.publish(eventType: "a.b", payload: #"{"n":\#(n)}"#).message.id)
                            dispatcher.wake()
                        }
                        // The control endpoint shares the dispatcher's loop: once its deliveries are done, the paused
                        // endpoint's would have been claimed too, had they not been held.
                        let controlDone = try await eventually(timeout: .seconds(15)) {
                            try await engine.deliveries(endpointId: control.id).allSatisfy { $0.status == .delivered }
                        }
                        #expect(controlDone)
                        let heldDeliveries = try await engine.deliveries(endpointId: held.id)
                        #expect(heldDeliveries.count == 3)
                        #expect(heldDeliveries.allSatisfy { $0.status == .pending && $0.attemptCount == 0 })
                        #expect(receiver.requests.allSatisfy { $0.path == "control" })
                        let summary = try await engine.endpointSummaries(now: Date()).first { $0.endpoint.id == held.id }
                        #expect(summary?.counts.pending == 3)

                        try await operations.resume(endpointId: held.id, by: testActor)
                        let released = try await eventually(timeout: .seconds(15)) {
                            try await engine.deliveries(endpointId: held.id).allSatisfy { $0.status == .delivered }
                        }
                        #expect(released)
                        #expect(receiver.requests.filter { $0.path == "held" }.count == 3)
                        #expect(try await engine.deliveries(endpointId: held.id).allSatisfy { $0.attemptCount == 1 })
                    }
                }
            }
        }
    }

    @Test(arguments: TestEngine.allCases)
    func disableAndEnable(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let operations = Operations(engine: engine)
            let endpoint = try await engine.addTestEndpoint("http://127.0.0.1:9/a")
            try await operations.disable(endpointId: endpoint.id, reason: "", by: testActor)
            var current = try await engine.requireEndpoint(id: endpoint.id)
            #expect(current.status == .disabled)
            #expect(current.disabledReason == "disabled by tester")
            #expect(try await engine.publish(eventType: "a.b", payload: "{}").deliveryCount == 0)

            let pause = await #expect(throws: HooktopError.self) { try await operations.pause(endpointId: endpoint.id, by: testActor) }
            #expect(pause?.code == .conflict)
            let resume = await #expect(throws: HooktopError.self) { try await operations.resume(endpointId: endpoint.id, by: testActor) }
            #expect(resume?.code == .conflict)

            try await operations.enable(endpointId: endpoint.id, by: testActor)
            current = try await engine.requireEndpoint(id: endpoint.id)
            #expect(current.status == .active)
            #expect(current.disabledReason == nil)
            #expect(try await engine.publish(eventType: "a.b", payload: "{}").deliveryCount == 1)

            // Paused endpoints can be disabled; unknown ones are not found.
            try await operations.pause(endpointId: endpoint.id, by: testActor)
            try await operations.disable(endpointId: endpoint.id, reason: "gone for good", by: testActor)
            #expect(try await engine.requireEndpoint(id: endpoint.id).disabledReason == "gone for good")
            let missing = await #expect(throws: HooktopError.self) { try await operations.enable(endpointId: "ep_missing", by: testActor) }
            #expect(missing?.code == .notFound)
        }
    }

    /// Redelivery of a delivery in each state, performed by this process (no dispatcher alive).
    @Test(
        .timeLimit(.minutes(3)),
        arguments: TestEngine.allCases, [DeliveryStatus.pending, .delivered, .retrying, .dead, .cancelled])
    func redeliverPerformsItHereWhenNoDispatcherIsAlive(_ kind: TestEngine, from status: DeliveryStatus) async throws {
        try await kind.withEngine { engine in
            try await withReceiver(["ok": .healthy]) { receiver in
                let endpoint = try await engine.addTestEndpoint(receiver.url("ok"))
                let published = try await engine.publish(eventType: "a.b", payload: #"{"x":1}"#)
                let deliveryId = try await engine.onlyDelivery(messageId: published.message.id).id
                let priorAttempts = try await put(engine, endpoint, into: status)
                #expect(try await engine.status(deliveryId) == status)
                try await withSender { sender in
                    let attempt = try await redeliverHere(engine, sender, deliveryId)
                    #expect(attempt.responseStatus == 200)
                    #expect(attempt.trigger == .manual)
                    #expect(attempt.number == priorAttempts + 1)
                    #expect(attempt.requestHeaders.contains { $0.name == "webhook-id" && $0.value == published.message.id })
                }
                let delivery = try #require(try await engine.delivery(id: deliveryId))
                #expect(delivery.status == .delivered)
                #expect(delivery.attemptCount == priorAttempts + 1)
                #expect(delivery.nextAttemptAt == nil)
                let request = try #require(receiver.requests.last)
                #expect(request.header("webhook-id") == published.message.id)
                try verifySignature(request, secret: endpoint.secret)
            }
        }
    }

    @Test(.timeLimit(.minutes(3)), arguments: TestEngine.allCases)
    func failedManualRedeliveryOfADeadDeliveryStaysDead(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            try await withReceiver(["down": .status(500)]) { receiver in
                let endpoint = try await engine.addTestEndpoint(receiver.url("down"))
                let published = try await engine.publish(eventType: "a.b", payload: "{}")
                let deliveryId = try await engine.onlyDelivery(messageId: published.message.id).id
                _ = try await put(engine, endpoint, into: .dead)
                try await withSender { sender in
                    let attempt = try await redeliverHere(engine, sender, deliveryId)
                    #expect(attempt.responseStatus == 500)
                    #expect(attempt.errorClass == .httpStatus)
                    #expect(attempt.trigger == .manual)
                }
                let delivery = try #require(try await engine.delivery(id: deliveryId))
                #expect(delivery.status == .dead)
                #expect(delivery.nextAttemptAt == nil)
                #expect(delivery.lastStatusCode == 500)
                #expect(try await engine.attempts(deliveryId: deliveryId).map(\.trigger) == [.scheduled, .manual])
            }
        }
    }

    @Test(.timeLimit(.minutes(3)), arguments: TestEngine.allCases)
    func failedManualRedeliveryOfARetryingDeliveryKeepsItsSchedule(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            try await withReceiver(["down": .status(503)]) { receiver in
                let endpoint = try await engine.addTestEndpoint(receiver.url("down"))
                let published = try await engine.publish(eventType: "a.b", payload: "{}")
                let deliveryId = try await engine.onlyDelivery(messageId: published.message.id).id
                _ = try await put(engine, endpoint, into: .retrying)  // one scheduled failure; one retry left
                try await withSender { sender in
                    let operations = Operations(engine: engine, sender: sender, retryPolicy: shortPolicy)
                    _ = try await operations.redeliver(deliveryId: deliveryId, by: testActor)
                }
                var delivery = try #require(try await engine.delivery(id: deliveryId))
                #expect(delivery.status == .retrying, "a manual attempt does not use up the schedule")
                #expect(delivery.attemptCount == 2)
                // The next scheduled failure (the 2nd scheduled attempt) uses the last retry; the 3rd is fatal.
                for expected in [DeliveryStatus.retrying, .dead] {
                    let jobs = try await engine.claimAll(endpoint, now: Date().addingTimeInterval(1))
                    try await engine.recordOutcome(jobs, status: 500)
                    delivery = try #require(try await engine.delivery(id: deliveryId))
                    #expect(delivery.status == expected)
                }
                #expect(
                    try await engine.attempts(deliveryId: deliveryId).map(\.trigger)
                        == [.scheduled, .manual, .scheduled, .scheduled])
            }
        }
    }

    @Test(arguments: TestEngine.allCases)
    func redeliverRefusesInflightPausedDisabledAndUnknown(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let endpoint = try await engine.addTestEndpoint("http://127.0.0.1:9/a")
            let operations = Operations(engine: engine)
            let first = try await engine.onlyDelivery(
                messageId: try await engine.publish(eventType: "a.b", payload: "{}").message.id).id
            let claimed = try await engine.claimAll(endpoint)
            #expect(claimed.map(\.deliveryId) == [first])
            let inflight = await #expect(throws: HooktopError.self) { try await operations.redeliver(deliveryId: first, by: testActor) }
            #expect(inflight?.code == .conflict)
            #expect(try await engine.status(first) == .inflight)

            let second = try await engine.onlyDelivery(
                messageId: try await engine.publish(eventType: "a.b", payload: "{}").message.id).id
            try await operations.pause(endpointId: endpoint.id, by: testActor)
            let paused = await #expect(throws: HooktopError.self) { try await operations.redeliver(deliveryId: second, by: testActor) }
            #expect(paused?.code == .conflict)
            #expect(paused?.message.contains("resume") == true)
            try await operations.disable(endpointId: endpoint.id, reason: "x", by: testActor)
            let disabled = await #expect(throws: HooktopError.self) { try await operations.redeliver(deliveryId: second, by: testActor) }
            #expect(disabled?.code == .conflict)
            let unknown = await #expect(throws: HooktopError.self) { try await operations.redeliver(deliveryId: 9999, by: testActor) }
            #expect(unknown?.code == .notFound)
            #expect(try await engine.attempts(deliveryId: second).isEmpty)
            #expect(try await engine.auditEntries(objectId: nil, limit: 100).allSatisfy { $0.action != "delivery.redeliver" })
        }
    }

    @Test(.timeLimit(.minutes(3)), arguments: TestEngine.allCases)
    func redeliverIsQueuedWhenADispatcherIsAlive(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            try await withReceiver(["ok": .healthy]) { receiver in
                let endpoint = try await engine.addTestEndpoint(receiver.url("ok"))
                let published = try await engine.publish(eventType: "a.b", payload: "{}")
                let deliveryId = try await engine.onlyDelivery(messageId: published.message.id).id
                _ = try await put(engine, endpoint, into: .dead)
                try await withSender { sender in
                    try await withDispatcher(engine, sender: sender) { dispatcher in
                        let alive = try await eventually(timeout: .seconds(15)) {
                            try await engine.workers().contains { $0.id == dispatcher.workerID && $0.isAlive(now: Date()) }
                        }
                        try #require(alive)
                        let operations = Operations(engine: engine, sender: sender, wake: { dispatcher.wake() })
                        let outcome = try await operations.redeliver(deliveryId: deliveryId, by: testActor)
                        #expect(outcome == .queued(deliveryId: deliveryId))
                        let delivered = try await eventually(timeout: .seconds(15)) {
                            try await engine.status(deliveryId) == .delivered
                        }
                        #expect(delivered)
                        let attempts = try await engine.attempts(deliveryId: deliveryId)
                        #expect(attempts.map(\.trigger) == [.scheduled, .manual])
                        #expect(attempts.last?.responseStatus == 200)
                    }
                }
                #expect(try await engine.workers().isEmpty, "a stopped dispatcher removes its worker row")
            }
        }
    }

    @Test(arguments: TestEngine.allCases)
    func recoverQueuesDeadDeliveriesAndMessagesMissedWhileDisabled(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let operations = Operations(engine: engine)
            let start = Date().addingTimeInterval(-7200)
            let endpoint = try await engine.addTestEndpoint("http://127.0.0.1:9/a", eventTypes: ["user.*"], now: start)
            let tooOld = try await engine.publish(eventType: "user.created", payload: #"{"n":0}"#, now: start.addingTimeInterval(60))
            let deadOne = try await engine.publish(eventType: "user.created", payload: #"{"n":1}"#, now: start.addingTimeInterval(1800))
            let delivered = try await engine.publish(eventType: "user.created", payload: #"{"n":2}"#, now: start.addingTimeInterval(1900))
            for job in try await engine.claimAll(endpoint) {
                let fails = job.message.id != delivered.message.id
                try await engine.recordOutcome([job], status: fails ? 500 : 200, policy: RetryPolicy(delays: []))
            }
            #expect(try await engine.deliveries(endpointId: endpoint.id).map(\.status) == [.dead, .dead, .delivered])

            try await operations.disable(endpointId: endpoint.id, reason: "maintenance", by: testActor)
            let missed = [
                try await engine.publish(eventType: "user.deleted", payload: #"{"n":3}"#, now: start.addingTimeInterval(3600)),
                try await engine.publish(eventType: "user.updated", payload: #"{"n":4}"#, now: start.addingTimeInterval(3700)),
            ]
            _ = try await engine.publish(eventType: "invoice.paid", payload: #"{"n":5}"#, now: start.addingTimeInterval(3800))
            #expect(missed.allSatisfy { $0.deliveryCount == 0 })

            let since = start.addingTimeInterval(900)
            let recover = await #expect(throws: HooktopError.self) {
                try await operations.recover(endpointId: endpoint.id, since: since, by: testActor)
            }
            #expect(recover?.code == .conflict, "a disabled endpoint must be enabled first")
            try await operations.enable(endpointId: endpoint.id, by: testActor)

            let expected = try await engine.recoverableCount(endpointId: endpoint.id, since: since)
            #expect(expected == 3)
            #expect(try await engine.recoverableCount(endpointId: endpoint.id, since: start) == 4)
            let queued = try await operations.recover(endpointId: endpoint.id, since: since, by: testActor)
            #expect(queued == expected)
            let after = try await engine.deliveries(endpointId: endpoint.id)
            let pending = Set(after.filter { $0.status == .pending }.map(\.messageId))
            #expect(pending == Set([deadOne.message.id] + missed.map(\.message.id)))
            #expect(after.first { $0.messageId == tooOld.message.id }?.status == .dead)
            #expect(try await engine.recoverableCount(endpointId: endpoint.id, since: since) == 0)
            #expect(try await operations.recover(endpointId: endpoint.id, since: since, by: testActor) == 0)
            let queuedProgress = try #require(try await engine.recoveryProgress(endpointId: endpoint.id))
            #expect(queuedProgress.total == 3)
            #expect(queuedProgress.waiting == 3)
            #expect(queuedProgress.sent == 0)
            #expect(!queuedProgress.isDone)

            // A failed recovered delivery of a dead one stays dead; the missed ones get a full schedule.
            let jobs = try await engine.claimAll(endpoint)
            #expect(jobs.count == 3)
            #expect(jobs.first { $0.message.id == deadOne.message.id }?.trigger == .manual)
            try await engine.recordOutcome(jobs, status: 500)
            let statuses = try await engine.deliveries(endpointId: endpoint.id).reduce(into: [String: DeliveryStatus]()) {
                $0[$1.messageId] = $1.status
            }
            #expect(statuses[deadOne.message.id] == .dead)
            #expect(missed.allSatisfy { statuses[$0.message.id] == .retrying })
            // The recovery's progress: every queued delivery attempted, all failed, with their error class.
            let progress = try #require(try await engine.recoveryProgress(endpointId: endpoint.id))
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
    }

    @Test(arguments: TestEngine.allCases, [
        (DeliveryStatus.pending, true), (.retrying, true), (.inflight, false), (.delivered, false), (.dead, false),
        (.cancelled, false),
    ])
    func cancelOnlyWaitingDeliveries(_ kind: TestEngine, _ state: (DeliveryStatus, Bool)) async throws {
        let (status, allowed) = state
        try await kind.withEngine { engine in
            let operations = Operations(engine: engine)
            let endpoint = try await engine.addTestEndpoint("http://127.0.0.1:9/a")
            let deliveryId = try await engine.onlyDelivery(
                messageId: try await engine.publish(eventType: "a.b", payload: "{}").message.id).id
            _ = try await put(engine, endpoint, into: status)
            if allowed {
                try await operations.cancel(deliveryId: deliveryId, by: testActor)
                let delivery = try #require(try await engine.delivery(id: deliveryId))
                #expect(delivery.status == .cancelled)
                #expect(delivery.nextAttemptAt == nil)
                #expect(try await engine.claimAll(endpoint, now: Date().addingTimeInterval(60)).isEmpty)
            } else {
                let error = await #expect(throws: HooktopError.self) { try await operations.cancel(deliveryId: deliveryId, by: testActor) }
                #expect(error?.code == .conflict)
                #expect(try await engine.status(deliveryId) == status)
            }
            let unknown = await #expect(throws: HooktopError.self) { try await operations.cancel(deliveryId: 424242, by: testActor) }
            #expect(unknown?.code == .notFound)
        }
    }

    /// Moves the endpoint's only delivery into `status` through the engine's own transitions.
    /// - Returns: how many attempts that took.
    private func put(_ engine: any DeliveryEngine, _ endpoint: Endpoint, into status: DeliveryStatus) async throws -> Int {
        switch status {
        case .pending:
            return 0
        case .inflight:
            _ = try await engine.claimAll(endpoint)
            return 0
        case .delivered:
            try await engine.recordOutcome(try await engine.claimAll(endpoint), status: 200)
            return 1
        case .retrying:
            try await engine.recordOutcome(try await engine.claimAll(endpoint), status: 500)
            return 1
        case .dead:
            try await engine.recordOutcome(try await engine.claimAll(endpoint), status: 500, policy: RetryPolicy(delays: []))
            return 1
        case .cancelled:
            let delivery = try #require(try await engine.deliveries(endpointId: endpoint.id).first)
            try await engine.cancelDelivery(deliveryId: delivery.id, now: Date(), by: testActor)
            return 0
        }
    }
}

struct PauseRaceTests {
    /// A dispatcher's endpoint list can be a moment old: a claim made with it must still honour a pause or disable
    /// committed meanwhile (by the dashboard or the CLI, in another process).
    @Test(arguments: TestEngine.allCases, [EndpointStatus.paused, .disabled])
    func claimsWithAStaleEndpointListHonourTheStoredStatus(_ kind: TestEngine, _ status: EndpointStatus) async throws {
        try await kind.withLog { log in
            try await log.withEngine { engine in
                let stale = try await engine.addTestEndpoint("http://127.0.0.1:9/a")
                _ = try await engine.publish(eventType: "a.b", payload: "{}")
                try await log.withEngine { other in
                    let operations = Operations(engine: other)
                    if status == .paused {
                        try await operations.pause(endpointId: stale.id, by: testActor)
                    } else {
                        try await operations.disable(endpointId: stale.id, reason: "x", by: testActor)
                    }
                    #expect(stale.status == .active)
                    #expect(try await engine.claimAll(stale).isEmpty)
                    #expect(try await engine.deliveries(endpointId: stale.id).map(\.status) == [.pending])
                    try await operations.enable(endpointId: stale.id, by: testActor)
                    #expect(try await engine.claimAll(stale).count == 1)
                }
            }
        }
    }
}

/// Redelivers with no dispatcher alive, so this process performs it; returns the attempt it made.
private func redeliverHere(_ engine: any DeliveryEngine, _ sender: WebhookSender, _ deliveryId: Int64) async throws
    -> Attempt
{
    let operations = Operations(engine: engine, sender: sender, retryPolicy: shortPolicy)
    let outcome = try await operations.redeliver(deliveryId: deliveryId, by: testActor)
    guard case .performed(let attempt) = outcome else {
        throw HooktopError(.conflict, "expected the redelivery to be performed here, got \(outcome)")
    }
    return attempt
}
