import Foundation

/// The JSON objects the CLI (`--json`) and the HTTP API print: one shape for both.
public enum JSONRepresentation {
    static let iso = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    public static func date(_ date: Date?) -> Any { date.map { iso.format($0) } ?? NSNull() }

    /// A time as the API and `--json` write it: ISO 8601 with milliseconds.
    public static func timestamp(_ date: Date) -> String { iso.format(date) }

    public static func value(_ value: (some Any)?) -> Any { value.map { $0 as Any } ?? NSNull() }

    public static func endpoint(_ endpoint: Endpoint, includeSecret: Bool) -> [String: Any] {
        var object: [String: Any] = [
            "id": endpoint.id, "url": endpoint.url, "description": endpoint.description,
            "status": endpoint.status.rawValue, "disabled_reason": value(endpoint.disabledReason),
            "event_types": endpoint.eventTypes, "max_in_flight": endpoint.maxInFlight,
            "timeout_ms": endpoint.timeoutMilliseconds, "allow_private_destination": endpoint.allowPrivateDestination,
            "created_at": date(endpoint.createdAt), "updated_at": date(endpoint.updatedAt),
        ]
        let connection = endpoint.connection
        object["headers"] = Dictionary(
            connection.headers.map { includeSecret ? $0 : ConnectionRules.displayed($0) }.map { ($0.name, $0.value) },
            uniquingKeysWith: { $1 })
        object["authorization"] = value(connection.credential?.masked)
        object["tls"] = [
            "ca_certificates": connection.caCertificateCount,
            "client_certificate": connection.clientCertificatePEM != nil,
        ]
        object["retry_schedule"] = value(connection.retrySchedule.map { RetryPolicy.describe($0.delays) })
        object["rate_limit"] = value(endpoint.rateLimit)
        if includeSecret {
            object["secret"] = endpoint.secret
            object["previous_secret_expires_at"] = date(endpoint.previousSecretExpiresAt)
            switch connection.credential {
            case .bearer(let token)?: object["bearer_token"] = token
            case .basic(let user, let password)?: object["basic_auth"] = "\(user):\(password)"
            case nil: break
            }
        }
        return object
    }

    /// A test ping's result (`endpoint test --json`, `POST /v1/endpoints/{id}/test`).
    public static func ping(_ outcome: AttemptOutcome) -> [String: Any] {
        [
            "ok": outcome.succeeded, "status": value(outcome.responseStatus),
            "duration_ms": outcome.durationMilliseconds, "error_class": value(outcome.errorClass?.rawValue),
            "error": value(outcome.succeeded ? nil : (outcome.errorMessage ?? outcome.summary)),
            "response_excerpt": value(outcome.responseBodyExcerpt.map { String($0.prefix(512)) }),
        ]
    }

    public static func delivery(_ delivery: Delivery) -> [String: Any] {
        [
            "id": Identifier.formatDeliveryID(delivery.id), "message_id": delivery.messageId,
            "endpoint_id": delivery.endpointId, "event_type": delivery.eventType, "status": delivery.status.rawValue,
            "attempts": delivery.attemptCount, "next_attempt_at": date(delivery.nextAttemptAt),
            "last_status_code": value(delivery.lastStatusCode), "last_error": value(delivery.lastError),
            "last_error_class": value(delivery.lastErrorClass?.rawValue),
            "last_latency_ms": value(delivery.lastLatencyMilliseconds), "created_at": date(delivery.createdAt),
            "updated_at": date(delivery.updatedAt),
        ]
    }

    public static func attempt(_ attempt: Attempt) -> [String: Any] {
        [
            "number": attempt.number, "trigger": attempt.trigger.rawValue, "started_at": date(attempt.startedAt),
            "duration_ms": attempt.durationMilliseconds, "response_status": value(attempt.responseStatus),
            "error_class": value(attempt.errorClass?.rawValue), "error_message": value(attempt.errorMessage),
            "request_headers": attempt.requestHeaders.map { [$0.name, $0.value] },
            "response_headers": attempt.responseHeaders.map { [$0.name, $0.value] },
            "response_body_excerpt": value(attempt.responseBodyExcerpt),
        ]
    }

    public static func message(_ message: Message) -> [String: Any] {
        var object: [String: Any] = [
            "id": message.id, "type": message.eventType, "idempotency_key": value(message.idempotencyKey),
            "created_at": date(message.createdAt),
        ]
        if let data = message.payload.data(using: .utf8), let payload = try? JSONSerialization.jsonObject(with: data) {
            object["payload"] = payload
        }
        return object
    }

    public static func stats(_ stats: WindowStats) -> [String: Any] {
        [
            "attempts": stats.attempts, "successes": stats.successes, "failures": stats.failures,
            "success_rate": value(stats.successRate), "p50_ms": value(stats.p50Milliseconds),
            "p95_ms": value(stats.p95Milliseconds), "p99_ms": value(stats.p99Milliseconds),
        ]
    }

    public static func counts(_ counts: StatusCounts) -> [String: Any] {
        Dictionary(uniqueKeysWithValues: DeliveryStatus.allCases.map { ($0.rawValue, counts[$0]) })
    }

    /// Serialises `object` (sorted keys; pretty when asked).
    public static func encode(_ object: Any, pretty: Bool = false) -> String {
        var options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        if pretty { options.insert(.prettyPrinted) }
        guard JSONSerialization.isValidJSONObject(object),
            let data = try? JSONSerialization.data(withJSONObject: object, options: options)
        else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Times an operator types: a duration back from now (`2h`, `30m`, `7d`) or an ISO 8601 date.
public enum SinceText {
    /// - Throws: `HooktopError.invalidInput` naming the accepted forms.
    public static func parse(_ text: String, now: Date = Date()) throws -> Date {
        if let seconds = DurationText.seconds(text) {
            guard seconds <= 100 * 365 * 86400 else {
                throw HooktopError.invalid("bad time '\(text)': more than 100 years back")
            }
            return now.addingTimeInterval(-seconds)
        }
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [
            [.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime], [.withFullDate],
        ] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return date }
        }
        throw HooktopError.invalid("bad time '\(text)': use a duration back from now (30m, 2h, 7d) or ISO 8601 (2026-11-30T12:00:00Z)")
    }
}

extension JSONRepresentation {
    /// An alert as `hooktop alerts --json` and `GET /v1/alerts` show it.
    public static func alert(_ alert: Alert) -> [String: Any] {
        let details = (try? JSONSerialization.jsonObject(with: Data(alert.details.utf8))) ?? [String: Any]()
        return [
            "id": alert.id, "type": alert.type.rawValue, "object_id": alert.objectId, "at": date(alert.at),
            "summary": alert.summary, "details": details, "status": alert.status.rawValue, "attempts": alert.attempts,
            "next_attempt_at": date(alert.nextAttemptAt), "last_error": value(alert.lastError),
            "sent_at": date(alert.sentAt), "sent_to": alert.sentTo,
        ]
    }
}
