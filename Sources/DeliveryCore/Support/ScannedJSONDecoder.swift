/// Decodes `Decodable` values straight from a scanned document (`JSONScanner`), so a request body is read once.
///
/// It reads as the scanner does, where Foundation's `JSONDecoder` would not: a key given twice keeps its last value,
/// an object's keys are listed in document order (`allKeys`), a lone surrogate in a string reads as U+FFFD, and an
/// integer may be written `4.0` or `1e3` when it is exact.
public struct ScannedJSONDecoder {
    public init() {}

    /// The value of type `T` at `value` of `scanner`'s document.
    /// - Throws: `DecodingError` when the document does not have `T`'s shape, or what `T.init(from:)` throws.
    public func decode<T: Decodable>(_ type: T.Type, from value: JSONScanner.Value, in scanner: JSONScanner) throws -> T {
        try T(from: ScannedValueDecoder(scanner: scanner, value: value, codingPath: []))
    }
}

/// One value of a scanned document as a `Decoder`.
struct ScannedValueDecoder: Decoder {
    let scanner: JSONScanner
    let value: JSONScanner.Value
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard value.kind == .object else { throw mismatch([String: String].self, "an object") }
        var keys: [String] = []
        var members: [String: JSONScanner.Value] = [:]
        for (key, member) in try scanner.members(of: value) {
            if members.updateValue(member, forKey: key) == nil { keys.append(key) }
        }
        return KeyedDecodingContainer(ScannedKeyedContainer<Key>(decoder: self, keys: keys, members: members))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard value.kind == .array else { throw mismatch([String].self, "an array") }
        return ScannedUnkeyedContainer(decoder: self, elements: try scanner.elements(of: value))
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { ScannedSingleValueContainer(decoder: self) }

    /// The decoder of a member or an element.
    func child(_ value: JSONScanner.Value, key: any CodingKey) -> ScannedValueDecoder {
        ScannedValueDecoder(scanner: scanner, value: value, codingPath: codingPath + [key])
    }

    func mismatch(_ type: Any.Type, _ expected: String) -> DecodingError {
        DecodingError.typeMismatch(
            type, DecodingError.Context(codingPath: codingPath, debugDescription: "expected \(expected), found \(value.kind)"))
    }

    var isNull: Bool { value.kind == .null }

    func bool() throws -> Bool {
        guard value.kind == .bool else { throw mismatch(Bool.self, "true or false") }
        return scanner.text(value) == "true"
    }

    func string() throws -> String {
        guard value.kind == .string else { throw mismatch(String.self, "a string") }
        return try scanner.string(value)
    }

    func double() throws -> Double {
        guard value.kind == .number, let number = Double(scanner.text(value)), number.isFinite else {
            throw mismatch(Double.self, "a number")
        }
        return number
    }

    func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        guard value.kind == .number else { throw mismatch(type, "an integer") }
        if let exact = I(scanner.text(value)) { return exact }
        guard let number = scanner.integer(value), let fitted = I(exactly: number) else {
            throw mismatch(type, "an integer that fits in \(type)")
        }
        return fitted
    }

    /// A value of any decodable type: the primitives read here, the rest by their own `init(from:)`.
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        switch type {
        case is Bool.Type: return try bool() as! T
        case is String.Type: return try string() as! T
        case is Double.Type: return try double() as! T
        case is Float.Type: return Float(try double()) as! T
        case is Int.Type: return try integer(Int.self) as! T
        case is Int64.Type: return try integer(Int64.self) as! T
        case is Int32.Type: return try integer(Int32.self) as! T
        case is UInt.Type: return try integer(UInt.self) as! T
        case is UInt64.Type: return try integer(UInt64.self) as! T
        default: return try T(from: self)
        }
    }
}

/// An object's members, by key.
struct ScannedKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: ScannedValueDecoder
    /// Keys in document order, each once.
    let keys: [String]
    /// The last value given for each key.
    let members: [String: JSONScanner.Value]

    var codingPath: [any CodingKey] { decoder.codingPath }
    var allKeys: [Key] { keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

    private func member(_ key: Key) throws -> ScannedValueDecoder {
        guard let value = members[key.stringValue] else {
            throw DecodingError.keyNotFound(
                key, DecodingError.Context(codingPath: codingPath, debugDescription: "no member \(key.stringValue)"))
        }
        return decoder.child(value, key: key)
    }

    func decodeNil(forKey key: Key) throws -> Bool { try member(key).isNull }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try member(key).bool() }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try member(key).string() }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try member(key).double() }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { Float(try member(key).double()) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try member(key).integer(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try member(key).integer(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try member(key).integer(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try member(key).integer(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try member(key).integer(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try member(key).integer(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try member(key).integer(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try member(key).integer(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try member(key).integer(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try member(key).integer(type) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try member(key).decode(type) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try member(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try member(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> any Decoder { try member(key) }
}

/// An array's elements, in order.
struct ScannedUnkeyedContainer: UnkeyedDecodingContainer {
    /// An element's place, for coding paths.
    struct Index: CodingKey {
        var intValue: Int?
        var stringValue: String { "\(intValue ?? 0)" }
        init(intValue: Int) { self.intValue = intValue }
        init?(stringValue: String) { nil }
    }

    let decoder: ScannedValueDecoder
    let elements: [JSONScanner.Value]
    var currentIndex = 0

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    private mutating func next() throws -> ScannedValueDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                Any.self, DecodingError.Context(codingPath: codingPath, debugDescription: "no element \(currentIndex)"))
        }
        defer { currentIndex += 1 }
        return decoder.child(elements[currentIndex], key: Index(intValue: currentIndex))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, elements[currentIndex].kind == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next().bool() }
    mutating func decode(_ type: String.Type) throws -> String { try next().string() }
    mutating func decode(_ type: Double.Type) throws -> Double { try next().double() }
    mutating func decode(_ type: Float.Type) throws -> Float { Float(try next().double()) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next().integer(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next().integer(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next().integer(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next().integer(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next().integer(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next().integer(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next().integer(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next().integer(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next().integer(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next().integer(type) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> any Decoder { try next() }
}

/// A single value.
struct ScannedSingleValueContainer: SingleValueDecodingContainer {
    let decoder: ScannedValueDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.isNull }
    func decode(_ type: Bool.Type) throws -> Bool { try decoder.bool() }
    func decode(_ type: String.Type) throws -> String { try decoder.string() }
    func decode(_ type: Double.Type) throws -> Double { try decoder.double() }
    func decode(_ type: Float.Type) throws -> Float { Float(try decoder.double()) }
    func decode(_ type: Int.Type) throws -> Int { try decoder.integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoder.integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoder.integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoder.integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.integer(type) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decode(type) }
}
