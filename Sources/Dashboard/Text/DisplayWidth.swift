/// Terminal display width of text, measured the way terminals place it (East Asian wide = 2 columns, combining = 0).
///
/// An own table rather than the C library's `wcwidth`, so measurements do not depend on the process locale and are
/// the same in tests and on the terminal (for the characters that matter: CJK, Hangul, fullwidth forms, emoji).
public enum DisplayWidth {
    /// Columns one Unicode scalar occupies: 0, 1 or 2. Control characters count 0 (they never reach the screen).
    public static func of(_ scalar: Unicode.Scalar) -> Int {
        let v = scalar.value
        if v < 0x20 || (0x7F..<0xA0).contains(v) { return 0 }
        if v < 0x300 { return 1 }
        if v == 0x200B || (0x200C...0x200F).contains(v) || (0x2028...0x202E).contains(v)
            || (0x2060...0x206F).contains(v) || v == 0xFEFF
        {
            return 0
        }
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        if (0xFE00...0xFE0F).contains(v) || (0xE0100...0xE01EF).contains(v) { return 0 }
        if isWide(v) { return 2 }
        return 1
    }

    /// Columns one grapheme cluster occupies (0...2): a base character plus its combining marks is one cell.
    public static func of(_ character: Character) -> Int {
        var width = 0
        var first = true
        for scalar in character.unicodeScalars {
            let w = of(scalar)
            if first {
                width = w
                first = false
            } else if scalar.value == 0xFE0F, scalar.properties.isEmoji {
                width = 2
            } else if w == 2 {
                width = max(width, 2)
            }
        }
        return min(width, 2)
    }

    /// Columns a string occupies.
    public static func of(_ text: some StringProtocol) -> Int {
        if let width = printableASCIIWidth(text) { return width }
        var total = 0
        for character in text { total += of(character) }
        return total
    }

    /// Truncates `text` to at most `width` columns, ending with `ellipsis` when something was cut.
    /// A wide character is never split: when it does not fit, it is left out (the result may be a column short).
    public static func truncate(_ text: String, to width: Int, ellipsis: String = "…") -> String {
        guard width > 0 else { return "" }
        let ascii = printableASCIIWidth(text)
        if (ascii ?? of(text)) <= width { return text }
        let ellipsisWidth = of(ellipsis)
        let budget = width - ellipsisWidth
        guard budget >= 0 else { return String(repeating: ".", count: width) }
        // One column per byte: cut at the byte.
        if ascii != nil { return String(decoding: text.utf8.prefix(budget), as: UTF8.self) + ellipsis }
        var result = ""
        var used = 0
        for character in text {
            let w = of(character)
            if used + w > budget { break }
            result.append(character)
            used += w
        }
        return result + ellipsis
    }

    /// Pads (or truncates) `text` to exactly `width` columns.
    public static func pad(_ text: String, to width: Int, alignRight: Bool = false, ellipsis: String = "…") -> String {
        let cut = truncate(text, to: width, ellipsis: ellipsis)
        let gap = max(0, width - of(cut))
        let spaces = String(repeating: " ", count: gap)
        return alignRight ? spaces + cut : cut + spaces
    }

    /// The width of `text` when it is all printable ASCII (one column per byte, the common case of table cells),
    /// else `nil`: the fast path that skips grapheme breaking and Unicode properties.
    @inline(__always)
    static func printableASCIIWidth(_ text: some StringProtocol) -> Int? {
        var count = 0
        for byte in text.utf8 {
            guard byte >= 0x20, byte < 0x7F else { return nil }
            count += 1
        }
        return count
    }

    /// East Asian Wide and Fullwidth ranges, plus emoji with default emoji presentation.
    static func isWide(_ v: UInt32) -> Bool {
        switch v {
        case 0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x23E9...0x23EC, 0x23F0, 0x23F3, 0x25FD...0x25FE,
            0x2614...0x2615, 0x2648...0x2653, 0x267F, 0x2693, 0x26A1, 0x26AA...0x26AB, 0x26BD...0x26BE,
            0x26C4...0x26C5, 0x26CE, 0x26D4, 0x26EA, 0x26F2...0x26F3, 0x26F5, 0x26FA, 0x26FD, 0x2705,
            0x270A...0x270B, 0x2728, 0x274C, 0x274E, 0x2753...0x2755, 0x2757, 0x2795...0x2797, 0x27B0, 0x27BF,
            0x2B1B...0x2B1C, 0x2B50, 0x2B55, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
            0xA000...0xA4CF, 0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F,
            0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x16FE0...0x16FE4, 0x17000...0x18CFF, 0x1B000...0x1B2FF,
            0x1F004, 0x1F0CF, 0x1F18E, 0x1F191...0x1F19A, 0x1F200...0x1F251, 0x1F300...0x1F320, 0x1F32D...0x1F335,
            0x1F337...0x1F37C, 0x1F37E...0x1F393, 0x1F3A0...0x1F3CA, 0x1F3CF...0x1F3D3, 0x1F3E0...0x1F3F0,
            0x1F3F4, 0x1F3F8...0x1F43E, 0x1F440, 0x1F442...0x1F4FC, 0x1F4FF...0x1F53D, 0x1F54B...0x1F54E,
            0x1F550...0x1F567, 0x1F57A, 0x1F595...0x1F596, 0x1F5A4, 0x1F5FB...0x1F64F, 0x1F680...0x1F6C5,
            0x1F6CC, 0x1F6D0...0x1F6D2, 0x1F6D5...0x1F6D7, 0x1F6EB...0x1F6EC, 0x1F6F4...0x1F6FC,
            0x1F7E0...0x1F7EB, 0x1F90C...0x1F93A, 0x1F93C...0x1F945, 0x1F947...0x1F9FF, 0x1FA70...0x1FAFF,
            0x20000...0x2FFFD, 0x30000...0x3FFFD:
            return true
        default:
            return false
        }
    }
}
