import Foundation
import HooktopTesting
import NIOSSL
import Testing

@testable import DeliveryCore

/// Extra headers, credentials, TLS material and retry schedules of an endpoint: validation, masking, storage.
struct ConnectionSettingsTests {
    @Test(arguments: [
        "webhook-id: x", "Webhook-Signature: x", "webhook-timestamp: 1", "Content-Type: text/plain", "content-length: 5",
        "Host: evil", "User-Agent: x", "Connection: close", "Transfer-Encoding: chunked", "Proxy-Authorization: x",
        "Authorization: Bearer x", "Upgrade: h2c", "TE: trailers",
    ])
    func headersHooktopOwnsAreRefused(header: String) {
        #expect(throws: HooktopError.self) { try ConnectionRules.header(header) }
    }

    @Test(arguments: ["no colon", ": empty name", "Bad Name: x", "X-A: a\r\nX-B: b", "X-A: a\nb", "X-A: nul\u{0}", "Ünïcode: x"])
    func malformedHeadersAreRefused(header: String) {
        #expect(throws: HooktopError.self) { try ConnectionRules.header(header) }
    }

    @Test func wellFormedHeadersAreKept() throws {
        #expect(try ConnectionRules.header("X-Team: payments") == Header(name: "X-Team", value: "payments"))
        #expect(try ConnectionRules.header("x-api-key:   abc:def  ") == Header(name: "x-api-key", value: "abc:def"))
        #expect(try ConnectionRules.header("X-Empty:") == Header(name: "X-Empty", value: ""))
    }

    @Test func credentialsAreSentWholeAndShownMasked() throws {
        let bearer = OutboundCredential.bearer(token: "tok_abcdefghijklmnopqr3f")
        #expect(bearer.headerValue == "Bearer tok_abcdefghijklmnopqr3f")
        #expect(bearer.masked == "Bearer tok_…3f")
        #expect(!bearer.masked.contains("abcdefghijklmn"))
        // Shorter tokens show less: the end only, then nothing.
        #expect(OutboundCredential.bearer(token: "abcdefghijkl3f").masked == "Bearer …3f")
        #expect(OutboundCredential.bearer(token: "short").masked == "Bearer …")
        // Headers that look like credentials are shown masked too; others as they are.
        #expect(ConnectionRules.displayed(Header(name: "X-Api-Key", value: "sk_live_abcdefghijklmnop")).value == "sk_l…op")
        #expect(ConnectionRules.displayed(Header(name: "Cookie", value: "s=1")).value == "…")
        #expect(ConnectionRules.displayed(Header(name: "X-Team", value: "payments")).value == "payments")
        let basic = try OutboundCredential.basic("alice:s3cr:et")
        #expect(basic == .basic(user: "alice", password: "s3cr:et"))
        #expect(basic.headerValue == "Basic " + Data("alice:s3cr:et".utf8).base64EncodedString())
        #expect(basic.masked == "Basic alice:…")
        for bad in ["nocolon", ":password", "a\nb:c"] {
            #expect(throws: HooktopError.self) { try OutboundCredential.basic(bad) }
        }
        for bad in ["", "has space", "new\nline"] {
            #expect(throws: HooktopError.self) { try OutboundCredential.bearer(token: bad).validate() }
        }
    }

    @Test func changesApplyToStoredSettings() {
        var changes = EndpointChanges()
        changes.setHeaders = [Header(name: "X-A", value: "1"), Header(name: "X-B", value: "2")]
        changes.credential = .set(.bearer(token: "tok_abcdefghijklmn3f"))
        changes.retrySchedule = .set(RetryPolicy(delays: [0.5, 60]))
        var settings = changes.applied(to: ConnectionSettings())
        #expect(settings.headers.map(\.name) == ["X-A", "X-B"])
        // Replacing by name in any case, removing by name, clearing.
        var next = EndpointChanges()
        next.setHeaders = [Header(name: "x-a", value: "3")]
        next.removeHeaders = ["X-B"]
        next.credential = .clear
        settings = next.applied(to: settings)
        #expect(settings.headers == [Header(name: "x-a", value: "3")])
        #expect(settings.credential == nil)
        #expect(settings.retrySchedule?.delays == [0.5, 60])
        // Stored as JSON and read back the same; nothing stored reads as no settings.
        #expect(ConnectionSettings.fromStored(settings.stored) == settings)
        #expect(ConnectionSettings.fromStored("{}").isEmpty)
        #expect(ConnectionSettings.fromStored("not json").isEmpty)
        #expect(ConnectionSettings().stored == "{}")
    }

    @Test func retryScheduleOverridesTheDispatchersDelaysOnly() {
        let policy = RetryPolicy(delays: [5, 300, 1800], jitter: 0.1, maxRetryAfter: 60)
        let own = policy.overridden(by: RetryPolicy(delays: [1, 2]))
        #expect(own.delays == [1, 2])
        #expect(own.jitter == 0.1)
        #expect(own.maxRetryAfter == 60)
        #expect(own.maxAttempts == 3)
        #expect(policy.overridden(by: nil) == policy)
    }

    @Test func tlsMaterialIsCheckedWhenGiven() async throws {
        let certificates = try await TestCertificates()
        let ca = try String(contentsOfFile: certificates.caPEM, encoding: .utf8)
        let client = try String(contentsOfFile: certificates.clientPEM, encoding: .utf8)
        let clientKey = try String(contentsOfFile: certificates.clientKey, encoding: .utf8)
        let otherKey = try String(contentsOfFile: certificates.serverKey, encoding: .utf8)
        #expect(try ConnectionRules.validateCA(ca).count == 1)
        #expect(throws: HooktopError.self) { try ConnectionRules.validateCA("not a certificate") }
        #expect(throws: HooktopError.self) { try ConnectionRules.validateCA(clientKey) }
        try ConnectionRules.validateClientIdentity(certificatePEM: client, keyPEM: clientKey)
        do {
            try ConnectionRules.validateClientIdentity(certificatePEM: client, keyPEM: otherKey)
            Issue.record("a key of another certificate was accepted")
        } catch let error as HooktopError {
            #expect(error.message == "client key does not match the client certificate")
        }
        #expect(throws: HooktopError.self) {
            try ConnectionRules.validateClientIdentity(certificatePEM: client, keyPEM: "garbage")
        }
        var changes = EndpointChanges(url: "https://example.com/hook")
        changes.clientIdentity = .set(ClientIdentity(certificatePEM: client, keyPEM: otherKey))
        #expect(throws: HooktopError.self) { try changes.validate() }
    }

    @Test func proxySettingsFromFlagsAndEnvironment() throws {
        let proxy = try ProxySettings.parse("http://user:p%40ss@proxy.internal:3128", noProxy: "localhost,.corp.example")
        #expect(proxy.https == ProxyServer(host: "proxy.internal", port: 3128, user: "user", password: "p@ss"))
        #expect(proxy.server(for: "https://api.partner.com/hook") != nil)
        #expect(proxy.server(for: "http://localhost:8080/hook") == nil)
        #expect(proxy.server(for: "https://a.corp.example/hook") == nil)
        #expect(proxy.server(for: "https://corp.example/hook") == nil)
        #expect(proxy.server(for: "https://notcorp.example/hook") != nil)
        #expect(proxy.https?.description == "http://proxy.internal:3128")
        #expect(throws: HooktopError.self) { try ProxySettings.parse("socks5://proxy:1080") }
        #expect(throws: HooktopError.self) { try ProxySettings.parse("http://:3128") }
        let environment = try ProxySettings.fromEnvironment(["https_proxy": "proxy:8443", "NO_PROXY": "*"])
        #expect(environment?.https?.port == 8443)
        #expect(environment?.http == nil)
        #expect(environment?.server(for: "https://anything.example/") == nil)
        #expect(try ProxySettings.fromEnvironment(["HTTP_PROXY": ""]) == nil)
    }

    @Test func tlsVerdictsNameTheCause() async throws {
        let certificates = try await TestCertificates()
        let other = try NIOSSLCertificate.fromPEMFile(certificates.otherPEM)
        let expired = try NIOSSLCertificate.fromPEMFile(certificates.expiredPEM)
        let server = try NIOSSLCertificate.fromPEMFile(certificates.serverPEM)
        let now = Date()
        #expect(
            TLSDiagnosis.judge([.init(trusted: false, certificate: server[0])], host: "localhost", now: now)?.errorClass
                == .tlsUnknownAuthority)
        #expect(
            TLSDiagnosis.judge([.init(trusted: false, certificate: expired[0])], host: "localhost", now: now)
                == .init(errorClass: .tlsExpired, message: "tls: certificate expired 2020-02-01"))
        #expect(
            TLSDiagnosis.judge([.init(trusted: true, certificate: other[0])], host: "localhost", now: now)
                == .init(errorClass: .tlsHostnameMismatch, message: "tls: certificate is for other.example, not localhost"))
        #expect(
            TLSDiagnosis.judge([.init(trusted: true, certificate: server[0])], host: "127.0.0.1", now: now)?.errorClass
                == .tls)
        #expect(TLSDiagnosis.judge([], host: "localhost", now: now) == nil)
        #expect(TLSDiagnosis.matches(name: "*.example.com", host: "api.example.com"))
        #expect(!TLSDiagnosis.matches(name: "*.example.com", host: "a.b.example.com"))
        #expect(!TLSDiagnosis.matches(name: "*.example.com", host: "example.com"))
        #expect(TLSDiagnosis.names(of: server[0]) == ["localhost", "127.0.0.1"])
    }
}
