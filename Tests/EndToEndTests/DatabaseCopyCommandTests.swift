import DeliveryCore
import Foundation
import HooktopTesting
import Testing

/// `hooktop db copy`: a log made with the CLI on SQLite, copied into PostgreSQL and back, reads the same through the
/// CLI; a non-empty destination and bad locations are one-line errors.
struct DatabaseCopyCommandTests {
    @Test(.timeLimit(.minutes(2)))
    func aLogGoesToPostgresAndBack() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let source = try TemporaryDatabase()
        let postgres = try await TestEngine.postgres.makeLog().location
        let back = source.directory + "/back.db"
        func hooktop(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await runProcess(executable, arguments)
        }
        var (status, output) = try await hooktop(
            ["endpoint", "add", "http://127.0.0.1:9/hook", "--allow-private-destinations", "--db", source.path])
        #expect(status == 0, "\(output)")
        let endpoint = output.trimmingCharacters(in: .whitespacesAndNewlines)
        for payload in [#"{"n":1}"#, #"{"name":"Zoë 🚀","text":"a\tb"}"#, #"{ "spaced" : [1, 2] }"#] {
            (status, output) = try await hooktop(["publish", "user.created", "--data", payload, "--db", source.path])
            #expect(status == 0, "\(output)")
        }
        (status, output) = try await hooktop(["token", "create", "--name", "ci", "--db", source.path])
        #expect(status == 0, "\(output)")

        (status, output) = try await hooktop(["db", "copy", "--from", source.path, "--to", postgres])
        #expect(status == 0, "\(output)")
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.first == "copying \(source.path) to \(postgres)", "\(output)")
        let counts = Dictionary(
            lines.dropFirst().dropLast().map { line -> (String, String) in
                let parts = line.split(separator: " ", omittingEmptySubsequences: true)
                return (String(parts[0]), String(parts.last ?? ""))
            }, uniquingKeysWith: { $1 })
        #expect(counts.keys.sorted() == LogTable.allCases.map(\.rawValue).sorted(), "\(output)")
        #expect(
            [counts["endpoints"], counts["messages"], counts["deliveries"], counts["api_tokens"]] == ["1", "3", "3", "1"],
            "\(output)")
        #expect(lines.last?.hasPrefix("copied ") == true && lines.last?.contains(" rows in ") == true, "\(output)")

        (status, output) = try await hooktop(["db", "copy", "--from", postgres, "--to", back])
        #expect(status == 0, "\(output)")
        for arguments in [["deliveries", "--json"], ["endpoint", "show", endpoint, "--json"], ["token", "list", "--json"]] {
            let original = try await hooktop(arguments + ["--db", source.path])
            #expect(original.status == 0, "\(original.output)")
            #expect(try await hooktop(arguments + ["--db", postgres]) == original, "\(arguments)")
            #expect(try await hooktop(arguments + ["--db", back]) == original, "\(arguments)")
        }

        // Into a log that is not empty any more: refused in one line, nothing written.
        (status, output) = try await hooktop(["db", "copy", "--from", source.path, "--to", postgres])
        #expect(status == 1, "\(output)")
        #expect(output == "hooktop: \(postgres) already holds a log: copy into an empty database or a new file\n")
    }

    @Test(.timeLimit(.minutes(1)))
    func badLocationsAreOneLineErrors() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let source = try TemporaryDatabase()
        let cases: [([String], String)] = [
            (["--from", source.directory + "/missing.db", "--to", source.directory + "/new.db"],
             "hooktop: no hooktop database at \(source.directory)/missing.db"),
            (["--from", source.path, "--to", "/nonexistent-\(UUID().uuidString)/x.db"], "hooktop: cannot create database"),
            (["--from", source.path, "--to", "postgres://user@127.0.0.1:notaport/db"],
             "hooktop: bad port 'notaport' in the database URL"),
            (["--from", "postgres://user@127.0.0.1:5432/db?sslmode=bogus", "--to", source.directory + "/new.db"],
             "hooktop: unknown sslmode 'bogus'"),
            (["--from", "postgres://user@127.0.0.1:1/db", "--to", source.directory + "/new.db"], "hooktop: "),
        ]
        for (arguments, prefix) in cases {
            let (status, output) = try await runProcess(executable, ["db", "copy"] + arguments)
            #expect(status == 1, "\(arguments): \(output)")
            #expect(output.hasPrefix(prefix) && output.split(separator: "\n").count == 1, "\(arguments): \(output)")
        }
        #expect(!FileManager.default.fileExists(atPath: source.directory + "/new.db"), "no file is made for a failed copy")
    }
}
