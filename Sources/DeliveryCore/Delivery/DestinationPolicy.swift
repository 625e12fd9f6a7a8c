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
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https"
        else { throw HooktopError.invalid("the URL must start with http:// or https://: \(url)") }
        guard let host = components.host, !host.isEmpty else { throw HooktopError.invalid("the URL has no host: \(url)") }
        guard components.user == nil, components.password == nil else {
            throw HooktopError.invalid("the URL must not carry credentials")
        }
        return components
    }

    /// Checks `url` and every address its host resolves to.
    /// - Throws: `HooktopError.invalidInput` for a malformed URL or unresolvable host,
    ///   `HooktopError.destinationRefused` for a non-public address.
    public func check(url: String) throws {
        let components = try Self.validateForm(url)
        if allowPrivate { return }
        let host = components.host!.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if Self.blockedNames.contains(host) || host.hasSuffix(".localhost") || host.hasSuffix(".internal") {
            throw HooktopError(.destinationRefused, "destination \(host) is a private or metadata host (use --allow-private-destinations to allow it)")
        }
        let addresses = try Self.resolve(host)
        for address in addresses where !Self.isPublic(address) {
            throw HooktopError(.destinationRefused, "destination \(host) resolves to non-public address \(address) (use --allow-private-destinations to allow it)")
        }
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
        if b[0..<15].allSatisfy({ $0 == 0 }) { return false }  // :: and ::1
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF {  // ::ffff:a.b.c.d
            return isPublicIPv4(UInt32(b[12]) << 24 | UInt32(b[13]) << 16 | UInt32(b[14]) << 8 | UInt32(b[15]))
        }
        if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B {  // 64:ff9b::/96 NAT64
            return isPublicIPv4(UInt32(b[12]) << 24 | UInt32(b[13]) << 16 | UInt32(b[14]) << 8 | UInt32(b[15]))
        }
        if b[0] == 0 { return false }  // ::/8 reserved, incl. IPv4-compatible ::a.b.c.d (::127.0.0.1)
        if b[0] & 0xFE == 0xFC { return false }  // fc00::/7 unique-local (incl. fd00:ec2::254 metadata)
        if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return false }  // fe80::/10 link-local
        if b[0] == 0xFE && b[1] & 0xC0 == 0xC0 { return false }  // fec0::/10 site-local
        if b[0] == 0xFF { return false }  // multicast
        if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8 { return false }  // 2001:db8::/32 documentation
        return true
    }
}
