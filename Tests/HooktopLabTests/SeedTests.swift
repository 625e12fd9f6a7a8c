import DeliveryCore
import Foundation
import HooktopLab
import HooktopReceivers
import HooktopTesting
import Testing

/// `hooktop seed`: a large log whose counters and failure groups agree with its rows.
struct SeedTests {
    @Test func seededLogIsConsistent() throws {
        let database = try TemporaryDatabase()
        let store = database.store
        try LogSeeder.seed(store, deliveries: 3_000, endpoints: 7)
        let overview = try store.overview(now: Date())
        let totals = overview.totals
        #expect(DeliveryStatus.allCases.reduce(0) { $0 + totals[$1] } == 3_000)
        #expect(totals.delivered > 2_000)
        #expect(totals.dead > 0)
        #expect(overview.endpointCount == 7)
        // Every failing delivery is in exactly one failure group, including those inserted already failing.
        let groups = try store.failureGroups(endpointId: nil, limit: 1000)
        #expect(groups.reduce(0) { $0 + $1.count } == totals.dead + totals.retrying)
        #expect(groups.reduce(0) { $0 + $1.dead } == totals.dead)
        // Counts agree with the rows, page by page.
        var dead = 0
        var cursor: Int64?
        while true {
            let page = try store.deliveries(DeliveryQuery(statuses: [.dead], before: cursor, limit: 500))
            dead += page.count
            guard let last = page.last, page.count == 500 else { break }
            cursor = last.id
        }
        #expect(dead == totals.dead)
        #expect(overview.throughput.reduce(0, +) > 0)
    }

    @Test func refusesEmptySeeds() throws {
        let database = try TemporaryDatabase()
        #expect(throws: HooktopError.self) { try LogSeeder.seed(database.store, deliveries: 0, endpoints: 1) }
    }
}
