import Foundation

/// `hooktop serve` as a subprocess, with the port it listens on and its API token.
public struct ServeProcess {
    public let child: ChildProcess
    public let port: Int
    public let token: String

    /// Starts `hooktop serve` on a free port over `database` and waits for it to listen. `prefix` runs it through
    /// another program (`prlimit --nofile=…`).
    public static func start(
        _ executable: String, database: String, arguments: [String] = [], prefix: [String] = [], token: String? = nil
    ) async throws -> ServeProcess {
        let serve = ["serve", "--db", database, "--listen", "127.0.0.1:0", "--allow-private-destinations",
                     "--log-level", "warning"] + arguments
        let child = prefix.isEmpty
            ? try ChildProcess(executable, serve) : try ChildProcess(prefix[0], Array(prefix.dropFirst()) + [executable] + serve)
        guard let output = await child.waitFor("hooktop serve: listening on http://127.0.0.1:"),
            let line = output.split(separator: "\n").first(where: { $0.contains("hooktop serve: listening on") }),
            let port = Int((line.split(separator: "http://127.0.0.1:").dropFirst().first ?? "").prefix { $0.isNumber })
        else { throw ServeError(message: "serve did not start: \(child.text)") }
        if let token { return ServeProcess(child: child, port: port, token: token) }
        let databasePath = String(line.split(separator: "database ").last ?? "")
        guard databasePath.hasPrefix("postgres") else {
            let token = try String(contentsOfFile: databasePath + ".token", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            return ServeProcess(child: child, port: port, token: token)
        }
        // A PostgreSQL log keeps only the token's digest: the first serve on it shows the token once.
        guard let shown = await child.waitFor("API token (shown once", timeout: .seconds(5)),
            let tokenLine = shown.split(separator: "\n").first(where: { $0.hasPrefix("API token") }),
            let value = tokenLine.split(separator: " ").last
        else { throw ServeError(message: "serve showed no API token (give the first serve's): \(child.text)") }
        return ServeProcess(child: child, port: port, token: String(value))
    }

    public struct ServeError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }
}
