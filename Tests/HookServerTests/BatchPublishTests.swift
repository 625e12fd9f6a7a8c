import DeliveryCore
import Foundation
import HTTPTypes
import HookServer
import Hummingbird
import HummingbirdTesting
import HooktopTesting
import Testing

@testable import DeliveryCore

/// `POST /v1/events/batch` and what publishing keeps of the bytes sent.
struct BatchPublishTests {
    @Test func aBatchIsRecordedInOrderWithOneAnswerPerEvent() async throws {
        let fixture = try Fixture()
        _ = try fixture.store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: testActor)
        _ = try fixture.store.addEndpoint(
            url: "http://127.0.0.1:9/b", changes: EndpointChanges(eventTypes: ["user.*"]), allowPrivateDestination: true,
            by: testActor)
        try await fixture.test { client in
            let body = """
                {"events": [
                  {"type": "user.created", "payload": {"n": 0}},
                  {"type": "invoice.paid", "payload": {"n": 1}, "idempotency_key": "inv-1"},
                  {"type": "user.deleted", "payload": {"n": 2}}
                ]}
                """
            let response = try await fixture.post(client, "/v1/events/batch", body)
            #expect(response.status == .accepted)
            let data = try #require(try json(response)["data"] as? [[String: Any]])
            #expect(data.count == 3)
            #expect(data.map { $0["deliveries"] as? Int } == [2, 1, 2])
            #expect(data.map { $0["duplicate"] as? Bool } == [false, false, false])
            #expect(data.allSatisfy { Set($0.keys) == ["id", "deliveries", "duplicate"] })
            let ids = data.compactMap { $0["id"] as? String }
            #expect(ids.count == 3 && Set(ids).count == 3)
            for (index, id) in ids.enumerated() {
                #expect(try fixture.store.message(id: id)?.payload == #"{"n": \#(index)}"#)
            }
        }
        #expect(try fixture.store.deliveries(DeliveryQuery()).count == 5)
        #expect(fixture.wakes.count == 1, "one commit, one wake-up")
    }

    @Test func anInvalidItemRejectsTheWholeBatchNamingItsIndex() async throws {
        let fixture = try Fixture()
        _ = try fixture.store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: testActor)
        try await fixture.test { client in
            var items = (0..<40).map { #"{"type": "a.b", "payload": {"n": \#($0)}}"# }
            items[37] = #"{"type": "a.b", "payload": [37]}"#
            let response = try await fixture.post(client, "/v1/events/batch", #"{"events": [\#(items.joined(separator: ","))]}"#)
            #expect(response.status == .unprocessableContent)
            try expectError(response, code: "invalid_field")
            let message = try #require((try json(response)["error"] as? [String: Any])?["message"] as? String)
            #expect(message == "events[37]: payload is required and must be a JSON object")
        }
        #expect(try fixture.store.deliveries(DeliveryQuery()).isEmpty)
        #expect(try fixture.store.messages(eventType: nil, before: nil, limit: 10).isEmpty)
        #expect(fixture.wakes.count == 0)
    }

    @Test(arguments: [
        (#"{"events": []}"#, 422, "invalid_field"),
        (#"{"events": {}}"#, 422, "invalid_field"),
        (#"{}"#, 422, "invalid_field"),
        (#"{"events": [1]}"#, 422, "invalid_field"),
        (#"{"events": [{"type": "a.b", "payload": {}},]}"#, 400, "bad_json"),
        (#"[{"type": "a.b", "payload": {}}]"#, 400, "bad_json"),
    ])
    func badBatchesAreRefused(body: String, status: Int, code: String) async throws {
        let fixture = try Fixture()
        try await fixture.test { client in
            let response = try await fixture.post(client, "/v1/events/batch", body)
            #expect(response.status.code == status, "\(body)")
            try expectError(response, code: code)
        }
        #expect(try fixture.store.messages(eventType: nil, before: nil, limit: 10).isEmpty)
    }

    @Test func aBatchHoldsAtMostAThousandEvents() async throws {
        let fixture = try Fixture()
        try await fixture.test { client in
            let items = Array(repeating: #"{"type":"a.b","payload":{}}"#, count: 1001).joined(separator: ",")
            let response = try await fixture.post(client, "/v1/events/batch", #"{"events":[\#(items)]}"#)
            #expect(response.status == .unprocessableContent)
            let full = Array(repeating: #"{"type":"a.b","payload":{}}"#, count: 1000).joined(separator: ",")
            #expect(try await fixture.post(client, "/v1/events/batch", #"{"events":[\#(full)]}"#).status == .accepted)
        }
        #expect(try fixture.store.messages(eventType: nil, before: nil, limit: 2000).count == 1000)
    }

    @Test func aBatchHasItsOwnBodyLimit() async throws {
        var configuration = HookServer.Configuration()
        configuration.maxBatchBytes = 64 * 1024
        let fixture = try Fixture(configuration: configuration)
        try await fixture.test { client in
            let blob = String(repeating: "x", count: 40 * 1024)
            let two = #"{"events":[{"type":"a.b","payload":{"x":"\#(blob)"}},{"type":"a.b","payload":{"x":"\#(blob)"}}]}"#
            let response = try await fixture.post(client, "/v1/events/batch", two)
            #expect(response.status == .contentTooLarge)
            try expectError(response, code: "payload_too_large")
            let one = #"{"events":[{"type":"a.b","payload":{"x":"\#(blob)"}}]}"#
            #expect(try await fixture.post(client, "/v1/events/batch", one).status == .accepted)
        }
    }

    @Test func repeatedIdempotencyKeysReturnTheFirstMessagePerItem() async throws {
        let fixture = try Fixture()
        _ = try fixture.store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: testActor)
        try await fixture.test { client in
            let first = try await fixture.post(
                client, "/v1/events", #"{"type":"a.b","payload":{"n":0},"idempotency_key":"k0"}"#)
            let firstId = try #require(try json(first)["id"] as? String)
            let body = """
                {"events": [
                  {"type": "a.b", "payload": {"n": 1}, "idempotency_key": "k1"},
                  {"type": "a.b", "payload": {"n": 2}, "idempotency_key": "k0"},
                  {"type": "a.b", "payload": {"n": 3}, "idempotency_key": "k1"},
                  {"type": "a.b", "payload": {"n": 4}}
                ]}
                """
            let data = try #require(try json(try await fixture.post(client, "/v1/events/batch", body))["data"] as? [[String: Any]])
            #expect(data.map { $0["duplicate"] as? Bool } == [false, true, true, false])
            #expect(data.map { $0["deliveries"] as? Int } == [1, 0, 0, 1])
            #expect(data[1]["id"] as? String == firstId)
            #expect(data[2]["id"] as? String == data[0]["id"] as? String)
            // The whole batch again: every item is a duplicate of the first time.
            let again = try #require(try json(try await fixture.post(client, "/v1/events/batch", body))["data"] as? [[String: Any]])
            #expect(again.map { $0["duplicate"] as? Bool } == [true, true, true, false])
            #expect(again[0]["id"] as? String == data[0]["id"] as? String)
        }
        #expect(try fixture.store.deliveries(DeliveryQuery()).count == 4)
    }

    /// The payload is stored as the bytes received: spacing, key order, escapes and number spelling kept.
    @Test func thePayloadIsStoredAsSent() async throws {
        let fixture = try Fixture()
        let payload = #"{ "z": 1.50, "a": "caf\u00e9 \"q\"",  "n": [1e3, null, true] , "u": "ü€𝄞" }"#
        try await fixture.test { client in
            let response = try await fixture.post(client, "/v1/events", #"{"type":"a.b","payload":\#(payload)}"#)
            #expect(response.status == .accepted)
            let id = try #require(try json(response)["id"] as? String)
            #expect(try fixture.store.message(id: id)?.payload == payload)
            let batch = try await fixture.post(client, "/v1/events/batch", #"{"events":[{"payload":\#(payload),"type":"a.b"}]}"#)
            let batchId = try #require((try json(batch)["data"] as? [[String: Any]])?.first?["id"] as? String)
            #expect(try fixture.store.message(id: batchId)?.payload == payload)
        }
    }

    @Test func anOverloadedLogAnswers503WithRetryAfter() async throws {
        let database = try TemporaryDatabase()
        let gate = Gate()
        let operations = Operations(
            engine: SQLiteEngine(store: database.store),
            publishLimits: PublishCommitter.Limits(events: 3, bytes: 1 << 20, eventsPerCommit: 100),
            beforeCommit: { await gate.wait() })
        let server = HookServer(
            operations: operations, token: HookServerTests.token)
        let app = Application(router: server.router())
        try await app.test(.router) { router in
            // The router test client calls the responder directly: safe to share among concurrent requests.
            let client = SharedClient(router)
            let headers: HTTPFields = [.authorization: "Bearer \(HookServerTests.token)"]
            let body = ByteBuffer(string: #"{"type":"a.b","payload":{}}"#)
            // Three publishes wait behind a commit held at the gate; the fourth finds the line full.
            let waiting = (0..<3).map { _ in
                Task { try await client.base.execute(uri: "/v1/events", method: .post, headers: headers, body: body) }
            }
            let full = await eventually(timeout: .seconds(10)) { operations.publishesWaiting == 3 }
            #expect(full)
            let refused = try await client.base.execute(uri: "/v1/events", method: .post, headers: headers, body: body)
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.headers[.retryAfter] == "1")
            try expectError(refused, code: "overloaded")
            await gate.open()
            for task in waiting { #expect(try await task.value.status == .accepted) }
        }
        #expect(try database.store.messages(eventType: nil, before: nil, limit: 10).count == 3)
    }
}

/// Holds callers until opened.
actor Gate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func open() {
        isOpen = true
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }
}

/// A test client handed to concurrent tasks.
struct SharedClient: @unchecked Sendable {
    let base: any TestClientProtocol
    init(_ base: any TestClientProtocol) { self.base = base }
}
