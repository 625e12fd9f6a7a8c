import DeliveryCore
import Foundation
import HooktopTesting
import Testing

@testable import DeliveryCore

/// `hooktop publish --batch FILE`: a JSON lines file in one transaction, all or none.
struct PublishBatchCommandTests {
    @Test(.timeLimit(.minutes(1)))
    func aFileOfEventsIsPublishedInOrderAllOrNone() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let database = try TemporaryDatabase()
        _ = try database.store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: testActor)
        let payload = #"{ "b": 2,  "a": [1.50, "caf\u00e9"] }"#
        let file = database.path + ".jsonl"
        var lines = [
            #"{"type": "order.created", "payload": \#(payload), "idempotency_key": "o-1"}"#,
            "",
            #"{"type": "order.paid", "payload": {"n": 2}}"#,
            #"{"type": "order.paid", "payload": "not an object"}"#,
        ]
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let refused = try await runProcess(executable, ["publish", "--batch", file, "--db", database.path])
        #expect(refused.status != 0)
        #expect(refused.output.contains("events[2] (line 4): payload is required and must be a JSON object"), "\(refused.output)")
        #expect(refused.output.split(separator: "\n").count == 1, "one line: \(refused.output)")
        #expect(try database.store.messages(eventType: nil, before: nil, limit: 10).isEmpty)

        lines.removeLast()
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let published = try await runProcess(executable, ["publish", "--batch", file, "--db", database.path])
        #expect(published.status == 0, "\(published.output)")
        let ids = published.output.split(separator: "\n").map(String.init)
        #expect(ids.count == 2 && ids.allSatisfy { $0.hasPrefix("msg_") }, "\(published.output)")
        #expect(try database.store.message(id: ids[0])?.payload == payload, "stored as written in the file")
        #expect(try database.store.message(id: ids[1])?.eventType == "order.paid")

        // Again from standard input: the keyed event is a duplicate of the first, the other is new.
        let again = try ChildProcess(
            "/bin/sh", ["-c", "'\(executable)' publish --batch - --json --db '\(database.path)' < '\(file)'"])
        #expect(await again.waitForExit() == 0, "\(again.text)")
        let answers = try #require(
            try JSONSerialization.jsonObject(with: Data(again.text.utf8)) as? [[String: Any]], "\(again.text)")
        #expect(answers.map { $0["duplicate"] as? Bool } == [true, false])
        #expect(answers.first?["id"] as? String == ids[0])
    }
}
