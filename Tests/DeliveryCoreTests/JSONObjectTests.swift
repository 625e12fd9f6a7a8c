import DeliveryCore
import Foundation
import Testing

/// The typed objects the API and `--json` print: every field named (null when empty), secrets only when asked,
/// keys sorted, and publishers' JSON carried through as JSON.
struct JSONObjectTests {
    let at = Date(timeIntervalSince1970: 1_780_000_000.125)

    /// The text as a JSON object, through a reader other than the one that wrote it.
    func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
    }

    /// The keys whose value is null.
    func nullKeys(_ object: [String: Any]) -> [String] { object.filter { $0.value is NSNull }.map(\.key).sorted() }

    func endpoint(credential: OutboundCredential? = nil) -> Endpoint {
        Endpoint(
            id: "ep_1", url: "https://example.com/hook", description: "billing", eventTypes: ["invoice.*"],
            secret: "whsec_c2VjcmV0", connection: ConnectionSettings(
                headers: [Header(name: "X-Tenant", value: "acme"), Header(name: "X-Api-Key", value: "k-0123456789")],
                credential: credential),
            createdAt: at, updatedAt: at)
    }

    @Test func anEndpointNamesEveryFieldAndShowsSecretsOnlyWhenAsked() throws {
        let text = try JSONRepresentation.encode(EndpointObject(endpoint(), includeSecret: false))
        let shown = try object(text)
        #expect(shown.keys.sorted() == [
            "allow_private_destination", "authorization", "created_at", "description", "disabled_reason",
            "event_types", "headers", "id", "max_in_flight", "rate_limit", "retry_schedule", "status", "timeout_ms",
            "tls", "updated_at", "url",
        ])
        #expect(nullKeys(shown) == ["authorization", "disabled_reason", "rate_limit", "retry_schedule"])
        #expect(shown["created_at"] as? String == "2026-05-28T20:26:40.125Z")
        let tls = try #require(shown["tls"] as? [String: Any])
        #expect(tls.keys.sorted() == ["ca_certificates", "client_certificate"])
        #expect(tls["ca_certificates"] as? Int == 0)
        let headers = try #require(shown["headers"] as? [String: String])
        #expect(headers["X-Tenant"] == "acme")
        #expect(headers["X-Api-Key"] != "k-0123456789", "a secret-looking header is masked")
        #expect(!text.contains("whsec_"))

        let withSecrets = try object(
            try JSONRepresentation.encode(
                EndpointObject(endpoint(credential: .bearer(token: "tok-123")), includeSecret: true)))
        #expect(withSecrets["secret"] as? String == "whsec_c2VjcmV0")
        #expect(withSecrets["previous_secret_expires_at"] is NSNull, "named, null without a previous secret")
        #expect(withSecrets["bearer_token"] as? String == "tok-123")
        #expect(withSecrets["basic_auth"] == nil)
        #expect((withSecrets["headers"] as? [String: String])?["X-Api-Key"] == "k-0123456789")
        #expect((withSecrets["authorization"] as? String)?.contains("tok-123") == false)
    }

    @Test func aDeliveryNamesEveryFieldAndCarriesItsAttemptsOnlyAlone() throws {
        let delivery = Delivery(
            id: 42, messageId: "msg_1", endpointId: "ep_1", eventType: "invoice.paid", status: .retrying,
            attemptCount: 1, nextAttemptAt: at, lastStatusCode: 503, lastError: "HTTP 503", lastErrorClass: .httpStatus,
            lastLatencyMilliseconds: nil, createdAt: at, updatedAt: at)
        let summary = try object(try JSONRepresentation.encode(DeliveryObject(delivery)))
        #expect(summary.keys.sorted() == [
            "attempts", "created_at", "endpoint_id", "event_type", "id", "last_error", "last_error_class",
            "last_latency_ms", "last_status_code", "message_id", "next_attempt_at", "status", "updated_at",
        ])
        #expect(summary["id"] as? String == "dlv_42")
        #expect(summary["last_error_class"] as? String == "http_status")
        #expect(nullKeys(summary) == ["last_latency_ms"])

        let attempt = Attempt(
            id: 7, deliveryId: 42, number: 1, trigger: .scheduled, startedAt: at, durationMilliseconds: 12,
            requestHeaders: [Header(name: "webhook-id", value: "msg_1")], responseStatus: nil, responseHeaders: [],
            responseBodyExcerpt: nil, errorClass: .connectRefused, errorMessage: "refused")
        let detail = try object(try JSONRepresentation.encode(DeliveryObject(delivery, attempts: [attempt])))
        let log = try #require(detail["attempt_log"] as? [[String: Any]])
        #expect(log.count == 1)
        #expect(log[0].keys.sorted() == [
            "duration_ms", "error_class", "error_message", "number", "request_headers", "response_body_excerpt",
            "response_headers", "response_status", "started_at", "trigger",
        ])
        #expect(nullKeys(log[0]) == ["response_body_excerpt", "response_status"])
        #expect(log[0]["request_headers"] as? [[String]] == [["webhook-id", "msg_1"]])
    }

    @Test func aMessageCarriesItsPayloadAsJSON() throws {
        let payload = #"{"amount":250000,"big":12345678901234567,"ratio":0.25,"note":"a \"quoted\" line\n","tags":["x",null,true],"nested":{"deep":[{}]}}"#
        let message = Message(id: "msg_1", eventType: "invoice.paid", payload: payload, idempotencyKey: nil, createdAt: at)
        let text = try JSONRepresentation.encode(MessageObject(message))
        let shown = try object(text)
        #expect(shown["idempotency_key"] is NSNull)
        #expect(try JSONValue(parsing: text) == JSONValue.object([
            "id": "msg_1", "type": "invoice.paid", "idempotency_key": nil, "created_at": "2026-05-28T20:26:40.125Z",
            "payload": [
                "amount": 250000, "big": .integer(12_345_678_901_234_567), "ratio": .number(0.25),
                "note": "a \"quoted\" line\n", "tags": ["x", nil, true], "nested": ["deep": [[:]]],
            ],
        ]))
    }

    @Test func anAlertCarriesItsDetailsAsAnObject() throws {
        let alert = Alert(
            sequence: 3, id: "alt_1", type: .endpointDisabled, objectId: "ep_1", at: at, summary: "endpoint ep_1 disabled",
            details: AlertDetails.json(["reason": "HTTP 410", "endpoint": ["id": "ep_1"], "last_status": JSONValue(410)]),
            status: .sent, attempts: 1, nextAttemptAt: nil, lastError: nil, sentAt: at, sentTo: ["https://ops.example"])
        let listed = try object(try JSONRepresentation.encode(AlertObject(alert)))
        #expect(listed.keys.sorted() == [
            "at", "attempts", "details", "id", "last_error", "next_attempt_at", "object_id", "sent_at", "sent_to",
            "status", "summary", "type",
        ])
        #expect(nullKeys(listed) == ["last_error", "next_attempt_at"])
        let details = try #require(listed["details"] as? [String: Any])
        #expect(details["reason"] as? String == "HTTP 410")
        #expect(details["last_status"] as? Int == 410)
        #expect((details["endpoint"] as? [String: String])?["id"] == "ep_1")
        #expect(try object(try JSONRepresentation.encode(AlertObject(alert, ok: false)))["ok"] as? Bool == false)
        #expect(alert.data.hasPrefix(#"{"alert_id":"alt_1","summary":"endpoint ep_1 disabled","#))
        #expect(try JSONValue(parsing: alert.data) != .null)
    }

    @Test func mergedObjectsWriteBothMembersSortedTogether() throws {
        struct Extra: Encodable, Sendable { var zeta = 1, alpha = "a" }
        let message = Message(id: "msg_1", eventType: "a.b", payload: "{}", idempotencyKey: "k", createdAt: at)
        let text = try JSONRepresentation.encode(Merged(MessageObject(message), Extra()))
        #expect(text == #"{"alpha":"a","created_at":"2026-05-28T20:26:40.125Z","id":"msg_1","idempotency_key":"k","payload":{},"type":"a.b","zeta":1}"#)
    }

    @Test(arguments: ["", "{", #"{"a":}"#, "[1,]", "01", "nul", "\"\u{1}\"", String(repeating: "[", count: 300)])
    func anInvalidDocumentIsRefused(_ text: String) {
        #expect(throws: JSONScanner.Failure.self) { try JSONValue(parsing: text) }
    }

    @Test func valuesEncodeAsTheJSONTheyHold() throws {
        #expect(try JSONRepresentation.encode(JSONValue.number(.nan)) == "0", "JSON has no NaN")
        #expect(try JSONRepresentation.encode(JSONValue.string("a/b")) == #""a/b""#)
        #expect(try JSONRepresentation.encode(["b": 1, "a": [true, nil]] as JSONValue) == #"{"a":[true,null],"b":1}"#)
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(#"{"n":1.5,"i":-3,"s":"x"}"#.utf8))
            == ["n": .number(1.5), "i": -3, "s": "x"])
    }

    @Test func aNumberNoDoubleHoldsIsRefusedNotChanged() throws {
        #expect(throws: JSONScanner.Failure.self) { try JSONValue(parsing: #"{"n":1e400}"#) }
        let message = Message(id: "msg_1", eventType: "a.b", payload: #"{"n":1e400}"#, idempotencyKey: nil, createdAt: at)
        #expect(try object(try JSONRepresentation.encode(MessageObject(message)))["payload"] == nil)
        #expect(try JSONValue(parsing: "18446744073709551615") == .number(18_446_744_073_709_551_615.0))
    }

    @Test func alertTextIsValidJSONWhateverItHolds() throws {
        let summary = "quote \" backslash \\ slash / tab \t bell \u{7} é 🚀"
        let alert = Alert(
            sequence: 1, id: "alt_1", type: .test, objectId: "test", at: at, summary: summary,
            details: AlertDetails.json(["note": .string(summary)]), status: .pending, attempts: 0, nextAttemptAt: nil,
            lastError: nil, sentAt: nil, sentTo: [])
        let data = try object(alert.data)
        #expect(data["summary"] as? String == summary)
        #expect(data["note"] as? String == summary)
        #expect(alert.data.contains(#"\u0007"#) && alert.data.contains("é 🚀"))
        let empty = Alert(
            sequence: 2, id: "alt_2", type: .test, objectId: "test", at: at, summary: "s", details: AlertDetails.json([:]),
            status: .pending, attempts: 0, nextAttemptAt: nil, lastError: nil, sentAt: nil, sentTo: [])
        #expect(try object(empty.data).keys.sorted() == ["alert_id", "summary"])
    }
}
