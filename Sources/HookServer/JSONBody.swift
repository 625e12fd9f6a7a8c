import DeliveryCore
import Foundation
import Hummingbird

/// A parsed JSON object body with typed field access that reports 422 for wrong types.
struct JSONBody {
    let object: [String: Any]

    /// Reads and parses the body, at most `limit` bytes.
    /// - Throws: 413 over the limit, 400 for malformed JSON or a non-object.
    static func read(_ request: Request, limit: Int) async throws -> JSONBody {
        let buffer = try await RequestBody.collect(request, limit: limit)
        if buffer.readableBytes == 0 { return JSONBody(object: [:]) }
        let data = Data(buffer.readableBytesView)
        guard let parsed = try? JSONSerialization.jsonObject(with: data) else {
            throw APIError.badJSON("request body is not valid JSON")
        }
        guard let object = parsed as? [String: Any] else { throw APIError.badJSON("request body must be a JSON object") }
        return JSONBody(object: object)
    }

    func string(_ key: String, required: Bool = false) throws -> String? {
        guard let value = object[key], !(value is NSNull) else {
            if required { throw APIError.invalid("\(key) is required") }
            return nil
        }
        guard let string = value as? String else { throw APIError.invalid("\(key) must be a string") }
        return string
    }

    func int(_ key: String) throws -> Int? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        if value is String || value is [Any] || value is [String: Any] {
            throw APIError.invalid("\(key) must be an integer")
        }
        guard let double = value as? Double, double.isFinite, double == double.rounded(), abs(double) < 1e15 else {
            throw APIError.invalid("\(key) must be an integer")
        }
        return Int(double)
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let flag = value as? Bool else { throw APIError.invalid("\(key) must be true or false") }
        return flag
    }

    func strings(_ key: String) throws -> [String]? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let list = value as? [Any], list.allSatisfy({ $0 is String }) else {
            throw APIError.invalid("\(key) must be an array of strings")
        }
        return list.compactMap { $0 as? String }
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
