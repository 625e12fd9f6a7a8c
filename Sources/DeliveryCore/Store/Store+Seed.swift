import Foundation

extension Store {
    /// Fills the log with a realistic history for benchmarks: `endpoints` endpoints and about `deliveries` deliveries
    /// over the last `span` seconds (most delivered; some retrying, dead, pending and cancelled), their messages,
    /// attempts and per-minute stats. Works in large transactions; reports progress through `progress`.
    public func seed(
        deliveries total: Int, endpoints endpointCount: Int, span: TimeInterval = 86400, now: Date = Date(),
        progress: (Int) -> Void = { _ in }
    ) throws {
        guard total > 0, endpointCount > 0 else { throw HooktopError.invalid("seed needs at least one delivery and one endpoint") }
        var random = SystemRandomNumberGenerator()
        let actor = Actor.current(via: "seed")
        var endpointIds: [String] = []
        for index in 0..<endpointCount {
            let endpoint = try addEndpoint(
                url: "https://hooks.customer\(index).example/webhooks",
                changes: EndpointChanges(description: "Customer \(index) (seeded)"), now: now.addingTimeInterval(-span - 60),
                by: actor)
            endpointIds.append(endpoint.id)
        }
        let fanOut = max(1, min(endpointCount, 3))
        let messageCount = (total + fanOut - 1) / fanOut
        let types = ["user.signed_up", "invoice.paid", "order.shipped", "order.created", "payment.failed"]
        let headers = HeaderCoding.encode([
            Header(name: "content-type", value: "application/json"), Header(name: "webhook-id", value: "msg_seeded"),
        ])
        var made = 0
        var message = 0
        let batch = 20_000
        var stats: [StatsKey: StatsDelta] = [:]
        while message < messageCount {
            try write { db in
                let upper = min(messageCount, message + batch / fanOut)
                while message < upper {
                    let at = now.addingTimeInterval(-span + span * Double(message) / Double(messageCount))
                    let type = types[message % types.count]
                    let payload = "{\"n\":\(message),\"amount\":\(Int.random(in: 100...99_999, using: &random))}"
                    try db.run(
                        "INSERT INTO messages (id, event_type, payload, created_at) VALUES (?, ?, ?, ?)",
                        [.text(Identifier.make("msg", length: 24)), .text(type), .text(payload), .from(at)])
                    let sequence = db.lastInsertRowID
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
                        let errorClass = code.map { $0 == 200 ? nil : ErrorClass.httpStatus.rawValue } ?? nil
                        let next: Date? = status == .retrying || status == .pending ? now.addingTimeInterval(Double.random(in: 1...7200, using: &random)) : nil
                        try db.run(
                            """
                            INSERT INTO deliveries (message_seq, endpoint_id, event_type, status, attempt_count,
                                next_attempt_at, last_status_code, last_error, last_error_class, last_latency_ms,
                                created_at, updated_at)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                            [.int(sequence), .text(endpointId), .text(type), .text(status.rawValue), .from(attempts),
                             .from(next), .from(code), .from(code == nil || code == 200 ? nil : "http \(code!)"),
                             .from(errorClass), .from(attempts > 0 ? latency : nil), .from(at), .from(at)])
                        let deliveryId = db.lastInsertRowID
                        for number in 0..<attempts {
                            let last = number == attempts - 1
                            let attemptCode = last ? code : [500, 502, 503][number % 3]
                            let started = at.addingTimeInterval(Double(number) * 30)
                            try db.run(
                                """
                                INSERT INTO attempts (delivery_id, number, trigger, started_at, duration_ms,
                                    request_headers, response_status, response_body, error_class)
                                VALUES (?, ?, 'scheduled', ?, ?, ?, ?, ?, ?)
                                """,
                                [.int(deliveryId), .from(number + 1), .from(started), .from(latency), .text(headers),
                                 .from(attemptCode), .text(attemptCode == 200 ? "ok" : "{\"error\":\"upstream\"}"),
                                 .from(attemptCode == 200 ? nil : ErrorClass.httpStatus.rawValue)])
                            let key = StatsKey(endpointId: endpointId, minute: started.milliseconds / 60_000)
                            var delta = stats[key, default: StatsDelta()]
                            delta.attempts += 1
                            if attemptCode == 200 { delta.successes += 1 } else { delta.failures += 1 }
                            delta.latencySum += latency
                            delta.histogram[LatencyBuckets.index(forMilliseconds: latency)] += 1
                            stats[key] = delta
                        }
                        made += 1
                    }
                    message += 1
                }
                try Self.applyStats(db, stats)
                stats.removeAll(keepingCapacity: true)
            }
            progress(made)
        }
        // Seeded deliveries are inserted in every status, failing ones included: count them all at once.
        try write { db in try db.execute(Schema.recountSummaries) }
    }
}
