import Foundation

/// When the alert checks fire.
public struct AlertPolicy: Sendable, Equatable {
    /// `endpoint.failing` after this long without a success while attempts fail.
    public var failingAfter: TimeInterval = 600
    /// `deliveries.dead` when more than this many of an endpoint's deliveries died within `window`.
    public var deadThreshold = 0
    /// At most one alert per object and type within this long (and the window `deliveries.dead` counts).
    public var window: TimeInterval = 3600
    /// `backlog.overdue` when the oldest due delivery is later than this.
    public var overdueAfter: TimeInterval = 300
    /// `endpoint.disabled` again this often while the endpoint stays disabled.
    public var reminderEvery: TimeInterval = 86400
    /// `dispatcher.stale` when a dispatcher's heartbeat is older than this.
    public var staleAfter: TimeInterval = 30

    public init() {}
}

/// What the alert checks find in the log's state: pure functions of their inputs, so tests build the state by hand.
public enum AlertRules {
    /// Every alert `inputs` call for at `now`. Recording them (`AlertLog.recordAlert`) drops those already recorded
    /// (same key) and those debounced. `ownWorker` is the checking process's own dispatcher, never reported stale.
    public static func findings(_ inputs: AlertInputs, policy: AlertPolicy, ownWorker: String?, now: Date) -> [NewAlert] {
        var found: [NewAlert] = []
        let windowNumber = Int64((now.timeIntervalSince1970 / policy.window).rounded(.down))
        for state in inputs.endpoints {
            let endpoint = state.endpoint
            let name = displayName(endpoint)
            if endpoint.status == .disabled, state.disabledByDispatcher, let disabledAt = state.disabledAt {
                let disabledFor = max(0, now.timeIntervalSince(disabledAt))
                let reminder = Int(disabledFor / policy.reminderEvery)
                let reason = endpoint.disabledReason ?? "disabled by the dispatcher"
                var details = endpointDetails(endpoint)
                details["reason"] = .string(reason)
                details["disabled_at"] = JSONValue(disabledAt)
                details["disabled_for_seconds"] = JSONValue(Int(disabledFor))
                details["reminder"] = .bool(reminder > 0)
                details["last_status"] = JSONValue(state.lastFailure?.status)
                details["last_error"] = JSONValue(state.lastFailure?.error ?? state.lastError)
                details["response_excerpt"] = JSONValue(state.lastFailure?.responseExcerpt)
                let status = state.lastFailure?.status.map { " (last answer HTTP \($0))" } ?? ""
                let summary = reminder > 0
                    ? "endpoint \(name) still disabled after \(DurationText.format(disabledFor)): \(reason)\(status)"
                    : "endpoint \(name) disabled: \(reason)\(status)"
                found.append(
                    NewAlert(
                        type: .endpointDisabled, objectId: endpoint.id, key: "\(disabledAt.milliseconds)#\(reminder)",
                        debounce: policy.window, summary: summary, details: AlertDetails.json(details)))
            }
            if endpoint.status == .active, let failingSince = state.failingSince,
                now.timeIntervalSince(failingSince) >= policy.failingAfter,
                (state.lastSuccessAt ?? .distantPast) < failingSince
            {
                let failingFor = now.timeIntervalSince(failingSince)
                var details = endpointDetails(endpoint)
                details["failing_since"] = JSONValue(failingSince)
                details["failing_for_seconds"] = JSONValue(Int(failingFor))
                details["last_error"] = JSONValue(state.lastError)
                details["last_success_at"] = JSONValue(state.lastSuccessAt)
                found.append(
                    NewAlert(
                        type: .endpointFailing, objectId: endpoint.id, key: "\(failingSince.milliseconds)",
                        debounce: policy.window,
                        summary: "endpoint \(name) failing for \(DurationText.format(failingFor)) without a success"
                            + (state.lastError.map { ": \($0)" } ?? ""),
                        details: AlertDetails.json(details)))
            }
            if let problem = state.lastHealthAlert, problem.type != .endpointRecovered, endpoint.status == .active,
                let success = state.lastSuccessAt, success > problem.at
            {
                var details = endpointDetails(endpoint)
                details["recovered_from"] = .string(problem.type.rawValue)
                details["problem_alerted_at"] = JSONValue(problem.at)
                details["last_success_at"] = JSONValue(success)
                found.append(
                    NewAlert(
                        type: .endpointRecovered, objectId: endpoint.id, key: "after:\(problem.sequence)", debounce: nil,
                        summary: "endpoint \(name) recovered: delivered again after \(problem.type.rawValue)",
                        details: AlertDetails.json(details)))
            }
            if state.deadInWindow > policy.deadThreshold {
                var details = endpointDetails(endpoint)
                details["dead_count"] = JSONValue(state.deadInWindow)
                details["window_seconds"] = JSONValue(Int(policy.window))
                details["threshold"] = JSONValue(policy.deadThreshold)
                details["last_error"] = JSONValue(state.lastError)
                let noun = state.deadInWindow == 1 ? "delivery" : "deliveries"
                found.append(
                    NewAlert(
                        type: .deliveriesDead, objectId: endpoint.id, key: "\(windowNumber)", debounce: policy.window,
                        summary: "endpoint \(name): \(state.deadInWindow) \(noun) dead in the last "
                            + "\(DurationText.format(policy.window)) (more than \(policy.deadThreshold))",
                        details: AlertDetails.json(details)))
            }
        }
        if let oldest = inputs.oldestDue, now.timeIntervalSince(oldest.at) > policy.overdueAfter {
            let late = now.timeIntervalSince(oldest.at)
            var details: [String: JSONValue] = [
                "oldest_due_seconds": JSONValue(Int(late)), "threshold_seconds": JSONValue(Int(policy.overdueAfter)),
                "oldest_due_at": JSONValue(oldest.at),
            ]
            let endpoint = inputs.endpoints.first { $0.endpoint.id == oldest.endpointId }?.endpoint
            if let endpoint { details["endpoint"] = endpointObject(endpoint) }
            found.append(
                NewAlert(
                    type: .backlogOverdue, objectId: "backlog", key: "\(windowNumber)", debounce: policy.window,
                    summary: "deliveries overdue: the oldest due one is \(DurationText.format(late)) late"
                        + (endpoint.map { " (endpoint \(displayName($0)))" } ?? ""),
                    details: AlertDetails.json(details)))
        }
        for worker in inputs.workers where worker.id != ownWorker {
            let silentFor = now.timeIntervalSince(worker.heartbeatAt)
            guard silentFor > policy.staleAfter else { continue }
            let details: [String: JSONValue] = [
                "dispatcher": [
                    "id": .string(worker.id), "host": .string(worker.host), "pid": JSONValue(worker.pid),
                    "version": .string(worker.version),
                ],
                "last_heartbeat_at": JSONValue(worker.heartbeatAt),
                "stale_for_seconds": JSONValue(Int(silentFor)), "in_flight": JSONValue(worker.inFlight),
            ]
            found.append(
                NewAlert(
                    type: .dispatcherStale, objectId: worker.id, key: "\(worker.heartbeatAt.milliseconds)", debounce: nil,
                    summary: "dispatcher \(worker.host) pid \(worker.pid) stopped heartbeating "
                        + "\(DurationText.format(silentFor)) ago (\(worker.inFlight) in flight; its leases expire and "
                        + "other dispatchers take them)",
                    details: AlertDetails.json(details)))
        }
        return found
    }

    /// A test alert (`hooktop alerts test`).
    public static func test(by actor: Principal, now: Date) -> NewAlert {
        NewAlert(
            type: .test, objectId: "test", key: Identifier.make("t"), debounce: nil,
            summary: "test alert from \(actor.user) via \(actor.via)",
            details: AlertDetails.json(["requested_by": .string(actor.user), "via": .string(actor.via)]))
    }

    /// `ep_x (billing)`, or the id alone without a description.
    static func displayName(_ endpoint: Endpoint) -> String {
        endpoint.description.isEmpty ? endpoint.id : "\(endpoint.id) (\(Sanitizer.line(endpoint.description)))"
    }

    static func endpointObject(_ endpoint: Endpoint) -> JSONValue {
        ["id": .string(endpoint.id), "description": .string(endpoint.description), "url": .string(endpoint.url)]
    }

    private static func endpointDetails(_ endpoint: Endpoint) -> [String: JSONValue] {
        ["endpoint": endpointObject(endpoint)]
    }
}
