import Foundation

/// Any JSON value, typed: what a response carries when its content is the publisher's (an event's payload) or varies
/// by kind (an alert's details). Encodes as the JSON it holds.
public enum JSONValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The value of the JSON document `text`.
    /// - Throws: `JSONScanner.Failure` when `text` is not one valid JSON value.
    public init(parsing text: String) throws {
        let scanner = JSONScanner(Array(text.utf8))
        self = try JSONValue(scanner.document(), in: scanner)
    }

    /// The value at `value` of a scanned document. Integers that fit in 64 bits stay exact; other numbers are read
    /// as doubles, as JSON readers do.
    /// - Throws: `JSONScanner.Failure` for a number no double holds (`1e400`), rather than change its value.
    public init(_ value: JSONScanner.Value, in scanner: JSONScanner) throws {
        switch value.kind {
        case .null: self = .null
        case .bool: self = .bool(scanner.text(value) == "true")
        case .string: self = .string(try scanner.string(value))
        case .number:
            let text = scanner.text(value)
            if let integer = Int64(text) {
                self = .integer(integer)
            } else if let number = Double(text), number.isFinite {
                self = .number(number)
            } else {
                throw JSONScanner.Failure(reason: "number out of range", offset: value.range.lowerBound)
            }
        case .array: self = .array(try scanner.elements(of: value).map { try JSONValue($0, in: scanner) })
        case .object:
            var members: [String: JSONValue] = [:]
            for (key, member) in try scanner.members(of: value) { members[key] = try JSONValue(member, in: scanner) }
            self = .object(members)
        }
    }

    /// A string, or null for nil.
    public init(_ text: String?) { self = text.map(JSONValue.string) ?? .null }

    /// An integer, or null for nil.
    public init(_ number: Int?) { self = number.map { .integer(Int64($0)) } ?? .null }

    /// A time as the API writes it (ISO 8601 with milliseconds), or null for nil.
    public init(_ date: Date?) { self = date.map { .string(JSONRepresentation.timestamp($0)) } ?? .null }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let integer = try? container.decode(Int64.self) {
            self = .integer(integer)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let array = try? container.decode([JSONValue].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value.isFinite ? value : 0)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }
}
