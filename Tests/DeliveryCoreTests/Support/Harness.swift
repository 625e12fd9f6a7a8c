@testable import DeliveryCore
import Foundation
import HooktopReceivers
import HooktopTesting
import Logging
import Testing

/// A short schedule for tests: two retries 200 ms apart, no jitter (three attempts in all).
let shortPolicy = RetryPolicy(delays: [0.2, 0.2], jitter: 0)

/// A sender that may reach loopback receivers.
func makeSender() -> WebhookSender {
    var configuration = WebhookSender.Configuration()
    configuration.allowPrivateDestinations = true
    return WebhookSender(configuration: configuration)
}

/// Runs `body` with a loopback-allowed sender, shutting it down afterwards.
func withSender<T>(_ body: (WebhookSender) async throws -> T) async throws -> T {
    let sender = makeSender()
    do {
        let result = try await body(sender)
        await sender.shutdown()
        return result
    } catch {
        await sender.shutdown()
        throw error
    }
}

/// Runs `body` with a scripted receiver, stopping it afterwards.
func withReceiver<T>(
    _ routes: [String: ReceiverBehavior], _ body: (ScriptedReceiver) async throws -> T
) async throws -> T {
    let receiver = try await ScriptedReceiver.start(routes: routes)
    do {
        let result = try await body(receiver)
        await receiver.stop()
        return result
    } catch {
        await receiver.stop()
        throw error
    }
}

/// A dispatcher configuration for tests: the short schedule, a 20 ms poll.
func testDispatcherConfiguration(
    policy: RetryPolicy = shortPolicy, grace: Duration = .seconds(5)
) -> Dispatcher.Configuration {
    var configuration = Dispatcher.Configuration()
    configuration.retryPolicy = policy
    configuration.pollInterval = .milliseconds(20)
    configuration.shutdownGracePeriod = grace
    return configuration
}

/// Runs a dispatcher over `store` while `body` runs, then stops it and waits for it to return.
func withDispatcher<T>(
    _ store: Store, sender: WebhookSender, configuration: Dispatcher.Configuration = testDispatcherConfiguration(),
    _ body: (Dispatcher) async throws -> T
) async throws -> T {
    try await withDispatcher(SQLiteEngine(store: store), sender: sender, configuration: configuration, body)
}

/// Runs a dispatcher over `log` while `body` runs, then stops it and waits for it to return.
func withDispatcher<T>(
    _ log: any DispatchLog, sender: WebhookSender, configuration: Dispatcher.Configuration = testDispatcherConfiguration(),
    _ body: (Dispatcher) async throws -> T
) async throws -> T {
    var logger = Logger(label: "test-dispatcher")
    logger.logLevel = .critical
    let dispatcher = Dispatcher(log: log, sender: sender, configuration: configuration, logger: logger)
    let task = Task { try await dispatcher.run() }
    do {
        let result = try await body(dispatcher)
        dispatcher.stop()
        try await task.value
        return result
    } catch {
        dispatcher.stop()
        _ = try? await task.value
        throw error
    }
}

extension Store {
    /// Adds a loopback endpoint for tests, with a short timeout.
    func addTestEndpoint(
        _ url: String, eventTypes: [String] = [], maxInFlight: Int? = nil, timeoutMilliseconds: Int = 5000,
        secret: String? = nil, now: Date = Date()
    ) throws -> Endpoint {
        try addEndpoint(
            url: url,
            changes: EndpointChanges(
                eventTypes: eventTypes, maxInFlight: maxInFlight, timeoutMilliseconds: timeoutMilliseconds),
            secret: secret, allowPrivateDestination: true, now: now, by: testActor)
    }

    /// A single integer from SQL, for checks the public API does not expose.
    func sqlScalar(_ sql: String) throws -> Int64 {
        try read { db in try db.scalar(sql) }
    }

    /// Claims every due delivery of `endpoint` for `owner` (as a dispatcher would).
    func claimAll(_ endpoint: Endpoint, owner: String = "w:test", now: Date = Date(), lease: TimeInterval = 60) throws
        -> [DeliveryJob]
    {
        try claimDue([ClaimRequest(endpoint: endpoint, limit: 1000)], owner: owner, now: now, lease: lease)
    }

    /// Records an outcome for each job without any HTTP: `status` nil means a connection refused.
    @discardableResult
    func recordOutcome(
        _ jobs: [DeliveryJob], status: Int?, owner: String = "w:test", policy: RetryPolicy = shortPolicy,
        retryAfter: TimeInterval? = nil, autoDisableAfter: TimeInterval = 5 * 86400, now: Date = Date()
    ) throws -> [Int64] {
        var random = SeededGenerator(seed: 1)
        let outcomes = jobs.map { job in
            fakeOutcome(job, status: status, retryAfter: retryAfter, at: now)
        }
        return try record(
            outcomes, owner: owner, policy: policy, autoDisableAfter: autoDisableAfter, now: now, random: &random)
    }
}

/// An attempt outcome made up for a job, sent under its claim (as the sender reports it).
func fakeOutcome(_ job: DeliveryJob, status: Int?, retryAfter: TimeInterval? = nil, at: Date = Date()) -> AttemptOutcome {
    var outcome = AttemptOutcome(
        deliveryId: job.deliveryId, endpointId: job.endpoint.id, trigger: job.trigger, startedAt: at,
        durationMilliseconds: 12, requestHeaders: [Header(name: "webhook-id", value: job.message.id)],
        responseStatus: status, responseHeaders: [], responseBodyExcerpt: status == nil ? nil : "body",
        errorClass: status == nil ? .connectRefused : ((200..<300).contains(status!) ? nil : .httpStatus),
        errorMessage: status == nil ? "connection refused" : nil, retryAfter: retryAfter)
    outcome.claim = job.claim
    return outcome
}

/// Verifies a received request's Standard Webhooks headers against `secret`.
func verifySignature(_ request: ReceivedRequest, secret: String, now: Date = Date()) throws {
    try WebhookSignature.verify(
        id: request.header("webhook-id"), timestamp: request.header("webhook-timestamp"),
        signatureHeader: request.header("webhook-signature"), body: request.body,
        key: try WebhookSignature.key(fromSecret: secret), now: now)
}
