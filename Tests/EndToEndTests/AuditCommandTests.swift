import DeliveryCore
import Foundation
import HooktopTesting
import Testing

/// `hooktop audit` and `endpoint show`: who did what, in ISO 8601, with the SSH origin, the same user name whatever
/// the environment claims.
struct AuditCommandTests {
    @Test(.timeLimit(.minutes(1)))
    func actionsOverSSHAreAuditedWithTheirOrigin() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let database = try TemporaryDatabase()
        let endpoint = try database.store.addEndpoint(
            url: "http://127.0.0.1:9/a", changes: EndpointChanges(description: "Acme"), allowPrivateDestination: true,
            by: testActor)
        // As an operator logged in over SSH would run it; USER says something else, the user database decides.
        let pause = try ChildProcess(
            executable, ["endpoint", "pause", endpoint.id, "--db", database.path],
            environment: ["SSH_CONNECTION": "203.0.113.7 50022 10.0.0.1 22", "USER": "not-the-real-user"])
        #expect(await pause.waitForExit() == 0, "\(pause.text)")
        let user = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "uid \(geteuid())"

        let (status, text) = try await runProcess(executable, ["audit", "--db", database.path])
        #expect(status == 0, "\(text)")
        let line = try #require(text.split(separator: "\n").first { $0.contains("endpoint.pause") }, "\(text)")
        #expect(line.contains(user))
        #expect(!line.contains("not-the-real-user"))
        #expect(line.contains("ssh 203.0.113.7 port 50022"))
        #expect(line.contains(" cli "))
        #expect(line.range(of: #"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"#, options: .regularExpression) != nil, "\(line)")

        let (_, json) = try await runProcess(executable, ["audit", "--json", "--object", endpoint.id, "--db", database.path])
        let first = try #require(json.split(separator: "\n").first)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        #expect(object["action"] as? String == "endpoint.pause")
        #expect(object["origin"] as? String == "ssh 203.0.113.7 port 50022")
        #expect(object["user"] as? String == user)
        #expect((object["at"] as? String)?.contains("T") == true)

        let (_, shown) = try await runProcess(executable, ["endpoint", "show", endpoint.id, "--db", database.path])
        #expect(shown.contains("recent operator actions:"), "\(shown)")
        #expect(shown.contains("endpoint.pause"))
        let (bad, error) = try await runProcess(executable, ["audit", "--limit", "0", "--db", database.path])
        #expect(bad == 1)
        #expect(error == "hooktop: --limit must be from 1 to 10000\n")
    }
}
