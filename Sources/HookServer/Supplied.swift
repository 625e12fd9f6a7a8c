import DeliveryCore
import Hummingbird

/// A member of a request body as sent: absent (leave the setting alone), `null` (clear it) or a value.
enum Supplied<Value: Sendable>: Sendable {
    case absent
    case null
    case value(Value)

    /// The value, nil when absent or null.
    var value: Value? {
        if case .value(let value) = self { return value }
        return nil
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

extension KeyedDecodingContainer {
    /// The member `key` as sent.
    /// - Throws: 422 `"<key> must be <expected>"` when it is there with another type.
    func supplied<T: Decodable & Sendable>(_ type: T.Type, _ key: Key, _ expected: String) throws -> Supplied<T> {
        guard contains(key) else { return .absent }
        if try decodeNil(forKey: key) { return .null }
        do {
            return .value(try decode(T.self, forKey: key))
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError.invalid("\(key.stringValue) must be \(expected)")
        }
    }

    /// A string member, nil when absent or null.
    func string(_ key: Key) throws -> String? { try supplied(String.self, key, "a string").value }
}

/// Reading a typed request body.
enum RequestDecoding {
    /// The body decoded as `T`, at most `limit` bytes; no body reads as `{}`. Decoded from the scan that checked it
    /// (`ScannedJSONDecoder`): read once, a key given twice keeps its last value, members keep their order.
    /// - Throws: 413 over the limit, 400 for malformed JSON or a non-object, 422 for a field of the wrong type.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T {
        let body = try await ScannedBody.read(request, limit: limit)
        do {
            return try ScannedJSONDecoder().decode(T.self, from: body.root, in: body.scanner)
        } catch let error as APIError {
            throw error
        } catch {
            // The document was checked above, so this is a member whose type no field check named.
            throw APIError.invalid("a field of the request body has the wrong type")
        }
    }
}

/// An object of strings in the order given (`headers`): a member that is not a string is named (`headers.X-A`).
struct OrderedStrings: Decodable, Sendable {
    var members: [(name: String, value: String)]

    struct Name: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: Name.self)
        members = try object.allKeys.map { name in
            guard let value = try? object.decode(String.self, forKey: name) else {
                let path = (decoder.codingPath + [name]).map(\.stringValue).joined(separator: ".")
                throw APIError.invalid("\(path) must be a string")
            }
            return (name.stringValue, value)
        }
    }
}
