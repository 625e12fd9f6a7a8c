import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

/// Finds out why a receiver's certificate was refused.
///
/// BoringSSL reports every failed chain check as `CERTIFICATE_VERIFY_FAILED`, and NIOSSL does not pass on the reason.
/// An operator needs it ("unknown authority" wants `--ca-file`, "expired" wants a call to the receiver's owner), so
/// after a TLS failure a second handshake, with the same trust, watches BoringSSL's verdict on each certificate of
/// the chain: a refused certificate is expired (or not yet valid) or else signed by an authority that is not trusted;
/// a trusted chain whose leaf does not name the host is a name mismatch; a trusted, matching chain means the failure
/// was something else. Verdicts are kept for a minute per destination, so a failing endpoint costs one extra
/// handshake a minute.
final class TLSDiagnosis: Sendable {
    struct Verdict: Sendable, Equatable {
        var errorClass: ErrorClass
        var message: String
    }

    /// BoringSSL's verdict on one certificate of the chain, in the order it checked them (the leaf last).
    struct Check: Sendable {
        var trusted: Bool
        var certificate: NIOSSLCertificate
    }

    private let verdicts = BoundedCache<String, (Verdict?, Date)>(capacity: 256)

    /// The verdict for `host:port` (connecting to `address` when given) under `trust`, or nil when the chain is
    /// trusted and names the host, or could not be read.
    func diagnose(
        host: String, port: Int, address: String?, trust: TLSConfiguration, trustKey: String, on loop: any EventLoop,
        now: Date = Date()
    ) -> EventLoopFuture<Verdict?> {
        // Endpoints trusting different CAs get verdicts of their own.
        let key = "\(host):\(port):\(address ?? ""):\(trustKey.hashValue)"
        if let (verdict, at) = verdicts.value(for: key, make: { _ in nil }), now.timeIntervalSince(at) < 60 {
            return loop.makeSucceededFuture(verdict)
        }
        return Self.checks(host: host, port: port, address: address, trust: trust, on: loop).map { checks in
            let verdict = Self.judge(checks, host: host, now: now)
            self.verdicts.set(key, (verdict, now))
            return verdict
        }
    }

    /// Judges the checks of one handshake.
    static func judge(_ checks: [Check], host: String, now: Date) -> Verdict? {
        guard let leaf = checks.last?.certificate else { return nil }
        let seconds = time_t(now.timeIntervalSince1970)
        if let refused = checks.first(where: { !$0.trusted })?.certificate {
            let subject = refused === leaf ? "certificate" : "certificate chain"
            if seconds > refused.notValidAfter {
                return Verdict(errorClass: .tlsExpired, message: "tls: \(subject) expired \(day(refused.notValidAfter))")
            }
            if seconds < refused.notValidBefore {
                return Verdict(
                    errorClass: .tlsExpired, message: "tls: \(subject) is not valid before \(day(refused.notValidBefore))")
            }
            return Verdict(errorClass: .tlsUnknownAuthority, message: "tls: certificate signed by an unknown authority")
        }
        let names = Self.names(of: leaf)
        if !names.contains(where: { matches(name: $0, host: host) }) {
            let shown = names.isEmpty ? "no name" : names.prefix(3).joined(separator: ", ") + (names.count > 3 ? ", ..." : "")
            return Verdict(errorClass: .tlsHostnameMismatch, message: "tls: certificate is for \(shown), not \(host)")
        }
        // The receiver's certificate is fine: the handshake failed on the receiver's side (most often a client
        // certificate it wants and did not get, or one it does not trust) or on the protocol.
        return Verdict(
            errorClass: .tls,
            message: "tls: handshake failed after the receiver's certificate was accepted (does it want a client certificate?)")
    }

    /// The DNS names and IP addresses a certificate is for (its subject alternative names).
    static func names(of certificate: NIOSSLCertificate) -> [String] {
        certificate._subjectAlternativeNames().compactMap { name in
            switch name.nameType {
            case .dnsName: return String(decoding: name.contents, as: UTF8.self)
            case .ipAddress: return address(Array(name.contents))
            default: return nil
            }
        }
    }

    /// An IP address SAN's bytes as text.
    static func address(_ bytes: [UInt8]) -> String? {
        switch bytes.count {
        case 4: return bytes.map(String.init).joined(separator: ".")
        case 16:
            return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
                .joined(separator: ":")
        default: return nil
        }
    }

    /// Whether certificate name `name` (`*.example.com` covers one label) covers `host`.
    static func matches(name: String, host: String) -> Bool {
        let name = name.lowercased()
        let host = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if name == host { return true }
        guard name.hasPrefix("*."), let dot = host.firstIndex(of: ".") else { return false }
        return host[dot...] == name.dropFirst(1) && host[..<dot].count > 0
    }

    private static func day(_ time: time_t) -> String {
        Date(timeIntervalSince1970: TimeInterval(time)).formatted(.iso8601.year().month().day())
    }

    /// One handshake with `trust` (hostname left unchecked, no client certificate), recording BoringSSL's verdict on
    /// each certificate; empty when no certificate was seen.
    private static func checks(
        host: String, port: Int, address: String?, trust: TLSConfiguration, on loop: any EventLoop
    ) -> EventLoopFuture<[Check]> {
        var configuration = trust
        configuration.certificateVerification = .noHostnameVerification
        configuration.certificateChain = []
        configuration.privateKey = nil
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            return loop.makeSucceededFuture([])
        }
        let checks = Recorded()
        let serverName = DestinationPolicy.isNumeric(host) ? nil : host
        let connected = ClientBootstrap(group: loop)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try (VerdictRecorder.self as any VerdictRecording.Type).handler(
                        context: context, serverHostname: serverName
                    ) { result, certificate in
                        checks.append(Check(trusted: result == .certificateVerified, certificate: certificate))
                        return result
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                    try channel.pipeline.syncOperations.addHandler(CloseAfterHandshake())
                }
            }
            .connect(host: address ?? host, port: port)
        return connected.flatMap { channel in
            // Ends when the handshake does (either way), or after 5 seconds.
            let deadline = loop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
            return channel.closeFuture.always { _ in deadline.cancel() }.map { checks.all }
        }.recover { _ in checks.all }
    }
}

/// The checks one handshake made, appended on its event loop and read once it ended.
private final class Recorded: Sendable {
    private let checks = Mutex<[TLSDiagnosis.Check]>([])
    func append(_ check: TLSDiagnosis.Check) { checks.withLock { $0.append(check) } }
    var all: [TLSDiagnosis.Check] { checks.withLock { $0 } }
}

/// Closes a connection once its TLS handshake completed.
private final class CloseAfterHandshake: ChannelInboundHandler, Sendable {
    typealias InboundIn = Any

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSUserEvent { context.close(promise: nil) }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Makes a client handler that reports BoringSSL's verdict on each certificate. NIOSSL marks that initialiser
/// deprecated in favour of replacing verification altogether, which would lose the verdict this diagnosis needs;
/// calling it through a protocol keeps the deprecation to this one place.
private protocol VerdictRecording {
    static func handler(
        context: NIOSSLContext, serverHostname: String?, verificationCallback: @escaping NIOSSLVerificationCallback
    ) throws -> NIOSSLClientHandler
}

private enum VerdictRecorder: VerdictRecording {
    @available(*, deprecated)
    static func handler(
        context: NIOSSLContext, serverHostname: String?, verificationCallback: @escaping NIOSSLVerificationCallback
    ) throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: context, serverHostname: serverHostname, verificationCallback: verificationCallback)
    }
}
