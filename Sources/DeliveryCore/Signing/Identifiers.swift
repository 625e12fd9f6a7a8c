import Foundation

/// Random identifiers with a type prefix: `ep_…`, `msg_…`.
public enum Identifier {
    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// `prefix` + `_` + `length` random base62 characters (22 characters carry 131 bits).
    public static func make(_ prefix: String, length: Int = 22) -> String {
        compose(prefix, stamp: [], random: length)
    }

    /// `prefix` + `_` + the time in milliseconds (8 base62 characters, sorting as the time does) + `length - 8`
    /// random characters: ids made later sort after earlier ones, so a unique index on them grows at its end
    /// instead of touching a random page per insert (KSUID-style; 16 random characters carry 95 bits).
    public static func makeOrdered(_ prefix: String, length: Int = 24, now: Date = Date()) -> String {
        var time = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        var stamp = [UInt8](repeating: alphabet[0], count: 8)
        for index in stride(from: 7, through: 0, by: -1) {
            stamp[index] = alphabet[Int(time % 62)]
            time /= 62
        }
        return compose(prefix, stamp: stamp, random: max(1, length - 8))
    }

    /// `prefix`, `_`, `stamp` and `random` random base62 characters, written as bytes (ids are made for every
    /// published message and delivery).
    private static func compose(_ prefix: String, stamp: [UInt8], random length: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return String(unsafeUninitializedCapacity: prefix.utf8.count + 1 + stamp.count + length) { out in
            var index = out.initialize(fromContentsOf: prefix.utf8)
            out[index] = UInt8(ascii: "_")
            index += 1
            index = out[index...].initialize(fromContentsOf: stamp)
            // Six random bits per character, values past the alphabet skipped (uniform), ten per 64-bit draw: a
            // few system calls per id instead of one per character.
            var bits: UInt64 = 0
            var left = 0
            var produced = 0
            while produced < length {
                if left < 6 {
                    bits = generator.next()
                    left = 64
                }
                let value = Int(bits & 0x3f)
                bits >>= 6
                left -= 6
                guard value < alphabet.count else { continue }
                out[index] = alphabet[value]
                index += 1
                produced += 1
            }
            return index
        }
    }

    /// Whether `id` has the form of an identifier with `prefix`: `prefix` + `_` + 1 to 64 base62 characters
    /// (what `make` produces, and what a caller-chosen id must look like).
    public static func isWellFormed(_ id: String, prefix: String) -> Bool {
        guard id.hasPrefix(prefix + "_") else { return false }
        let rest = id.utf8.dropFirst(prefix.utf8.count + 1)
        return (1...64).contains(rest.count)
            && rest.allSatisfy { (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) }
    }

    /// Checks a caller-chosen id.
    /// - Throws: `HooktopError.invalidInput` saying what the id must look like.
    static func validate(_ id: String, prefix: String) throws {
        guard isWellFormed(id, prefix: prefix) else {
            throw HooktopError.invalid("bad id '\(id)': use \(prefix)_ followed by 1 to 64 letters or digits")
        }
    }

    /// Delivery ids are database row ids shown as `dlv_<n>`; this accepts both forms.
    public static func parseDeliveryID(_ text: String) -> Int64? {
        let digits = text.hasPrefix("dlv_") ? String(text.dropFirst(4)) : text
        guard let value = Int64(digits), value > 0 else { return nil }
        return value
    }

    public static func formatDeliveryID(_ id: Int64) -> String { "dlv_\(id)" }
}
