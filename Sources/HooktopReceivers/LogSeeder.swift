import DeliveryCore
import Foundation

/// `hooktop seed`: a large, realistic delivery log for benchmarks.
public enum LogSeeder {
    /// Fills `store` with a realistic history: `endpoints` endpoints and about `deliveries` deliveries over the last
    /// `span` seconds (most delivered; some retrying, dead, pending and cancelled), their messages, attempts and
    /// per-minute stats. Works in large transactions; reports progress through `progress`.
    public static func seed(
        _ store: Store, deliveries total: Int, endpoints endpointCount: Int, span: TimeInterval = 86400,
        now: Date = Date(), progress: (Int) -> Void = { _ in }
    ) throws {
        guard total > 0, endpointCount > 0 else { throw HooktopError.invalid("seed needs at least one delivery and one endpoint") }
        var random = SystemRandomNumberGenerator()
        let actor = Principal.current(via: "seed")
        var endpointIds: [String] = []
        for index in 0..<endpointCount {
            let endpoint = try store.addEndpoint(
                url: "https://hooks.customer\(index).example/webhooks",
                changes: EndpointChanges(description: "Customer \(index) (seeded)"), now: now.addingTimeInterval(-span - 60),
                by: actor)
            endpointIds.append(endpoint.id)
        }
        let fanOut = max(1, min(endpointCount, 3))
        let messageCount = (total + fanOut - 1) / fanOut
        let types = ["user.signed_up", "invoice.paid", "order.shipped", "order.created", "payment.failed"]
        let headers = [
            Header(name: "content-type", value: "application/json"), Header(name: "webhook-id", value: "msg_seeded"),
        ]
        var made = 0
        var message = 0
        let batch = 20_000
        while message < messageCount {
            try store.writeHistory { history in
                let upper = min(messageCount, message + batch / fanOut)
                while message < upper {
                    let at = now.addingTimeInterval(-span + span * Double(message) / Double(messageCount))
                    let type = types[message % types.count]
                    let payload = "{\"n\":\(message),\"amount\":\(Int.random(in: 100...99_999, using: &random))}"
                    let sequence = try history.insertMessage(
                        id: Identifier.make("msg", length: 24), eventType: type, payload: payload, createdAt: at)
                    for slot in 0..<fanOut where made < total {
                        let endpointId = endpointIds[(message &* 7 + slot) % endpointIds.count]
                        let roll = Int.random(in: 0..<100, using: &random)
                        let recent = now.timeIntervalSince(at) < 3600
                        let status: DeliveryStatus =
                            roll < 85 ? .delivered : roll < 91 ? .dead : roll < 94 ? .cancelled
                            : recent ? (roll < 98 ? .retrying : .pending) : .delivered
                        let attempts = status == .delivered ? 1 + (roll % 7 == 0 ? 1 : 0)
                            : status == .dead ? 8 : status == .retrying ? 1 + roll % 4 : status == .cancelled ? 2 : 0
                        let code: Int? = status == .delivered ? 200 : status == .pending ? nil : [500, 502, 429, 404][roll % 4]
                        let latency = status == .delivered ? Int.random(in: 5...400, using: &random) : Int.random(in: 5...3000, using: &random)
                        let errorClass = code.map { $0 == 200 ? nil : ErrorClass.httpStatus } ?? nil
                        let next: Date? = status == .retrying || status == .pending ? now.addingTimeInterval(Double.random(in: 1...7200, using: &random)) : nil
                        let deliveryId = try history.insertDelivery(
                            messageSeq: sequence, endpointId: endpointId, eventType: type, status: status,
                            attemptCount: attempts, nextAttemptAt: next, lastStatusCode: code,
                            lastError: code == nil || code == 200 ? nil : "http \(code!)", lastErrorClass: errorClass,
                            lastLatencyMilliseconds: attempts > 0 ? latency : nil, createdAt: at)
                        for number in 0..<attempts {
                            let last = number == attempts - 1
                            let attemptCode = last ? code : [500, 502, 503][number % 3]
                            try history.insertAttempt(
                                deliveryId: deliveryId, endpointId: endpointId, number: number + 1,
                                startedAt: at.addingTimeInterval(Double(number) * 30), durationMilliseconds: latency,
                                requestHeaders: headers, responseStatus: attemptCode,
                                responseBody: attemptCode == 200 ? "ok" : "{\"error\":\"upstream\"}",
                                errorClass: attemptCode == 200 ? nil : .httpStatus)
                        }
                        made += 1
                    }
                    message += 1
                }
            }
            progress(made)
        }
        // Seeded deliveries are inserted in every status, failing ones included: count them all at once.
        try store.recountSummaries()
    }
}
