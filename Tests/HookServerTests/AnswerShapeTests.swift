import DeliveryCore
import Foundation
import HTTPTypes
import HooktopTesting
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import DeliveryCore

/// Every answer of the API, through the router: typed bodies with every field named (null when empty), as JSON.
struct AnswerShapeTests {
    static let endpointKeys = [
        "allow_private_destination", "authorization", "created_at", "description", "disabled_reason", "event_types",
        "headers", "id", "max_in_flight", "rate_limit", "retry_schedule", "status", "timeout_ms", "tls", "updated_at",
        "url",
    ]
    static let deliveryKeys = [
        "attempts", "created_at", "endpoint_id", "event_type", "id", "last_error", "last_error_class",
        "last_latency_ms", "last_status_code", "message_id", "next_attempt_at", "status", "updated_at",
    ]

    /// The answer's JSON object, after checking its status and content type.
    func answer(
        _ response: TestResponse, _ status: HTTPResponse.Status, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> [String: Any] {
        #expect(response.status == status, "\(String(buffer: response.body))", sourceLocation: sourceLocation)
        #expect(response.headers[.contentType] == "application/json", sourceLocation: sourceLocation)
        #expect(String(buffer: response.body).hasSuffix("}\n"), sourceLocation: sourceLocation)
        return try json(response)
    }

    @Test func everyAnswerNamesItsFields() async throws {
        let fixture = try Fixture(allowPrivate: true)
        let endpoint = try fixture.store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: testActor)
        let published = try fixture.store.publish(eventType: "a.b", payload: #"{"n":1}"#)
        let deliveryId = try #require(try fixture.store.deliveries(DeliveryQuery(messageId: published.message.id)).first).id
        _ = try fixture.store.recordAlert(AlertRules.test(by: testActor, now: Date()), status: .pending, now: Date())
        try await fixture.test { client in
            let health = try answer(try await client.execute(uri: "/healthz", method: .get), .ok)
            #expect(health.keys.sorted() == ["dispatcher", "reason", "status", "worker", "writable"])
            #expect(health["reason"] is NSNull && health["worker"] is NSNull)
            #expect(health["writable"] as? Bool == true)

            let list = try answer(try await fixture.request(client, .get, "/v1/endpoints"), .ok)
            #expect(list.keys.sorted() == ["data"])
            let listed = try #require((list["data"] as? [[String: Any]])?.first)
            #expect(listed.keys.sorted() == Self.endpointKeys)

            let got = try answer(try await fixture.request(client, .get, "/v1/endpoints/\(endpoint.id)"), .ok)
            #expect(got.keys.sorted() == (Self.endpointKeys + ["previous_secret_expires_at", "secret"]).sorted())

            let created = try answer(
                try await fixture.post(
                    client, "/v1/endpoints", #"{"url":"http://127.0.0.1:9/b","basic_auth":"ops:pw","rate_limit":5}"#),
                .created)
            #expect(created["basic_auth"] as? String == "ops:pw")
            #expect(created["rate_limit"] as? Int == 5)
            let createdId = try #require(created["id"] as? String)

            let updated = try answer(
                try await fixture.request(client, .patch, "/v1/endpoints/\(createdId)", #"{"rate_limit":null}"#), .ok)
            #expect(updated.keys.sorted() == Self.endpointKeys, "no secrets in an update's answer")
            #expect(updated["rate_limit"] is NSNull)

            let paused = try answer(try await fixture.request(client, .post, "/v1/endpoints/\(createdId)/pause"), .ok)
            #expect(paused.keys.sorted() == Self.endpointKeys)

            let recovered = try answer(
                try await fixture.request(client, .post, "/v1/endpoints/\(endpoint.id)/recover", #"{"since":"1h"}"#), .ok)
            #expect(recovered.keys.sorted() == ["endpoint_id", "queued", "since"])

            let page = try answer(try await fixture.request(client, .get, "/v1/deliveries?limit=1"), .ok)
            #expect(page.keys.sorted() == ["data", "next_cursor"])
            #expect(page["next_cursor"] as? String == "dlv_\(deliveryId)", "a full page names the next cursor")
            #expect((page["data"] as? [[String: Any]])?.first?.keys.sorted() == Self.deliveryKeys)
            let last = try answer(try await fixture.request(client, .get, "/v1/deliveries?limit=2"), .ok)
            #expect(last["next_cursor"] is NSNull)

            let detail = try answer(try await fixture.request(client, .get, "/v1/deliveries/dlv_\(deliveryId)"), .ok)
            #expect(detail.keys.sorted() == (Self.deliveryKeys + ["attempt_log"]).sorted())

            let redelivered = try answer(
                try await fixture.request(client, .post, "/v1/deliveries/dlv_\(deliveryId)/redeliver"), .accepted)
            #expect(redelivered.keys.sorted() == ["id", "result"])

            let replay = try answer(
                try await fixture.post(client, "/v1/deliveries/redeliver", #"{"status":"dead","dry_run":true}"#), .ok)
            #expect(replay.keys.sorted() == ["dry_run", "matched"])

            let cancelled = try answer(
                try await fixture.request(client, .post, "/v1/deliveries/dlv_\(deliveryId)/cancel"), .ok)
            #expect(cancelled.keys.sorted() == ["id", "status"])

            let alerts = try answer(try await fixture.request(client, .get, "/v1/alerts"), .ok)
            #expect(alerts.keys.sorted() == ["data", "next_cursor"])
            let alert = try #require((alerts["data"] as? [[String: Any]])?.first)
            #expect(alert["type"] as? String == "alert.test")
            #expect((alert["details"] as? [String: Any])?["via"] as? String == "test")

            let batch = try answer(
                try await fixture.post(client, "/v1/events/batch", #"{"events":[{"type":"a.b","payload":{}}]}"#),
                .accepted)
            #expect((batch["data"] as? [[String: Any]])?.first?.keys.sorted() == ["deliveries", "duplicate", "id"])

            let missing = try await fixture.request(client, .get, "/v1/endpoints/ep_missing")
            #expect(try answer(missing, .notFound).keys.sorted() == ["error"])
        }
    }
}
