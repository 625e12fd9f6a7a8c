@testable import DeliveryCore
import Foundation
import HooktopTesting
import Testing

/// Replay by filter: exactly the deliveries a filter names are queued again (or counted, in a dry run), audited.
struct ReplayTests {
    /// Two endpoints' dead deliveries of several types, classes and times; returns the endpoints.
    static func log(_ engine: any DeliveryEngine, now: Date) async throws -> (Endpoint, Endpoint) {
        let a = try await engine.addTestEndpoint("http://127.0.0.1:9/a")
        let b = try await engine.addTestEndpoint("http://127.0.0.1:9/b")
        let types = ["invoice.paid", "invoice.voided", "user.created"]
        for (index, type) in (types + types).enumerated() {
            _ = try await engine.publish(eventType: type, payload: #"{"n":\#(index)}"#, now: now.addingTimeInterval(-7200))
        }
        // Each delivery fails once under a one-attempt policy: dead, at a time and with a class of its own.
        for (offset, endpoint) in [a, b].enumerated() {
            let jobs = try await engine.claimAll(endpoint, now: now.addingTimeInterval(-7200))
            for (index, job) in jobs.enumerated() {
                let at = now.addingTimeInterval(Double(-3600 + index * 600 + offset))
                var outcome = fakeOutcome(job, status: index % 2 == 0 ? 500 : nil, at: at)
                if index % 2 == 1 {
                    outcome.errorClass = .timeout
                    outcome.errorMessage = "no response within the timeout"
                }
                try await engine.record(
                    [outcome], owner: "w:test", policy: RetryPolicy(delays: [], jitter: 0), autoDisableAfter: nil, now: at)
            }
        }
        return (a, b)
    }

    @Test(arguments: TestEngine.allCases)
    func aFilterQueuesExactlyWhatItNames(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let now = Date()
            let (a, b) = try await Self.log(engine, now: now)
            #expect(try await engine.deliveries(DeliveryQuery(statuses: [.dead])).count == 12)
            let operations = Operations(engine: engine, now: { now })
            func count(_ filter: DeliveryFilter) async throws -> Int {
                try await operations.replay(filter, dryRun: true, by: testActor)
            }
            #expect(try await count(DeliveryFilter(status: .dead)) == 12)
            #expect(try await count(DeliveryFilter(status: .dead, endpointId: a.id)) == 6)
            #expect(try await count(DeliveryFilter(status: .dead, endpointId: a.id, eventType: "invoice.*")) == 4)
            #expect(try await count(DeliveryFilter(status: .dead, errorClass: .timeout)) == 6)
            #expect(try await count(DeliveryFilter(status: .dead, errorClass: .httpStatus)) == 6)
            // Each endpoint's six died 10 minutes apart from an hour ago.
            #expect(try await count(DeliveryFilter(status: .dead, since: now.addingTimeInterval(-1900))) == 6)
            #expect(
                try await count(
                    DeliveryFilter(status: .dead, since: now.addingTimeInterval(-3700), until: now.addingTimeInterval(-2900)))
                    == 4)
            #expect(try await count(DeliveryFilter(status: .cancelled)) == 0)
            // The dashboard's since:/until: bound when the message was published (two hours ago, all of them).
            var published = DeliveryFilter(status: .dead)
            published.publishedSince = now.addingTimeInterval(-7300)
            #expect(try await count(published) == 12)
            published.publishedUntil = now.addingTimeInterval(-7250)
            #expect(try await count(published) == 0)
            // A dry run changed nothing.
            #expect(try await engine.deliveries(DeliveryQuery(statuses: [.dead])).count == 12)

            // Held endpoints are left alone.
            try await operations.pause(endpointId: b.id, by: testActor)
            #expect(try await count(DeliveryFilter(status: .dead, eventType: "user.*")) == 2)
            await #expect(throws: HooktopError.self, "a held endpoint named is refused, not matched empty") {
                try await count(DeliveryFilter(status: .dead, endpointId: b.id))
            }
            let queued = try await operations.replay(
                DeliveryFilter(status: .dead, eventType: "invoice.*", errorClass: .httpStatus), dryRun: false, by: testActor)
            #expect(queued == 2)
            let pending = try await engine.deliveries(DeliveryQuery(statuses: [.pending]))
            #expect(pending.count == 2)
            #expect(pending.allSatisfy { $0.endpointId == a.id && $0.eventType.hasPrefix("invoice.") })
            // The counters follow, and the audit names the filter.
            let totals = try await engine.overview(now: now).totals
            #expect(totals.dead == 10 && totals.pending == 2)
            let audit = try await engine.auditEntries(objectId: nil, limit: 1)
            #expect(audit.first?.action == "delivery.replay")
            #expect(audit.first?.detail.hasPrefix("status=dead type=invoice.* error_class=http_status") == true)
            #expect(audit.first?.detail.hasSuffix(": 2 queued") == true)
            // Queued as manual attempts.
            let jobs = try await engine.claimAll(a, now: now)
            #expect(jobs.count == 2 && jobs.allSatisfy { $0.trigger == .manual })
        }
    }

    @Test(arguments: TestEngine.allCases)
    func badFiltersAreRefused(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let operations = Operations(engine: engine)
            for filter in [
                DeliveryFilter(status: .pending), DeliveryFilter(status: .inflight),
                DeliveryFilter(status: .dead, eventType: "a b"),
                DeliveryFilter(status: .dead, since: Date(), until: Date().addingTimeInterval(-1)),
            ] {
                await #expect(throws: HooktopError.self) { try await operations.replay(filter, dryRun: true, by: testActor) }
            }
            await #expect(throws: HooktopError.self) {
                try await operations.replay(DeliveryFilter(status: .dead, endpointId: "ep_missing"), dryRun: false, by: testActor)
            }
        }
    }
}
