@testable import DeliveryCore
import Foundation
import HooktopReceivers
import HooktopTesting
import Logging
import Synchronization
import Testing

/// The dispatcher over each engine: what it sends, how it records each answer, its leases and its stop.
@Suite(.timeLimit(.minutes(3)))
struct DispatcherTests {
    @Test(arguments: TestEngine.allCases)
    func deliversSignedRequestsOn200(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            try await withReceiver(["ok": .healthy]) { receiver in
                let endpoint = try await engine.addTestEndpoint(receiver.url("ok"))
                try await withSender { sender in
                    try await withDispatcher(engine, sender: sender) { dispatcher in
                        let published = try await engine.publish(eventType: "user.created", payload: #"{"id":7}"#)
                        dispatcher.wake()
                        let delivery = try await finished(engine, published.message.id)
                        #expect(delivery.status == .delivered)
                        #expect(delivery.attemptCount == 1)
                        #expect(delivery.lastStatusCode == 200)
                        #expect(delivery.lastError == nil)
                        let request = try #require(receiver.requests.first)
                        #expect(receiver.requests.count == 1)
                        #expect(request.header("webhook-id") == published.message.id)
                        #expect(request.header("content-type") == "application/json")
                        let timestamp = try #require(request.header("webhook-timestamp").flatMap { Int64($0) })
                        // The time it was sent (its arrival, give or take a busy machine), not when it was published.
                        #expect(abs(request.at.timeIntervalSince1970 - Double(timestamp)) < 10)
                        try verifySignature(request, secret: endpoint.secret)
                        let body = try #require(
                            try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
                        #expect(body["type"] as? String == "user.created")
                        #expect((body["data"] as? [String: Any])?["id"] as? Int == 7)
                        let attempt = try #require(try await engine.attempts(deliveryId: delivery.id).first)
                        #expect(attempt.trigger == .scheduled)
                        #expect(attempt.responseBodyExcerpt == "ok")
                        #expect(attempt.requestHeaders.contains { $0.name == "webhook-signature" && $0.value == request.header("webhook-signature") })
                        let summary = try #require(try await engine.endpointSummaries(now: Date()).first)
                        #expect(summary.recent.attempts == 1)
                        #expect(summary.recent.successes == 1)
                    }
                }
            }
        }
    }

    /// SQLite only: the persistent error is a file migrated past this version (`PRAGMA user_version`).
    @Test func aPersistentErrorIsLoggedOnceNotOnEveryPoll() async throws {
        let database = try TemporaryDatabase()
        let store = database.store
        _ = try store.addTestEndpoint("http://127.0.0.1:9/a")
        let captured = CapturedLog()
        var logger = Logger(label: "test-dispatcher") { _ in CapturedLog.Handler(log: captured) }
        logger.logLevel = .error
        try await withSender { sender in
            let dispatcher = Dispatcher(
                store: store, sender: sender, configuration: testDispatcherConfiguration(), logger: logger)
            let running = Task { try await dispatcher.run() }
            try await Task.sleep(for: .milliseconds(100))
            // A newer hooktop migrates the file: once its heartbeat is due (every second), each of this
            // dispatcher's polls (every 20 ms) fails to write it, and stopping fails to release its leases.
            try store.read { db in try db.execute("PRAGMA user_version = \(Schema.version + 1)") }
            let newer = { captured.messages.filter { $0.contains("newer than this hooktop") } }
            #expect(await eventually { !newer().isEmpty }, "\(captured.messages)")
            // Dozens of polls later.
            try await Task.sleep(for: .milliseconds(1000))
            dispatcher.stop()
            try await running.value
        }
        let errors = captured.messages.filter { $0.contains("newer than this hooktop") }
        #expect(errors.count == 1, "\(captured.messages)")
    }

    @Test(arguments: TestEngine.allCases)
    func sendsNothingBeforeRunAndEverythingOnceRunning(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            try await withReceiver(["ok": .healthy]) { receiver in
                _ = try await engine.addTestEndpoint(receiver.url("ok"))
                try await withSender { sender in
                    var logger = Logger(label: "test-dispatcher")
                    logger.logLevel = .critical
                    let dispatcher = Dispatcher(
                        log: engine, sender: sender, configuration: testDispatcherConfiguration(), logger: logger)
                    let published = try await engine.publish(eventType: "user.created", payload: #"{"id":7}"#)
                    // A publish wakes whatever dispatcher the process has; one not running yet must not claim anything.
                    dispatcher.wake()
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(try await engine.onlyDelivery(messageId: published.message.id).status == .pending)
                    #expect(receiver.requests.isEmpty)
                    let running = Task { try await dispatcher.run() }
                    let delivery = try await finished(engine, published.message.id)
                    #expect(delivery.status == .delivered)
                    dispatcher.stop()
                    try await running.value
                    #expect(dispatcher.inFlightCount == 0)
                    #expect(try await engine.workers().isEmpty, "a stopped dispatcher removes its worker row")
                }
            }
        }
    }

    @Test(arguments: TestEngine.allCases)
    func retriesA500UntilDeadWithTheSameWebhookId(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            try await withReceiver(["down": .status(500)]) { receiver in
                let endpoint = try await engine.addTestEndpoint(receiver.url("down"))
                try await withSender { sender in
                    try await withDispatcher(engine, sender: sender) { _ in
                        let published = try await engine.publish(eventType: "a.b", payload: "{}")
                        // The retries show in the attempts below (spaced by the schedule); the `retrying` status itself
                        // lasts 200 ms, too short to be sure of catching by polling on a busy machine.
                        let delivery = try await finished(engine, published.message.id)
                        #expect(delivery.status == .dead)
                        #expect(delivery.attemptCount == shortPolicy.maxAttempts)
                        #expect(delivery.lastStatusCode == 500)
                        #expect(delivery.lastErrorClass == .httpStatus)
                        #expect(delivery.nextAttemptAt == nil)
                        let attempts = try await engine.attempts(deliveryId: delivery.id)
                        #expect(attempts.map(\.number) == [1, 2, 3])
                        #expect(attempts.allSatisfy { $0.responseStatus == 500 && $0.errorClass == .httpStatus && $0.trigger == .scheduled })
                        // Retries are spaced by the schedule (200 ms), not sent back to back.
                        for (earlier, later) in zip(attempts, attempts.dropFirst()) {
                            #expect(later.startedAt.timeIntervalSince(earlier.startedAt) >= 0.19)
                        }
                        #expect(receiver.requests.count == 3)
                        #expect(Set(receiver.requests.compactMap { $0.header("webhook-id") }) == [published.message.id])
                        for request in receiver.requests { try verifySignature(request, secret: endpoint.secret) }
                        #expect(try await engine.requireEndpoint(id: endpoint.id).status == .active)
                        let group = try #require(try await engine.failureGroups(endpointId: endpoint.id, limit: 5).first)
                        #expect((group.dead, group.retrying, group.statusCode) == (1, 0, 500))
                    }
                }
            }
        }
    }

    @Test(arguments: TestEngine.allCases, [
        (retryAfter: 30, cap: TimeInterval(3600), expected: TimeInterval(30)),
        (retryAfter: 7200, cap: TimeInterval(60), expected: TimeInterval(60)),
    ])
    func honoursRetryAfterOn429WithinTheCap(
        _ kind: TestEngine, _ limit: (retryAfter: Int, cap: TimeInterval, expected: TimeInterval)
    ) async throws {
        let (retryAfter, cap, expected) = limit
        try await kind.withEngine { engine in
            try await withReceiver(["limited": .rateLimited(retryAfterSeconds: retryAfter, limitedRate: 1)]) { receiver in
                _ = try await engine.addTestEndpoint(receiver.url("limited"))
                let policy = RetryPolicy(delays: [0.2, 0.2], jitter: 0, maxRetryAfter: cap)
                try await withSender { sender in
                    try await withDispatcher(engine, sender: sender, configuration: testDispatcherConfiguration(policy: policy)) { _ in
                        let published = try await engine.publish(eventType: "a.b", payload: "{}")
                        let retrying = try await eventually(timeout: .seconds(15)) {
                            try await engine.onlyDelivery(messageId: published.message.id).status == .retrying
                        }
                        try #require(retrying)
                        let delivery = try await engine.onlyDelivery(messageId: published.message.id)
                        #expect(delivery.lastStatusCode == 429)
                        let attempt = try #require(try await engine.attempts(deliveryId: delivery.id).first)
                        // Counted from the end of the attempt, when the answer (and its Retry-After) arrived.
                        let answered = attempt.startedAt.addingTimeInterval(Double(attempt.durationMilliseconds) / 1000)
                        let wait = try #require(delivery.nextAttemptAt).timeIntervalSince(answered)
                        #expect(abs(wait - expected) < 3, "next attempt \(wait) s after the first, expected \(expected)")
                        #expect(attempt.responseHeaders.contains { $0.name.lowercased() == "retry-after" && $0.value == String(retryAfter) })
                        #expect(receiver.requests.count == 1)
                    }
                }
            }
        }
    }

    @Test(arguments: TestEngine.allCases)
    func goneDisablesTheEndpointWithAReason(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            try await withReceiver(["gone": .gone]) { receiver in
                let endpoint = try await engine.addTestEndpoint(receiver.url("gone"))
                try await withSender { sender in
                    try await withDispatcher(engine, sender: sender) { _ in
                        let published = try await engine.publish(eventType: "a.b", payload: "{}")
                        let delivery = try await finished(engine, published.message.id)
                        #expect(delivery.status == .dead)
                        #expect(delivery.attemptCount == 1)
                        #expect(delivery.lastStatusCode == 410)
                        let disabled = try await engine.requireEndpoint(id: endpoint.id)
                        #expect(disabled.status == .disabled)
                        #expect(disabled.disabledReason?.contains("410") == true)
                        let audit = try #require(try await engine.auditEntries(objectId: endpoint.id, limit: 100).first)
                        #expect(audit.action == "endpoint.disable")
                        #expect(audit.via == "dispatcher")
                        #expect(try await engine.publish(eventType: "a.b", payload: "{}").deliveryCount == 0)
                    }
                }
                #expect(receiver.count == 1)
            }
        }
    }

    @Test(arguments: TestEngine.allCases)
    func redirectsAreFailuresAndNotFollowed(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            try await withReceiver(["target": .healthy]) { target in
                try await withReceiver(["moved": .redirect(location: target.url("target"))]) { receiver in
                    _ = try await engine.addTestEndpoint(receiver.url("moved"))
                    try await withSender { sender in
                        try await withDispatcher(engine, sender: sender) { _ in
                            let published = try await engine.publish(eventType: "a.b", payload: "{}")
                            let delivery = try await finished(engine, published.message.id)
                            #expect(delivery.status == .dead)
                            #expect(delivery.lastStatusCode == 302)
                            #expect(delivery.lastErrorClass == .httpStatus)
                            let attempts = try await engine.attempts(deliveryId: delivery.id)
                            #expect(attempts.count == 3)
                            #expect(attempts.allSatisfy { $0.responseStatus == 302 })
                            #expect(attempts.first?.responseHeaders.contains { $0.name.lowercased() == "location" } == true)
                        }
                    }
                    #expect(receiver.count == 3)
                }
                #expect(target.count == 0, "the redirect target never got a request")
            }
        }
    }

    @Test(arguments: TestEngine.allCases)
    func aHugeResponseBodyIsCutShort(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            try await withReceiver(["huge": .hugeBody(bytes: 10 << 20)]) { receiver in
                _ = try await engine.addTestEndpoint(receiver.url("huge"), timeoutMilliseconds: 5000)
                try await withSender { sender in
                    try await withDispatcher(engine, sender: sender) { _ in
                        let published = try await engine.publish(eventType: "a.b", payload: "{}")
                        let delivery = try await finished(engine, published.message.id)
                        #expect(delivery.status == .delivered)
                        let attempts = try await engine.attempts(deliveryId: delivery.id)
                        let attempt = try #require(attempts.first)
                        // Cut short, not read to the end or to the 5 s timeout: the exchange's own duration, which the
                        // test's scheduling on a busy machine cannot stretch.
                        #expect(attempt.durationMilliseconds < 5000)
                        let excerpt = try #require(attempt.responseBodyExcerpt)
                        #expect(excerpt.hasSuffix("(truncated)"))
                        #expect(excerpt.utf8.count <= 4096 + 32)
                        #expect(excerpt.hasPrefix(String(repeating: "x", count: 4096)))
                        // What the log keeps is as short.
                        #expect(attempts.allSatisfy { ($0.responseBodyExcerpt?.count ?? 0) <= 4096 + 32 })
                    }
                }
            }
        }
    }

    @Test(arguments: TestEngine.allCases)
    func aResponseThatNeverComesTimesOut(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            try await withReceiver(["hang": .hanging]) { receiver in
                _ = try await engine.addTestEndpoint(receiver.url("hang"), timeoutMilliseconds: 500)
                try await withSender { sender in
                    try await withDispatcher(engine, sender: sender) { _ in
                        let published = try await engine.publish(eventType: "a.b", payload: "{}")
                        let failed = try await eventually(timeout: .seconds(15)) {
                            try await engine.onlyDelivery(messageId: published.message.id).attemptCount >= 1
                        }
                        try #require(failed)
                        let delivery = try await engine.onlyDelivery(messageId: published.message.id)
                        let attempt = try #require(try await engine.attempts(deliveryId: delivery.id).first)
                        #expect(attempt.errorClass == .timeout)
                        #expect(attempt.responseStatus == nil)
                        #expect(attempt.durationMilliseconds >= 450)
                        #expect(attempt.durationMilliseconds < 5000)
                        #expect(delivery.lastErrorClass == .timeout)
                    }
                }
            }
        }
    }

    @Test(arguments: TestEngine.allCases)
    func aClosedPortIsConnectRefused(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            _ = try await engine.addTestEndpoint("http://127.0.0.1:\(closedLocalPort())/nobody")
            try await withSender { sender in
                try await withDispatcher(engine, sender: sender) { _ in
                    let published = try await engine.publish(eventType: "a.b", payload: "{}")
                    let delivery = try await finished(engine, published.message.id)
                    #expect(delivery.status == .dead)
                    #expect(delivery.lastErrorClass == .connectRefused)
                    #expect(delivery.lastStatusCode == nil)
                    let attempts = try await engine.attempts(deliveryId: delivery.id)
                    #expect(attempts.count == 3)
                    // Refused at once, not after the endpoint's 5 s timeout (the bound leaves room for a loaded machine).
                    #expect(attempts.allSatisfy { $0.errorClass == .connectRefused && $0.durationMilliseconds < 4000 })
                    let group = try #require(try await engine.failureGroups(endpointId: nil, limit: 5).first)
                    #expect(group.label == "connect_refused")
                }
            }
        }
    }

    @Test(arguments: TestEngine.allCases)
    func privateDestinationsAreRefusedAtConnectTime(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            try await withReceiver(["ok": .healthy]) { receiver in
                // Registered while allowed (say, by an older configuration), then sent by a strict sender.
                _ = try await engine.addEndpoint(
                    url: receiver.url("ok"), changes: EndpointChanges(), secret: nil, allowPrivateDestination: false,
                    id: nil, now: Date(), by: testActor)
                let sender = WebhookSender()
                do {
                    try await withDispatcher(engine, sender: sender) { _ in
                        let published = try await engine.publish(eventType: "a.b", payload: "{}")
                        let delivery = try await finished(engine, published.message.id)
                        #expect(delivery.status == .dead)
                        #expect(delivery.lastErrorClass == .destinationRefused)
                    }
                } catch {
                    await sender.shutdown()
                    throw error
                }
                await sender.shutdown()
                #expect(receiver.count == 0)
            }
        }
    }

    @Test(arguments: TestEngine.allCases)
    func respectsPerEndpointMaxInFlight(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            try await withReceiver(["slow": .slow(milliseconds: 250), "fast": .healthy]) { receiver in
                let slow = try await engine.addTestEndpoint(receiver.url("slow"), maxInFlight: 2, timeoutMilliseconds: 5000)
                let fast = try await engine.addTestEndpoint(receiver.url("fast"))
                try await withSender { sender in
                    try await withDispatcher(engine, sender: sender) { dispatcher in
                        _ = try await engine.publish(
                            batch: (0..<6).map { PublishRequest(eventType: "a.b", payload: #"{"n":\#($0)}"#) })
                        dispatcher.wake()
                        let done = try await eventually(timeout: .seconds(20)) {
                            try await engine.deliveries(endpointId: slow.id).allSatisfy { $0.status == .delivered }
                        }
                        try #require(done)
                        // The slow endpoint's limit does not hold back the other endpoint.
                        #expect(try await engine.deliveries(endpointId: fast.id).allSatisfy { $0.status == .delivered })
                        var intervals: [(Date, Date)] = []
                        for delivery in try await engine.deliveries(endpointId: slow.id) {
                            for attempt in try await engine.attempts(deliveryId: delivery.id) {
                                let end = attempt.startedAt.addingTimeInterval(Double(attempt.durationMilliseconds) / 1000)
                                // Shave a few milliseconds off each end: timestamps are rounded to milliseconds.
                                intervals.append((attempt.startedAt.addingTimeInterval(0.005), end.addingTimeInterval(-0.005)))
                            }
                        }
                        #expect(intervals.count == 6)
                        let peak = maximumOverlap(intervals)
                        #expect(peak == 2, "at most 2 in flight (and the limit is used): peak \(peak)")
                    }
                }
            }
        }
    }

    @Test(arguments: TestEngine.allCases)
    func expiredLeasesOfADeadDispatcherAreSentAgain(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            try await withReceiver(["ok": .healthy]) { receiver in
                let endpoint = try await engine.addTestEndpoint(receiver.url("ok"))
                let published = try await engine.publish(
                    batch: (0..<3).map { PublishRequest(eventType: "a.b", payload: #"{"n":\#($0)}"#) })
                // A dispatcher that claimed the work, then died: its heartbeat is a minute old, its leases still long.
                let deadWorker = "w:crashed"
                let then = Date().addingTimeInterval(-60)
                try await engine.heartbeat(WorkerInfo(
                    id: deadWorker, pid: 999_999, host: "gone", startedAt: then, heartbeatAt: then, version: "0", inFlight: 3))
                let stolen = try await engine.claimAll(endpoint, owner: deadWorker, lease: 3600)
                #expect(stolen.count == 3)
                #expect(try await engine.deliveries(endpointId: endpoint.id).allSatisfy { $0.status == .inflight })

                try await withSender { sender in
                    try await withDispatcher(engine, sender: sender) { _ in
                        let done = try await eventually(timeout: .seconds(15)) {
                            try await engine.deliveries(endpointId: endpoint.id).allSatisfy { $0.status == .delivered }
                        }
                        #expect(done)
                    }
                }
                #expect(Set(receiver.requests.compactMap { $0.header("webhook-id") }) == Set(published.map(\.message.id)))
                // The dead dispatcher comes back and reports its attempts: recorded, but the state is left alone.
                try await engine.recordOutcome(stolen, status: 500, owner: deadWorker)
                #expect(
                    try await engine.deliveries(endpointId: endpoint.id).allSatisfy {
                        $0.status == .delivered && $0.attemptCount == 1
                    })
                #expect(try await engine.attemptTotal() == 6)
            }
        }
    }

    /// A dispatcher whose heartbeat is late, but not `leasesTakenOverAfter` late, is only held up (shown stale): its
    /// leases stay, so nothing it is sending is sent a second time. Past that, they are released.
    @Test(arguments: TestEngine.allCases)
    func aHeldUpDispatcherKeepsItsLeasesUntilTheTakeoverTime(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let endpoint = try await engine.addTestEndpoint("http://127.0.0.1:9/a")
            _ = try await engine.publish(batch: (0..<2).map { PublishRequest(eventType: "a.b", payload: #"{"n":\#($0)}"#) })
            let now = Date()
            let late = now.addingTimeInterval(-(WorkerInfo.staleAfter + 5))
            let worker = WorkerInfo(
                id: "w:slow", pid: 999_999, host: "other", startedAt: late, heartbeatAt: late, version: "0", inFlight: 2)
            #expect(!worker.isAlive(now: now), "shown stale")
            try await engine.heartbeat(worker)
            #expect(try await engine.claimAll(endpoint, owner: worker.id, now: now, lease: 3600).count == 2)
            #expect(try await engine.releaseLeases(owner: nil, now: now) == 0)
            let later = now.addingTimeInterval(WorkerInfo.leasesTakenOverAfter)
            #expect(try await engine.releaseLeases(owner: nil, now: later) == 2)
            #expect(try await engine.claimAll(endpoint, now: later).count == 2, "claimable again")
        }
    }

    @Test(arguments: TestEngine.allCases)
    func leasesPastTheirExpiryAreReleased(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let endpoint = try await engine.addTestEndpoint("http://127.0.0.1:9/a")
            // An operator's process (not a dispatcher) that died mid-redelivery, its lease run out a second ago.
            let then = Date().addingTimeInterval(-16)
            _ = try await engine.publish(eventType: "a.b", payload: "{}", now: then)
            _ = try await engine.claimAll(endpoint, owner: "op:1:r_x", now: then, lease: 10)
            #expect(try await engine.releaseLeases(owner: nil, now: then) == 0, "a live lease stays")
            #expect(try await engine.claimAll(endpoint, now: then.addingTimeInterval(14)).isEmpty, "lease 10 s + the 5 s timeout")
            // SQLite moves the delivery back out of flight; on PostgreSQL a lease is a time the queue row comes due
            // again, so one that ran out needs no release.
            #expect(try await engine.releaseLeases(owner: nil, now: Date()) == (kind == .sqlite ? 1 : 0))
            let delivery = try #require(try await engine.deliveries(endpointId: endpoint.id).first)
            #expect(delivery.status == .pending)
            #expect(try await engine.claimAll(endpoint).count == 1)
        }
    }

    @Test(arguments: TestEngine.allCases)
    func gracefulStopFinishesInFlightWorkAndLeavesNoLeases(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            // Each answer takes a second, two at a time: the stop comes while the first ones are being answered.
            try await withReceiver(["slow": .slow(milliseconds: 1000)]) { receiver in
                let endpoint = try await engine.addTestEndpoint(receiver.url("slow"), maxInFlight: 2, timeoutMilliseconds: 5000)
                try await withSender { sender in
                    try await withDispatcher(engine, sender: sender) { dispatcher in
                        _ = try await engine.publish(
                            batch: (0..<5).map { PublishRequest(eventType: "a.b", payload: #"{"n":\#($0)}"#) })
                        dispatcher.wake()
                        // The receiver's count only grows: a wait starved by other tests cannot miss it, as it could
                        // miss a moment with something in flight.
                        let sent = await eventually(timeout: .seconds(15)) { receiver.count > 0 }
                        let statuses = try await engine.deliveries(endpointId: endpoint.id).map(\.status.rawValue)
                        try #require(
                            sent, "nothing sent: deliveries \(statuses), recorded \(dispatcher.recordedAttempts)")
                    }
                }
                let deliveries = try await engine.deliveries(endpointId: endpoint.id)
                #expect(deliveries.allSatisfy { $0.status != .inflight })
                #expect(try await engine.leasesHeld() == 0)
                #expect(deliveries.contains { $0.status == .delivered }, "in-flight sends finished and were recorded")
                #expect(try await deliveries.filter { $0.status == .delivered }.count == engine.attemptTotal())
                #expect(try await engine.workers().isEmpty)
            }
        }
    }

    @Test(arguments: TestEngine.allCases)
    func stopPastTheGracePeriodReleasesUnfinishedWork(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            try await withReceiver(["hang": .hanging]) { receiver in
                let endpoint = try await engine.addTestEndpoint(receiver.url("hang"), timeoutMilliseconds: 30_000)
                try await withSender { sender in
                    let configuration = testDispatcherConfiguration(grace: .milliseconds(200))
                    let stopped = try await withDispatcher(engine, sender: sender, configuration: configuration) { _ in
                        _ = try await engine.publish(eventType: "a.b", payload: "{}")
                        let busy = await eventually(timeout: .seconds(15)) { receiver.count == 1 }
                        try #require(busy)
                        return ContinuousClock.now
                    }
                    // Not held until the attempt's 30 s timeout (the bound leaves room for a loaded machine).
                    #expect(ContinuousClock.now - stopped < .seconds(20))
                }
                let delivery = try #require(try await engine.deliveries(endpointId: endpoint.id).first)
                #expect(delivery.status == .pending, "released for the next dispatcher, not failed")
                #expect(delivery.attemptCount == 0)
                #expect(try await engine.leasesHeld() == 0)
            }
        }
    }

    /// Waits for a message's only delivery to reach `delivered`, `dead` or `cancelled`.
    private func finished(_ engine: any DeliveryEngine, _ messageId: String) async throws -> Delivery {
        let done = try await eventually(timeout: .seconds(20)) {
            let status = try await engine.onlyDelivery(messageId: messageId).status
            return [.delivered, .dead, .cancelled].contains(status)
        }
        #expect(done, "delivery of \(messageId) did not finish")
        return try await engine.onlyDelivery(messageId: messageId)
    }

    /// The largest number of intervals that overlap at one instant.
    private func maximumOverlap(_ intervals: [(Date, Date)]) -> Int {
        var events: [(at: Date, delta: Int)] = []
        for (start, end) in intervals {
            events.append((start, 1))
            events.append((end, -1))
        }
        // Ends sort before starts at the same instant.
        events.sort { lhs, rhs in lhs.at != rhs.at ? lhs.at < rhs.at : lhs.delta < rhs.delta }
        var current = 0
        var peak = 0
        for (_, delta) in events {
            current += delta
            peak = max(peak, current)
        }
        return peak
    }
}

/// The dispatcher as a service: it stops when its task is cancelled (another service of its group failed).
struct DispatcherLifecycleTests {
    @Test(.timeLimit(.minutes(3)), arguments: TestEngine.allCases)
    func cancellationStopsTheDispatcher(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let sender = WebhookSender()
            let dispatcher = Dispatcher(log: engine, sender: sender, logger: .init(label: "test"))
            let task = Task { try await dispatcher.run() }
            let registered = await eventually(timeout: .seconds(10)) { (try? await engine.workers().count) == 1 }
            #expect(registered)
            task.cancel()
            try await task.value
            #expect(try await engine.workers().isEmpty, "a stopped dispatcher removes its heartbeat row")
            await sender.shutdown()
        }
    }
}

/// Keeps every message logged through its handlers.
final class CapturedLog: Sendable {
    private let lines = Mutex<[String]>([])

    var messages: [String] { lines.withLock { $0 } }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            log.lines.withLock { $0.append(event.message.description) }
        }
    }
}
