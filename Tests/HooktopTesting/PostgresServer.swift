import DeliveryCore
import Foundation
import Logging
import PostgresNIO
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The PostgreSQL server the tests use, one per test process, with a new database per test.
///
/// With `HOOKTOP_TEST_PG_URL` set (`postgres://postgres@db.example/postgres`), databases are made on that server.
/// Otherwise the first test to ask starts a throwaway server: `initdb` into a temporary folder (as the `postgres`
/// user when running as root, since `initdb` refuses root), then `pg_ctl start` on a free port of 127.0.0.1 with its
/// socket in that folder and `fsync` off. It is stopped and its folder removed when the test process exits (a
/// watchdog does it should the process be killed). Every wait is bounded.
///
/// ```swift
/// try await PostgresServer.shared.withDatabase { url in
///     try await PostgresPool.with(url) { pool in ... }
/// }
/// ```
public actor PostgresServer {
    public static let shared = PostgresServer()

    /// Why no server could be had: the binaries are missing, or the server failed to start.
    public struct Unavailable: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// A running server: its administration URL (database `postgres`) and, for a throwaway one, its socket's folder.
    private struct Running: Sendable {
        var url: PostgresURL
        var socketDirectory: String?
    }

    private var server: Task<Running, any Error>?
    /// The name of a database holding the log's schema, migrated once: log databases are copies of it.
    private var template: Task<String, any Error>?
    private let logger = quietLogger

    /// The administration URL of the server, started on first use.
    /// - Throws: `Unavailable` saying why there is none.
    public func serverURL() async throws -> PostgresURL {
        try await running().url
    }

    /// The folder of the server's Unix socket: the throwaway server's, or the one `HOOKTOP_TEST_PG_URL` names with
    /// `?host=/dir` (nil when it names a TCP address).
    public func socketDirectory() async throws -> String? {
        try await running().socketDirectory
    }

    private func running() async throws -> Running {
        if let server { return try await server.value }
        let starting = Task { try await Self.start() }
        server = starting
        return try await starting.value
    }

    /// Makes a new, empty database (`test_<random>`) and returns its URL.
    public func makeDatabase() async throws -> PostgresURL {
        try await makeDatabase(copying: nil)
    }

    /// Makes a new database (`test_<random>`) holding an empty log of this build's schema, and returns its URL. It is
    /// a copy of a database migrated once per test process (`hooktop_template_<random>`, left on a server that
    /// `HOOKTOP_TEST_PG_URL` names), which costs a fraction of migrating each.
    public func makeLogDatabase() async throws -> PostgresURL {
        try await makeDatabase(copying: try await logTemplate())
    }

    private func makeDatabase(copying template: String?) async throws -> PostgresURL {
        let admin = try await serverURL()
        var url = admin
        url.database = Self.newName("test")
        try await Self.administer(
            admin, "CREATE DATABASE \(url.database)" + (template.map { " TEMPLATE \($0)" } ?? ""), logger: logger)
        return url
    }

    private func logTemplate() async throws -> String {
        if let template { return try await template.value }
        let making = Task {
            let admin = try await serverURL()
            var url = admin
            url.database = Self.newName("hooktop_template")
            try await Self.administer(admin, "CREATE DATABASE \(url.database)", logger: logger)
            // Migrated, then closed: a template takes no copies while a session is on it.
            try await PostgresPool.with(url, logger: logger) { _ in }
            return url.database
        }
        template = making
        return try await making.value
    }

    /// `prefix_` and 16 random lowercase hex digits.
    private static func newName(_ prefix: String) -> String {
        prefix + "_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
    }

    /// Drops a database made by `makeDatabase`, closing any session still on it.
    public func dropDatabase(_ url: PostgresURL) async throws {
        let admin = try await serverURL()
        try await Self.administer(admin, "DROP DATABASE IF EXISTS \(url.database) WITH (FORCE)", logger: logger)
    }

    /// Runs `body` with a new database, dropped afterwards.
    public nonisolated func withDatabase<T: Sendable>(_ body: (PostgresURL) async throws -> T) async throws -> T {
        let url = try await makeDatabase()
        let outcome: Result<T, any Error>
        do { outcome = .success(try await body(url)) } catch { outcome = .failure(error) }
        do {
            try await dropDatabase(url)
        } catch {
            // A failure to drop is told only when nothing failed before it.
            if case .success = outcome { throw error }
        }
        return try outcome.get()
    }

    private static func administer(_ url: PostgresURL, _ sql: String, logger: Logger) async throws {
        try await PostgresPool.withConnection(url, logger: logger) { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        }
    }

    // MARK: - The throwaway server

    private static func start() async throws -> Running {
        if let text = ProcessInfo.processInfo.environment["HOOKTOP_TEST_PG_URL"], !text.isEmpty {
            let url = try PostgresURL(text)
            return Running(url: url, socketDirectory: url.socketDirectory)
        }
        let bin = try await binaries()
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("hooktop-pg-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        await cleanUpAtExit(directory: directory)
        let asRoot = geteuid() == 0
        if asRoot {
            guard let account = getpwnam("postgres") else {
                throw Unavailable(message: "running as root, and there is no postgres user to run initdb as")
            }
            chown(directory, account.pointee.pw_uid, account.pointee.pw_gid)
        }
        let run = asRoot ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []
        let data = directory + "/data"
        let initdb = try await runDetached(
            run + [bin + "/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-N", "-E", "UTF8", "--locale=C.UTF-8"],
            timeout: .seconds(120))
        guard initdb.status == 0 else {
            try? FileManager.default.removeItem(atPath: directory)
            throw Unavailable(message: "initdb failed (status \(initdb.status)): \(initdb.output)")
        }
        // A port found free may be taken before the server binds it: try a few.
        var failure = ""
        for _ in 0..<3 {
            let port = try freeTCPPort()
            let options = "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off"
                + " -c synchronous_commit=off -c full_page_writes=off -c max_connections=600 -c shared_buffers=128MB"
            let started = try await runDetached(
                run + [bin + "/pg_ctl", "-D", data, "-l", directory + "/server.log", "-w", "-t", "60", "-o", options,
                       "start"],
                timeout: .seconds(90))
            if started.status == 0 {
                return Running(
                    url: try PostgresURL("postgres://postgres@127.0.0.1:\(port)/postgres?sslmode=disable"),
                    socketDirectory: directory)
            }
            let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
            failure = "pg_ctl start failed (status \(started.status)): \(started.output)\n\(log)"
        }
        try? FileManager.default.removeItem(atPath: directory)
        throw Unavailable(message: failure)
    }

    /// The folder holding `initdb`, `pg_ctl` and `postgres`: `pg_config --bindir`, else the newest
    /// `/usr/lib/postgresql/*/bin`.
    private static func binaries() async throws -> String {
        var candidates: [String] = []
        if let found = try? await runProcess("/usr/bin/env", ["pg_config", "--bindir"], timeout: .seconds(10)),
            found.status == 0
        {
            candidates.append(found.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        candidates += versions.compactMap(Int.init).sorted(by: >).map { "/usr/lib/postgresql/\($0)/bin" }
        let needed = ["initdb", "pg_ctl", "postgres"]
        for candidate in candidates
        where needed.allSatisfy({ FileManager.default.isExecutableFile(atPath: candidate + "/" + $0) }) {
            return candidate
        }
        throw Unavailable(
            message: "PostgreSQL's server binaries (initdb, pg_ctl, postgres) were not found (pg_config --bindir, /usr/lib/postgresql/*/bin): install them (apt-get install postgresql) or set HOOKTOP_TEST_PG_URL to a server's URL")
    }

    /// Stops the server started in `directory` (if any) and removes the folder when this process exits; a watchdog
    /// shell, started now, does the same should the process be killed instead.
    private static func cleanUpAtExit(directory: String) async {
        let data = directory + "/data"
        runningServer.withLock { $0 = RunningServer(directory: directory, data: data) }
        atexit { stopRunningServer() }
        let script = """
            while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done
            pid=$(head -n 1 '\(data)/postmaster.pid' 2>/dev/null)
            if [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null; then
                for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                kill -KILL "$pid" 2>/dev/null
            fi
            rm -rf '\(directory)'
            """
        // In the background, its output nowhere, so that it outlives this process.
        _ = try? await runDetached(["/bin/sh", "-c", "(\n\(script)\n) </dev/null >/dev/null 2>&1 &"], timeout: .seconds(10))
    }

    /// Runs `command` to its end (at most `timeout`) with none of this process's descriptors past stderr: the server
    /// that `pg_ctl` leaves running must not hold them, since Foundation learns that a child ended when one of them
    /// closes (and the output pipe would never reach its end).
    private static func runDetached(_ command: [String], timeout: Duration) async throws -> (status: Int32, output: String) {
        let closeInherited = #"( for path in /proc/$$/fd/*; do fd=${path##*/}; if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi; done; exec "$@" )"#
        return try await runProcess("/bin/bash", ["-c", closeInherited, "bash"] + command, timeout: timeout)
    }
}

/// A logger for tests that shows warnings and errors only.
public let quietLogger: Logger = {
    var logger = Logger(label: "hooktop.test")
    logger.logLevel = .warning
    return logger
}()

private struct RunningServer {
    let directory: String
    let data: String
}

private let runningServer = Mutex<RunningServer?>(nil)

/// Fast shutdown of the server (SIGINT to the postmaster), waiting up to ten seconds for it to exit, then removes
/// its folder.
private func stopRunningServer() {
    guard let server = runningServer.withLock({ $0.take() }) else { return }
    let pidFile = server.data + "/postmaster.pid"
    if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
        let pid = pid_t(text.prefix { $0 != "\n" })
    {
        kill(pid, SIGINT)
        for _ in 0..<200 where kill(pid, 0) == 0 { usleep(50_000) }
        if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
    }
    try? FileManager.default.removeItem(atPath: server.directory)
}

/// A TCP port of 127.0.0.1 free at the moment of asking.
public func freeTCPPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw PostgresServer.Unavailable(message: "socket() failed: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw PostgresServer.Unavailable(message: "no free port on 127.0.0.1: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}
