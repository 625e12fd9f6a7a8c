import AsyncHTTPClient
import Foundation
import NIOSSL
import Synchronization

/// An HTTP proxy that deliveries go through (`serve --proxy`, or `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`).
public struct ProxySettings: Sendable, Equatable {
    /// The proxy for `https` URLs and the one for `http` URLs (usually the same).
    public var https: ProxyServer?
    public var http: ProxyServer?
    /// Hosts reached directly: exact names, `.example.com` or `example.com` for a domain and its subdomains, `*`.
    public var noProxy: [String]

    public init(https: ProxyServer?, http: ProxyServer?, noProxy: [String] = []) {
        self.https = https
        self.http = http
        self.noProxy = noProxy
    }

    /// `--proxy URL`: one proxy for both schemes.
    public static func parse(_ url: String, noProxy: String? = nil) throws -> ProxySettings {
        let server = try ProxyServer.parse(url)
        return ProxySettings(https: server, http: server, noProxy: Self.hosts(noProxy))
    }

    /// The conventional variables (either case); nil when no proxy is set.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> ProxySettings? {
        func value(_ name: String) -> String? { environmentValue(name, in: environment) }
        let https = try value("HTTPS_PROXY").map { try ProxyServer.parse($0, source: "HTTPS_PROXY") }
        let http = try value("HTTP_PROXY").map { try ProxyServer.parse($0, source: "HTTP_PROXY") }
        guard https != nil || http != nil else { return nil }
        return ProxySettings(https: https, http: http, noProxy: hosts(value("NO_PROXY")))
    }

    /// A variable of the proxy family, upper or lower case (curl's convention); nil when unset or empty.
    public static func environmentValue(
        _ name: String, in environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String? {
        (environment[name] ?? environment[name.lowercased()]).flatMap { $0.isEmpty ? nil : $0 }
    }

    private static func hosts(_ list: String?) -> [String] {
        (list ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            .filter { !$0.isEmpty }
    }

    /// The proxy for `url`, or nil to connect directly.
    public func server(for url: String) -> ProxyServer? {
        guard let components = URLComponents(string: url), let host = components.host?.lowercased() else { return nil }
        let server = components.scheme?.lowercased() == "https" ? https : http
        guard let server else { return nil }
        for entry in noProxy {
            if entry == "*" { return nil }
            let domain = entry.hasPrefix(".") ? String(entry.dropFirst()) : entry
            let bare = domain.split(separator: ":").first.map(String.init) ?? domain
            if host == bare || host.hasSuffix("." + bare) { return nil }
        }
        return server
    }
}

/// One HTTP proxy: where it listens and the credentials it wants.
public struct ProxyServer: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?

    /// `http://[user:password@]host[:port]` (port 80 by default; 3128 is common).
    public static func parse(_ text: String, source: String = "--proxy") throws -> ProxyServer {
        let withScheme = text.contains("://") ? text : "http://" + text
        guard let components = URLComponents(string: withScheme), let host = components.host, !host.isEmpty else {
            throw HooktopError.invalid("\(source): not a proxy URL like http://proxy.internal:3128")
        }
        guard components.scheme?.lowercased() == "http" else {
            throw HooktopError.invalid("\(source): only http:// proxies are supported (CONNECT tunnels carry https)")
        }
        let port = components.port ?? 80
        guard (1...65535).contains(port) else { throw HooktopError.invalid("\(source): bad port \(port)") }
        return ProxyServer(
            host: host, port: port, user: components.user?.removingPercentEncoding,
            password: components.password?.removingPercentEncoding)
    }

    /// `http://host:port` (credentials left out).
    public var description: String { "http://\(host):\(port)" }

    var configuration: HTTPClient.Configuration.Proxy {
        let authorization = user.map { HTTPClient.Authorization.basic(username: $0, password: password ?? "") }
        return .server(host: host, port: port, authorization: authorization)
    }
}

/// TLS configurations for endpoints with TLS settings of their own, built once per distinct setting (parsing PEM and
/// loading keys for every attempt would cost more than the attempt).
final class TLSConfigurations: Sendable {
    /// What every endpoint trusts: the system's roots and `serve --ca-file`'s.
    let base: TLSConfiguration
    private let cache = BoundedCache<String, TLSConfiguration>(capacity: 256)

    init(caPEM: String?) throws {
        var base = TLSConfiguration.makeClientConfiguration()
        if let caPEM {
            base.additionalTrustRoots = [.certificates(try ConnectionRules.validateCA(caPEM, source: "--ca-file"))]
        }
        self.base = base
    }

    /// The configuration for `settings`, nil when they add nothing to the base.
    func configuration(for settings: ConnectionSettings) -> TLSConfiguration? {
        guard settings.hasTLS else { return nil }
        let key = [settings.caPEM ?? "", settings.clientCertificatePEM ?? "", settings.clientKeyPEM ?? ""]
            .joined(separator: "\u{0}")
        return cache.value(for: key) { _ in
            var configuration = base
            if let ca = settings.caPEM, let certificates = try? NIOSSLCertificate.fromPEMBytes(Array(ca.utf8)) {
                configuration.additionalTrustRoots.append(.certificates(certificates))
            }
            if let chain = settings.clientCertificatePEM, let key = settings.clientKeyPEM,
                let certificates = try? NIOSSLCertificate.fromPEMBytes(Array(chain.utf8)),
                let privateKey = try? NIOSSLPrivateKey(bytes: Array(key.utf8), format: .pem)
            {
                configuration.certificateChain = certificates.map { .certificate($0) }
                configuration.privateKey = .privateKey(privateKey)
            }
            return configuration
        }
    }
}

/// Clients that send through a proxy, one per proxy, made when first needed.
final class ProxiedClients: Sendable {
    private let base: HTTPClient.Configuration
    private let clients = Mutex<[ProxyServer: HTTPClient]>([:])
    private let stopped = Atomic<Bool>(false)

    init(configuration: HTTPClient.Configuration) { self.base = configuration }

    func client(for server: ProxyServer) -> HTTPClient? {
        guard !stopped.load(ordering: .relaxed) else { return nil }
        return clients.withLock { clients in
            if let client = clients[server] { return client }
            var configuration = base
            configuration.proxy = server.configuration
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            clients[server] = client
            return client
        }
    }

    func shutdown() async {
        stopped.store(true, ordering: .relaxed)
        for client in clients.withLock({ Array($0.values) }) { try? await client.shutdown() }
    }
}
