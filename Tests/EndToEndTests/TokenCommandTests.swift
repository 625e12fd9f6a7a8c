import DeliveryCore
import Foundation
import HooktopTesting
import Testing

/// `hooktop token` against a running `serve`: a token made by the CLI works, and a revoked one is refused, within about
/// a second; the first token keeps working.
struct TokenCommandTests {
    @Test(.timeLimit(.minutes(2)), arguments: TestEngine.allCases)
    func tokensMadeAndRevokedByTheCLICountInARunningServe(engine kind: TestEngine) async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let log = try await kind.makeLog()
        func hooktop(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await runProcess(executable, arguments + ["--db", log.location])
        }
        let serve = try await ServeProcess.start(executable, database: log.location)
        defer { serve.child.signal(SIGKILL) }
        func status(_ token: String) -> Int? {
            RawHTTP.exchange(
                port: serve.port, RawHTTP.request("GET", "/v1/endpoints", headers: ["Authorization: Bearer \(token)"])
            ).status
        }
        #expect(status(serve.token) == 200)

        var (code, output) = try await hooktop(["token", "create", "--name", "ci"])
        #expect(code == 0, "\(output)")
        let lines = output.split(separator: "\n")
        let id = try #require(lines.first { $0.hasPrefix("id:") }?.split(separator: " ").last.map(String.init))
        let token = try #require(lines.first { $0.hasPrefix("token:") }?.split(separator: " ").last.map(String.init))
        #expect(id.hasPrefix("tok_") && token.hasPrefix("htk_"), "\(output)")
        #expect(await eventually(timeout: .seconds(5)) { status(token) == 200 }, "a new token works within a second or so")
        #expect(status("htk_" + String(repeating: "x", count: 40)) == 401)

        (code, output) = try await hooktop(["token", "list"])
        #expect(code == 0 && output.contains(id) && output.contains(" ci ") && output.contains(" first "), "\(output)")
        #expect(!output.contains("htk_") && !output.contains(serve.token), "\(output)")
        (code, output) = try await hooktop(["token", "list", "--json"])
        let listed = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]])
        #expect(listed.map { $0["name"] as? String } == ["first", "ci"])
        #expect(listed.allSatisfy { $0["revoked_at"] is NSNull } && !output.contains("digest"), "\(output)")

        (code, output) = try await hooktop(["token", "revoke", id])
        #expect(code == 0 && output == "\(id) revoked\n", "\(output)")
        #expect(await eventually(timeout: .seconds(5)) { status(token) == 401 }, "refused within a second or so")
        #expect(status(serve.token) == 200, "the first token keeps working")
        (code, output) = try await hooktop(["token", "revoke", id])
        #expect(code == 0 && output == "\(id) was already revoked\n", "\(output)")
        (code, output) = try await hooktop(["token", "revoke", "tok_nope"])
        #expect(code == 1 && output == "hooktop: token tok_nope not found\n", "\(output)")
        (code, output) = try await hooktop(["token", "create", "--name", String(repeating: "n", count: 101)])
        #expect(code == 1 && output == "hooktop: a token name is one line of at most 100 printable characters\n", "\(output)")

        (code, output) = try await hooktop(["audit", "--json"])
        let actions = output.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["action"] as? String
        }
        #expect(actions.prefix(3) == ["token.revoke", "token.create", "token.create"], "\(output)")
    }

    @Test(.timeLimit(.minutes(1)))
    func aTokenFileOfAnEarlierVersionIsStillAccepted() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hooktop-token-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = directory.appendingPathComponent("hooktop.db").path
        let legacy = "htk_" + String(repeating: "L", count: 40)
        try (legacy + "\n").write(toFile: database + ".token", atomically: false, encoding: .utf8)
        let serve = try await ServeProcess.start(executable, database: database)
        defer { serve.child.signal(SIGKILL) }
        #expect(serve.token == legacy)
        #expect(!serve.child.text.contains("API token"), "no new token was made: \(serve.child.text)")
        let (status, _) = RawHTTP.exchange(
            port: serve.port, RawHTTP.request("GET", "/v1/endpoints", headers: ["Authorization: Bearer \(legacy)"]))
        #expect(status == 200)
        let (code, output) = try await runProcess(executable, ["token", "list", "--db", database])
        #expect(code == 0 && output.contains("hooktop.db.token") && output.contains("token file"), "\(output)")
    }
}
