import Foundation
import NIOCore
import NIOSSL
import PostgresNIO

/// Where a PostgreSQL log is: `postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME` (or `postgresql://`), with the
/// parameters `sslmode`, `host` (a Unix socket's directory), `port`, `connect_timeout` and `application_name`, and
/// hooktop's own `poll_only`.
///
/// User, password, host and database are percent-decoded, as libpq does; a socket directory may be given as the
/// host (`postgres://u@%2Fvar%2Frun%2Fpostgresql/db`) or as `?host=/var/run/postgresql`, and the socket file is
/// `<dir>/.s.PGSQL.<port>`. Without a user, the operating system's user name is used (as libpq does).
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    /// How TLS is used on a TCP connection (libpq's `sslmode`; a Unix socket never uses TLS).
    public enum SSLMode: String, Sendable, CaseIterable {
        /// No TLS.
        case disable
        /// TLS when the server offers it, without checking its certificate (libpq's default).
        case prefer
        /// TLS or no connection, without checking the certificate (as libpq's `require`).
        case require
        /// TLS with a certificate signed by a trusted authority (the system's), any host name.
        case verifyCA = "verify-ca"
        /// TLS with a trusted certificate for the host name connected to.
        case verifyFull = "verify-full"
    }

    public var user: String
    public var password: String?
    /// The host name or address for TCP; nil with a Unix socket.
    public var host: String?
    /// The directory holding the server's Unix socket; nil for TCP.
    public var socketDirectory: String?
    public var port: Int
    public var database: String
    public var sslMode: SSLMode
    /// How long a connection may take to open (`connect_timeout`, seconds; default 10).
    public var connectTimeout: Duration
    /// The name the server shows for hooktop's sessions (`pg_stat_activity`; default `hooktop`).
    public var applicationName: String
    /// No LISTEN/NOTIFY: other processes' work is found by polling alone (`poll_only=1`; for PgBouncer or Supavisor
    /// in transaction pooling, where a session's LISTEN is lost; default false).
    public var pollOnly: Bool

    /// The parameters understood after `?`.
    static let parameters = ["application_name", "connect_timeout", "host", "poll_only", "port", "sslmode"]

    /// Whether `text` names a PostgreSQL database (`postgres://` or `postgresql://`) rather than a SQLite file.
    public static func isPostgresURL(_ text: String) -> Bool {
        scheme(of: text) != nil
    }

    private static func scheme(of text: String) -> String? {
        let lowered = text.prefix(14).lowercased()
        return ["postgresql://", "postgres://"].first { lowered.hasPrefix($0) }
    }

    /// Parses a `postgres://` or `postgresql://` URL.
    /// - Throws: `HooktopError.invalidInput` with a one-line reason that never repeats the password.
    public init(_ text: String) throws {
        guard let scheme = Self.scheme(of: text) else {
            throw HooktopError.invalid("a PostgreSQL URL starts with postgres:// or postgresql://")
        }
        var rest = Substring(text.dropFirst(scheme.count))
        var user: String?
        var password: String?
        // The user information ends at the last `@`, so a password may hold `@`, `/`, `:` or `?` unencoded.
        if let at = rest.lastIndex(of: "@") {
            let info = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = info.firstIndex(of: ":") {
                user = try Self.decode(info[..<colon], "user")
                password = try Self.decode(info[info.index(after: colon)...], "password")
            } else {
                user = try Self.decode(info, "user")
            }
        }
        let query = rest.firstIndex(of: "?").map { rest[rest.index(after: $0)...] }
        if let mark = rest.firstIndex(of: "?") { rest = rest[..<mark] }
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count).dropFirst()

        var (host, portText) = try Self.split(authority)
        var sslMode = SSLMode.prefer
        var connectTimeout = Duration.seconds(10)
        var applicationName = "hooktop"
        var pollOnly = false
        for pair in (query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let key = String(pair.prefix { $0 != "=" })
            let value = try Self.decode(pair.dropFirst(key.count + 1), key)
            switch key {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw HooktopError.invalid(
                        "unknown sslmode '\(value)' in the database URL (use \(SSLMode.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                sslMode = mode
            case "host": host = value
            case "port": portText = value
            case "connect_timeout":
                guard let seconds = Int(value), seconds > 0 else {
                    throw HooktopError.invalid("bad connect_timeout '\(value)' in the database URL (whole seconds, at least 1)")
                }
                connectTimeout = .seconds(seconds)
            case "application_name": applicationName = value
            case "poll_only":
                switch value.lowercased() {
                case "1", "true", "on", "yes": pollOnly = true
                case "0", "false", "off", "no": pollOnly = false
                default: throw HooktopError.invalid("bad poll_only '\(value)' in the database URL (1 or 0)")
                }
            default:
                throw HooktopError.invalid(
                    "unknown parameter '\(key)' in the database URL (known: \(Self.parameters.joined(separator: ", ")))")
            }
        }
        var port = 5432
        if let portText, !portText.isEmpty {
            guard portText.allSatisfy(\.isASCII), let number = Int(portText), (1...65535).contains(number) else {
                throw HooktopError.invalid("bad port '\(portText)' in the database URL (a number from 1 to 65535)")
            }
            port = number
        }
        guard let host, !host.isEmpty else {
            throw HooktopError.invalid(
                "missing host in the database URL: use \(scheme)USER@HOST/DBNAME, or ?host=/path/to/dir for a Unix socket")
        }
        guard !path.contains("/") else {
            throw HooktopError.invalid("bad database name '\(path)' in the database URL (percent-encode a '/' as %2F)")
        }
        let database = try Self.decode(path, "database name")
        guard !database.isEmpty else {
            throw HooktopError.invalid("missing database name in the database URL: use \(scheme)USER@HOST/DBNAME")
        }
        let userName = user.flatMap { $0.isEmpty ? nil : $0 } ?? ProcessInfo.processInfo.userName
        self.user = userName
        self.password = password
        self.port = port
        self.database = database
        self.sslMode = sslMode
        self.connectTimeout = connectTimeout
        self.applicationName = applicationName
        self.pollOnly = pollOnly
        if host.hasPrefix("/") {
            self.host = nil
            self.socketDirectory = host
        } else {
            self.host = host
            self.socketDirectory = nil
        }
    }

    /// Splits `host:port`, `[v6 address]:port` or a bare host; the host percent-decoded.
    private static func split(_ authority: Substring) throws -> (host: String?, port: String?) {
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw HooktopError.invalid("bad host in the database URL: an IPv6 address needs its closing ']'")
            }
            let host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            guard after.isEmpty || after.hasPrefix(":") else {
                throw HooktopError.invalid("bad host in the database URL: ':PORT' may follow ']', nothing else")
            }
            return (host, after.isEmpty ? nil : String(after.dropFirst()))
        }
        guard let colon = authority.lastIndex(of: ":") else {
            return (authority.isEmpty ? nil : try decode(authority, "host"), nil)
        }
        let host = authority[..<colon]
        return (host.isEmpty ? nil : try decode(host, "host"), String(authority[authority.index(after: colon)...]))
    }

    /// Percent-decodes one part of the URL.
    private static func decode(_ part: Substring, _ what: String) throws -> String {
        guard part.contains("%") else { return String(part) }
        guard let decoded = String(part).removingPercentEncoding else {
            throw HooktopError.invalid("bad percent-encoding in the \(what) of the database URL")
        }
        return decoded
    }

    /// The Unix socket file, or nil for TCP.
    public var socketPath: String? {
        socketDirectory.map { ($0.hasSuffix("/") ? String($0.dropLast()) : $0) + "/.s.PGSQL.\(port)" }
    }

    /// The URL for messages and logs: the password replaced by `***`.
    public var redacted: String { text(password: password == nil ? nil : "***") }

    /// The URL with its password, for handing to another process (`--db`).
    public var full: String {
        text(password: password?.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
    }

    private func text(password: String?) -> String {
        var text = "postgres://" + user + (password.map { ":" + $0 } ?? "") + "@"
        var parameters: [String] = []
        if let host {
            text += host.contains(":") ? "[\(host)]" : host
            if port != 5432 { text += ":\(port)" }
        } else if let socketDirectory {
            parameters.append("host=\(socketDirectory)")
            if port != 5432 { parameters.append("port=\(port)") }
        }
        text += "/" + database
        if host != nil && sslMode != .prefer { parameters.append("sslmode=\(sslMode.rawValue)") }
        if pollOnly { parameters.append("poll_only=1") }
        return parameters.isEmpty ? text : text + "?" + parameters.joined(separator: "&")
    }

    /// The redacted URL: safe to print.
    public var description: String { redacted }

    /// The TLS settings `sslMode` asks for (certificates checked against the system's trusted authorities).
    var tlsConfiguration: TLSConfiguration? {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch sslMode {
        case .disable: return nil
        case .prefer, .require: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        return tls
    }

    /// A connection pool's configuration for this URL, with `startupParameters` (run-time settings such as
    /// `statement_timeout`) sent when each connection opens.
    public func clientConfiguration(startupParameters: [(String, String)] = []) -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS = tlsConfiguration.map { sslMode == .prefer ? .prefer($0) : .require($0) } ?? .disable
        var configuration = PostgresClient.Configuration(
            host: host ?? "", port: port, username: user, password: password, database: database, tls: tls)
        if let socketPath {
            configuration = .init(unixSocketPath: socketPath, username: user, password: password, database: database)
        }
        configuration.options.connectTimeout = connectTimeout
        configuration.options.additionalStartupParameters = startup(startupParameters)
        return configuration
    }

    /// A single connection's configuration for this URL (see `clientConfiguration`).
    /// - Throws: when the TLS settings cannot be made into a context (the system's trusted authorities unreadable).
    public func connectionConfiguration(startupParameters: [(String, String)] = []) throws
        -> PostgresConnection.Configuration
    {
        let context = try tlsConfiguration.map { try NIOSSLContext(configuration: $0) }
        let tls: PostgresConnection.Configuration.TLS = context.map { sslMode == .prefer ? .prefer($0) : .require($0) } ?? .disable
        var configuration = PostgresConnection.Configuration(
            host: host ?? "", port: port, username: user, password: password, database: database, tls: tls)
        if let socketPath {
            configuration = .init(unixSocketPath: socketPath, username: user, password: password, database: database)
        }
        configuration.options.connectTimeout = .nanoseconds(Int64(connectTimeout / .nanoseconds(1)))
        configuration.options.additionalStartupParameters = startup(startupParameters)
        return configuration
    }

    private func startup(_ parameters: [(String, String)]) -> [(String, String)] {
        [("application_name", applicationName)] + parameters
    }
}
