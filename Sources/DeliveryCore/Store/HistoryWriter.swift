import Foundation

/// Inserts a past delivery log row by row, as it stands (`Store.writeHistory`): messages, deliveries in any status
/// and their attempts, with the attempts' per-minute stats. For filling a log (`hooktop seed`); not part of the API.
package struct HistoryWriter {
    private let db: Connection
    /// The stats of the attempts written so far, added to the log before the transaction ends.
    private(set) var stats: [Store.StatsKey: Store.StatsDelta] = [:]
    /// The request headers last written and their stored text: a history repeats the same few.
    private var lastHeaders: (headers: [Header], text: String)?

    init(db: Connection) { self.db = db }

    /// Inserts a message; returns its sequence number.
    package func insertMessage(id: String, eventType: String, payload: String, createdAt: Date) throws -> Int64 {
        try db.run(
            "INSERT INTO messages (id, event_type, payload, created_at) VALUES (?, ?, ?, ?)",
            [.text(id), .text(eventType), .text(payload), .from(createdAt)])
        return db.lastInsertRowID
    }

    /// Inserts a delivery of message `messageSeq` as it stands after its attempts (last changed when created);
    /// returns its id.
    package func insertDelivery(
        messageSeq: Int64, endpointId: String, eventType: String, status: DeliveryStatus, attemptCount: Int,
        nextAttemptAt: Date?, lastStatusCode: Int?, lastError: String?, lastErrorClass: ErrorClass?,
        lastLatencyMilliseconds: Int?, createdAt: Date
    ) throws -> Int64 {
        try db.run(
            """
            INSERT INTO deliveries (message_seq, endpoint_id, event_type, status, attempt_count,
                next_attempt_at, last_status_code, last_error, last_error_class, last_latency_ms,
                created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [.int(messageSeq), .text(endpointId), .text(eventType), .text(status.rawValue), .from(attemptCount),
             .from(nextAttemptAt), .from(lastStatusCode), .from(lastError), .from(lastErrorClass?.rawValue),
             .from(lastLatencyMilliseconds), .from(createdAt), .from(createdAt)])
        return db.lastInsertRowID
    }

    /// Inserts a scheduled attempt of delivery `deliveryId` and counts it in `endpointId`'s stats for the minute it
    /// started (a success when the status is 2xx).
    package mutating func insertAttempt(
        deliveryId: Int64, endpointId: String, number: Int, startedAt: Date, durationMilliseconds: Int,
        requestHeaders: [Header], responseStatus: Int?, responseBody: String?, errorClass: ErrorClass?
    ) throws {
        let headers: String
        if let lastHeaders, lastHeaders.headers == requestHeaders {
            headers = lastHeaders.text
        } else {
            headers = HeaderCoding.encode(requestHeaders)
            lastHeaders = (requestHeaders, headers)
        }
        try db.run(
            """
            INSERT INTO attempts (delivery_id, number, trigger, started_at, duration_ms,
                request_headers, response_status, response_body, error_class)
            VALUES (?, ?, 'scheduled', ?, ?, ?, ?, ?, ?)
            """,
            [.int(deliveryId), .from(number), .from(startedAt), .from(durationMilliseconds),
             .text(headers), .from(responseStatus), .from(responseBody),
             .from(errorClass?.rawValue)])
        let key = Store.StatsKey(endpointId: endpointId, minute: startedAt.milliseconds / 60_000)
        var delta = stats[key, default: Store.StatsDelta()]
        delta.attempts += 1
        if let responseStatus, (200..<300).contains(responseStatus) { delta.successes += 1 } else { delta.failures += 1 }
        delta.latencySum += durationMilliseconds
        delta.histogram[LatencyBuckets.index(forMilliseconds: durationMilliseconds)] += 1
        stats[key] = delta
    }
}
