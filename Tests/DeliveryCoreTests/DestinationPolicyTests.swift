import DeliveryCore
import Foundation
import Testing

struct DestinationPolicyTests {
    static let refused = [
        "127.0.0.1", "127.255.255.254", "10.0.0.1", "10.255.1.2", "172.16.0.1", "172.31.255.255", "192.168.1.1",
        "169.254.169.254", "169.254.0.1", "100.64.0.1", "100.127.255.254", "0.0.0.0", "224.0.0.1",
        "255.255.255.255", "192.0.2.1", "::", "::1", "fe80::1", "fe80::1%lo", "fc00::1", "fd00:ec2::254",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",
        "::127.0.0.1", "::10.0.0.1", "ff02::1", "2001:db8::1", "not an address",
    ]

    static let publicAddresses = [
        "8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "192.169.0.1", "2606:4700::1111",
        "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808",
    ]

    @Test(arguments: refused)
    func refusesNonPublicAddresses(_ address: String) {
        #expect(!DestinationPolicy.isPublic(address))
    }

    @Test(arguments: publicAddresses)
    func acceptsPublicAddresses(_ address: String) {
        #expect(DestinationPolicy.isPublic(address))
    }

    /// URLs whose host is numeric or a reserved name: checked without DNS.
    @Test(arguments: [
        "http://127.0.0.1:8080/hook", "http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/", "http://[fd00:ec2::254]/", "http://[::ffff:127.0.0.1]/", "http://localhost/hook",
        "http://LOCALHOST:3000/", "http://api.localhost/", "http://metadata.google.internal/computeMetadata/v1/",
        "http://2130706433/", "http://0x7f000001/", "http://127.1/", "https://0.0.0.0/",
    ])
    func refusesPrivateDestinationsUnlessAllowed(_ url: String) throws {
        let error = #expect(throws: HooktopError.self) { try DestinationPolicy(allowPrivate: false).check(url: url) }
        #expect(error?.code == .destinationRefused, "\(url): \(error?.message ?? "")")
        try DestinationPolicy(allowPrivate: true).check(url: url)
    }

    @Test(arguments: ["http://8.8.8.8/hook", "https://1.1.1.1:8443/a?b=c", "https://[2606:4700::1111]/hook"])
    func acceptsPublicNumericDestinations(_ url: String) throws {
        try DestinationPolicy(allowPrivate: false).check(url: url)
    }

    @Test(arguments: [
        "ftp://example.com/hook", "file:///etc/passwd", "example.com/hook", "http://", "http:///path",
        "https://user:pass@example.com/hook", "https://user@example.com/hook", "javascript:alert(1)", "",
        "https://example.com/" + String(repeating: "a", count: 2048),
    ])
    func refusesMalformedURLsEvenWhenPrivateIsAllowed(_ url: String) {
        Self.expectInvalid(url)
    }

    /// IPv6 addresses that carry a non-public IPv4 address inside: 6to4, Teredo, NAT64 (well-known and local-use),
    /// IPv4-mapped, -compatible and -translated.
    static let embeddingPrivateIPv4 = [
        "2002:7f00:1::1",  // 6to4 of 127.0.0.1
        "2002:a00:1::",  // 6to4 of 10.0.0.1
        "2002:a9fe:a9fe::1",  // 6to4 of 169.254.169.254
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  // Teredo, client 127.0.0.1 (stored inverted)
        "2001::1",  // Teredo
        "64:ff9b::127.0.0.1", "64:ff9b::10.1.2.3", "64:ff9b:1::a00:1", "64:ff9b:1:ffff::808:808",
        "::ffff:192.168.0.1", "::ffff:0:127.0.0.1", "::0.0.0.1", "0:0:0:0:0:ffff:7f00:1", "100::1",
        "2001:2::1", "2001:10::1", "3fff::1",
    ]

    @Test(arguments: embeddingPrivateIPv4)
    func refusesIPv6AddressesThatEmbedANonPublicIPv4Address(_ address: String) throws {
        #expect(!DestinationPolicy.isPublic(address), "\(address)")
        let error = #expect(throws: HooktopError.self) {
            try DestinationPolicy(allowPrivate: false).check(url: "http://[\(address)]/hook")
        }
        #expect(error?.code == .destinationRefused, "\(address)")
    }

    @Test(arguments: ["2002:808:808::1", "64:ff9b::8.8.4.4", "2a00:1450:4001::200e"])
    func acceptsIPv6AddressesThatEmbedAPublicOne(_ address: String) {
        #expect(DestinationPolicy.isPublic(address), "\(address)")
    }

    /// Control, whitespace and bidirectional characters would reach operators' terminals and logs through the URL.
    @Test(arguments: [
        "https://example.com/\u{1B}]0;owned\u{07}", "https://example.com/a\u{1B}[2J", "https://exa\u{202E}mple.com/",
        "https://example.com/\u{9B}31m", "https://example.com/a\u{7F}", "https://example.com/a b",
        "https://example.com/\u{2066}x", "https://example.com/\u{200F}", "https://example.com/\r\nX-Injected: 1",
        "https://example.com/\u{0}", "https://example.com/\u{FEFF}",
    ])
    func refusesURLsWithControlOrBidiCharacters(_ url: String) {
        Self.expectInvalid(url)
    }

    static func expectInvalid(_ url: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for allowPrivate in [false, true] {
            let error = #expect(throws: HooktopError.self, sourceLocation: sourceLocation) {
                try DestinationPolicy(allowPrivate: allowPrivate).check(url: url)
            }
            #expect(error?.code == .invalidInput, "\(url)", sourceLocation: sourceLocation)
        }
    }
}
