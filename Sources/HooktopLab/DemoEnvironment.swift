import DeliveryCore
import Foundation
import HooktopReceivers
import Logging
import Synchronization

/// Everything `hooktop demo` runs in one process: local endpoints that behave like real customers' servers,
/// a steady stream of realistic events, and the dispatcher with a schedule in seconds.
public final class DemoEnvironment: Sendable {
    /// The demo's endpoints: name, behaviour, description, event filter, timeout.
    public static let endpoints: [(name: String, behavior: ReceiverBehavior?, description: String, events: [String], timeout: Int)] = [
        ("healthy", .healthy, "Acme billing: healthy and fast", [], 5000),
        ("slow", .slow(milliseconds: 800), "Globex CRM: slow (~800 ms)", [], 5000),
        ("flaky", .flaky(failureRate: 0.3), "Initech: flaky (30% 500s)", [], 5000),
        ("down", nil, "Umbrella: down (connection refused)", ["order.*", "invoice.*"], 5000),
        ("rate-limited", .rateLimited(retryAfterSeconds: 3, limitedRate: 0.5), "Hooli: rate-limited (429 + Retry-After)", [], 5000),
        ("hanging", .hanging, "Soylent: hanging (hits the 3 s timeout)", ["user.*"], 3000),
        ("gone", .gone, "Stark: gone (410: disabled by hooktop)", ["invoice.paid"], 5000),
    ]

    /// The compressed retry schedule: dead after about 30 seconds.
    public static let retryPolicy = RetryPolicy(delays: [1, 2, 4, 8, 15], jitter: 0.2, maxRetryAfter: 10)

    public let store: Store
    public let dispatcher: Dispatcher
    public let sender: WebhookSender
    public let receiver: ScriptedReceiver
    public let operations: Operations
    private let rate: Double
    private let tasks = Mutex<[Task<Void, Never>]>([])
    private let published = Atomic<Int>(0)

    /// Starts the endpoints and registers them in `store` (loopback allowed for them alone).
    public static func start(store: Store, rate: Double, logger: Logger) async throws -> DemoEnvironment {
        var routes: [String: ReceiverBehavior] = [:]
        for endpoint in endpoints { if let behavior = endpoint.behavior { routes[endpoint.name] = behavior } }
        let receiver = try await ScriptedReceiver.start(routes: routes, keepRequests: false)
        let actor = Principal.current(via: "demo")
        let engine = SQLiteEngine(store: store)
        if try await engine.endpoints().isEmpty {
            let downPort = closedLocalPort()
            let now = Date()
            for (index, endpoint) in endpoints.enumerated() {
                let url = endpoint.behavior == nil ? "http://127.0.0.1:\(downPort)/\(endpoint.name)" : receiver.url(endpoint.name)
                // A millisecond apart, so they list in this order.
                let at = now.addingTimeInterval(Double(index) / 1000)
                _ = try await Operations(engine: engine, now: { at }).addEndpoint(
                    url: url,
                    changes: EndpointChanges(
                        description: endpoint.description, eventTypes: endpoint.events, maxInFlight: 16,
                        timeoutMilliseconds: endpoint.timeout),
                    allowPrivateDestination: true, by: actor)
            }
        } else {
            // An existing demo database: point its endpoints at this run's receiver.
            for existing in try await engine.endpoints() {
                if let name = existing.url.split(separator: "/").last.map(String.init), routes[name] != nil {
                    _ = try await Operations(engine: engine).updateEndpoint(
                        id: existing.id, changes: EndpointChanges(url: receiver.url(name)), allowPrivateDestination: true,
                        by: actor)
                }
            }
        }
        var configuration = Dispatcher.Configuration()
        configuration.retryPolicy = retryPolicy
        configuration.autoDisableAfter = 3600
        configuration.shutdownGracePeriod = .seconds(2)
        let sender = WebhookSender()
        let dispatcher = Dispatcher(store: store, sender: sender, configuration: configuration, logger: logger)
        let demo = DemoEnvironment(store: store, dispatcher: dispatcher, sender: sender, receiver: receiver, rate: rate)
        // Alerts as serve raises them (recorded, with nowhere to send them), on the demo's compressed time scale, so
        // the header and `!` show them within a minute.
        var alerts = AlertMonitor.Configuration()
        alerts.policy.failingAfter = 20
        alerts.policy.overdueAfter = 60
        alerts.checkInterval = 2
        let monitor = AlertMonitor(
            engine: engine, sender: sender, ownWorker: dispatcher.workerID, configuration: alerts, logger: logger)
        demo.tasks.withLock { tasks in
            tasks.append(Task { try? await dispatcher.run() })
            tasks.append(Task { await demo.publishLoop() })
            tasks.append(Task { try? await monitor.run() })
        }
        return demo
    }

    private init(store: Store, dispatcher: Dispatcher, sender: WebhookSender, receiver: ScriptedReceiver, rate: Double) {
        self.store = store
        self.dispatcher = dispatcher
        self.sender = sender
        self.receiver = receiver
        self.rate = rate
        self.operations = Operations(
            store: store, sender: sender, retryPolicy: Self.retryPolicy, wake: { dispatcher.wake() })
    }

    /// Events published so far.
    public var publishedCount: Int { published.load(ordering: .relaxed) }

    private func publishLoop() async {
        var generator = SystemRandomNumberGenerator()
        let interval = 1.0 / max(rate, 0.1)
        while !Task.isCancelled {
            let (type, payload) = DemoEvents.next(using: &generator)
            if (try? await operations.publish(PublishRequest(eventType: type, payload: payload))) != nil {
                published.add(1, ordering: .relaxed)
            }
            try? await Task.sleep(for: .milliseconds(Int(interval * 1000 * Double.random(in: 0.5...1.5, using: &generator))))
        }
    }

    /// Stops publishing, the dispatcher (in-flight work finishes or is released) and the endpoints.
    public func stop() async {
        let tasks = self.tasks.withLock { $0 }
        // The publisher and the alert monitor stop at once; the dispatcher finishes its work first.
        for task in tasks.dropFirst() { task.cancel() }
        dispatcher.stop()
        for task in tasks { await task.value }
        await receiver.stop()
        await sender.shutdown()
        store.checkpoint()
    }

    /// Per-endpoint totals: delivered, retried, dead, for the headless summary.
    public func summary() throws -> String {
        let summaries = try store.endpointSummaries(now: Date())
        var lines = ["published \(publishedCount) events"]
        lines.append("ENDPOINT        STATUS    DELIVERED  RETRYING  DEAD  ATTEMPTS(5m)  DESCRIPTION")
        for summary in summaries {
            let name = summary.endpoint.url.split(separator: "/").last.map(String.init) ?? summary.endpoint.id
            let label = summary.endpoint.description.isEmpty ? name : summary.endpoint.description
            lines.append(
                [
                    String(name.prefix(14)).padding(toLength: 14, withPad: " ", startingAt: 0),
                    summary.endpoint.status.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0),
                    String(summary.counts.delivered).leftPadded(9), String(summary.counts.retrying).leftPadded(8),
                    String(summary.counts.dead).leftPadded(4), String(summary.recent.attempts).leftPadded(12), label,
                ].joined(separator: "  "))
        }
        let totals = try store.statusTotals()
        lines.append("total: \(totals.delivered) delivered, \(totals.retrying) retrying, \(totals.dead) dead, \(totals.pending + totals.inflight) pending or in flight")
        return lines.joined(separator: "\n")
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

/// Plausible events with plausible payloads.
enum DemoEvents {
    static let types = [
        "user.signed_up", "invoice.paid", "order.shipped", "order.created", "payment.failed", "subscription.cancelled",
    ]
    static let names = ["ada", "grace", "linus", "margaret", "ken", "barbara", "dennis", "frances", "alan", "radia"]
    static let plans = ["free", "team", "business", "enterprise"]
    static let carriers = ["UPS", "DHL", "FedEx", "La Poste", "Royal Mail"]
    static let currencies = ["usd", "eur", "gbp", "jpy"]

    static func next(using g: inout some RandomNumberGenerator) -> (String, String) {
        let type = types.randomElement(using: &g)!
        let id = Int.random(in: 10_000...99_999, using: &g)
        let name = names.randomElement(using: &g)!
        let payload: [String: JSONValue]
        switch type {
        case "user.signed_up":
            payload = [
                "user_id": .string("usr_\(id)"), "email": .string("\(name)@example.com"),
                "plan": .string(plans.randomElement(using: &g)!),
                "referrer": ["google", "newsletter", "friend", nil].randomElement(using: &g)!,
            ]
        case "invoice.paid":
            payload = [
                "invoice_id": .string("in_\(id)"), "customer_id": .string("cus_\(name)"),
                "amount": JSONValue(Int.random(in: 900...250_000, using: &g)),
                "currency": .string(currencies.randomElement(using: &g)!), "lines": JSONValue(Int.random(in: 1...6, using: &g)),
            ]
        case "order.shipped":
            payload = [
                "order_id": .string("ord_\(id)"), "carrier": .string(carriers.randomElement(using: &g)!),
                "tracking_number": .string("1Z\(Int.random(in: 100_000_000...999_999_999, using: &g))"),
                "items": .array(
                    (0..<Int.random(in: 1...3, using: &g)).map { _ in
                        [
                            "sku": .string("SKU-\(Int.random(in: 100...999, using: &g))"),
                            "quantity": JSONValue(Int.random(in: 1...4, using: &g)),
                        ]
                    }),
            ]
        case "order.created":
            payload = [
                "order_id": .string("ord_\(id)"), "customer_id": .string("cus_\(name)"),
                "total": JSONValue(Int.random(in: 500...90_000, using: &g)),
                "currency": .string(currencies.randomElement(using: &g)!),
            ]
        case "payment.failed":
            payload = [
                "payment_id": .string("pay_\(id)"), "customer_id": .string("cus_\(name)"),
                "reason": .string(["card_declined", "insufficient_funds", "expired_card"].randomElement(using: &g)!),
            ]
        default:
            payload = [
                "subscription_id": .string("sub_\(id)"), "customer_id": .string("cus_\(name)"),
                "at_period_end": .bool(Bool.random(using: &g)),
            ]
        }
        return (type, (try? JSONRepresentation.encode(payload)) ?? "{}")
    }
}
