@testable import DeliveryCore
import Foundation
import HooktopTesting
import Logging
import Testing

/// The alert checks on hand-built states, their recording (once, debounced, across connections) and their sends.
@Suite
struct AlertRulesTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func endpoint(_ id: String = "ep_a", status: EndpointStatus = .active, reason: String? = nil) -> Endpoint {
        Endpoint(
            id: id, url: "https://hooks.example/\(id)", description: "billing", status: status, disabledReason: reason,
            secret: "whsec_x", createdAt: now, updatedAt: now)
    }

    func findings(_ states: [AlertEndpointState], workers: [WorkerInfo] = [], oldestDue: (Date, String)? = nil,
        policy: AlertPolicy = AlertPolicy(), at: Date? = nil) -> [NewAlert]
    {
        AlertRules.findings(
            AlertInputs(endpoints: states, workers: workers, oldestDue: oldestDue.map { (at: $0.0, endpointId: $0.1) }),
            policy: policy, ownWorker: "w:self", now: at ?? now)
    }

    func details(_ alert: NewAlert) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(alert.details.utf8)) as? [String: Any])
    }

    @Test func aDispatcherDisableIsReportedWithItsCauseThenRemindedOfOnAnOperatorsIsNot() throws {
        let disabledAt = now.addingTimeInterval(-60)
        var state = AlertEndpointState(
            endpoint: endpoint(status: .disabled, reason: "endpoint answered 410 Gone"), disabledAt: disabledAt,
            disabledByDispatcher: true,
            lastFailure: FailedAttempt(status: 410, error: "HTTP 410 Gone", responseExcerpt: "gone for good"))
        let first = try #require(findings([state]).first)
        #expect(first.type == .endpointDisabled && first.objectId == "ep_a")
        #expect(first.key == "\(disabledAt.milliseconds)#0")
        #expect(first.summary == "endpoint ep_a (billing) disabled: endpoint answered 410 Gone (last answer HTTP 410)")
        let object = try details(first)
        #expect(object["last_status"] as? Int == 410)
        #expect(object["response_excerpt"] as? String == "gone for good")
        #expect(object["reminder"] as? Bool == false)
        #expect((object["endpoint"] as? [String: Any])?["url"] as? String == "https://hooks.example/ep_a")

        // A day later: a reminder, under a key of its own.
        let reminder = try #require(findings([state], at: disabledAt.addingTimeInterval(86400 + 5)).first)
        #expect(reminder.key == "\(disabledAt.milliseconds)#1")
        #expect(reminder.summary.hasPrefix("endpoint ep_a (billing) still disabled after 1d"))
        #expect(try details(reminder)["reminder"] as? Bool == true)

        state.disabledByDispatcher = false
        #expect(findings([state]).isEmpty, "an operator's disable is audited, not alerted")
    }

    @Test func failingAfterTheThresholdWithoutASuccessWhileActive() throws {
        let since = now.addingTimeInterval(-11 * 60)
        var state = AlertEndpointState(endpoint: endpoint(), failingSince: since, lastError: "http 500")
        let alert = try #require(findings([state]).first)
        #expect(alert.type == .endpointFailing && alert.key == "\(since.milliseconds)" && alert.debounce == 3600)
        #expect(alert.summary == "endpoint ep_a (billing) failing for 11m without a success: http 500")
        state.failingSince = now.addingTimeInterval(-5 * 60)
        #expect(findings([state]).isEmpty, "not yet 10 minutes")
        state.failingSince = since
        state.endpoint.status = .paused
        #expect(findings([state]).isEmpty, "a paused endpoint makes no attempts")
    }

    @Test func recoveredOnlyAfterAProblemAlertAndOnlyByASuccessAfterIt() throws {
        let alerted = now.addingTimeInterval(-120)
        var state = AlertEndpointState(
            endpoint: endpoint(), lastSuccessAt: now.addingTimeInterval(-3),
            lastHealthAlert: (sequence: 7, type: .endpointFailing, at: alerted))
        let alert = try #require(findings([state]).first)
        #expect(alert.type == .endpointRecovered && alert.key == "after:7" && alert.debounce == nil)
        #expect(try details(alert)["recovered_from"] as? String == "endpoint.failing")
        state.lastSuccessAt = alerted.addingTimeInterval(-1)
        #expect(findings([state]).isEmpty, "the last success is older than the alert")
        state.lastSuccessAt = now
        state.lastHealthAlert = (sequence: 8, type: .endpointRecovered, at: alerted)
        #expect(findings([state]).isEmpty, "already recovered")
        state.lastHealthAlert = (sequence: 9, type: .endpointDisabled, at: alerted)
        #expect(findings([state]).first?.type == .endpointRecovered, "enabled again and delivering")
    }

    @Test func deadDeliveriesOverTheThresholdInTheWindow() throws {
        var policy = AlertPolicy()
        policy.deadThreshold = 2
        let state = AlertEndpointState(endpoint: endpoint(), deadInWindow: 3)
        let alert = try #require(findings([state], policy: policy).first)
        #expect(alert.type == .deliveriesDead)
        #expect(alert.summary == "endpoint ep_a (billing): 3 deliveries dead in the last 1h (more than 2)")
        #expect(try details(alert)["dead_count"] as? Int == 3)
        policy.deadThreshold = 3
        #expect(findings([state], policy: policy).isEmpty)
    }

    @Test func overdueBacklogNamesTheEndpointOfTheOldestDueDelivery() throws {
        let state = AlertEndpointState(endpoint: endpoint())
        let alert = try #require(findings([state], oldestDue: (now.addingTimeInterval(-600), "ep_a")).first)
        #expect(alert.type == .backlogOverdue && alert.objectId == "backlog")
        #expect(alert.summary == "deliveries overdue: the oldest due one is 10m late (endpoint ep_a (billing))")
        #expect(try details(alert)["oldest_due_seconds"] as? Int == 600)
        #expect(findings([state], oldestDue: (now.addingTimeInterval(-60), "ep_a")).isEmpty)
    }

    @Test func staleDispatchersOfOthersOnly() throws {
        func worker(_ id: String, silentFor: TimeInterval) -> WorkerInfo {
            WorkerInfo(
                id: id, pid: 42, host: "box2", startedAt: now.addingTimeInterval(-3600),
                heartbeatAt: now.addingTimeInterval(-silentFor), version: "1", inFlight: 3)
        }
        let found = findings([], workers: [worker("w:other", silentFor: 45), worker("w:self", silentFor: 45),
            worker("w:fresh", silentFor: 2)])
        #expect(found.map(\.objectId) == ["w:other"])
        #expect(found.first?.type == .dispatcherStale)
        #expect(found.first?.summary.hasPrefix("dispatcher box2 pid 42 stopped heartbeating 45s ago (3 in flight") == true)
    }

    @Test func theWebhookDataCarriesTheIdAndSummaryFirst() throws {
        let alert = Alert(
            sequence: 1, id: "alrt_1", type: .test, objectId: "test", at: now, summary: #"a "quoted" line"#,
            details: #"{"a":1}"#, status: .pending)
        let data = try #require(try JSONSerialization.jsonObject(with: Data(alert.data.utf8)) as? [String: Any])
        #expect(data["alert_id"] as? String == "alrt_1" && data["summary"] as? String == #"a "quoted" line"#)
        #expect(data["a"] as? Int == 1)
        let empty = Alert(sequence: 1, id: "alrt_2", type: .test, objectId: "t", at: now, summary: "s", details: "{}", status: .sent)
        #expect(try JSONSerialization.jsonObject(with: Data(empty.data.utf8)) is [String: Any])
    }
}

@Suite
struct AlertRecordingTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func finding(key: String = "k1", debounce: TimeInterval? = 3600, object: String = "ep_a") -> NewAlert {
        NewAlert(type: .endpointFailing, objectId: object, key: key, debounce: debounce, summary: "s", details: "{}")
    }

    @Test(arguments: TestEngine.allCases)
    func onceByKeyAndOncePerWindow(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine throws in
            func record(_ alert: NewAlert, at: Date) async throws -> Alert? {
                try await engine.recordAlert(alert, status: .pending, leasedTo: nil, now: at)
            }
            #expect(try await record(finding(), at: now) != nil)
            #expect(try await record(finding(), at: now.addingTimeInterval(7200)) == nil, "same key")
            #expect(
                try await record(finding(key: "k2"), at: now.addingTimeInterval(60)) == nil,
                "debounced: same type and endpoint within the window")
            #expect(try await record(finding(key: "k2", object: "ep_b"), at: now) != nil)
            #expect(try await record(finding(key: "k3"), at: now.addingTimeInterval(3601)) != nil)
            #expect(try await record(finding(key: "k4", debounce: nil), at: now.addingTimeInterval(3602)) != nil)
            #expect(try await engine.alerts(before: nil, limit: 10).map(\.objectId) == ["ep_a", "ep_a", "ep_b", "ep_a"])
        }
    }

    @Test(arguments: TestEngine.allCases)
    func severalConnectionsRecordAFindingOnce(_ kind: TestEngine) async throws {
        try await kind.withLog { log in
            var engines: [any DeliveryEngine] = []
            for _ in 0..<4 { engines.append(try await log.open()) }
            let recorded = try await withThrowingTaskGroup(of: Int.self) { group in
                for (n, engine) in engines.enumerated() {
                    group.addTask {
                        var count = 0
                        for round in 0..<10 {
                            let at = now.addingTimeInterval(Double(round + n) * 0.001)
                            if try await engine.recordAlert(finding(key: "k\(round)"), status: .pending, leasedTo: nil, now: at)
                                != nil
                            {
                                count += 1
                            }
                        }
                        return count
                    }
                }
                return try await group.reduce(0, +)
            }
            for engine in engines { await engine.close() }
            #expect(recorded == 1, "ten keys, four processes, one window: one alert")
        }
    }

    @Test(arguments: TestEngine.allCases)
    func sendsAreLeasedRetriedAndFinished(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            func claim(_ owner: String, after seconds: TimeInterval) async throws -> [Alert] {
                try await engine.claimAlerts(owner: owner, now: now.addingTimeInterval(seconds), lease: 120, limit: 10)
            }
            let alert = try #require(try await engine.recordAlert(finding(), status: .pending, leasedTo: nil, now: now))
            #expect(
                try await engine.recordAlert(finding(key: "u", object: "ep_u"), status: .unsent, leasedTo: nil, now: now)?
                    .status == .unsent)
            let claimed = try await claim("a", after: 0)
            #expect(claimed.map(\.id) == [alert.id], "unsent alerts are never claimed")
            #expect(try await claim("b", after: 1).isEmpty)
            try await engine.finishAlert(
                sequence: alert.sequence, owner: "b", status: .sent, sentTo: ["url"], error: nil, nextAttemptAt: nil,
                now: now)
            #expect(try await engine.alert(id: alert.id)?.status == .pending, "only the lease holder finishes")
            try await engine.finishAlert(
                sequence: alert.sequence, owner: "a", status: .pending, sentTo: ["exec"], error: "url: HTTP 500",
                nextAttemptAt: now.addingTimeInterval(30), now: now)
            var current = try #require(try await engine.alert(id: alert.id))
            #expect(current.attempts == 1 && current.sentTo == ["exec"] && current.lastError == "url: HTTP 500")
            #expect(try await claim("b", after: 10).isEmpty)
            #expect(try await claim("b", after: 31).count == 1)
            try await engine.finishAlert(
                sequence: alert.sequence, owner: "b", status: .sent, sentTo: ["exec", "url"], error: nil,
                nextAttemptAt: nil, now: now.addingTimeInterval(32))
            current = try #require(try await engine.alert(id: alert.id))
            #expect(current.status == .sent && current.sentAt == now.addingTimeInterval(32) && current.attempts == 2)
            // A lease whose holder died runs out, and another process takes the send.
            let orphan = try #require(
                try await engine.recordAlert(finding(key: "o", object: "ep_o"), status: .pending, leasedTo: nil, now: now))
            _ = try await claim("dead", after: 0)
            #expect(try await claim("c", after: 121).map(\.id) == [orphan.id])
        }
    }

    @Test(arguments: TestEngine.allCases)
    func theMonitorRetriesARefusingCommandAndNeverRetriesATest(_ kind: TestEngine) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hooktop-alerts-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await kind.withEngine { engine in
            try await withSender { sender in try await monitorRetries(engine, sender, marker: folder + "/attempts") }
        }
    }

    private func monitorRetries(_ engine: any DeliveryEngine, _ sender: WebhookSender, marker: String) async throws {
        var configuration = AlertMonitor.Configuration()
        // Refuses the first time, takes it the second; what it read is kept.
        configuration.destinations = AlertDestinations(
            command: "cat >> \(marker).json; echo >> \(marker).json; echo x >> \(marker); "
                + "[ $(wc -l < \(marker)) -ge 2 ] || { echo 'not yet' >&2; exit 3; }")
        configuration.retryDelays = [0.2]
        let monitor = AlertMonitor(
            engine: engine, sender: sender, ownWorker: nil, configuration: configuration,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let alert = try #require(
            try await engine.recordAlert(
                NewAlert(type: .deliveriesDead, objectId: "ep_a", key: "1", debounce: nil, summary: "s", details: "{}"),
                status: .pending, leasedTo: nil, now: Date()))
        #expect(try await monitor.sendDue(now: Date()) == 0)
        var current = try #require(try await engine.alert(id: alert.id))
        #expect(current.status == .pending && current.attempts == 1 && current.lastError == "exec: exit 3: not yet")
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await monitor.sendDue(now: Date()) == 1)
        current = try #require(try await engine.alert(id: alert.id))
        #expect(current.status == .sent && current.sentTo == ["exec"])
        let lines = try String(contentsOfFile: marker + ".json", encoding: .utf8).split(separator: "\n")
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(envelope["type"] as? String == "deliveries.dead")
        #expect((envelope["data"] as? [String: Any])?["alert_id"] as? String == alert.id)

        // A test alert that a destination refuses fails at once, with the reason.
        configuration.destinations = AlertDestinations(command: "exit 4")
        let refusing = AlertMonitor(
            engine: engine, sender: sender, ownWorker: nil, configuration: configuration,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let (test, error) = try await refusing.sendTest(by: testActor)
        #expect(error == "exec: exit 4" && test.status == .failed && test.type == .test)
        #expect(try await engine.auditEntries(objectId: test.id, limit: 1).first?.action == "alert.test")
    }

    @Test func destinationsAreCheckedTogether() {
        #expect(throws: HooktopError.self) { try AlertDestinations(url: "https://a.example/h").validate() }
        #expect(throws: HooktopError.self) { try AlertDestinations(url: "ftp://a.example", secret: WebhookSignature.generateSecret()).validate() }
        #expect(throws: HooktopError.self) { try AlertDestinations(url: "https://a.example/h", secret: "whsec_short").validate() }
        #expect(throws: HooktopError.self) { try AlertDestinations(secret: WebhookSignature.generateSecret()).validate() }
        #expect(throws: HooktopError.self) { try AlertDestinations(command: "  ").validate() }
        #expect(throws: Never.self) {
            try AlertDestinations(url: "https://a.example/h", secret: WebhookSignature.generateSecret(), command: "true")
                .validate()
        }
    }

    @Test(arguments: TestEngine.allCases)
    func theChecksReadTheLog(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let endpoint = try await engine.addTestEndpoint("http://127.0.0.1:9/closed")
            _ = try await engine.publish(eventType: "invoice.paid", payload: "{}")
            let jobs = try await engine.claimAll(endpoint)
            let failed = jobs.map { job in
                var outcome = AttemptOutcome(
                    deliveryId: job.deliveryId, endpointId: job.endpoint.id, trigger: .scheduled, startedAt: Date(),
                    durationMilliseconds: 5, requestHeaders: [], responseStatus: 410, responseHeaders: [],
                    responseBodyExcerpt: "gone", errorClass: .httpStatus, errorMessage: nil, retryAfter: nil)
                outcome.claim = job.claim
                return outcome
            }
            try await engine.record(
                failed, owner: "w:test", policy: RetryPolicy(delays: [60], jitter: 0), autoDisableAfter: nil, now: Date())
            let inputs = try await engine.alertInputs(now: Date(), deadSince: Date().addingTimeInterval(-3600))
            let state = try #require(inputs.endpoints.first)
            #expect(state.endpoint.status == .disabled && state.disabledByDispatcher && state.disabledAt != nil)
            #expect(state.deadInWindow == 1 && state.lastFailure?.status == 410 && state.lastFailure?.responseExcerpt == "gone")
            let found = AlertRules.findings(inputs, policy: AlertPolicy(), ownWorker: nil, now: Date()).map(\.type)
            #expect(found == [.endpointDisabled, .deliveriesDead])
        }
    }
}
