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

    @Test func endpointWithChosenId() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        let endpoint = try store.addEndpoint(url: "https://example.com/hook", id: "ep_billing", by: testActor)
        #expect(endpoint.id == "ep_billing")
        #expect(try store.endpoint(id: "ep_billing") == endpoint)
        let taken = #expect(throws: HooktopError.self) {
            try store.addEndpoint(url: "https://example.com/other", id: "ep_billing", by: testActor)
        }
        #expect(taken?.code == .conflict)
        let bad = #expect(throws: HooktopError.self) {
            try store.addEndpoint(url: "https://example.com/other", id: "billing", by: testActor)
        }
        #expect(bad?.code == .invalidInput)
        #expect(try store.endpoints().count == 1)
        // Without an id, a random one as before.
        #expect(try store.addEndpoint(url: "https://example.com/x", by: testActor).id.count == 25)
    }

    @Test func messageWithChosenId() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        _ = try store.addEndpoint(url: "https://example.com/hook", by: testActor)
        let result = try store.publish(
            eventType: "invoice.paid", payload: "{}", id: "msg_0001", now: Date(timeIntervalSince1970: 1_800_000_000))
        #expect(result.message.id == "msg_0001")
        #expect(result.deliveryCount == 1)
        #expect(try store.message(id: "msg_0001") == result.message)
        let taken = #expect(throws: HooktopError.self) {
            try store.publish(eventType: "invoice.paid", payload: "{}", id: "msg_0001")
        }
        #expect(taken?.code == .conflict)
        let bad = #expect(throws: HooktopError.self) {
            try store.publish(eventType: "invoice.paid", payload: "{}", id: "ep_0001")
        }
        #expect(bad?.code == .invalidInput)
        #expect(try store.deliveries(DeliveryQuery()).count == 1)
        // A repeated idempotency key returns the first message; the id asked for is not used.
        let first = try store.publish(eventType: "user.created", payload: "{}", idempotencyKey: "k1", id: "msg_0002")
        let repeated = try store.publish(eventType: "user.created", payload: "{}", idempotencyKey: "k1", id: "msg_0003")
        #expect(repeated.duplicate && repeated.message.id == first.message.id)
        #expect(try store.message(id: "msg_0003") == nil)
    }
}
