import DeliveryCore
import Foundation
import HooktopTesting
import Testing

struct RetryPolicyTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    /// Attempt number → the default delay after it, in seconds.
    static let table: [(attempt: Int, delay: TimeInterval)] = [
        (1, 5), (2, 300), (3, 1800), (4, 7200), (5, 18000), (6, 36000), (7, 36000),
    ]

    @Test(arguments: table)
    func defaultScheduleIsWithinTwentyPercent(attempt: Int, delay: TimeInterval) {
        var random = SeededGenerator(seed: UInt64(attempt))
        var seen: Set<TimeInterval> = []
        for _ in 0..<200 {
            let next = RetryPolicy.standard.nextAttempt(afterFailedAttempt: attempt, now: Self.now, using: &random)
            let wait = try! #require(next).timeIntervalSince(Self.now)
            #expect(wait >= delay * 0.8 - 0.001 && wait <= delay * 1.2 + 0.001, "attempt \(attempt): \(wait)")
            seen.insert(wait)
        }
        #expect(seen.count > 100, "jitter spreads retries")
    }

    @Test func deadAfterTheLastScheduledAttempt() {
        var random = SeededGenerator(seed: 7)
        #expect(RetryPolicy.standard.maxAttempts == 8)
        #expect(RetryPolicy.standard.delays == [5, 300, 1800, 7200, 18000, 36000, 36000])
        #expect(RetryPolicy.standard.nextAttempt(afterFailedAttempt: 8, now: Self.now, using: &random) == nil)
        #expect(RetryPolicy.standard.nextAttempt(afterFailedAttempt: 9, now: Self.now, using: &random) == nil)
        #expect(RetryPolicy.standard.nextAttempt(afterFailedAttempt: 0, now: Self.now, using: &random) == nil)
        // Retry-After does not resurrect a dead delivery.
        #expect(
            RetryPolicy.standard.nextAttempt(afterFailedAttempt: 8, retryAfter: 10, now: Self.now, using: &random) == nil)
        #expect(RetryPolicy(delays: []).maxAttempts == 1)
    }

    @Test func sameSeedSameSchedule() {
        var first = SeededGenerator(seed: 42)
        var second = SeededGenerator(seed: 42)
        let a = (1...7).map { RetryPolicy.standard.nextAttempt(afterFailedAttempt: $0, now: Self.now, using: &first) }
        let b = (1...7).map { RetryPolicy.standard.nextAttempt(afterFailedAttempt: $0, now: Self.now, using: &second) }
        #expect(a == b)
    }

    @Test func noJitterIsExact() {
        var random = SeededGenerator(seed: 1)
        let policy = RetryPolicy(delays: [0.2, 0.2], jitter: 0)
        #expect(policy.nextAttempt(afterFailedAttempt: 1, now: Self.now, using: &random) == Self.now.addingTimeInterval(0.2))
        #expect(policy.nextAttempt(afterFailedAttempt: 3, now: Self.now, using: &random) == nil)
    }

    @Test(arguments: [
        (TimeInterval(30), TimeInterval(3600), TimeInterval(30)),
        (0, 3600, 0),
        (7200, 3600, 3600),
        (86400 * 7, 600, 600),
    ] as [(TimeInterval, TimeInterval, TimeInterval)])
    func retryAfterIsHonouredUpToTheCap(retryAfter: TimeInterval, cap: TimeInterval, expected: TimeInterval) {
        var random = SeededGenerator(seed: 3)
        let policy = RetryPolicy(delays: RetryPolicy.standard.delays, maxRetryAfter: cap)
        let next = policy.nextAttempt(afterFailedAttempt: 1, retryAfter: retryAfter, now: Self.now, using: &random)
        #expect(next == Self.now.addingTimeInterval(expected))
    }

    @Test func parsesSchedules() throws {
        #expect(try RetryPolicy.parse("1s,2s").delays == [1, 2])
        #expect(try RetryPolicy.parse(" 500ms, 5m ,2h,1d").delays == [0.5, 300, 7200, 86400])
        #expect(try RetryPolicy.parse("1s,2s").maxAttempts == 3)
        #expect(try RetryPolicy.parse("5s").jitter == RetryPolicy.standard.jitter)
    }

    @Test(arguments: ["", ",", "abc", "1s,abc", "0s", "-1s", "5", "8d", "1s;2s", Array(repeating: "1s", count: 51).joined(separator: ",")])
    func refusesBadSchedules(_ text: String) {
        let error = #expect(throws: HooktopError.self) { try RetryPolicy.parse(text) }
        #expect(error?.code == .invalidInput)
    }

    @Test func parsesRetryAfterSecondsAndHTTPDates() {
        let now = Date(timeIntervalSince1970: 1_445_412_420)  // Wed, 21 Oct 2015 07:27:00 GMT
        #expect(RetryPolicy.parseRetryAfter("120", now: now) == 120)
        #expect(RetryPolicy.parseRetryAfter(" 0 ", now: now) == 0)
        #expect(RetryPolicy.parseRetryAfter("-5", now: now) == nil)
        #expect(RetryPolicy.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now: now) == 60)
        #expect(RetryPolicy.parseRetryAfter("Wed, 21 Oct 2015 07:00:00 GMT", now: now) == 0)
        #expect(RetryPolicy.parseRetryAfter("soon", now: now) == nil)
        #expect(RetryPolicy.parseRetryAfter("", now: now) == nil)
        #expect(RetryPolicy.parseRetryAfter("1.5", now: now) == nil)
    }

    @Test(arguments: [
        ("500ms", 0.5), ("5ms", 0.005), ("5s", 5), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1w", 604_800),
        ("1.5h", 5400), (" 30D ", 2_592_000),
    ] as [(String, TimeInterval)])
    func parsesDurations(_ text: String, _ seconds: TimeInterval) {
        #expect(DurationText.seconds(text) == seconds)
    }

    @Test(arguments: ["", "5", "s", "ms", "abc", "-1s", "1y", "infs", "nanm"])
    func refusesBadDurations(_ text: String) {
        #expect(DurationText.seconds(text) == nil)
    }

    @Test func formatsDurations() {
        #expect(DurationText.format(0.25) == "250ms")
        #expect(DurationText.format(5) == "5s")
        #expect(DurationText.format(59) == "59s")
        #expect(DurationText.format(120) == "2m")
        #expect(DurationText.format(7200) == "2h")
        #expect(DurationText.format(5 * 86400) == "5d")
        #expect(DurationText.format(-3) == "0ms")
    }

    @Test func sinceTextTakesDurationsAndISODates() throws {
        let now = Self.now
        #expect(try SinceText.parse("2h", now: now) == now.addingTimeInterval(-7200))
        #expect(try SinceText.parse("2026-11-30T12:00:00Z", now: now) == Date(timeIntervalSince1970: 1_796_040_000))
        #expect(throws: HooktopError.self) { try SinceText.parse("yesterday", now: now) }
    }
}
