@testable import DeliveryCore
import Foundation
import HooktopTesting
import Testing

/// The command line as a careless operator or a hostile API client would meet it: outside text with escape
/// sequences, mistyped and foreign database paths.
struct CLIHardeningTests {
    /// Whether `text` is safe for a terminal: no C0 control but newline, no DEL, no C1, no bidi override.
    static func isTerminalSafe(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { s in
            s == "\n" || !(s.value < 0x20 || (0x7F...0x9F).contains(s.value) || (0x202A...0x202E).contains(s.value)
                || (0x2066...0x2069).contains(s.value))
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func outsideTextIsSanitisedInEveryHumanReadableOutput() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let database = try TemporaryDatabase()
        let hostile = "\u{1B}]0;owned\u{07}\u{1B}[2J\u{9B}31m\u{202E}txt.exe"
        let endpoint = try database.store.addEndpoint(
            url: "http://127.0.0.1:9/hook", changes: EndpointChanges(description: hostile),
            allowPrivateDestination: true, by: testActor)
        // A URL as the API stored it before URLs were checked for controls.
        try database.store.read { db in
            try db.execute("UPDATE endpoints SET url = 'http://127.0.0.1:9/' || char(27) || '[2Jhook'")
        }
        _ = try database.store.publish(eventType: "a.b", payload: "{}")
        for arguments in [["endpoint", "show", endpoint.id], ["endpoint", "list"], ["stats"], ["deliveries"]] {
            let (status, output) = try await runProcess(executable, arguments + ["--db", database.path])
            #expect(status == 0, "\(arguments): \(output)")
            #expect(Self.isTerminalSafe(output), "\(arguments) printed a control: \(output.debugDescription)")
            #expect(!output.isEmpty)
        }
        let (_, shown) = try await runProcess(executable, ["endpoint", "show", endpoint.id, "--db", database.path])
        #expect(shown.contains("^[") && shown.contains("<U+202E>txt.exe"), "\(shown.debugDescription)")

        // New URLs with controls are refused in one line, before anything is stored.
        let (status, output) = try await runProcess(
            executable,
            ["endpoint", "add", "http://127.0.0.1:9/\u{1B}[2J", "--allow-private-destinations", "--db", database.path])
        #expect(status == 1)
        #expect(output.hasPrefix("hooktop: the URL contains a control"), "\(output.debugDescription)")
        #expect(output.split(separator: "\n").count == 1)
        #expect(Self.isTerminalSafe(output))
        #expect(try database.store.endpoints().count == 1)
    }

    @Test(.timeLimit(.minutes(2)))
    func aMistypedDatabaseIsRefusedNotCreated() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let database = try TemporaryDatabase()
        let typo = database.directory + "/hooktpo.db"
        for arguments in [["publish", "a.b"], ["deliveries"], ["stats"], ["endpoint", "list"], ["dashboard"],
                          ["redeliver", "dlv_1"], ["endpoint", "pause", "ep_x"], ["prune", "--older-than", "1d"]] {
            let (status, output) = try await runProcess(executable, arguments + ["--db", typo])
            #expect(status == 1, "\(arguments): \(output)")
            #expect(output.hasPrefix("hooktop: no hooktop database at \(typo)"), "\(arguments): \(output)")
            #expect(output.split(separator: "\n").count == 1, "\(arguments): \(output)")
            #expect(!FileManager.default.fileExists(atPath: typo), "\(arguments) created the file")
        }
    }

    /// Another application's SQLite file: every command refuses it in one line and leaves it exactly as it was.
    @Test(.timeLimit(.minutes(2)))
    func anotherApplicationsDatabaseIsNeverTouched() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let database = try TemporaryDatabase()
        let foreign = database.directory + "/app.db"
        let create = try await runProcess(
            "/usr/bin/python3",
            ["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('create table users(id integer primary key, name text)'); c.execute(\"insert into users(name) values ('ada')\"); c.commit()", foreign])
        #expect(create.status == 0, "\(create.output)")
        let before = try Data(contentsOf: URL(fileURLWithPath: foreign))
        for arguments in [["publish", "a.b"], ["serve", "--listen", "127.0.0.1:0"], ["dashboard"],
                          ["endpoint", "add", "http://127.0.0.1:9/", "--allow-private-destinations"],
                          ["deliveries"], ["stats"]] {
            let (status, output) = try await runProcess(executable, arguments + ["--db", foreign], timeout: .seconds(30))
            #expect(status == 1, "\(arguments): \(output)")
            #expect(
                output == "hooktop: \(foreign) is not a hooktop database: it holds another application's tables (users)\n",
                "\(arguments): \(output)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: foreign)) == before, "the file changed")
        #expect(!FileManager.default.fileExists(atPath: foreign + ".token"))
    }
}
