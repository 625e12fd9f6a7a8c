import DeliveryCore
import Foundation
import HTTPTypes
import HookServer
import HooktopTesting
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing

@testable import DeliveryCore

/// The HTTP API, run in process through the router.
struct HookServerTests {
    static let token = "test-token-0123456789"

    /// Every `/v1` route, with a method.
    static let v1Routes: [(HTTPRequest.Method, String)] = [
        (.post, "/v1/events"), (.get, "/v1/endpoints"), (.post, "/v1/endpoints"), (.get, "/v1/endpoints/ep_x"),
        (.patch, "/v1/endpoints/ep_x"), (.put, "/v1/endpoints/ep_x"), (.delete, "/v1/endpoints/ep_x"),
        (.post, "/v1/endpoints/ep_x/pause"), (.post, "/v1/endpoints/ep_x/resume"), (.post, "/v1/endpoints/ep_x/recover"),
        (.get, "/v1/deliveries"), (.get, "/v1/deliveries/dlv_1"), (.post, "/v1/deliveries/dlv_1/redeliver"),
        (.post, "/v1/deliveries/dlv_1/cancel"), (.get, "/v1/nothing-here"),
    ]

    @Test(arguments: v1Routes)
    func everyV1RouteNeedsTheToken(method: HTTPRequest.Method, path: String) async throws {
        let fixture = try Fixture()
        try await fixture.test { client in
            for authorization in [nil, "Bearer wrong-token", "Bearer ", "Basic dGVzdA==", Self.token, "Bearer \(Self.token)x"] {
                var headers = HTTPFields()
                if let authorization { headers[.authorization] = authorization }
                let response = try await client.execute(uri: path, method: method, headers: headers, body: ByteBuffer(string: "{}"))
                #expect(response.status == .unauthorized, "\(method) \(path) with \(authorization ?? "no token")")
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
                try expectError(response, code: "unauthorized")
            }
        }
        #expect(try fixture.store.endpoints().isEmpty)
    }

    @Test func healthAndMetricsNeedNoToken() async throws {
        let fixture = try Fixture()
        let endpoint = try fixture.store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: testActor)
        _ = try fixture.store.publish(eventType: "a.b", payload: "{}")
        try await fixture.test { client in
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
            let object = try json(health)
            #expect(object["status"] as? String == "ok")
            #expect(object["dispatcher"] as? String == "none")

            let metrics = try await client.execute(uri: "/metrics", method: .get)
            #expect(metrics.status == .ok)
            let text = String(buffer: metrics.body)
            #expect(text.contains(#"hooktop_deliveries{status="delivered"} 0"#))
            #expect(text.contains(#"hooktop_deliveries{status="pending"} 1"#))
            #expect(text.contains(#"hooktop_endpoint_queue{endpoint="\#(endpoint.id)"} 1"#))
        }
    }

    // MARK: Publishing

    @Test func publishFansOutAndReportsTheMessage() async throws {
        let fixture = try Fixture()
        _ = try fixture.store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: testActor)
        _ = try fixture.store.addEndpoint(
            url: "http://127.0.0.1:9/b", changes: EndpointChanges(eventTypes: ["user.*"]), allowPrivateDestination: true,
            by: testActor)
        try await fixture.test { client in
            let response = try await fixture.post(client, "/v1/events", #"{"type":"user.created","payload":{"id":1,"name":"ada"}}"#)
            #expect(response.status == .accepted)
            let object = try json(response)
            let id = try #require(object["id"] as? String)
            #expect(id.hasPrefix("msg_"))
            #expect(object["deliveries"] as? Int == 2)
            #expect(object["duplicate"] as? Bool == false)
            #expect(object["type"] as? String == "user.created")
            #expect((object["payload"] as? [String: Any])?["name"] as? String == "ada")
            #expect(try fixture.store.deliveries(DeliveryQuery(messageId: id)).count == 2)

            let other = try await fixture.post(client, "/v1/events", #"{"type":"invoice.paid","payload":{}}"#)
            #expect(try json(other)["deliveries"] as? Int == 1)
        }
        #expect(fixture.wakes.count == 2)
    }

    @Test func idempotencyKeyReturnsTheSameMessage() async throws {
        let fixture = try Fixture()
        _ = try fixture.store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: testActor)
        try await fixture.test { client in
            let body = #"{"type":"order.placed","payload":{"n":1},"idempotency_key":"order-1"}"#
            let first = try json(try await fixture.post(client, "/v1/events", body))
            let secondResponse = try await fixture.post(client, "/v1/events", body)
            #expect(secondResponse.status == .ok)
            let second = try json(secondResponse)
            #expect(second["id"] as? String == first["id"] as? String)
            #expect(second["duplicate"] as? Bool == true)
            #expect(second["deliveries"] as? Int == 0)
            #expect(first["duplicate"] as? Bool == false)
        }
        #expect(try fixture.store.deliveries(DeliveryQuery()).count == 1)
    }

    @Test(arguments: [
        (#"{"type": "a.b", "payload": {"#, 400, "bad_json"),
        ("not json at all", 400, "bad_json"),
        (#"["type", "payload"]"#, 400, "bad_json"),
        (#"{"type": 5, "payload": "x"}"#, 422, "invalid_field"),
        (#"{"type": "a.b", "payload": "x"}"#, 422, "invalid_field"),
        (#"{"type": "a.b", "payload": [1, 2]}"#, 422, "invalid_field"),
        (#"{"type": ["a.b"], "payload": {}}"#, 422, "invalid_field"),
        (#"{"type": "a.b", "payload": {}, "idempotency_key": 7}"#, 422, "invalid_field"),
        (#"{"type": "a.b", "payload": {}, "idempotency_key": ""}"#, 422, "invalid_field"),
        (#"{"type": "bad type!", "payload": {}}"#, 422, "invalid_field"),
        (#"{"payload": {}}"#, 422, "invalid_field"),
        (#"{"type": "a.b"}"#, 422, "invalid_field"),
        (#"{"type": null, "payload": {}}"#, 422, "invalid_field"),
        ("{}", 422, "invalid_field"),
        ("", 422, "invalid_field"),
    ])
    func publishRefusesBadInput(body: String, status: Int, code: String) async throws {
        let fixture = try Fixture()
        _ = try fixture.store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: testActor)
        try await fixture.test { client in
            let response = try await fixture.post(client, "/v1/events", body)
            #expect(response.status.code == status, "\(body)")
            try expectError(response, code: code)
        }
        #expect(try fixture.store.deliveries(DeliveryQuery()).isEmpty)
        #expect(fixture.wakes.count == 0)
    }

    @Test func publishRefusesAnOversizedBody() async throws {
        let fixture = try Fixture()
        try await fixture.test { client in
            let payload = String(repeating: "a", count: PublishLimits.defaultMaxPayloadBytes + 1)
            let response = try await fixture.post(client, "/v1/events", #"{"type":"a.b","payload":{"x":"\#(payload)"}}"#)
            #expect(response.status == .contentTooLarge)
            try expectError(response, code: "payload_too_large")
        }
        var small = HookServer.Configuration()
        small.maxBodyBytes = 64
        let strict = try Fixture(configuration: small)
        try await strict.test { client in
            let response = try await strict.post(client, "/v1/events", #"{"type":"a.b","payload":{"x":"\#(String(repeating: "y", count: 64))"}}"#)
            #expect(response.status == .contentTooLarge)
            try expectError(response, code: "payload_too_large")
            let fits = try await strict.post(client, "/v1/events", #"{"type":"a.b","payload":{}}"#)
            #expect(fits.status == .accepted)
        }
    }

    // MARK: Endpoints

    @Test func endpointsCreateListGetUpdateDelete() async throws {
        let fixture = try Fixture(allowPrivate: true)
        try await fixture.test { client in
            let created = try await fixture.post(
                client, "/v1/endpoints",
                #"{"url":"http://127.0.0.1:9/hook","description":"billing","event_types":["invoice.*"],"max_in_flight":4}"#)
            #expect(created.status == .created)
            let endpoint = try json(created)
            let id = try #require(endpoint["id"] as? String)
            #expect((endpoint["secret"] as? String)?.hasPrefix("whsec_") == true)
            #expect(endpoint["status"] as? String == "active")
            #expect(endpoint["event_types"] as? [String] == ["invoice.*"])
            #expect(endpoint["max_in_flight"] as? Int == 4)

            let list = try json(try await fixture.request(client, .get, "/v1/endpoints"))
            let listed = try #require(list["data"] as? [[String: Any]])
            #expect(listed.map { $0["id"] as? String } == [id])
            #expect(listed.first?["secret"] == nil, "the list never shows secrets")

            let got = try json(try await fixture.request(client, .get, "/v1/endpoints/\(id)"))
            #expect(got["secret"] as? String == endpoint["secret"] as? String)

            let patched = try await fixture.request(client, .patch, "/v1/endpoints/\(id)", #"{"description":"billing v2","timeout_ms":2000}"#)
            #expect(patched.status == .ok)
            let updated = try json(patched)
            #expect(updated["description"] as? String == "billing v2")
            #expect(updated["timeout_ms"] as? Int == 2000)
            #expect(updated["event_types"] as? [String] == ["invoice.*"])

            let badPatch = try await fixture.request(client, .patch, "/v1/endpoints/\(id)", #"{"max_in_flight":"lots"}"#)
            #expect(badPatch.status == .unprocessableContent)
            try expectError(badPatch, code: "invalid_field")

            let deleted = try await fixture.request(client, .delete, "/v1/endpoints/\(id)")
            #expect(deleted.status == .noContent)
            let gone = try await fixture.request(client, .get, "/v1/endpoints/\(id)")
            #expect(gone.status == .notFound)
            try expectError(gone, code: "not_found")
        }
    }

    @Test func privateDestinationsAreRefusedUnlessAllowed() async throws {
        let strict = try Fixture()
        try await strict.test { client in
            for url in ["http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]/", "http://169.254.169.254/"] {
                let response = try await strict.post(client, "/v1/endpoints", #"{"url":"\#(url)"}"#)
                #expect(response.status == .unprocessableContent, "\(url)")
                try expectError(response, code: "destination_refused")
            }
            let publicOne = try await strict.post(client, "/v1/endpoints", #"{"url":"https://8.8.8.8/hook"}"#)
            #expect(publicOne.status == .created)
            let id = try #require(try json(publicOne)["id"] as? String)
            let moved = try await strict.request(client, .patch, "/v1/endpoints/\(id)", #"{"url":"http://10.0.0.1/"}"#)
            #expect(moved.status == .unprocessableContent)
            try expectError(moved, code: "destination_refused")
        }
        #expect(try strict.store.endpoints().map(\.url) == ["https://8.8.8.8/hook"])

        let lenient = try Fixture(allowPrivate: true)
        try await lenient.test { client in
            let response = try await lenient.post(client, "/v1/endpoints", #"{"url":"http://127.0.0.1:8080/hook"}"#)
            #expect(response.status == .created)
            #expect(try json(response)["allow_private_destination"] as? Bool == true)
        }
    }

    @Test(arguments: [
        #"{"url":"http://127.0.0.1:9/a","event_types":["user..created"]}"#,
        #"{"url":"http://127.0.0.1:9/a","event_types":"user.*"}"#,
        #"{"url":"http://127.0.0.1:9/a","event_types":[5]}"#,
        #"{"url":"ftp://127.0.0.1/a"}"#,
        #"{"url":"http://user:pw@127.0.0.1/a"}"#,
        #"{"url":5}"#,
        #"{"description":"no url"}"#,
        #"{"url":"http://127.0.0.1:9/a","max_in_flight":0}"#,
        #"{"url":"http://127.0.0.1:9/a","max_in_flight":1.5}"#,
        #"{"url":"http://127.0.0.1:9/a","timeout_ms":"fast"}"#,
        #"{"url":"http://127.0.0.1:9/a","secret":"hunter2"}"#,
    ])
    func createRefusesBadFields(_ body: String) async throws {
        let fixture = try Fixture(allowPrivate: true)
        try await fixture.test { client in
            let response = try await fixture.post(client, "/v1/endpoints", body)
            #expect(response.status == .unprocessableContent, "\(body)")
            try expectError(response, code: "invalid_field")
        }
        #expect(try fixture.store.endpoints().isEmpty)
    }

    @Test(arguments: [
        (HTTPRequest.Method.get, ""), (.patch, ""), (.put, ""), (.delete, ""), (.post, "/pause"), (.post, "/resume"),
        (.post, "/disable"), (.post, "/enable"), (.post, "/rotate-secret"), (.post, "/recover"),
    ])
    func unknownEndpointIsNotFound(method: HTTPRequest.Method, suffix: String) async throws {
        let fixture = try Fixture(allowPrivate: true)
        try await fixture.test { client in
            let response = try await fixture.request(
                client, method, "/v1/endpoints/ep_doesnotexist\(suffix)", #"{"description":"x","since":"1h"}"#)
            #expect(response.status == .notFound, "\(method) \(suffix)")
            try expectError(response, code: "not_found")
        }
    }

    // MARK: Operations

    @Test func pauseResumeRecoverAndUnknownActions() async throws {
        let fixture = try Fixture(allowPrivate: true)
        let endpoint = try fixture.store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: testActor)
        try await fixture.test { client in
            let paused = try await fixture.request(client, .post, "/v1/endpoints/\(endpoint.id)/pause")
            #expect(paused.status == .ok)
            #expect(try json(paused)["status"] as? String == "paused")
            let recoverPaused = try await fixture.request(client, .post, "/v1/endpoints/\(endpoint.id)/recover", #"{"since":"1h"}"#)
            #expect(recoverPaused.status == .conflict)
            try expectError(recoverPaused, code: "conflict")

            let resumed = try await fixture.request(client, .post, "/v1/endpoints/\(endpoint.id)/resume")
            #expect(try json(resumed)["status"] as? String == "active")

            let disabled = try await fixture.request(client, .post, "/v1/endpoints/\(endpoint.id)/disable", #"{"reason":"broken"}"#)
            #expect(try json(disabled)["disabled_reason"] as? String == "broken")
            _ = try fixture.store.publish(eventType: "a.b", payload: "{}")
            let pauseDisabled = try await fixture.request(client, .post, "/v1/endpoints/\(endpoint.id)/pause")
            #expect(pauseDisabled.status == .conflict)
            try expectError(pauseDisabled, code: "conflict")
            _ = try await fixture.request(client, .post, "/v1/endpoints/\(endpoint.id)/enable")

            let recovered = try await fixture.request(client, .post, "/v1/endpoints/\(endpoint.id)/recover", #"{"since":"1h"}"#)
            #expect(recovered.status == .ok)
            #expect(try json(recovered)["queued"] as? Int == 1)
            for body in ["{}", #"{"since":"last tuesday"}"#, #"{"since":3600}"#] {
                let bad = try await fixture.request(client, .post, "/v1/endpoints/\(endpoint.id)/recover", body)
                #expect(bad.status == .unprocessableContent, "\(body)")
                try expectError(bad, code: "invalid_field")
            }

            let rotated = try json(try await fixture.request(client, .post, "/v1/endpoints/\(endpoint.id)/rotate-secret"))
            #expect(rotated["secret"] as? String != endpoint.secret)
            #expect(rotated["previous_secret_expires_at"] is String)

            let unknown = try await fixture.request(client, .post, "/v1/endpoints/\(endpoint.id)/explode")
            #expect(unknown.status == .notFound)
            try expectError(unknown, code: "not_found")
        }
        let actions = try fixture.store.auditEntries(objectId: endpoint.id).map(\.action)
        #expect(actions.contains("endpoint.recover"))
        #expect(try fixture.store.auditEntries().allSatisfy { $0.via == "api" || $0.via == "test" })
    }

    @Test func redeliverAndCancelDeliveries() async throws {
        let fixture = try Fixture(allowPrivate: true)
        let endpoint = try fixture.store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: testActor)
        let first = try fixture.store.publish(eventType: "a.b", payload: "{}")
        let second = try fixture.store.publish(eventType: "a.b", payload: "{}")
        let firstId = try #require(try fixture.store.deliveries(DeliveryQuery(messageId: first.message.id)).first).id
        let secondId = try #require(try fixture.store.deliveries(DeliveryQuery(messageId: second.message.id)).first).id
        try await fixture.test { client in
            // Without a sender the API only queues: the daemon's dispatcher sends it.
            let redelivered = try await fixture.request(client, .post, "/v1/deliveries/dlv_\(firstId)/redeliver")
            #expect(redelivered.status == .accepted)
            #expect(try json(redelivered)["result"] as? String == "queued")
            let plainId = try await fixture.request(client, .post, "/v1/deliveries/\(firstId)/redeliver")
            #expect(plainId.status == .accepted)

            let cancelled = try await fixture.request(client, .post, "/v1/deliveries/dlv_\(secondId)/cancel")
            #expect(cancelled.status == .ok)
            #expect(try json(cancelled)["status"] as? String == "cancelled")
            let again = try await fixture.request(client, .post, "/v1/deliveries/dlv_\(secondId)/cancel")
            #expect(again.status == .conflict)
            try expectError(again, code: "conflict")

            let detail = try json(try await fixture.request(client, .get, "/v1/deliveries/dlv_\(secondId)"))
            #expect(detail["status"] as? String == "cancelled")
            #expect(detail["attempt_log"] as? [Any] != nil)

            for path in ["/v1/deliveries/dlv_99999/redeliver", "/v1/deliveries/dlv_99999/cancel", "/v1/deliveries/dlv_99999",
                         "/v1/deliveries/banana/redeliver", "/v1/deliveries/-1"]
            {
                let method: HTTPRequest.Method = path.hasSuffix("9") || path.hasSuffix("-1") ? .get : .post
                let response = try await fixture.request(client, method, path)
                #expect(response.status == .notFound, "\(path)")
                try expectError(response, code: "not_found")
            }

            _ = try await fixture.request(client, .post, "/v1/endpoints/\(endpoint.id)/pause")
            let onPaused = try await fixture.request(client, .post, "/v1/deliveries/dlv_\(firstId)/redeliver")
            #expect(onPaused.status == .conflict)
            try expectError(onPaused, code: "conflict")
        }
    }

    @Test func listsDeliveriesWithFiltersAndCursor() async throws {
        let fixture = try Fixture(allowPrivate: true)
        let a = try fixture.store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: testActor)
        let b = try fixture.store.addEndpoint(url: "http://127.0.0.1:9/b", allowPrivateDestination: true, by: testActor)
        for n in 0..<7 { _ = try fixture.store.publish(eventType: n < 3 ? "user.created" : "invoice.paid", payload: "{}") }
        let cancelled = try #require(try fixture.store.deliveries(DeliveryQuery(endpointId: b.id, limit: 1)).first)
        try await Operations(store: fixture.store).cancel(deliveryId: cancelled.id, by: testActor)
        try await fixture.test { client in
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let query = "/v1/deliveries?limit=4" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try json(try await fixture.request(client, .get, query))
                let data = try #require(page["data"] as? [[String: Any]])
                seen += data.compactMap { $0["id"] as? String }
                cursor = page["next_cursor"] as? String
                pages += 1
            } while cursor != nil && pages < 10
            #expect(seen.count == 14)
            #expect(Set(seen).count == 14)
            #expect(pages == 4)

            let ofA = try json(try await fixture.request(client, .get, "/v1/deliveries?endpoint=\(a.id)"))
            let aRows = try #require(ofA["data"] as? [[String: Any]])
            #expect(aRows.count == 7)
            #expect(aRows.allSatisfy { $0["endpoint_id"] as? String == a.id })
            #expect(ofA["next_cursor"] is NSNull)
            let first = try #require(aRows.first)
            for key in ["id", "message_id", "endpoint_id", "event_type", "status", "attempts", "next_attempt_at", "last_status_code", "last_error"] {
                #expect(first[key] != nil, "\(key)")
            }

            let cancelledRows = try json(try await fixture.request(client, .get, "/v1/deliveries?status=cancelled"))
            #expect((cancelledRows["data"] as? [[String: Any]])?.map { $0["id"] as? String } == ["dlv_\(cancelled.id)"])
            let waiting = try json(try await fixture.request(client, .get, "/v1/deliveries?status=pending,retrying&endpoint=\(b.id)"))
            #expect((waiting["data"] as? [Any])?.count == 6)
            let users = try json(try await fixture.request(client, .get, "/v1/deliveries?event_type=user.created"))
            #expect((users["data"] as? [Any])?.count == 6)
            let nobody = try json(try await fixture.request(client, .get, "/v1/deliveries?endpoint=ep_nobody"))
            #expect((nobody["data"] as? [Any])?.isEmpty == true)

            for query in ["status=exploded", "status=pending,nope", "cursor=abc", "limit=0", "limit=1001", "limit=ten"] {
                let response = try await fixture.request(client, .get, "/v1/deliveries?\(query)")
                #expect(response.status == .unprocessableContent, "\(query)")
                try expectError(response, code: "invalid_field")
            }
        }
    }
}

// MARK: Support

/// A store, operations and the API router over them.
struct Fixture {
    let database: TemporaryDatabase
    let server: HookServer
    let wakes: WakeCounter
    var store: Store { database.store }

    init(allowPrivate: Bool = false, configuration: HookServer.Configuration = HookServer.Configuration()) throws {
        database = try TemporaryDatabase()
        var configuration = configuration
        configuration.allowPrivateDestinations = allowPrivate || configuration.allowPrivateDestinations
        let wakes = WakeCounter()
        self.wakes = wakes
        server = HookServer(
            operations: Operations(store: database.store, wake: { wakes.add() }),
            token: HookServerTests.token, configuration: configuration)
    }

    func test(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: server.router())
        try await app.test(.router) { client in try await body(client) }
    }

    func request(
        _ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ path: String, _ body: String? = nil
    ) async throws -> TestResponse {
        var headers = HTTPFields()
        headers[.authorization] = "Bearer \(HookServerTests.token)"
        if body != nil { headers[.contentType] = "application/json" }
        return try await client.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
    }

    func post(_ client: any TestClientProtocol, _ path: String, _ body: String) async throws -> TestResponse {
        try await request(client, .post, path, body)
    }
}

final class WakeCounter: Sendable {
    private let value = Mutex(0)
    func add() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}

func json(_ response: TestResponse) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))
    return try #require(object as? [String: Any], "not a JSON object: \(String(buffer: response.body))")
}

/// Checks the error shape `{"error": {"code": ..., "message": ...}}` and its code.
func expectError(_ response: TestResponse, code: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(response.headers[.contentType] == "application/json", sourceLocation: sourceLocation)
    let object = try json(response)
    #expect(object.keys.sorted() == ["error"], sourceLocation: sourceLocation)
    let error = try #require(object["error"] as? [String: Any], sourceLocation: sourceLocation)
    #expect(error.keys.sorted() == ["code", "message"], sourceLocation: sourceLocation)
    #expect(error["code"] as? String == code, "body: \(String(buffer: response.body))", sourceLocation: sourceLocation)
    let message = try #require(error["message"] as? String, sourceLocation: sourceLocation)
    #expect(!message.isEmpty && !message.contains("\n"), sourceLocation: sourceLocation)
}
