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

    @Test func orderedIdsSortAsTheirTimeAndCarryItInTheirFirstEightCharacters() {
        let start = Date(timeIntervalSince1970: 1_780_000_000.5)
        let ids = (0..<500).map { Identifier.makeOrdered("msg", now: start.addingTimeInterval(Double($0) * 0.002)) }
        #expect(ids == ids.sorted())
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.count == 28 && Identifier.isWellFormed($0, prefix: "msg") })
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        let stamp = ids[0].dropFirst(4).prefix(8).reduce(0) { $0 * 62 + alphabet.firstIndex(of: $1)! }
        #expect(stamp == 1_780_000_000_500)
        // Within one millisecond the random part decides, and every id is still new.
        let same = (0..<1000).map { _ in Identifier.makeOrdered("msg", now: start) }
        #expect(Set(same).count == 1000 && Set(same.map { $0.prefix(12) }).count == 1)
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

    /// In a shared commit, a group whose chosen id is taken fails alone (the group's other events with it), the
    /// others are recorded; a commit of one such group records nothing; groups without chosen ids commit together.
    @Test(arguments: TestEngine.allCases)
    func aGroupWhoseIdIsTakenFailsAloneInItsCommit(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            _ = try await engine.addTestEndpoint("https://example.com/hook")
            _ = try await engine.publish(eventType: "a.b", payload: "{}", id: "msg_taken")
            let results = try await engine.publish(
                groups: [
                    [PublishRequest(eventType: "a.b", payload: #"{"n":1}"#)],
                    [
                        PublishRequest(eventType: "a.b", payload: #"{"n":2}"#, id: "msg_new"),
                        PublishRequest(eventType: "a.b", payload: #"{"n":3}"#, id: "msg_taken"),
                    ],
                    [PublishRequest(eventType: "a.b", payload: #"{"n":4}"#, idempotencyKey: "k")],
                ], now: Date())
            #expect(results.count == 3)
            #expect(try results[0].get().map(\.deliveryCount) == [1])
            #expect(throws: HooktopError.self) { try results[1].get() }
            #expect(try results[2].get().map(\.deliveryCount) == [1])
            #expect(try await engine.message(id: "msg_new") == nil)
            #expect(try await engine.deliveries(DeliveryQuery()).count == 3)

            let single = try await engine.publish(
                groups: [[PublishRequest(eventType: "a.b", payload: "{}", id: "msg_taken")]], now: Date())
            let conflict = #expect(throws: HooktopError.self) { try single[0].get() }
            #expect(conflict?.code == .conflict)

            let plain = try await engine.publish(
                groups: (0..<5).map { _ in [PublishRequest(eventType: "a.b", payload: "{}")] }, now: Date())
            #expect(plain.allSatisfy { (try? $0.get())?.map(\.deliveryCount) == [1] })
            // A repeated idempotency key in a later commit is the first message, recorded once.
            let again = try await engine.publish(
                groups: [[PublishRequest(eventType: "a.b", payload: "{}", idempotencyKey: "k")]], now: Date())
            #expect(try again[0].get()[0].duplicate)
            #expect(try await engine.deliveries(DeliveryQuery()).count == 8)
            #expect(try await engine.overview(now: Date()).totals[.pending] == 8)
        }
    }
}
