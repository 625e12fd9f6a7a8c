import DeliveryCore
import Foundation
import HooktopTesting
import Testing

/// Alerts as an operator meets them: two `serve` processes on one log, real receivers that fail in each way, the
/// alert webhook verified with the reference library, the command's input, `hooktop alerts` and the API.
@Suite(.serialized)
struct AlertEndToEndTests {
    /// The alert webhooks `receiver` took: type, id, and the verdict of PyPI's `standardwebhooks` on each.
    static func verifiedAlerts(_ receiver: LocalReceiver, secret: String) async throws -> [(type: String, id: String)] {
        let requests = receiver.records.filter { $0["kind"] as? String == "request" }
        let exchanges = requests.map { ["headers": $0["headers"] ?? [], "body": $0["body"] ?? ""] }
        let input = try JSONSerialization.data(withJSONObject: exchanges)
        let result = try await runPython(
            """
            import json, sys
            from standardwebhooks.webhooks import Webhook
            hook = Webhook(sys.argv[1])
            for exchange in json.load(sys.stdin):
                headers = {name: value for name, value in exchange["headers"]}
                payload = hook.verify(exchange["body"].encode(), headers)
                print(payload["type"], payload["data"]["alert_id"])
            """, arguments: [secret], input: Array(input))
        guard result.status == 0 else { throw LocalReceiverError(message: "python: \(result.error)") }
        return result.output.split(separator: "\n").map { line in
            let parts = line.split(separator: " ")
            return (String(parts[0]), String(parts.last ?? ""))
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func everyAlertTypeArrivesOnceSignedAndOnTheCommandFromTwoServes() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let database = try TemporaryDatabase()
        let secret = WebhookSignature.generateSecret()
        let alertReceiver = try await LocalReceiver("receiver")
        let gone = try await LocalReceiver("receiver", ["--status", "410"])
        let broken = try await LocalReceiver("receiver", ["--status", "500"])
        let healthy = try await LocalReceiver("receiver")
        func hooktop(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await runProcess(executable, arguments + ["--db", database.path])
        }
        func addEndpoint(_ receiver: LocalReceiver, _ extra: [String]) async throws -> String {
            let (status, output) = try await hooktop(
                ["endpoint", "add", "http://127.0.0.1:\(receiver.port)/hook", "--allow-private-destinations"] + extra)
            try #require(status == 0, "\(output)")
            return String(output.split(separator: "\n").last ?? "")
        }
        let goneId = try await addEndpoint(gone, ["--description", "gone", "--events", "invoice.*"])
        let brokenId = try await addEndpoint(
            broken, ["--description", "broken", "--events", "invoice.*", "--retry-schedule", "1s,1s"])
        let slowId = try await addEndpoint(healthy, ["--description", "slow", "--events", "bulk.*", "--rate-limit", "1"])
        // Each alert appended as one line in one write: the two serves' commands run at the same time.
        let execFile = database.directory + "/alerts.jsonl"
        let alertOptions = [
            "--alert-url", "http://127.0.0.1:\(alertReceiver.port)/alerts", "--alert-secret", secret,
            "--alert-exec", "printf '%s\\n' \"$(cat)\" >> '\(execFile)'", "--alert-failing-after", "1s",
            "--alert-check-interval", "200ms", "--alert-overdue-after", "2s", "--alert-stale-after", "6s",
        ]
        let first = try await ServeProcess.start(executable, database: database.path, arguments: alertOptions)
        defer { first.child.signal(SIGKILL) }
        let second = try await ServeProcess.start(executable, database: database.path, arguments: alertOptions)
        defer { second.child.signal(SIGKILL) }

        var (status, output) = try await hooktop(["publish", "invoice.paid", "--data", #"{"n":1}"#])
        #expect(status == 0, "\(output)")
        let bulk = (0..<8).map { #"{"type":"bulk.item","payload":{"n":\#($0)}}"# }.joined(separator: "\n")
        let batchFile = database.directory + "/bulk.jsonl"
        try bulk.write(toFile: batchFile, atomically: true, encoding: .utf8)
        (status, output) = try await hooktop(["publish", "--batch", batchFile])
        #expect(status == 0, "\(output)")

        func types() async throws -> [String] { try await Self.verifiedAlerts(alertReceiver, secret: secret).map(\.type).sorted() }
        let problems = ["backlog.overdue", "deliveries.dead", "deliveries.dead", "endpoint.disabled", "endpoint.failing"]
        let raised = try await eventually(timeout: .seconds(40)) { try await types() == problems }
        var seen = try await types()
        #expect(raised, "\(seen)")

        // The broken endpoint comes back: recovered, once.
        (status, output) = try await hooktop(
            ["endpoint", "update", brokenId, "--url", "http://127.0.0.1:\(healthy.port)/hook"])
        #expect(status == 0, "\(output)")
        _ = try await hooktop(["publish", "invoice.paid", "--data", #"{"n":2}"#])
        let recovered = try await eventually(timeout: .seconds(20)) { try await types().contains("endpoint.recovered") }
        seen = try await types()
        #expect(recovered, "\(seen)")

        // One serve dies: the other says so.
        second.child.signal(SIGKILL)
        _ = await second.child.waitForExit(timeout: .seconds(5))
        let stale = try await eventually(timeout: .seconds(30)) { try await types().contains("dispatcher.stale") }
        seen = try await types()
        #expect(stale, "\(seen)")
        try await Task.sleep(for: .seconds(1))

        let webhooks = try await Self.verifiedAlerts(alertReceiver, secret: secret)
        #expect(webhooks.map(\.type).sorted() == (problems + ["dispatcher.stale", "endpoint.recovered"]).sorted())
        #expect(Set(webhooks.map(\.id)).count == webhooks.count, "each alert once")
        // The command got the same alerts, as JSON on its standard input.
        let lines = try String(contentsOfFile: execFile, encoding: .utf8).split(separator: "\n")
        let commandIds = try lines.map { line -> String in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return try #require((object["data"] as? [String: Any])?["alert_id"] as? String)
        }
        #expect(commandIds.sorted() == webhooks.map(\.id).sorted())

        // What each says, from `hooktop alerts --json`.
        (status, output) = try await hooktop(["alerts", "--json", "--limit", "20"])
        #expect(status == 0, "\(output)")
        let listed = try output.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(listed.count == webhooks.count)
        #expect(listed.allSatisfy { $0["status"] as? String == "sent" && ($0["sent_to"] as? [String])?.sorted() == ["exec", "url"] })
        func alert(_ type: String, _ object: String? = nil) -> [String: Any]? {
            listed.first { $0["type"] as? String == type && (object == nil || $0["object_id"] as? String == object) }
        }
        let disabled = try #require(alert("endpoint.disabled", goneId)?["details"] as? [String: Any])
        #expect(disabled["last_status"] as? Int == 410 && disabled["reason"] as? String == "endpoint answered 410 Gone")
        #expect((disabled["endpoint"] as? [String: Any])?["description"] as? String == "gone")
        #expect(alert("endpoint.failing", brokenId) != nil && alert("endpoint.recovered", brokenId) != nil)
        #expect(alert("deliveries.dead", goneId) != nil && alert("deliveries.dead", brokenId) != nil)
        let overdue = try #require(alert("backlog.overdue")?["details"] as? [String: Any])
        #expect((overdue["endpoint"] as? [String: Any])?["id"] as? String == slowId)
        #expect(alert("dispatcher.stale")?["summary"] as? String ?? "" != "")

        (status, output) = try await hooktop(["alerts"])
        #expect(output.contains("endpoint.disabled") && output.contains("sent"), "\(output)")
        for receiver in [alertReceiver, gone, broken, healthy] { await receiver.stop() }
    }

    @Test(.timeLimit(.minutes(2)))
    func aRefusingDestinationIsRetriedWithoutHoldingDeliveriesAndTestsGoThroughServe() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let database = try TemporaryDatabase()
        let secret = WebhookSignature.generateSecret()
        // Answers the first alert with 500, then takes them.
        let alertReceiver = try await LocalReceiver("receiver", ["--fail-first", "1"])
        let gone = try await LocalReceiver("receiver", ["--status", "410"])
        let healthy = try await LocalReceiver("receiver")
        func hooktop(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await runProcess(executable, arguments + ["--db", database.path])
        }
        for (receiver, events) in [(gone, "invoice.*"), (healthy, "user.*")] {
            let (status, output) = try await hooktop(
                ["endpoint", "add", "http://127.0.0.1:\(receiver.port)/hook", "--allow-private-destinations",
                 "--events", events])
            try #require(status == 0, "\(output)")
        }
        let serve = try await ServeProcess.start(
            executable, database: database.path,
            arguments: ["--alert-url", "http://127.0.0.1:\(alertReceiver.port)/alerts", "--alert-secret", secret,
                        "--alert-check-interval", "200ms"])
        defer { serve.child.signal(SIGKILL) }
        _ = try await hooktop(["publish", "invoice.paid", "--data", "{}"])
        func alerts() async throws -> [[String: Any]] {
            let (_, output) = try await hooktop(["alerts", "--json"])
            return output.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
        let refused = try await eventually(timeout: .seconds(15)) {
            try await alerts().contains { $0["attempts"] as? Int == 1 && $0["status"] as? String == "pending" }
        }
        var listed = try await alerts()
        #expect(refused, "\(listed)")
        #expect(listed.contains { $0["last_error"] as? String == "url: HTTP 500" })
        // Deliveries go on while the alert waits for its retry.
        _ = try await hooktop(["publish", "user.created", "--data", "{}"])
        let delivered = await eventually(timeout: .seconds(5)) {
            healthy.records.contains { $0["kind"] as? String == "request" }
        }
        #expect(delivered)
        let retried = try await eventually(timeout: .seconds(20)) {
            try await alerts().allSatisfy { $0["status"] as? String == "sent" }
        }
        listed = try await alerts()
        #expect(retried, "\(listed)")
        #expect(listed.first { $0["type"] as? String == "endpoint.disabled" }?["attempts"] as? Int == 2)

        // `hooktop alerts test` without destinations of its own: the running serve sends it.
        var (status, output) = try await hooktop(["alerts", "test"])
        #expect(status == 0 && output.contains("sent by serve to url"), "\(output)")
        // With its own destination: sent from here; a refusing one exits 2 with the reason.
        (status, output) = try await hooktop(["alerts", "test", "--alert-exec", "exit 5"])
        #expect(status == 2 && output.contains("exec: exit 5"), "\(output)")
        // The API: the same test through serve's destinations, and the list paged.
        let (code, text) = RawHTTP.exchange(
            port: serve.port, RawHTTP.request("POST", "/v1/alerts/test", headers: ["Authorization: Bearer \(serve.token)"]))
        #expect(code == 200 && text.contains(#""ok":true"#) && text.contains(#""type":"alert.test""#), "\(text)")
        let (listCode, page) = RawHTTP.exchange(
            port: serve.port, RawHTTP.request("GET", "/v1/alerts?limit=2", headers: ["Authorization: Bearer \(serve.token)"]))
        #expect(listCode == 200 && page.contains(#""next_cursor":""#), "\(page)")
        let (badCode, _) = RawHTTP.exchange(
            port: serve.port, RawHTTP.request("GET", "/v1/alerts?limit=0", headers: ["Authorization: Bearer \(serve.token)"]))
        #expect(badCode == 422 || badCode == 400)
        let types = try await Self.verifiedAlerts(alertReceiver, secret: secret).map(\.type)
        #expect(types.filter { $0 == "alert.test" }.count == 2, "\(types)")
        #expect(types.filter { $0 == "endpoint.disabled" }.count == 2, "refused once, then taken: \(types)")
        for receiver in [alertReceiver, gone, healthy] { await receiver.stop() }
    }

    @Test(.timeLimit(.minutes(1)))
    func badAlertOptionsAreOneLineErrors() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let database = try TemporaryDatabase()
        let secret = WebhookSignature.generateSecret()
        for arguments in [
            ["serve", "--alert-url", "http://127.0.0.1:9/a"],
            ["serve", "--alert-url", "gopher://x", "--alert-secret", secret],
            ["serve", "--alert-secret", secret],
            ["serve", "--alert-url", "http://127.0.0.1:9/a", "--alert-secret", "whsec_nope"],
            ["serve", "--alert-window", "0s"], ["serve", "--alert-stale-after", "1s"],
            ["serve", "--alert-dead-threshold=-1"], ["alerts", "test", "--alert-exec", ""],
            ["alerts", "test", "--wait", "forever"], ["alerts", "--limit", "0"],
        ] {
            let (status, output) = try await runProcess(executable, arguments + ["--db", database.path])
            #expect(status != 0, "\(arguments): \(output)")
            #expect(output.split(separator: "\n").count <= 3, "\(arguments): \(output)")
        }
        // With nothing to send it, a test says so and leaves nothing pending.
        let (status, output) = try await runProcess(executable, ["alerts", "test", "--wait", "1s", "--db", database.path])
        #expect(status == 2 && output.contains("no running serve with alert destinations"), "\(output)")
        let (_, listed) = try await runProcess(executable, ["alerts", "--json", "--db", database.path])
        #expect(listed.contains(#""status":"unsent""#), "\(listed)")
    }
}
