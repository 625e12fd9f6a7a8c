/// Re-indents JSON text for display, keeping key order and the exact spelling of strings and numbers.
///
/// Never crashes and never throws: input that is not one well-formed JSON value (or nests deeper than `maxDepth`)
/// comes back as `nil`, and callers show the raw text instead.
public enum JSONPrettyPrinter {
    /// Nesting deeper than this is treated as invalid (keeps hostile input from costing stack).
    public static let maxDepth = 64

    /// The pretty-printed lines, or `nil` when `text` is not valid JSON.
    public static func format(_ text: String, indent: Int = 2) -> [String]? {
        var parser = Parser(bytes: Array(text.utf8), indent: indent)
        return parser.run()
    }

    private struct Parser {
        let bytes: [UInt8]
        let indent: Int
        var index = 0
        var lines: [String] = []
        var current: [UInt8] = []

        init(bytes: [UInt8], indent: Int) {
            self.bytes = bytes
            self.indent = indent
        }

        mutating func run() -> [String]? {
            skipSpace()
            guard value(depth: 0) else { return nil }
            skipSpace()
            guard index == bytes.count else { return nil }
            flush()
            return lines
        }

        mutating func flush() {
            lines.append(String(decoding: current, as: UTF8.self))
            current = []
        }

        mutating func newline(depth: Int) {
            flush()
            current = Array(repeating: UInt8(ascii: " "), count: depth * indent)
        }

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        mutating func value(depth: Int) -> Bool {
            guard depth <= JSONPrettyPrinter.maxDepth, index < bytes.count else { return false }
            switch bytes[index] {
            case UInt8(ascii: "{"): return container(depth: depth, close: UInt8(ascii: "}"), keyed: true)
            case UInt8(ascii: "["): return container(depth: depth, close: UInt8(ascii: "]"), keyed: false)
            case UInt8(ascii: "\""): return string()
            default: return scalar()
            }
        }

        mutating func container(depth: Int, close: UInt8, keyed: Bool) -> Bool {
            current.append(bytes[index])
            index += 1
            skipSpace()
            if index < bytes.count, bytes[index] == close {
                current.append(close)
                index += 1
                return true
            }
            while true {
                newline(depth: depth + 1)
                skipSpace()
                if keyed {
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), string() else { return false }
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return false }
                    index += 1
                    current.append(contentsOf: Array(": ".utf8))
                    skipSpace()
                }
                guard value(depth: depth + 1) else { return false }
                skipSpace()
                guard index < bytes.count else { return false }
                if bytes[index] == UInt8(ascii: ",") {
                    current.append(bytes[index])
                    index += 1
                    continue
                }
                guard bytes[index] == close else { return false }
                index += 1
                newline(depth: depth)
                current.append(close)
                return true
            }
        }

        mutating func string() -> Bool {
            let start = index
            index += 1
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\\") {
                    index += 2
                    continue
                }
                if byte < 0x20 { return false }
                index += 1
                if byte == UInt8(ascii: "\"") {
                    current.append(contentsOf: bytes[start..<index])
                    return true
                }
            }
            return false
        }

        mutating func scalar() -> Bool {
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                let isToken =
                    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".")
                    || byte == UInt8(ascii: "E")
                guard isToken else { break }
                index += 1
            }
            guard index > start else { return false }
            let token = String(decoding: bytes[start..<index], as: UTF8.self)
            guard ["true", "false", "null"].contains(token) || Self.isNumber(token) else { return false }
            current.append(contentsOf: bytes[start..<index])
            return true
        }

        static func isNumber(_ token: String) -> Bool {
            var chars = Substring(token)
            if chars.first == "-" { chars = chars.dropFirst() }
            guard let first = chars.first, first.isASCII, first.isNumber else { return false }
            return chars.allSatisfy { $0.isNumber || $0 == "." || $0 == "e" || $0 == "E" || $0 == "+" || $0 == "-" }
        }
    }
}
