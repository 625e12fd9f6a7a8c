import DeliveryCore
import Foundation
import HTTPTypes
import Hummingbird

/// An API error rendered as `{"error": {"code": ..., "message": ...}}` with its HTTP status.
struct APIError: Error, HTTPResponseError {
    var status: HTTPResponse.Status
    var code: String
    var message: String

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try jsonResponse(APIAnswer.Failure(error: .init(code: code, message: message)), status: status)
        if status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer" }
        if status == .insufficientStorage || status == .serviceUnavailable {
            response.headers[.retryAfter] = code == "overloaded" ? "1" : "30"
        }
        return response
    }

    static func badJSON(_ message: String) -> APIError { APIError(.badRequest, "bad_json", message) }
    static func invalid(_ message: String) -> APIError { APIError(.unprocessableContent, "invalid_field", message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }

    /// Maps core errors to HTTP statuses.
    static func from(_ error: any Error) -> any Error {
        if error is APIError { return error }
        if let error = error as? any HTTPResponseError, error.status == .contentTooLarge {
            return APIError(.contentTooLarge, "payload_too_large", "request body is over the size limit")
        }
        if let error = error as? HTTPError {
            return APIError(error.status, "http_error", error.body ?? error.status.reasonPhrase)
        }
        guard let error = error as? HooktopError else {
            return APIError(.internalServerError, "internal", "internal error")
        }
        switch error.code {
        case .notFound: return APIError(.notFound, "not_found", error.message)
        case .invalidInput: return APIError(.unprocessableContent, "invalid_field", error.message)
        case .destinationRefused: return APIError(.unprocessableContent, "destination_refused", error.message)
        case .conflict: return APIError(.conflict, "conflict", error.message)
        case .readOnly: return APIError(.serviceUnavailable, "read_only", error.message)
        case .storageFull: return APIError(.insufficientStorage, "storage_full", error.message)
        case .overloaded: return APIError(.serviceUnavailable, "overloaded", error.message)
        default: return APIError(.internalServerError, "database", error.message)
        }
    }
}

extension HTTPResponse.Status {
    /// 507: the server cannot store what the request needs (RFC 4918), here a full disk.
    static let insufficientStorage = HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")
}

/// Turns every error thrown by a route into the JSON error shape.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch {
            throw APIError.from(error)
        }
    }
}

/// Requires `Authorization: Bearer <token>` on every request but those to the public routes, matched exactly by
/// method and raw path (`GET /healthz`): anything else, whatever route it would reach, needs the token.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Which tokens are accepted.
    let access: APIAccess
    /// Paths of the routes that need no token, by method.
    let publicRoutes: [HTTPRequest.Method: Set<String>]

    init(access: APIAccess, publicRoutes: [(HTTPRequest.Method, String)]) {
        self.access = access
        self.publicRoutes = Dictionary(grouping: publicRoutes, by: \.0).mapValues { Set($0.map(\.1)) }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        if let paths = publicRoutes[request.method], paths.contains(request.uri.path) {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization], access.accepts(header) else {
            throw APIError(.unauthorized, "unauthorized", "missing or wrong bearer token")
        }
        return try await next(request, context)
    }

    /// Whether `header` is `Bearer <token>` (spaces and tabs around the token allowed), compared in constant time.
    static func bearerMatches(_ header: String, _ token: [UInt8]) -> Bool {
        guard let bytes = bearerBytes(header), bytes.count == token.count else { return false }
        return zip(bytes, token).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// The token of a `Bearer <token>` header, without the blanks around it.
    static func bearerToken(_ header: String) -> String? {
        bearerBytes(header).map { String(Substring($0)) }
    }

    /// The bytes of the token in a `Bearer <token>` header, without the blanks around it; nil when there is none.
    /// Read as bytes: it runs on every request.
    private static func bearerBytes(_ header: String) -> Substring.UTF8View? {
        let prefix = "Bearer ".utf8
        var bytes = Substring(header).utf8[...]
        guard bytes.starts(with: prefix) else { return nil }
        bytes = bytes.dropFirst(prefix.count)
        let blank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        while let first = bytes.first, blank(first) { bytes = bytes.dropFirst() }
        while let last = bytes.last, blank(last) { bytes = bytes.dropLast() }
        return bytes.isEmpty ? nil : bytes
    }
}

/// The API tokens a server accepts: one token (the demo's, a test's), or the SHA-256 digests of the tokens the log
/// keeps, as last read (so every `serve` on the log takes the same tokens).
public struct APIAccess: Sendable {
    private let check: @Sendable (String) -> Bool

    /// Exactly `token`, compared in constant time.
    public static func token(_ token: String) -> APIAccess {
        let bytes = Array(token.utf8)
        return APIAccess { BearerAuthMiddleware<BasicRequestContext>.bearerMatches($0, bytes) }
    }

    /// A token whose SHA-256 digest (lowercase hex) is in `digests()` at the time of the request.
    public static func digests(_ digests: @escaping @Sendable () -> Set<String>) -> APIAccess {
        APIAccess { header in
            guard let token = BearerAuthMiddleware<BasicRequestContext>.bearerToken(header) else { return false }
            return digests().contains(APITokenDigest.hex(of: token))
        }
    }

    /// Whether an `Authorization` header carries an accepted token.
    func accepts(_ header: String) -> Bool { check(header) }
}
