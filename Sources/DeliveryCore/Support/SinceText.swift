import Foundation

/// Times an operator types: a duration back from now (`2h`, `30m`, `7d`) or an ISO 8601 date.
public enum SinceText {
    /// - Throws: `HooktopError.invalidInput` naming the accepted forms.
    public static func parse(_ text: String, now: Date = Date()) throws -> Date {
        if let seconds = DurationText.seconds(text) {
            guard seconds <= 100 * 365 * 86400 else {
                throw HooktopError.invalid("bad time '\(text)': more than 100 years back")
            }
            return now.addingTimeInterval(-seconds)
        }
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [
            [.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime], [.withFullDate],
        ] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return date }
        }
        throw HooktopError.invalid("bad time '\(text)': use a duration back from now (30m, 2h, 7d) or ISO 8601 (2026-11-30T12:00:00Z)")
    }
}
