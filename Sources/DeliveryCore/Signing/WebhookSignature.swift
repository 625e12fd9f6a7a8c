import Crypto
import Foundation

/// Standard Webhooks signing: `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
public enum WebhookSignature {
    /// The prefix every secret carries.
    public static let secretPrefix = "whsec_"

    /// A new secret: `whsec_` followed by 32 random bytes in base64.
    public static func generateSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return secretPrefix + Data(bytes).base64EncodedString()
    }

    /// The HMAC key inside a `whsec_` secret.
    /// - Throws: `HooktopError.invalidInput` when the secret is not `whsec_` + base64 of 24 to 64 bytes.
    public static func key(fromSecret secret: String) throws -> SymmetricKey {
        guard secret.hasPrefix(secretPrefix),
            let data = Data(base64Encoded: String(secret.dropFirst(secretPrefix.count))),
            (24...64).contains(data.count)
        else {
            throw HooktopError.invalid("a secret must be whsec_ followed by base64 of 24 to 64 bytes")
        }
        return SymmetricKey(data: data)
    }

    /// One `v1,<base64>` signature of `body` for message `id` at `timestamp`.
    public static func sign(id: String, timestamp: Int64, body: some DataProtocol, key: SymmetricKey) -> String {
        sign(id: id, timestamp: timestamp, body: body, keyed: HMAC<SHA256>(key: key))
    }

    /// One signature from an HMAC already keyed (the key schedule done once per secret, not once per message).
    static func sign(id: String, timestamp: Int64, body: some DataProtocol, keyed: HMAC<SHA256>) -> String {
        var hmac = keyed
        hmac.update(data: Array("\(id).\(timestamp).".utf8))
        hmac.update(data: body)
        return "v1," + Data(hmac.finalize()).base64EncodedString()
    }

    /// The `webhook-signature` header value: one signature per key, space-separated (several during rotation).
    public static func header(id: String, timestamp: Int64, body: some DataProtocol, keys: [SymmetricKey]) -> String {
        header(id: id, timestamp: timestamp, body: body, keyed: keys.map { HMAC<SHA256>(key: $0) })
    }

    static func header(id: String, timestamp: Int64, body: some DataProtocol, keyed: [HMAC<SHA256>]) -> String {
        keyed.map { sign(id: id, timestamp: timestamp, body: body, keyed: $0) }.joined(separator: " ")
    }

    /// Why a received webhook was rejected.
    public enum VerificationFailure: Error, Equatable, CustomStringConvertible {
        case missingHeaders
        case invalidTimestamp
        case timestampTooOld
        case timestampTooNew
        case noMatchingSignature

        public var description: String {
            switch self {
            case .missingHeaders: "missing webhook-id, webhook-timestamp or webhook-signature header"
            case .invalidTimestamp: "webhook-timestamp is not a Unix time in seconds"
            case .timestampTooOld: "webhook-timestamp is too old (more than 5 minutes)"
            case .timestampTooNew: "webhook-timestamp is too far in the future (more than 5 minutes)"
            case .noMatchingSignature: "no signature in webhook-signature matches the secret"
            }
        }
    }

    /// Verifies a received webhook the way the reference libraries do.
    /// - Parameters:
    ///   - tolerance: accepted clock skew, in seconds (default 5 minutes).
    public static func verify(
        id: String?, timestamp: String?, signatureHeader: String?, body: some DataProtocol, key: SymmetricKey,
        now: Date = Date(), tolerance: TimeInterval = 300
    ) throws(VerificationFailure) {
        guard let id, let timestamp, let signatureHeader, !id.isEmpty else { throw .missingHeaders }
        guard let seconds = Int64(timestamp.trimmingCharacters(in: .whitespaces)) else { throw .invalidTimestamp }
        let skew = now.timeIntervalSince1970 - Double(seconds)
        if skew > tolerance { throw .timestampTooOld }
        if skew < -tolerance { throw .timestampTooNew }
        var hmac = HMAC<SHA256>(key: key)
        hmac.update(data: Array("\(id).\(seconds).".utf8))
        hmac.update(data: body)
        let expected = Data(hmac.finalize())
        for candidate in signatureHeader.split(separator: " ") {
            guard candidate.hasPrefix("v1,"), let given = Data(base64Encoded: String(candidate.dropFirst(3))) else {
                continue
            }
            if constantTimeEquals(given, expected) { return }
        }
        throw .noMatchingSignature
    }

    private static func constantTimeEquals(_ lhs: Data, _ rhs: Data) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(lhs, rhs) { difference |= a ^ b }
        return difference == 0
    }
}
