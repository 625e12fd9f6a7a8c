import Crypto
import Foundation

/// How a log that keeps API tokens stores them: the SHA-256 digest of the token, in lowercase hex. A token is random
/// and long (`htk_` and 40 characters), so a plain digest cannot be reversed by guessing.
public enum APITokenDigest {
    public static func hex(of token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
