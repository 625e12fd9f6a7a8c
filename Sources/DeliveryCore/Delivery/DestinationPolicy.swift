import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Which destinations endpoints may point at: http(s) URLs whose host is, and resolves to, public addresses only
/// (no loopback, private, link-local, unique-local, carrier-grade NAT, multicast or cloud metadata),
/// unless private destinations are allowed.
public struct DestinationPolicy: Sendable, Equatable {
    /// Allow loopback and private addresses (tests, the demo, on-premises receivers).
    public var allowPrivate: Bool

    public init(allowPrivate: Bool) { self.allowPrivate = allowPrivate }

    /// Checks the URL's form: `http`/`https`, a host, no credentials, at most 2,048 characters.
    /// - Throws: `HooktopError.invalidInput` with the reason.
    public static func validateForm(_ url: String) throws -> URLComponents {
        guard url.utf8.count <= 2048 else { throw HooktopError.invalid("the URL is longer than 2048 characters") }
        if let bad = url.unicodeScalars.first(where: Self.isForbiddenInURL) {
            let code = String(bad.value, radix: 16, uppercase: true)
            throw HooktopError.invalid(
                "the URL contains a control, whitespace or bidirectional character (U+\(String(repeating: "0", count: max(0, 4 - code.count)) + code))")
        }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https"
        else { throw HooktopError.invalid("the URL must start with http:// or https://: \(url)") }
        guard let host = components.host, !host.isEmpty else { throw HooktopError.invalid("the URL has no host: \(url)") }
        guard components.user == nil, components.password == nil else {
            throw HooktopError.invalid("the URL must not carry credentials")
        }
        return components
    }

    /// Controls (C0, DEL, C1), whitespace, and the bidirectional marks and overrides that reorder what a terminal
    /// shows: never part of a URL an operator should have to read.
    static func isForbiddenInURL(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x20, 0x7F...0xA0, 0x061C, 0x200B...0x200F, 0x2028...0x202E, 0x2060...0x2069, 0xFEFF: true
        default: scalar.properties.isWhitespace
        }
    }

    /// Checks `url` and every address its host resolves to.
    /// - Returns: the checked addresses (none when private destinations are allowed: nothing is resolved then). A
    ///   sender connects to one of these, never resolving the name again, so a DNS answer that changes after the
    ///   check cannot send the request elsewhere.
    /// - Throws: `HooktopError.invalidInput` for a malformed URL or unresolvable host,
    ///   `HooktopError.destinationRefused` for a non-public address.
    @discardableResult
    public func check(url: String) throws -> [String] {
        let components = try Self.validateForm(url)
        if allowPrivate { return [] }
        let host = components.host!.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if Self.blockedNames.contains(host) || host.hasSuffix(".localhost") || host.hasSuffix(".internal") {
            throw HooktopError(.destinationRefused, "destination \(host) is a private or metadata host (use --allow-private-destinations to allow it)")
        }
        let addresses = try Self.resolve(host)
        for address in addresses where !Self.isPublic(address) {
            throw HooktopError(.destinationRefused, "destination \(host) resolves to non-public address \(address) (use --allow-private-destinations to allow it)")
        }
        return addresses
    }

    private static let blockedNames: Set<String> = ["localhost", "metadata.google.internal", "metadata"]

    /// Numeric addresses of `host` (IPv4 dotted or IPv6 text).
    /// - Throws: `HooktopError.invalidInput` when the name does not resolve.
    public static func resolve(_ host: String) throws -> [String] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &result)
        guard rc == 0, let first = result else {
            throw HooktopError.invalid("cannot resolve host \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(first) }
        var addresses: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(info.pointee.ai_addr, info.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                addresses.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            cursor = info.pointee.ai_next
        }
        return addresses
    }

    /// Whether `host` (brackets allowed) is a numeric IPv4 or IPv6 address rather than a name.
    public static func isNumeric(_ host: String) -> Bool {
        let text = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    /// Whether a numeric address is a public unicast address.
    public static func isPublic(_ address: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            return isPublicIPv4(UInt32(bigEndian: v4.s_addr))
        }
        var v6 = in6_addr()
        let text = address.split(separator: "%").first.map(String.init) ?? address
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        return isPublicIPv6(bytes)
    }

    static func isPublicIPv4(_ a: UInt32) -> Bool {
        func inRange(_ base: UInt32, _ bits: UInt32) -> Bool {
            let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
            return a & mask == base & mask
        }
        let blocked: [(UInt32, UInt32)] = [
            (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
            (0x0A00_0000, 8),  // 10/8 private
            (0x6440_0000, 10),  // 100.64/10 carrier-grade NAT
            (0x7F00_0000, 8),  // 127/8 loopback
            (0xA9FE_0000, 16),  // 169.254/16 link-local, cloud metadata
            (0xAC10_0000, 12),  // 172.16/12 private
            (0xC000_0000, 24),  // 192.0.0/24 IETF protocol assignments
            (0xC000_0200, 24),  // 192.0.2/24 documentation
            (0xC0A8_0000, 16),  // 192.168/16 private
            (0xC612_0000, 15),  // 198.18/15 benchmarking
            (0xC633_6400, 24),  // 198.51.100/24 documentation
            (0xCB00_7100, 24),  // 203.0.113/24 documentation
            (0xE000_0000, 4),  // 224/4 multicast
            (0xF000_0000, 4),  // 240/4 reserved, broadcast
        ]
        return !blocked.contains { inRange($0.0, $0.1) }
    }

    static func isPublicIPv6(_ b: [UInt8]) -> Bool {
        guard b.count == 16 else { return false }
        func v4(_ at: Int) -> UInt32 {
            UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
        }
        if b[0..<15].allSatisfy({ $0 == 0 }) { return false }  // :: and ::1
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF {  // ::ffff:a.b.c.d IPv4-mapped
            return isPublicIPv4(v4(12))
        }
        if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B {
            // 64:ff9b::/96 well-known NAT64 prefix: the IPv4 address is the last 32 bits. 64:ff9b:1::/48 is for
            // local NAT64 deployments (RFC 8215), where the embedded address may sit anywhere: refused whole.
            if b[4] == 0 && b[5] == 1 { return false }
            return b[4..<12].allSatisfy { $0 == 0 } && isPublicIPv4(v4(12))
        }
        if b[0] == 0 { return false }  // ::/8 reserved, incl. IPv4-compatible ::a.b.c.d and SIIT ::ffff:0:a.b.c.d
        if b[0] == 0x01 && b[1] == 0x00 && b[2..<8].allSatisfy({ $0 == 0 }) { return false }  // 100::/64 discard-only
        if b[0] == 0x20 && b[1] == 0x02 { return isPublicIPv4(v4(2)) }  // 2002::/16 6to4 embeds an IPv4 address
        // 2001::/23 IETF protocol assignments: Teredo (2001::/32, whose client address is stored inverted in the
        // last 32 bits), benchmarking, ORCHID and the like; none is a webhook receiver.
        if b[0] == 0x20 && b[1] == 0x01 && b[2] & 0xFE == 0x00 { return false }
        if b[0] & 0xFE == 0xFC { return false }  // fc00::/7 unique-local (incl. fd00:ec2::254 metadata)
        if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return false }  // fe80::/10 link-local
        if b[0] == 0xFE && b[1] & 0xC0 == 0xC0 { return false }  // fec0::/10 site-local
        if b[0] == 0xFF { return false }  // multicast
        if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8 { return false }  // 2001:db8::/32 documentation
        if b[0] == 0x3F && b[1] == 0xFF && b[2] & 0xF0 == 0x00 { return false }  // 3fff::/20 documentation
        return true
    }
}
