import Foundation

/// Digit-aware, case-insensitive ordering of names, the way people number things: `Customer 2` before
/// `Customer 10`, `api-9` before `api-10`.
///
/// Runs of ASCII digits compare by value (leading zeros ignored); everything else compares lowercased, scalar by
/// scalar. Its own code rather than `localizedStandardCompare`, so the order is the same on every platform and locale.
public enum NaturalOrder {
    /// A name prepared for comparing (lowercased once, not on every comparison).
    public struct Key: Sendable, Comparable {
        let scalars: [Unicode.Scalar]

        public init(_ name: String) {
            scalars = Array(name.lowercased().unicodeScalars)
        }

        public static func < (lhs: Key, rhs: Key) -> Bool { NaturalOrder.compare(lhs.scalars, rhs.scalars) < 0 }
        public static func == (lhs: Key, rhs: Key) -> Bool { NaturalOrder.compare(lhs.scalars, rhs.scalars) == 0 }
    }

    /// Whether `a` sorts before `b`.
    public static func less(_ a: String, _ b: String) -> Bool { Key(a) < Key(b) }

    static func isDigit(_ s: Unicode.Scalar) -> Bool { s.value >= 0x30 && s.value <= 0x39 }

    /// Negative, zero or positive as `a` sorts before, with or after `b`.
    static func compare(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        var i = 0
        var j = 0
        while i < a.count, j < b.count {
            if isDigit(a[i]), isDigit(b[j]) {
                // Skip leading zeros, then the longer run is the larger number; equal lengths compare digit by digit.
                while i < a.count, a[i].value == 0x30, i + 1 < a.count, isDigit(a[i + 1]) { i += 1 }
                while j < b.count, b[j].value == 0x30, j + 1 < b.count, isDigit(b[j + 1]) { j += 1 }
                var endA = i
                while endA < a.count, isDigit(a[endA]) { endA += 1 }
                var endB = j
                while endB < b.count, isDigit(b[endB]) { endB += 1 }
                if endA - i != endB - j { return (endA - i) - (endB - j) }
                while i < endA {
                    if a[i] != b[j] { return Int(a[i].value) - Int(b[j].value) }
                    i += 1
                    j += 1
                }
                continue
            }
            if a[i] != b[j] { return Int(a[i].value) - Int(b[j].value) }
            i += 1
            j += 1
        }
        return (a.count - i) - (b.count - j)
    }
}
