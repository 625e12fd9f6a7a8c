@testable import DeliveryCore
import Foundation
import NIOSSL
import PostgresNIO
import Testing

/// `--db postgres://…`: parsed into a connection's settings, refused with a one-line reason, printed without the
/// password.
struct PostgresURLTests {
    @Test(arguments: [
        ("postgres://hook:s3cret@db.example.com:6432/hooktop", "hook", "s3cret", "db.example.com", 6432, "hooktop"),
        ("POSTGRESQL://hook@localhost/hooktop", "hook", nil, "localhost", 5432, "hooktop"),
        // Percent-decoded; an unencoded password may hold `@`, `/`, `:` and `?` (the user ends at the last `@`).
        ("postgres://web%20hooks:p%40ss%3Aword@h/my%20db%2Fx%3F", "web hooks", "p@ss:word", "h", 5432, "my db/x?"),
        ("postgres://hook:p@ss/w?rd:x@db:5433/hooktop", "hook", "p@ss/w?rd:x", "db", 5433, "hooktop"),
        ("postgres://hook:@db/hooktop", "hook", "", "db", 5432, "hooktop"),
        ("postgres://hook@[::1]:5433/hooktop", "hook", nil, "::1", 5433, "hooktop"),
    ] as [(String, String, String?, String, Int, String)])
    func parts(_ text: String, _ user: String, _ password: String?, _ host: String, _ port: Int, _ database: String)
        throws
    {
        let url = try PostgresURL(text)
        #expect(url.user == user)
        #expect(url.password == password)
        #expect(url.host == host)
        #expect(url.port == port)
        #expect(url.database == database)
        #expect(url.socketPath == nil)
    }

    @Test func defaults() throws {
        let url = try PostgresURL("postgres://hook@db/hooktop?application_name=hook%20top")
        #expect(url.sslMode == .prefer)
        #expect(url.connectTimeout == .seconds(10))
        #expect(url.applicationName == "hook top")
        #expect(try PostgresURL("postgres://hook@db/hooktop").applicationName == "hooktop")
    }

    @Test func ipv6HostRedacted() throws {
        #expect(try PostgresURL("postgres://hook@[::1]:5433/hooktop").redacted == "postgres://hook@[::1]:5433/hooktop")
    }

    @Test func unixSocketByParameter() throws {
        let url = try PostgresURL("postgres://hook@/hooktop?host=/var/run/postgresql")
        #expect(url.host == nil)
        #expect(url.socketDirectory == "/var/run/postgresql")
        #expect(url.socketPath == "/var/run/postgresql/.s.PGSQL.5432")
        let other = try PostgresURL("postgresql://hook@localhost/hooktop?host=%2Ftmp%2Fpg%2F&port=5433")
        #expect(other.socketPath == "/tmp/pg/.s.PGSQL.5433")
        #expect(other.clientConfiguration().unixSocketPath == "/tmp/pg/.s.PGSQL.5433")
    }

    @Test func unixSocketAsEncodedHost() throws {
        let url = try PostgresURL("postgres://hook@%2Ftmp%2Fpg:5433/hooktop")
        #expect(url.socketPath == "/tmp/pg/.s.PGSQL.5433")
        #expect(url.redacted == "postgres://hook@/hooktop?host=/tmp/pg&port=5433")
    }

    @Test func withoutUserTheSystemUser() throws {
        #expect(try PostgresURL("postgres://localhost/hooktop").user == ProcessInfo.processInfo.userName)
        #expect(try PostgresURL("postgres://@localhost/hooktop").user == ProcessInfo.processInfo.userName)
    }

    @Test func sslModes() throws {
        for mode in PostgresURL.SSLMode.allCases {
            #expect(try PostgresURL("postgres://u@h/d?sslmode=\(mode.rawValue)").sslMode == mode)
        }
        #expect(try PostgresURL("postgres://u@h/d?sslmode=disable").tlsConfiguration == nil)
        let full = try #require(try PostgresURL("postgres://u@h/d?sslmode=verify-full").tlsConfiguration)
        #expect(full.certificateVerification == .fullVerification)
        let require = try #require(try PostgresURL("postgres://u@h/d?sslmode=require").tlsConfiguration)
        #expect(require.certificateVerification == .none)
    }

    @Test func connectTimeoutParameter() throws {
        let url = try PostgresURL("postgres://u@h/d?connect_timeout=3")
        #expect(url.connectTimeout == .seconds(3))
        #expect(url.clientConfiguration().options.connectTimeout == .seconds(3))
    }

    @Test(arguments: [
        ("mysql://hook@db/hooktop", "starts with postgres:// or postgresql://"),
        ("postgres://hook:hunter2@db", "missing database name"),
        ("postgres://hook:hunter2@db/", "missing database name"),
        ("postgres://hook:hunter2@db:5432?sslmode=require", "missing database name"),
        ("postgres://hook:hunter2@db:abc/hooktop", "bad port 'abc'"),
        ("postgres://hook:hunter2@db:0/hooktop", "bad port '0'"),
        ("postgres://hook:hunter2@db:65536/hooktop", "bad port '65536'"),
        ("postgres://hook:hunter2@db/hooktop?port=-1", "bad port '-1'"),
        ("postgres://hook:hunter2@db/hooktop?sslmode=verify", "unknown sslmode 'verify'"),
        ("postgres://hook:hunter2@db/hooktop?sslmode=allow", "unknown sslmode 'allow'"),
        ("postgres://hook:hunter2@db/hooktop?timeout=3", "unknown parameter 'timeout'"),
        ("postgres://hook:hunter2@db/hooktop?connect_timeout=0", "bad connect_timeout '0'"),
        ("postgres://hook:hunter2@/hooktop", "missing host"),
        ("postgres://hook:hunter2@:5432/hooktop", "missing host"),
        ("postgres://hook:hunter2@[::1/hooktop", "closing ']'"),
        ("postgres://hook:hunter2@[::1]x/hooktop", "':PORT' may follow ']'"),
        ("postgres://hook:hunter2%zz@db/hooktop", "bad percent-encoding in the password"),
        ("postgres://hook:hunter2@db/a/b", "bad database name 'a/b'"),
        ("postgres://hook:hunter2@db/hooktop?poll_only=maybe", "bad poll_only 'maybe'"),
    ])
    func refused(_ text: String, _ reason: String) {
        let error = #expect(throws: HooktopError.self) { try PostgresURL(text) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.contains(reason) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("hunter2") == false)
        #expect(error?.message.contains("\n") == false)
    }

    @Test func pollOnlyIsKeptWhenTheURLIsHandedOn() throws {
        #expect(try !PostgresURL("postgres://hook@db/hooktop").pollOnly)
        #expect(try !PostgresURL("postgres://hook@db/hooktop?poll_only=0").pollOnly)
        let url = try PostgresURL("postgres://hook:pw@db/hooktop?poll_only=true")
        #expect(url.pollOnly)
        #expect(url.redacted == "postgres://hook:***@db/hooktop?poll_only=1")
        #expect(try PostgresURL(url.full).pollOnly)
    }

    @Test func tellsAPostgresURLFromAFile() {
        #expect(PostgresURL.isPostgresURL("postgres://hook@db/hooktop"))
        #expect(PostgresURL.isPostgresURL("postgresql://hook@db/hooktop"))
        #expect(PostgresURL.isPostgresURL("PostgreSQL://hook@db/hooktop"))
        #expect(!PostgresURL.isPostgresURL("/var/lib/hooktop.db"))
        #expect(!PostgresURL.isPostgresURL("hooktop.db"))
        #expect(!PostgresURL.isPostgresURL("postgres.db"))
        #expect(!PostgresURL.isPostgresURL("postgres:/db"))
    }

    @Test func redactedNeverShowsThePassword() throws {
        let url = try PostgresURL("postgres://hook:hunter2@db.example.com:6432/hooktop?sslmode=verify-full")
        #expect(url.redacted == "postgres://hook:***@db.example.com:6432/hooktop?sslmode=verify-full")
        #expect("\(url)" == url.redacted)
        #expect(try PostgresURL("postgres://hook@db/hooktop").redacted == "postgres://hook@db/hooktop")
    }

    @Test func connectionSettings() throws {
        let url = try PostgresURL("postgres://hook:pw@db.example.com:6432/hooktop?sslmode=disable")
        let client = url.clientConfiguration(startupParameters: [("statement_timeout", "5000")])
        #expect(client.host == "db.example.com")
        #expect(client.port == 6432)
        #expect(client.username == "hook")
        #expect(client.password == "pw")
        #expect(client.database == "hooktop")
        #expect(client.options.additionalStartupParameters.map(\.0) == ["application_name", "statement_timeout"])
        #expect(client.options.additionalStartupParameters.map(\.1) == ["hooktop", "5000"])
        let single = try url.connectionConfiguration()
        #expect(single.host == "db.example.com")
        #expect(single.port == 6432)
        #expect(!single.tls.isAllowed)
        let socket = try PostgresURL("postgres://hook@/hooktop?host=/run/pg").connectionConfiguration()
        #expect(socket.unixSocketPath == "/run/pg/.s.PGSQL.5432")
    }
}
