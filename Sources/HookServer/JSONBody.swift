import DeliveryCore
import Foundation
import Hummingbird

/// A request body scanned once, with typed field access that reports 422 for wrong types.
struct JSONBody {
    let scanner: JSONScanner
    /// The top-level members; a key given twice keeps its last value, as JSON readers do.
    let fields: [String: JSONScanner.Value]

    /// Reads and scans the body, at most `limit` bytes; no body reads as an empty object.
    /// - Throws: 413 over the limit, 400 for malformed JSON or a non-object.
    static func read(_ request: Request, limit: Int) async throws -> JSONBody {
        let body = try await ScannedBody.read(request, limit: limit)
        var fields: [String: JSONScanner.Value] = [:]
        for (key, value) in try body.scanner.members(of: body.root) { fields[key] = value }
        return JSONBody(scanner: body.scanner, fields: fields)
    }

    /// The field, nil when absent or null.
    private func value(_ key: String) -> JSONScanner.Value? {
        guard let value = fields[key], value.kind != .null else { return nil }
        return value
    }

    func string(_ key: String, required: Bool = false) throws -> String? {
        guard let value = value(key) else {
            if required { throw APIError.invalid("\(key) is required") }
            return nil
        }
        guard value.kind == .string else { throw APIError.invalid("\(key) must be a string") }
        return try scanner.string(value)
    }

    func int(_ key: String) throws -> Int? {
        guard let value = value(key) else { return nil }
        guard let number = scanner.integer(value) else { throw APIError.invalid("\(key) must be an integer") }
        return number
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = value(key) else { return nil }
        guard value.kind == .bool else { throw APIError.invalid("\(key) must be true or false") }
        return scanner.text(value) == "true"
    }

    /// Whether the field is given as `null` (which clears a setting).
    func isNull(_ key: String) -> Bool { fields[key]?.kind == .null }

    /// An object of strings, in the order given; nil when absent or null.
    func stringMap(_ key: String) throws -> [(String, String)]? {
        guard let value = value(key) else { return nil }
        guard value.kind == .object else { throw APIError.invalid("\(key) must be an object of strings") }
        return try scanner.members(of: value).map { name, member in
            guard member.kind == .string else { throw APIError.invalid("\(key).\(name) must be a string") }
            return (name, try scanner.string(member))
        }
    }

    func strings(_ key: String) throws -> [String]? {
        guard let value = value(key) else { return nil }
        let elements = value.kind == .array ? try scanner.elements(of: value) : []
        guard value.kind == .array, elements.allSatisfy({ $0.kind == .string }) else {
            throw APIError.invalid("\(key) must be an array of strings")
        }
        return try elements.map { try scanner.string($0) }
    }
}

/// A JSON response with a status.
func jsonResponse(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    return Response(
        status: status, headers: headers,
        body: .init(byteBuffer: ByteBuffer(string: JSONRepresentation.encode(object) + "\n")))
}
