import Crypto

/// How a log that keeps API tokens stores them: the SHA-256 digest of the token, in lowercase hex. A token is random
/// and long (`htk_` and 40 characters), so a plain digest cannot be reversed by guessing.
public enum APITokenDigest {
    /// Checked on every API request, so written without Foundation's formatting (which cost more than the rest of
    /// the request's handling).
    public static func hex(of token: String) -> String {
        var hasher = SHA256()
        var token = token
        token.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        let digest = hasher.finalize()
        return String(unsafeUninitializedCapacity: SHA256.byteCount * 2) { out in
            var index = 0
            for byte in digest {
                out[index] = digits[Int(byte >> 4)]
                out[index + 1] = digits[Int(byte & 0x0F)]
                index += 2
            }
            return index
        }
    }

    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)
}
