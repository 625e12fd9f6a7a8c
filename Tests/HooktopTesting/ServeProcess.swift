import Foundation

/// `hooktop serve` as a subprocess, with the port it listens on and its API token.
public struct ServeProcess {
    public let child: ChildProcess
    public let port: Int
    public let token: String

    /// Starts `hooktop serve` on a free port over `database` and waits for it to listen. `prefix` runs it through
    /// another program (`prlimit --nofile=…`).
    public static func start(
        _ executable: String, database: String, arguments: [String] = [], prefix: [String] = []
    ) async throws -> ServeProcess {
        let serve = ["serve", "--db", database, "--listen", "127.0.0.1:0", "--allow-private-destinations",
                     "--log-level", "warning"] + arguments
        let child = prefix.isEmpty
            ? try ChildProcess(executable, serve) : try ChildProcess(prefix[0], Array(prefix.dropFirst()) + [executable] + serve)
        guard let output = await child.waitFor("hooktop serve: listening on http://127.0.0.1:"),
            let line = output.split(separator: "\n").first(where: { $0.contains("hooktop serve: listening on") }),
            let port = Int((line.split(separator: "127.0.0.1:").last ?? "").prefix { $0.isNumber })
        else { throw ServeError(message: "serve did not start: \(child.text)") }
        let databasePath = String(line.split(separator: "database ").last ?? "")
        let token = try String(contentsOfFile: databasePath + ".token", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return ServeProcess(child: child, port: port, token: token)
    }

    public struct ServeError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }
}
