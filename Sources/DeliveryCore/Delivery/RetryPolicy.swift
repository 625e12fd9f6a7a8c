import Foundation

/// When to try a failed delivery again: a pure value, with the clock and randomness passed in.
///
/// The default schedule, as delays after each failed attempt (±20% jitter):
///
/// | after attempt | delay |
/// | --- | --- |
/// | 1 | 5 s |
/// | 2 | 5 min |
/// | 3 | 30 min |
/// | 4 | 2 h |
/// | 5 | 5 h |
/// | 6 | 10 h |
/// | 7 | 10 h |
/// | 8 | — dead |
public struct RetryPolicy: Sendable, Equatable, Codable {
    /// Delay after the n-th failed scheduled attempt, in seconds; its count + 1 is the number of attempts.
    public var delays: [TimeInterval]
    /// Relative jitter applied to each delay: 0.2 means ±20%.
    public var jitter: Double
    /// `Retry-After` is honoured when it asks for at most this long, in seconds (default 1 hour);
    /// longer requests are capped to it.
    public var maxRetryAfter: TimeInterval

    public init(delays: [TimeInterval], jitter: Double = 0.2, maxRetryAfter: TimeInterval = 3600) {
        self.delays = delays
        self.jitter = jitter
        self.maxRetryAfter = maxRetryAfter
    }

    /// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    public static let standard = RetryPolicy(delays: [5, 300, 1800, 7200, 18000, 36000, 36000])

    /// This policy with an endpoint's own delays, when it has them (jitter and the `Retry-After` cap stay).
    public func overridden(by schedule: RetryPolicy?) -> RetryPolicy {
        guard let schedule else { return self }
        return RetryPolicy(delays: schedule.delays, jitter: jitter, maxRetryAfter: maxRetryAfter)
    }

    /// Scheduled attempts before a delivery is dead (the first one plus one per delay).
    public var maxAttempts: Int { delays.count + 1 }

    /// When to try again after scheduled attempt `attempt` (1-based) failed, or `nil` when the delivery is dead.
    /// - Parameters:
    ///   - retryAfter: the delay a 429 or 503 asked for, if any.
    public func nextAttempt(
        afterFailedAttempt attempt: Int, retryAfter: TimeInterval? = nil, now: Date,
        using random: inout some RandomNumberGenerator
    ) -> Date? {
        guard attempt >= 1, attempt <= delays.count else { return nil }
        if let retryAfter, retryAfter >= 0 {
            return now.addingTimeInterval(min(retryAfter, maxRetryAfter))
        }
        let base = delays[attempt - 1]
        let factor = jitter > 0 ? Double.random(in: (1 - jitter)...(1 + jitter), using: &random) : 1
        return now.addingTimeInterval(base * factor)
    }

    /// The delays as `parse` reads them: `5s,5m,30m`.
    public static func describe(_ delays: [TimeInterval]) -> String {
        delays.map(DurationText.format).joined(separator: ",")
    }

    /// Parses `1s,30s,5m,2h` into a schedule.
    /// - Throws: `HooktopError.invalidInput` naming the bad entry.
    public static func parse(_ text: String) throws -> RetryPolicy {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !parts.isEmpty, parts.count <= 50 else {
            throw HooktopError.invalid("a retry schedule is 1 to 50 comma-separated durations, like 5s,5m,30m")
        }
        let delays = try parts.map { part -> TimeInterval in
            guard let seconds = DurationText.seconds(part), seconds > 0, seconds <= 7 * 86400 else {
                throw HooktopError.invalid("bad retry delay '\(part)': use a duration like 500ms, 5s, 5m, 2h, 1d")
            }
            return seconds
        }
        return RetryPolicy(delays: delays)
    }

    /// Parses a `Retry-After` header: delay in seconds, or an HTTP date.
    public static func parseRetryAfter(_ value: String, now: Date) -> TimeInterval? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed) { return seconds >= 0 ? TimeInterval(seconds) : nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }
}

/// Durations written the way operators type them: `500ms`, `5s`, `30m`, `2h`, `1d`, `30d`.
public enum DurationText {
    /// Seconds in `text`, or `nil` when it is not a duration.
    public static func seconds(_ text: String) -> TimeInterval? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604800)]
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            let number = trimmed.dropLast(suffix.count)
            // "ms" ends in "s": make sure "5ms" is not read as "5m" + "s".
            if suffix == "s", number.hasSuffix("m") { continue }
            guard let value = Double(number), value.isFinite, value >= 0 else { return nil }
            return value * scale
        }
        return nil
    }

    /// `5s`, `2m`, `3h`, `4d`: the largest whole unit, for display.
    public static func format(_ seconds: TimeInterval) -> String {
        let s = max(0, seconds)
        if s < 1 { return "\(Int(s * 1000))ms" }
        if s < 60 { return "\(Int(s))s" }
        if s < 3600 { return "\(Int(s / 60))m" }
        if s < 86400 { return "\(Int(s / 3600))h" }
        return "\(Int(s / 86400))d"
    }
}
