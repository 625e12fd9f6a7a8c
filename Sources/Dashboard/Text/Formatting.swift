import Foundation

/// Short, fixed-width renderings of numbers, times and durations for table cells.
public enum Formatting {
    /// `14:02:09` in `timeZone`.
    public static func clock(_ date: Date, timeZone: TimeZone) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down)) + timeZone.secondsFromGMT(for: date)
        let day = ((seconds % 86_400) + 86_400) % 86_400
        return twoDigits(day / 3600) + ":" + twoDigits(day / 60 % 60) + ":" + twoDigits(day % 60)
    }

    /// For list rows: `14:02:09` on the day of `now`, else the date (`Nov 29`), as `ps` does for old processes,
    /// so that yesterday's rows do not pass for today's. Always 8 columns or fewer.
    public static func listTime(_ date: Date, now: Date, timeZone: TimeZone) -> String {
        let offset = timeZone.secondsFromGMT(for: date)
        let day = (Int(date.timeIntervalSince1970.rounded(.down)) + offset).floorDiv(86_400)
        let today = (Int(now.timeIntervalSince1970.rounded(.down)) + timeZone.secondsFromGMT(for: now)).floorDiv(86_400)
        if day == today { return clock(date, timeZone: timeZone) }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.month, .day], from: date)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return months[max(0, min(11, (c.month ?? 1) - 1))] + " " + twoDigits(c.day ?? 0)
    }

    /// `07` from 7 (0...99).
    static func twoDigits(_ value: Int) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }

    /// `text` without leading and trailing spaces and tabs (Unicode `Zs` and U+0009, as `CharacterSet.whitespaces`).
    public static func trimmingWhitespace(_ text: String) -> String {
        func isWhitespace(_ s: Unicode.Scalar) -> Bool {
            s == " " || s == "\t" || (s.value >= 0x80 && s.properties.generalCategory == .spaceSeparator)
        }
        let scalars = text.unicodeScalars
        guard let first = scalars.first, let last = scalars.last else { return text }
        if !isWhitespace(first), !isWhitespace(last) { return text }
        var start = scalars.startIndex
        var end = scalars.endIndex
        while start < end, isWhitespace(scalars[start]) { start = scalars.index(after: start) }
        while end > start, isWhitespace(scalars[scalars.index(before: end)]) { end = scalars.index(before: end) }
        return String(scalars[start..<end])
    }

    /// `14:02` in `timeZone`.
    public static func shortClock(_ date: Date, timeZone: TimeZone) -> String {
        String(clock(date, timeZone: timeZone).prefix(5))
    }

    /// `2024-05-01 14:02:09` in `timeZone`.
    public static func dateTime(_ date: Date, timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d ", c.year ?? 0, c.month ?? 0, c.day ?? 0)
            + clock(date, timeZone: timeZone)
    }

    /// A compact duration: `45s`, `3m12s`, `2h05m`, `3d04h`; negative values read as `0s`.
    /// `2026-12-02T07:16:24+01:00`: ISO 8601 with the offset of `timeZone`.
    public static func isoTime(_ date: Date, timeZone: TimeZone) -> String {
        var style = Date.ISO8601FormatStyle(timeZone: timeZone)
        style.timeZone = timeZone
        return style.format(date)
    }

    public static func duration(_ seconds: TimeInterval) -> String {
        let s = max(0, Int(seconds.rounded(.up)))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        if s < 86_400 { return String(format: "%dh%02dm", s / 3600, s / 60 % 60) }
        return String(format: "%dd%02dh", s / 86_400, s / 3600 % 24)
    }

    /// `35ms`, `1.2s`, `14s`.
    public static func latency(_ milliseconds: Double?) -> String {
        guard let ms = milliseconds else { return "-" }
        if ms < 1000 { return "\(Int(ms.rounded()))ms" }
        if ms < 10_000 { return String(format: "%.1fs", ms / 1000) }
        return "\(Int((ms / 1000).rounded()))s"
    }

    /// `97.1%`, or `-` without data.
    public static func percent(_ ratio: Double?) -> String {
        guard let ratio else { return "-" }
        if ratio >= 1 { return "100%" }
        return String(format: "%.1f%%", ratio * 100)
    }

    /// `950`, `12.3k`, `4.1M`.
    public static func count(_ value: Int) -> String {
        if value < 10_000 { return "\(value)" }
        if value < 1_000_000 { return String(format: "%.1fk", Double(value) / 1000) }
        return String(format: "%.1fM", Double(value) / 1_000_000)
    }

    /// `3.2/s`, `120/s`.
    public static func rate(_ perSecond: Double) -> String {
        if perSecond < 10 { return String(format: "%.1f/s", perSecond) }
        return "\(Int(perSecond.rounded()))/s"
    }

    /// Parses `30m`, `2h`, `1d`, `45s`, `1h30m` into seconds; `nil` when it is not such a duration.
    public static func parseDuration(_ text: String) -> TimeInterval? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard !trimmed.isEmpty else { return nil }
        var total: TimeInterval = 0
        var digits = ""
        for character in trimmed {
            if character.isASCII, character.isNumber {
                digits.append(character)
                continue
            }
            guard let value = Int(digits) else { return nil }
            switch character {
            case "s": total += TimeInterval(value)
            case "m": total += TimeInterval(value) * 60
            case "h": total += TimeInterval(value) * 3600
            case "d": total += TimeInterval(value) * 86_400
            case "w": total += TimeInterval(value) * 604_800
            default: return nil
            }
            digits = ""
        }
        guard digits.isEmpty, total > 0 else { return nil }
        return total
    }
}

extension Int {
    /// Division rounding toward negative infinity (days before 1970 stay on their own day).
    fileprivate func floorDiv(_ divisor: Int) -> Int {
        let q = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? q - 1 : q
    }
}
