import Foundation
import NIOSSL

/// How requests reach one endpoint beyond its URL: extra headers, outbound credentials, TLS trust and identity, and
/// a retry schedule of its own. Stored with the endpoint (so every dispatcher on every machine has it).
public struct ConnectionSettings: Sendable, Equatable, Codable {
    /// Sent on every request, after hooktop's own headers.
    public var headers: [Header]
    /// Sent as `Authorization`.
    public var credential: OutboundCredential?
    /// PEM certificates trusted for this endpoint, on top of the system's (and `serve --ca-file`'s).
    public var caPEM: String?
    /// PEM certificate chain presented to the receiver (mTLS), with `clientKeyPEM`.
    public var clientCertificatePEM: String?
    public var clientKeyPEM: String?
    /// Delays between attempts for this endpoint, overriding the dispatcher's schedule.
    public var retrySchedule: RetryPolicy?

    public init(
        headers: [Header] = [], credential: OutboundCredential? = nil, caPEM: String? = nil,
        clientCertificatePEM: String? = nil, clientKeyPEM: String? = nil, retrySchedule: RetryPolicy? = nil
    ) {
        self.headers = headers
        self.credential = credential
        self.caPEM = caPEM
        self.clientCertificatePEM = clientCertificatePEM
        self.clientKeyPEM = clientKeyPEM
        self.retrySchedule = retrySchedule
    }

    /// Nothing beyond the defaults.
    public var isEmpty: Bool { self == ConnectionSettings() }

    /// Certificates in the CA bundle (checked when it was stored; counted here without parsing them again).
    public var caCertificateCount: Int {
        caPEM.map { $0.components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1 } ?? 0
    }

    /// Whether requests need TLS settings of their own.
    public var hasTLS: Bool { caPEM != nil || clientCertificatePEM != nil }

    enum CodingKeys: String, CodingKey {
        case headers, credential
        case caPEM = "ca_pem"
        case clientCertificatePEM = "client_certificate_pem"
        case clientKeyPEM = "client_key_pem"
        case retrySchedule = "retry_schedule"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        headers = try container.decodeIfPresent([Header].self, forKey: .headers) ?? []
        credential = try container.decodeIfPresent(OutboundCredential.self, forKey: .credential)
        caPEM = try container.decodeIfPresent(String.self, forKey: .caPEM)
        clientCertificatePEM = try container.decodeIfPresent(String.self, forKey: .clientCertificatePEM)
        clientKeyPEM = try container.decodeIfPresent(String.self, forKey: .clientKeyPEM)
        retrySchedule = try container.decodeIfPresent([TimeInterval].self, forKey: .retrySchedule).map {
            RetryPolicy(delays: $0)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if !headers.isEmpty { try container.encode(headers, forKey: .headers) }
        try container.encodeIfPresent(credential, forKey: .credential)
        try container.encodeIfPresent(caPEM, forKey: .caPEM)
        try container.encodeIfPresent(clientCertificatePEM, forKey: .clientCertificatePEM)
        try container.encodeIfPresent(clientKeyPEM, forKey: .clientKeyPEM)
        try container.encodeIfPresent(retrySchedule?.delays, forKey: .retrySchedule)
    }

    /// As stored in the log: JSON, `{}` when empty.
    var stored: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// Reads what `stored` wrote; settings that cannot be read are none (a log edited by hand).
    static func fromStored(_ text: String) -> ConnectionSettings {
        guard text != "{}", !text.isEmpty else { return ConnectionSettings() }
        return (try? JSONDecoder().decode(ConnectionSettings.self, from: Data(text.utf8))) ?? ConnectionSettings()
    }
}

/// A credential sent as the `Authorization` header.
public enum OutboundCredential: Sendable, Equatable, Codable {
    case bearer(token: String)
    case basic(user: String, password: String)

    /// The header's value as sent.
    public var headerValue: String {
        switch self {
        case .bearer(let token): return "Bearer \(token)"
        case .basic(let user, let password): return "Basic \(Data("\(user):\(password)".utf8).base64EncodedString())"
        }
    }

    /// What output and logs show: the scheme, and for a token its first and last characters only.
    public var masked: String {
        switch self {
        case .bearer(let token): return "Bearer \(Self.mask(token))"
        case .basic(let user, _): return "Basic \(user):…"
        }
    }

    /// `tok_…3f`: the start and the end only of tokens long enough to keep most of them hidden (24 characters or
    /// more: four and two), the end of shorter ones (12 or more: two), nothing of the shortest.
    static func mask(_ secret: String) -> String {
        if secret.count >= 24 { return "\(secret.prefix(4))…\(secret.suffix(2))" }
        return secret.count >= 12 ? "…\(secret.suffix(2))" : "…"
    }

    /// Parses `--basic-auth USER:PASSWORD`.
    public static func basic(_ text: String) throws -> OutboundCredential {
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
            throw HooktopError.invalid("basic auth must be USER:PASSWORD")
        }
        let credential = OutboundCredential.basic(user: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
        try credential.validate()
        return credential
    }

    public func validate() throws {
        switch self {
        case .bearer(let token):
            guard !token.isEmpty, token.utf8.count <= 4096,
                token.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
            else { throw HooktopError.invalid("bearer token must be 1 to 4096 printable ASCII characters without spaces") }
        case .basic(let user, let password):
            guard !user.isEmpty, !user.contains(":"), user.utf8.count + password.utf8.count <= 4096,
                !(user + password).unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
            else { throw HooktopError.invalid("basic auth must be USER:PASSWORD without control characters") }
        }
    }
}

/// Validation of extra headers and TLS material.
public enum ConnectionRules {
    /// Headers hooktop sets itself, or that belong to one connection: never taken from an endpoint's settings.
    static let ownedHeaders: Set<String> = [
        "webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "content-length", "host",
        "user-agent", "connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate",
        "te", "trailer", "transfer-encoding", "upgrade",
    ]

    /// Whether a header's value is likely a secret (an API key, a token, a cookie): shown masked like credentials.
    public static func isSensitive(_ name: String) -> Bool {
        let name = name.lowercased()
        return ["key", "token", "secret", "auth", "cookie", "password", "passwd", "signature", "session", "credential"]
            .contains { name.contains($0) }
    }

    /// The header as plain output shows it: a sensitive value masked.
    public static func displayed(_ header: Header) -> Header {
        isSensitive(header.name) ? Header(name: header.name, value: OutboundCredential.mask(header.value)) : header
    }

    /// Parses `Name: value`.
    public static func header(_ text: String) throws -> Header {
        guard let colon = text.firstIndex(of: ":") else { throw HooktopError.invalid("header '\(Sanitizer.line(text))' must be 'Name: value'") }
        let header = Header(
            name: String(text[..<colon]).trimmingCharacters(in: .whitespaces),
            value: String(text[text.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        try validate(header)
        return header
    }

    /// A header an endpoint may send: a token name hooktop does not own, a value without control characters.
    public static func validate(_ header: Header) throws {
        let tokenCharacters = Set("!#$%&'*+-.^_`|~".utf8)
        guard !header.name.isEmpty, header.name.utf8.count <= 256,
            header.name.utf8.allSatisfy({ $0 < 0x80 && (isAlphanumeric($0) || tokenCharacters.contains($0)) })
        else { throw HooktopError.invalid("header name '\(Sanitizer.line(header.name))' is not a valid HTTP header name") }
        let name = header.name.lowercased()
        if ownedHeaders.contains(name) {
            throw HooktopError.invalid("header \(header.name) is set by hooktop and cannot be overridden")
        }
        if name == "authorization" {
            throw HooktopError.invalid("set Authorization with --bearer-token or --basic-auth (bearer_token/basic_auth), which keep it masked")
        }
        guard header.value.utf8.count <= 8192,
            !header.value.unicodeScalars.contains(where: { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F })
        else { throw HooktopError.invalid("header \(header.name): value must be at most 8192 bytes without CR, LF or other control characters") }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// Checks a CA bundle: at least one PEM certificate.
    /// - Returns: the certificates.
    @discardableResult
    public static func validateCA(_ pem: String, source: String = "ca") throws -> [NIOSSLCertificate] {
        guard pem.utf8.count <= 512 * 1024 else { throw HooktopError.invalid("\(source): over 512 KiB") }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8))
        } catch {
            throw HooktopError.invalid("\(source): not a PEM certificate bundle")
        }
        guard !certificates.isEmpty else { throw HooktopError.invalid("\(source): no certificate found (expected -----BEGIN CERTIFICATE-----)") }
        return certificates
    }

    /// Checks a client certificate chain and its key: both PEM, and the key belongs to the first certificate.
    public static func validateClientIdentity(certificatePEM: String, keyPEM: String) throws {
        let chain = try validateCA(certificatePEM, source: "client certificate")
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        } catch {
            throw HooktopError.invalid("client key: not a PEM private key (an encrypted key must be decrypted first)")
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateChain = chain.map { .certificate($0) }
        configuration.privateKey = .privateKey(key)
        do {
            // Loading a certificate and a key that do not belong together fails here (BoringSSL compares them).
            _ = try NIOSSLContext(configuration: configuration)
        } catch {
            throw HooktopError.invalid("client key does not match the client certificate")
        }
    }
}
