import Dashboard
import Foundation
import Testing

struct ListTimeTests {
    let utc = TimeZone(identifier: "UTC")!
    let now = Date(timeIntervalSince1970: 1_796_047_200)  // 2026-11-30 14:00:00 UTC

    @Test func todayShowsTheClockOtherDaysTheDate() {
        #expect(Formatting.listTime(now.addingTimeInterval(-3600), now: now, timeZone: utc) == "13:00:00")
        #expect(Formatting.listTime(now.addingTimeInterval(-14 * 3600), now: now, timeZone: utc) == "00:00:00")
        #expect(Formatting.listTime(now.addingTimeInterval(-14 * 3600 - 1), now: now, timeZone: utc) == "Nov 29")
        #expect(Formatting.listTime(now.addingTimeInterval(-40 * 86400), now: now, timeZone: utc) == "Oct 21")
    }

    @Test func theDayBoundaryFollowsTheTimeZone() throws {
        let tokyo = try #require(TimeZone(identifier: "Asia/Tokyo"))  // 23:00 on Nov 30 there
        #expect(Formatting.listTime(now.addingTimeInterval(-22 * 3600), now: now, timeZone: tokyo) == "01:00:00")
        #expect(Formatting.listTime(now.addingTimeInterval(-24 * 3600), now: now, timeZone: tokyo) == "Nov 29")
    }
}
