import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Watches the log for what an operator must hear about (`AlertRules`), records each alert once (several processes
/// may watch one log) and sends the pending ones to this process's destinations, retrying a failing destination on
/// its own schedule. It runs beside the dispatcher and never waits on it or holds it up.
public final class AlertMonitor: Service, Sendable {
    public struct Configuration: Sendable {
        public var policy = AlertPolicy()
        public var destinations = AlertDestinations()
        /// How often the log is checked.
        public var checkInterval: TimeInterval = 5
        /// How often pending alerts are looked for.
        public var sendInterval: TimeInterval = 1
        /// Delays between sends of an alert a destination refused; the alert fails after the last.
        public var retryDelays: [TimeInterval] = [5, 30, 120, 600, 1800, 3600]

        public init() {}
    }

    public let engine: any DeliveryEngine
    public let configuration: Configuration
    public let notifier: AlertNotifier
    /// This process's dispatcher (never reported stale by itself).
    let ownWorker: String?
    /// Who leases alert sends: one name per monitor.
    let owner: String
    let logger: Logger
    private let lastCheck = Mutex(Date.distantPast)

    public init(
        engine: any DeliveryEngine, sender: WebhookSender, ownWorker: String?, configuration: Configuration,
        logger: Logger
    ) {
        self.engine = engine
        self.configuration = configuration
        self.notifier = AlertNotifier(destinations: configuration.destinations, sender: sender)
        self.ownWorker = ownWorker
        self.owner = "a:\(ProcessInfo.processInfo.hostName):\(getpid()):\(Identifier.make("m", length: 8))"
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.tick(now: Date())
                try await Task.sleep(for: .milliseconds(Int64(self.configuration.sendInterval * 1000)))
            }
        }
    }

    /// One turn: a check when one is due, then the sends that are due.
    func tick(now: Date) async {
        let checkDue = lastCheck.withLock { last in
            guard now.timeIntervalSince(last) >= configuration.checkInterval else { return false }
            last = now
            return true
        }
        if checkDue {
            do {
                _ = try await check(now: now)
            } catch {
                logger.warning("alert check failed", metadata: ["error": "\(error)"])
            }
        }
        if !configuration.destinations.isEmpty {
            do {
                _ = try await sendDue(now: now)
            } catch {
                logger.warning("alert send failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Checks the log and records what it finds that was not recorded yet.
    /// - Returns: the alerts recorded.
    @discardableResult
    public func check(now: Date) async throws -> [Alert] {
        let policy = configuration.policy
        let inputs = try await engine.alertInputs(now: now, deadSince: now.addingTimeInterval(-policy.window))
        var recorded: [Alert] = []
        for finding in AlertRules.findings(inputs, policy: policy, ownWorker: ownWorker, now: now) {
            let status: AlertSendStatus = configuration.destinations.isEmpty ? .unsent : .pending
            if let alert = try await engine.recordAlert(finding, status: status, leasedTo: nil, now: now) {
                logger.notice("alert", metadata: ["type": "\(alert.type.rawValue)", "alert": "\(alert.summary)"])
                recorded.append(alert)
            }
        }
        return recorded
    }

    /// Sends the pending alerts that are due.
    /// - Returns: how many were sent to every destination.
    @discardableResult
    public func sendDue(now: Date) async throws -> Int {
        // A few at a time: each send may take both destinations' timeouts, and the lease must outlast them all.
        let claimed = try await engine.claimAlerts(owner: owner, now: now, lease: Alert.sendLease, limit: 4)
        var sent = 0
        for alert in claimed {
            if try await deliver(alert) == nil { sent += 1 }
        }
        return sent
    }

    /// Sends one alert this monitor leased and records the result.
    /// - Returns: nil when every destination took it, else the errors joined.
    private func deliver(_ alert: Alert) async throws -> String? {
        let (sentTo, errors) = await notifier.send(alert, skipping: alert.sentTo)
        let error = errors.isEmpty ? nil : errors.joined(separator: "; ")
        let status: AlertSendStatus
        var next: Date?
        if error == nil {
            status = .sent
        } else if alert.type != .test, alert.attempts < configuration.retryDelays.count {
            status = .pending
            next = Date().addingTimeInterval(configuration.retryDelays[alert.attempts])
        } else {
            status = .failed
        }
        if let error {
            logger.warning(
                "alert destination refused an alert",
                metadata: ["alert": "\(alert.id)", "error": "\(error)", "next": "\(next.map { "\($0)" } ?? "none")"])
        }
        try await engine.finishAlert(
            sequence: alert.sequence, owner: owner, status: status, sentTo: sentTo, error: error, nextAttemptAt: next,
            now: Date())
        return error
    }

    /// Records a test alert and sends it now to this process's destinations, audited.
    /// - Returns: the alert as recorded after the send, and nil or the destinations' errors.
    public func sendTest(by actor: Principal) async throws -> (alert: Alert, error: String?) {
        guard !configuration.destinations.isEmpty else {
            throw HooktopError(.conflict, "no alert destination: start serve with --alert-url or --alert-exec")
        }
        let now = Date()
        guard
            let alert = try await engine.recordAlert(
                AlertRules.test(by: actor, now: now), status: .pending, leasedTo: owner, now: now)
        else { throw HooktopError(.database, "the test alert was not recorded") }
        let error = try await deliver(alert)
        try await engine.recordAudit(
            action: "alert.test", objectType: "alert", objectId: alert.id,
            detail: error.map { "refused: \($0)" } ?? "sent to \(configuration.destinations.names.joined(separator: ", "))",
            now: now, by: actor)
        return (try await engine.alert(id: alert.id) ?? alert, error)
    }
}
