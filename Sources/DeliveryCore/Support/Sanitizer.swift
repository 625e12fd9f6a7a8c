/// Makes untrusted text (payloads, bodies, headers, descriptions, error strings, URLs, event types) safe to draw.
///
/// Every string that comes from data passes through here before it reaches a cell. The output contains no C0 or C1
/// control, no DEL and no escape sequence, so a response body cannot retitle the terminal, clear it or move the cursor.
/// - Escape sequences (7-bit `ESC …` and 8-bit C1 introducers): CSI, OSC (BEL or ST terminated), DCS, SOS, PM, APC and
///   two/three-byte escapes are removed whole and shown as one `^[` marker.
/// - Other C0 controls are shown in caret notation (`^G`), DEL as `^?`, other C1 controls as hex in angle brackets (`<85>`).
/// - Tab becomes a space; in single-line mode CR/LF become a space (CR before LF is dropped).
/// - Bidirectional overrides and isolates (Trojan Source) are shown as `<U+202E>`-style markers.
public enum Sanitizer {
    /// Sanitises `text` into one line: line breaks become spaces.
    public static func line(_ text: String) -> String {
        clean(text, keepNewlines: false)
    }

    /// Sanitises `text` into lines (split on LF, CRLF or CR).
    public static func lines(_ text: String) -> [String] {
        clean(text, keepNewlines: true).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// Marker shown where an escape sequence was removed.
    static let escapeMarker = "^["

    private enum Mode {
        case text
        /// After ESC: waiting for the byte that says which sequence this is.
        case escape
        /// ESC followed by intermediates (0x20...0x2F): ends at a final byte.
        case escapeIntermediate
        /// Control sequence: parameters and intermediates until a final byte 0x40...0x7E.
        case csi
        /// String sequence (OSC, DCS, SOS, PM, APC): until BEL, ST (ESC \ or 0x9C).
        case string
        /// ESC seen inside a string sequence: `\` ends it.
        case stringEscape
    }

    /// The scanner: one pass over the scalars with a small state machine.
    static func clean(_ text: String, keepNewlines: Bool) -> String {
        var out = String.UnicodeScalarView()
        var mode = Mode.text
        var previousWasCR = false
        func append(_ s: String) { out.append(contentsOf: s.unicodeScalars) }

        for scalar in text.unicodeScalars {
            let v = scalar.value
            switch mode {
            case .text:
                break
            case .escape:
                switch v {
                case 0x5B: mode = .csi  // [
                case 0x5D, 0x50, 0x58, 0x5E, 0x5F: mode = .string  // ] P X ^ _
                case 0x20...0x2F: mode = .escapeIntermediate
                case 0x1B: mode = .escape
                default: mode = .text  // two-byte escape (ESC 7, ESC c, ...) or ESC + anything: dropped
                }
                continue
            case .escapeIntermediate:
                if (0x20...0x2F).contains(v) { continue }
                mode = .text
                continue
            case .csi:
                if (0x20...0x3F).contains(v) { continue }
                mode = .text
                if (0x40...0x7E).contains(v) { continue }
            // A malformed sequence ends at the first byte that cannot belong to it; handle that byte as text.
            case .string:
                if v == 0x07 || v == 0x9C { mode = .text } else if v == 0x1B { mode = .stringEscape }
                continue
            case .stringEscape:
                mode = v == 0x5C ? .text : (v == 0x1B ? .stringEscape : .string)
                continue
            }

            if v == 0x0A {
                // CRLF is one line break: the CR already produced it.
                if !previousWasCR { out.append(keepNewlines ? "\n" : " ") }
                previousWasCR = false
                continue
            }
            previousWasCR = false
            switch v {
            case 0x1B:
                append(escapeMarker)
                mode = .escape
            case 0x9B:
                append(escapeMarker)
                mode = .csi
            case 0x90, 0x98, 0x9D, 0x9E, 0x9F:
                append(escapeMarker)
                mode = .string
            case 0x09:
                out.append(" ")
            case 0x0D:
                out.append(keepNewlines ? "\n" : " ")
                previousWasCR = true
            case 0x00..<0x20:
                append("^" + String(UnicodeScalar(UInt8(v + 0x40))))
            case 0x7F:
                append("^?")
            case 0x80..<0xA0:
                append("<" + hex(v) + ">")
            case 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C:
                append("<U+" + hex(v) + ">")
            default:
                out.append(scalar)
            }
        }
        return String(out)
    }

    private static func hex(_ v: UInt32) -> String {
        let digits = String(v, radix: 16, uppercase: true)
        return digits.count % 2 == 1 ? "0" + digits : digits
    }
}
