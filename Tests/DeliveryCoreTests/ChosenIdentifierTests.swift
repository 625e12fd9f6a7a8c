@testable import DeliveryCore
import Foundation
import HooktopTesting
import Testing

/// Endpoints and messages created with an id the caller chose (fixtures, imports): checked for form and uniqueness.
struct ChosenIdentifierTests {
    @Test func randomIdsHaveTheLengthAskedUseTheWholeAlphabetAndDoNotRepeat() {
        let ids = (0..<2000).map { _ in Identifier.make("msg", length: 24) }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.count == 28 && Identifier.isWellFormed($0, prefix: "msg") })
        // 48,000 characters drawn from 62: every one of them shows up (each about 770 times).
        let seen = Set(ids.flatMap { $0.dropFirst(4) })
        #expect(seen.count == 62)
    }

    @Test func wellFormedIds() {
        #expect(Identifier.isWellFormed("ep_billing", prefix: "ep"))
        #expect(Identifier.isWellFormed(Identifier.make("ep"), prefix: "ep"))
        #expect(Identifier.isWellFormed(Identifier.make("msg", length: 24), prefix: "msg"))
        #expect(Identifier.isWellFormed("msg_" + String(repeating: "a", count: 64), prefix: "msg"))
        let bad = [
            "ep_", "billing", "msg_billing", "ep_bill ing", "ep_bill-ing", "ep_bill_ing", "ep_東京", "ep_a\u{1b}",
            "ep_" + String(repeating: "a", count: 65),
        ]
        for bad in bad {
            #expect(!Identifier.isWellFormed(bad, prefix: "ep"), "\(bad)")
        }
    }

    @Test(arguments: TestEngine.allCases)
    func endpointWithChosenId(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            func add(_ url: String, id: String?) async throws -> Endpoint {
                try await engine.addEndpoint(
                    url: url, changes: EndpointChanges(), secret: nil, allowPrivateDestination: false, id: id, now: Date(),
                    by: testActor)
            }
            let endpoint = try await add("https://example.com/hook", id: "ep_billing")
            #expect(endpoint.id == "ep_billing")
            #expect(try await engine.endpoint(id: "ep_billing") == endpoint)
            let taken = await #expect(throws: HooktopError.self) { try await add("https://example.com/other", id: "ep_billing") }
            #expect(taken?.code == .conflict)
            let bad = await #expect(throws: HooktopError.self) { try await add("https://example.com/other", id: "billing") }
            #expect(bad?.code == .invalidInput)
            #expect(try await engine.endpoints().count == 1)
            // Without an id, a random one as before.
            #expect(try await add("https://example.com/x", id: nil).id.count == 25)
        }
    }

    @Test(arguments: TestEngine.allCases)
    func messageWithChosenId(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            _ = try await engine.addTestEndpoint("https://example.com/hook")
            let result = try await engine.publish(
                eventType: "invoice.paid", payload: "{}", id: "msg_0001", now: Date(timeIntervalSince1970: 1_800_000_000))
            #expect(result.message.id == "msg_0001")
            #expect(result.deliveryCount == 1)
            #expect(try await engine.message(id: "msg_0001") == result.message)
            let taken = await #expect(throws: HooktopError.self) {
                try await engine.publish(eventType: "invoice.paid", payload: "{}", id: "msg_0001")
            }
            #expect(taken?.code == .conflict)
            let bad = await #expect(throws: HooktopError.self) {
                try await engine.publish(eventType: "invoice.paid", payload: "{}", id: "ep_0001")
            }
            #expect(bad?.code == .invalidInput)
            #expect(try await engine.deliveries(DeliveryQuery()).count == 1)
            // A repeated idempotency key returns the first message; the id asked for is not used.
            let first = try await engine.publish(eventType: "user.created", payload: "{}", idempotencyKey: "k1", id: "msg_0002")
            let repeated = try await engine.publish(
                eventType: "user.created", payload: "{}", idempotencyKey: "k1", id: "msg_0003")
            #expect(repeated.duplicate && repeated.message.id == first.message.id)
            #expect(try await engine.message(id: "msg_0003") == nil)
        }
    }
}
