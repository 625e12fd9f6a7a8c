/// A validating, single-pass JSON reader that finds where values are instead of building them.
///
/// Publishing stores an event's payload as the bytes the publisher sent, so the request is read once: the scanner
/// checks the whole document against RFC 8259 and reports, for an object or array, the byte range of each member.
/// Only the envelope's few strings (the event type, the idempotency key) are ever decoded.
public struct JSONScanner {
    /// The kind of a JSON value.
    public enum Kind: Sendable, Equatable {
        case object, array, string, number, bool, null
    }

    /// A value's kind and its bytes (no surrounding whitespace).
    public struct Value: Sendable, Equatable {
        public var kind: Kind
        public var range: Range<Int>
    }

    /// Why a document is not valid JSON, with the byte offset.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var reason: String
        public var offset: Int
        public var description: String { "\(reason) at byte \(offset)" }
    }

    /// Nesting deeper than this is refused, so a hostile document cannot exhaust the stack.
    public static let maxDepth = 256

    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The single value of the whole document (whitespace around it allowed).
    /// - Throws: `Failure` for anything that is not exactly one valid JSON value, or for text that is not UTF-8.
    public func document() throws -> Value {
        var index = skipWhitespace(0)
        let value = try scanValue(&index, depth: 0)
        index = skipWhitespace(index)
        guard index == bytes.count else { throw Failure(reason: "unexpected text after the JSON value", offset: index) }
        return value
    }

    /// The members of the object at `value`, in document order, keys decoded.
    public func members(of value: Value) throws -> [(key: String, value: Value)] {
        precondition(value.kind == .object)
        var result: [(key: String, value: Value)] = []
        var index = skipWhitespace(value.range.lowerBound + 1)
        if bytes[index] == UInt8(ascii: "}") { return result }
        while true {
            let keyStart = index
            skipValidated(&index)
            let key = try string(Value(kind: .string, range: keyStart..<index))
            index = skipWhitespace(index)
            index += 1  // the colon, checked by `document()`
            index = skipWhitespace(index)
            let member = skipValidated(&index)
            result.append((key, member))
            index = skipWhitespace(index)
            if bytes[index] == UInt8(ascii: "}") { return result }
            index = skipWhitespace(index + 1)
        }
    }

    /// The elements of the array at `value`, in order.
    public func elements(of value: Value) throws -> [Value] {
        precondition(value.kind == .array)
        var result: [Value] = []
        var index = skipWhitespace(value.range.lowerBound + 1)
        if bytes[index] == UInt8(ascii: "]") { return result }
        while true {
            result.append(skipValidated(&index))
            index = skipWhitespace(index)
            if bytes[index] == UInt8(ascii: "]") { return result }
            index = skipWhitespace(index + 1)
        }
    }

    /// The decoded text of the string at `value` (escapes resolved).
    public func string(_ value: Value) throws -> String {
        precondition(value.kind == .string)
        let inner = (value.range.lowerBound + 1)..<(value.range.upperBound - 1)
        if !bytes[inner].contains(UInt8(ascii: "\\")) {
            return String(decoding: bytes[inner], as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(inner.count)
        var index = inner.lowerBound
        while index < inner.upperBound {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                index += 1
                continue
            }
            let escape = bytes[index + 1]
            index += 2
            switch escape {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                var scalar = hex4(at: index)
                index += 4
                if (0xD800..<0xDC00).contains(scalar), index + 6 <= inner.upperBound, bytes[index] == UInt8(ascii: "\\"),
                    bytes[index + 1] == UInt8(ascii: "u")
                {
                    let low = hex4(at: index + 2)
                    if (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        index += 6
                    }
                }
                // A lone surrogate has no UTF-8 form: it decodes to U+FFFD, as most JSON readers do.
                out.append(contentsOf: String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8)
            default: out.append(escape)  // \" \\ \/
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The text of `value` exactly as it appears in the document.
    public func text(_ value: Value) -> String { String(decoding: bytes[value.range], as: UTF8.self) }

    /// The number at `value` when it is an integer that fits in `Int` (`12`, `-3`, `4.0` and `1e3` are accepted as
    /// JSON readers accept them), else nil.
    public func integer(_ value: Value) -> Int? {
        guard value.kind == .number else { return nil }
        if let exact = Int(text(value)) { return exact }
        guard let double = Double(text(value)), double.isFinite, double == double.rounded(), abs(double) < 1e15 else {
            return nil
        }
        return Int(double)
    }

    // MARK: - Scanning

    /// Steps over a value of a document `document()` has already checked, finding only where it ends.
    @discardableResult
    private func skipValidated(_ index: inout Int) -> Value {
        let start = index
        let kind: Kind
        switch bytes[index] {
        case UInt8(ascii: "\""):
            index += 1
            while bytes[index] != UInt8(ascii: "\"") { index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1 }
            index += 1
            return Value(kind: .string, range: start..<index)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            kind = bytes[index] == UInt8(ascii: "{") ? .object : .array
            var depth = 0
            repeat {
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    skipValidated(&index)
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                default: break
                }
                index += 1
            } while depth > 0
            return Value(kind: kind, range: start..<index)
        case UInt8(ascii: "t"), UInt8(ascii: "f"): kind = .bool
        case UInt8(ascii: "n"): kind = .null
        default: kind = .number
        }
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D:
                return Value(kind: kind, range: start..<index)
            default: index += 1
            }
        }
        return Value(kind: kind, range: start..<index)
    }

    private func skipWhitespace(_ start: Int) -> Int {
        var index = start
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return index
            }
        }
        return index
    }

    private func scanValue(_ index: inout Int, depth: Int) throws -> Value {
        guard index < bytes.count else { throw Failure(reason: "unexpected end of JSON", offset: index) }
        let start = index
        switch bytes[index] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard depth < Self.maxDepth else { throw Failure(reason: "JSON nested too deeply", offset: index) }
            let isObject = bytes[index] == UInt8(ascii: "{")
            let close = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
            let kind: Kind = isObject ? .object : .array
            index = skipWhitespace(index + 1)
            if index < bytes.count, bytes[index] == close {
                index += 1
                return Value(kind: kind, range: start..<index)
            }
            while true {
                if isObject {
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                        throw Failure(reason: "expected a string key", offset: index)
                    }
                    try scanString(&index)
                    index = skipWhitespace(index)
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                        throw Failure(reason: "expected ':' after a key", offset: index)
                    }
                    index = skipWhitespace(index + 1)
                }
                _ = try scanValue(&index, depth: depth + 1)
                index = skipWhitespace(index)
                guard index < bytes.count else { throw Failure(reason: "unexpected end of JSON", offset: index) }
                if bytes[index] == close {
                    index += 1
                    return Value(kind: kind, range: start..<index)
                }
                guard bytes[index] == UInt8(ascii: ",") else {
                    throw Failure(reason: isObject ? "expected ',' or '}'" : "expected ',' or ']'", offset: index)
                }
                index = skipWhitespace(index + 1)
            }
        case UInt8(ascii: "\""):
            try scanString(&index)
            return Value(kind: .string, range: start..<index)
        case UInt8(ascii: "t"):
            try scanLiteral("true", &index)
            return Value(kind: .bool, range: start..<index)
        case UInt8(ascii: "f"):
            try scanLiteral("false", &index)
            return Value(kind: .bool, range: start..<index)
        case UInt8(ascii: "n"):
            try scanLiteral("null", &index)
            return Value(kind: .null, range: start..<index)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try scanNumber(&index)
            return Value(kind: .number, range: start..<index)
        default:
            throw Failure(reason: "unexpected character", offset: index)
        }
    }

    private func scanLiteral(_ literal: StaticString, _ index: inout Int) throws {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw Failure(reason: "unexpected end of JSON", offset: index) }
        let matches = literal.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[index + $0] == expected[$0] }
        }
        guard matches else { throw Failure(reason: "unexpected character", offset: index) }
        index += count
    }

    private func scanNumber(_ index: inout Int) throws {
        let start = index
        func digits() -> Int {
            let from = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            return index - from
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw Failure(reason: "unexpected end of JSON", offset: index) }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if digits() == 0 {
            throw Failure(reason: "bad number", offset: start)
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { throw Failure(reason: "bad number", offset: start) }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw Failure(reason: "bad number", offset: start) }
        }
    }

    /// Scans a string from its opening quote to just past its closing one, checking escapes and UTF-8.
    private func scanString(_ index: inout Int) throws {
        let start = index
        index += 1
        var ascii = true
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                if !ascii, String(validating: bytes[(start + 1)..<(index - 1)], as: UTF8.self) == nil {
                    throw Failure(reason: "string is not valid UTF-8", offset: start)
                }
                return
            case UInt8(ascii: "\\"):
                guard index + 1 < bytes.count else { throw Failure(reason: "unexpected end of JSON", offset: index) }
                switch bytes[index + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 2
                case UInt8(ascii: "u"):
                    guard index + 6 <= bytes.count, (2..<6).allSatisfy({ Self.isHex(bytes[index + $0]) }) else {
                        throw Failure(reason: "bad \\u escape", offset: index)
                    }
                    index += 6
                default:
                    throw Failure(reason: "bad escape", offset: index)
                }
            case 0..<0x20:
                throw Failure(reason: "control character in a string", offset: index)
            default:
                if byte >= 0x80 { ascii = false }
                index += 1
            }
        }
        throw Failure(reason: "unterminated string", offset: start)
    }

    private static func isHex(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
            UInt8(ascii: "A")...UInt8(ascii: "F"):
            return true
        default: return false
        }
    }

    private func hex4(at index: Int) -> UInt32 {
        var value: UInt32 = 0
        for byte in bytes[index..<(index + 4)] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            default: digit = byte - UInt8(ascii: "A") + 10
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }
}
