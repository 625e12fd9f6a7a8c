import Foundation
import HooktopTesting
import Testing

@testable import DeliveryCore

/// Requests reach real local receivers with the endpoint's headers, credentials and TLS settings, through a proxy when
/// one is set, and TLS failures are named by their cause. The receivers are `Tests/Fixtures/receivers.py` processes.
@Suite(.serialized)
struct ReceiverConnectionTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    static func job(_ url: String, _ settings: ConnectionSettings = ConnectionSettings()) -> DeliveryJob {
        let now = Date()
        let endpoint = Endpoint(
            id: "ep_test", url: url, secret: secret, allowPrivateDestination: true, connection: settings,
            createdAt: now, updatedAt: now)
        let message = Message(
            id: "msg_conn1", eventType: "invoice.paid", payload: #"{"amount":42}"#, idempotencyKey: nil, createdAt: now)
        return DeliveryJob(deliveryId: 1, endpoint: endpoint, message: message, attemptNumber: 1, trigger: .scheduled)
    }

    static func send(_ job: DeliveryJob, configuration: WebhookSender.Configuration = .init()) async -> AttemptOutcome {
        let sender = WebhookSender(configuration: configuration)
        let outcome = await sender.send(job)
        await sender.shutdown()
        return outcome
    }

    @Test func headersAndCredentialsArriveAndTheSignatureStillVerifies() async throws {
        let receiver = try await LocalReceiver("receiver")
        defer { Task { await receiver.stop() } }
        var settings = ConnectionSettings(headers: [Header(name: "X-Team", value: "payments"), Header(name: "X-Api-Key", value: "k-123")])
        settings.credential = .bearer(token: "tok_abcdefghijklmn3f")
        let outcome = await Self.send(Self.job("http://127.0.0.1:\(receiver.port)/hook", settings))
        #expect(outcome.responseStatus == 204, "\(outcome.summary ?? "")")
        #expect(await eventually { receiver.records.count == 1 })
        let headers = receiver.headers(of: 0)
        #expect(headers["x-team"] == "payments")
        #expect(headers["x-api-key"] == "k-123")
        #expect(headers["authorization"] == "Bearer tok_abcdefghijklmn3f")
        // The attempt records the credential masked, never as sent.
        let recorded = Dictionary(outcome.requestHeaders.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
        #expect(recorded["authorization"] == "Bearer …3f")
        #expect(recorded["X-Api-Key"] == "…", "a header that looks like a credential is recorded masked")
        #expect(!outcome.requestHeaders.contains { $0.value.contains("abcdefghijklmn") })
        // The signature covers what arrived.
        let body = try #require(receiver.records.first?["body"] as? String)
        try WebhookSignature.verify(
            id: headers["webhook-id"], timestamp: headers["webhook-timestamp"],
            signatureHeader: headers["webhook-signature"], body: Array(body.utf8),
            key: try WebhookSignature.key(fromSecret: Self.secret))

        let basic = await Self.send(
            Self.job("http://127.0.0.1:\(receiver.port)/hook", ConnectionSettings(credential: .basic(user: "alice", password: "pw:1"))))
        #expect(basic.responseStatus == 204)
        #expect(await eventually { receiver.records.count == 2 })
        #expect(receiver.headers(of: 1)["authorization"] == "Basic " + Data("alice:pw:1".utf8).base64EncodedString())
    }

    @Test func aPrivateCAIsUnknownUntilTrusted() async throws {
        let certificates = try await TestCertificates()
        let receiver = try await LocalReceiver("receiver", ["--cert", certificates.serverPEM, "--key", certificates.serverKey])
        defer { Task { await receiver.stop() } }
        let url = "https://localhost:\(receiver.port)/hook"
        let refused = await Self.send(Self.job(url))
        #expect(refused.errorClass == .tlsUnknownAuthority)
        #expect(refused.errorMessage == "tls: certificate signed by an unknown authority")
        let ca = try String(contentsOfFile: certificates.caPEM, encoding: .utf8)
        let trusted = await Self.send(Self.job(url, ConnectionSettings(caPEM: ca)))
        #expect(trusted.responseStatus == 204, "\(trusted.summary ?? "")")
        // Or trusted for every endpoint (`serve --ca-file`).
        var configuration = WebhookSender.Configuration()
        configuration.caPEM = ca
        let everywhere = await Self.send(Self.job(url), configuration: configuration)
        #expect(everywhere.responseStatus == 204, "\(everywhere.summary ?? "")")
    }

    @Test func aCertificateForAnotherNameOrExpiredIsNamed() async throws {
        let certificates = try await TestCertificates()
        let ca = try String(contentsOfFile: certificates.caPEM, encoding: .utf8)
        let other = try await LocalReceiver("receiver", ["--cert", certificates.otherPEM, "--key", certificates.otherKey])
        defer { Task { await other.stop() } }
        let mismatch = await Self.send(Self.job("https://localhost:\(other.port)/hook", ConnectionSettings(caPEM: ca)))
        #expect(mismatch.errorClass == .tlsHostnameMismatch)
        #expect(mismatch.errorMessage == "tls: certificate is for other.example, not localhost")
        let expired = try await LocalReceiver("receiver", ["--cert", certificates.expiredPEM, "--key", certificates.expiredKey])
        defer { Task { await expired.stop() } }
        let old = await Self.send(Self.job("https://localhost:\(expired.port)/hook", ConnectionSettings(caPEM: ca)))
        #expect(old.errorClass == .tlsExpired)
        #expect(old.errorMessage == "tls: certificate expired 2020-02-01")
    }

    @Test func anMTLSReceiverAnswersOnlyWithTheClientCertificate() async throws {
        let certificates = try await TestCertificates()
        let receiver = try await LocalReceiver(
            "receiver", ["--cert", certificates.serverPEM, "--key", certificates.serverKey, "--client-ca", certificates.caPEM])
        defer { Task { await receiver.stop() } }
        let ca = try String(contentsOfFile: certificates.caPEM, encoding: .utf8)
        let url = "https://localhost:\(receiver.port)/hook"
        let without = await Self.send(Self.job(url, ConnectionSettings(caPEM: ca)))
        #expect(without.errorClass == .tls)
        #expect(without.responseStatus == nil)
        let with = await Self.send(
            Self.job(
                url,
                ConnectionSettings(
                    caPEM: ca, clientCertificatePEM: try String(contentsOfFile: certificates.clientPEM, encoding: .utf8),
                    clientKeyPEM: try String(contentsOfFile: certificates.clientKey, encoding: .utf8))))
        #expect(with.responseStatus == 204, "\(with.summary ?? "")")
        #expect(await eventually { receiver.records.count == 1 })
        let presented = receiver.records.first?["client_certificate"] as? [String: Any]
        #expect(presented?["commonName"] as? String == "client")
    }

    @Test func deliveriesGoThroughTheProxyUnlessNoProxyNamesTheHost() async throws {
        let certificates = try await TestCertificates()
        let ca = try String(contentsOfFile: certificates.caPEM, encoding: .utf8)
        let proxy = try await LocalReceiver("proxy")
        let plain = try await LocalReceiver("receiver")
        let tls = try await LocalReceiver("receiver", ["--cert", certificates.serverPEM, "--key", certificates.serverKey])
        defer { Task { await proxy.stop(); await plain.stop(); await tls.stop() } }
        var configuration = WebhookSender.Configuration()
        configuration.proxy = try ProxySettings.parse("http://relay:s3cret@127.0.0.1:\(proxy.port)")
        let viaHTTP = await Self.send(Self.job("http://127.0.0.1:\(plain.port)/a"), configuration: configuration)
        #expect(viaHTTP.responseStatus == 204, "\(viaHTTP.summary ?? "")")
        let viaHTTPS = await Self.send(
            Self.job("https://localhost:\(tls.port)/b", ConnectionSettings(caPEM: ca)), configuration: configuration)
        #expect(viaHTTPS.responseStatus == 204, "\(viaHTTPS.summary ?? "")")
        // Each child's lines are read from its pipe as they come, so what it printed may arrive a moment after the answer.
        #expect(
            await eventually { plain.records.count == 1 && tls.records.count == 1 && proxy.records.count >= 2 },
            "proxy: \(proxy.records), plain: \(plain.records), tls: \(tls.records)")
        let targets = proxy.records.compactMap { $0["target"] as? String }
        #expect(targets.contains("127.0.0.1:\(plain.port)"))
        #expect(targets.contains("localhost:\(tls.port)"))
        #expect(proxy.records.allSatisfy { $0["proxy_authorization"] as? String == "Basic " + Data("relay:s3cret".utf8).base64EncodedString() })
        // NO_PROXY: straight to the receiver.
        let seen = proxy.records.count
        configuration.proxy = try ProxySettings.parse("http://127.0.0.1:\(proxy.port)", noProxy: "127.0.0.1")
        let direct = await Self.send(Self.job("http://127.0.0.1:\(plain.port)/c"), configuration: configuration)
        #expect(direct.responseStatus == 204)
        #expect(await eventually { plain.records.count == 2 })
        #expect(proxy.records.count == seen)
    }

    /// Deliveries one after the other through a proxy share one tunnel, as they share a connection without one.
    @Test func deliveriesThroughAProxyKeepTheirTunnel() async throws {
        let proxy = try await LocalReceiver("proxy")
        let plain = try await LocalReceiver("receiver")
        defer { Task { await proxy.stop(); await plain.stop() } }
        var configuration = WebhookSender.Configuration()
        configuration.proxy = try ProxySettings.parse("http://127.0.0.1:\(proxy.port)")
        let sender = WebhookSender(configuration: configuration)
        for _ in 1...3 {
            let outcome = await sender.send(Self.job("http://127.0.0.1:\(plain.port)/a"))
            #expect(outcome.responseStatus == 204, "\(outcome.summary ?? "")")
        }
        await sender.shutdown()
        #expect(await eventually { plain.records.count == 3 })
        #expect(proxy.records.count == 1, "\(proxy.records)")
    }
}
