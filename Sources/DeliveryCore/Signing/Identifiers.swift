/// Random identifiers with a type prefix: `ep_…`, `msg_…`.
public enum Identifier {
    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

    /// `prefix` + `_` + `length` random base62 characters (22 characters carry 131 bits).
    public static func make(_ prefix: String, length: Int = 22) -> String {
        var generator = SystemRandomNumberGenerator()
        var result = prefix + "_"
        result.reserveCapacity(prefix.count + 1 + length)
        for _ in 0..<length { result.append(alphabet[Int.random(in: 0..<alphabet.count, using: &generator)]) }
        return result
    }

    /// Delivery ids are database row ids shown as `dlv_<n>`; this accepts both forms.
    public static func parseDeliveryID(_ text: String) -> Int64? {
        let digits = text.hasPrefix("dlv_") ? String(text.dropFirst(4)) : text
        guard let value = Int64(digits), value > 0 else { return nil }
        return value
    }

    public static func formatDeliveryID(_ id: Int64) -> String { "dlv_\(id)" }
}
