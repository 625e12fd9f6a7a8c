@testable import DeliveryCore
import Foundation
import HooktopTesting
import Testing

/// Headers, credentials, TLS settings and test pings as an operator uses them: through `hooktop endpoint ...`, the
/// API and `serve`, with the credentials kept out of every plain output and log.
@Suite(.serialized)
struct EndpointConnectionCommandTests {
    static let token = "tok_SECRETabcdefghijkl3f"
    static let password = "pw-SECRET-9876"

    /// Every place a credential must not show up in full.
    static func expectMasked(_ text: String, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!text.contains("SECRETabcdefghijkl"), "\(context) printed the bearer token", sourceLocation: sourceLocation)
        #expect(!text.contains(password), "\(context) printed the basic auth password", sourceLocation: sourceLocation)
    }

    @Test(.timeLimit(.minutes(3)))
    func addUpdateShowAndTestFromTheCommandLine() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let database = try TemporaryDatabase()
        let certificates = try await TestCertificates()
        let receiver = try await LocalReceiver("receiver")
        let failing = try await LocalReceiver("receiver", ["--status", "500"])
        let tls = try await LocalReceiver("receiver", ["--cert", certificates.serverPEM, "--key", certificates.serverKey])
        defer { Task { await receiver.stop(); await failing.stop(); await tls.stop() } }
        func hooktop(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await runProcess(executable, arguments + ["--db", database.path])
        }

        var (status, output) = try await hooktop([
            "endpoint", "add", "http://127.0.0.1:\(receiver.port)/hook", "--allow-private-destinations",
            "--header", "X-Team: payments", "--header", "X-Api-Key: k-1", "--bearer-token", Self.token,
            "--retry-schedule", "10s,1m", "--ping",
        ])
        #expect(status == 0, "\(output)")
        let id = output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.hasPrefix("ep_") && !id.contains("\n"), "\(output)")
        // --ping sent one request with the headers and the token.
        #expect(await eventually { receiver.records.count == 1 })
        #expect(receiver.headers(of: 0)["authorization"] == "Bearer \(Self.token)")
        #expect(receiver.headers(of: 0)["x-team"] == "payments")
        #expect((receiver.records.first?["body"] as? String)?.contains(#""type":"hooktop.ping""#) == true)

        (status, output) = try await hooktop(["endpoint", "show", id])
        #expect(status == 0)
        #expect(output.contains("header:      X-Team: payments"), "\(output)")
        #expect(output.contains("header:      X-Api-Key: …"), "a key-like header is shown masked: \(output)")
        #expect(output.contains("auth:        Bearer tok_…3f"), "\(output)")
        #expect(output.contains("retries:     10s,1m"), "\(output)")
        #expect(output.contains("endpoint.test"), "the ping is audited: \(output)")
        Self.expectMasked(output, "endpoint show")
        for arguments in [["endpoint", "list"], ["endpoint", "list", "--json"], ["audit"], ["stats"], ["stats", "--json"]] {
            (status, output) = try await hooktop(arguments)
            #expect(status == 0, "\(arguments): \(output)")
            Self.expectMasked(output, arguments.joined(separator: " "))
        }
        // Only the JSON that already shows the signing secret shows the token.
        (status, output) = try await hooktop(["endpoint", "show", id, "--json"])
        #expect(output.contains(Self.token), "\(output)")

        // endpoint test: 2xx exits 0 and says so.
        (status, output) = try await hooktop(["endpoint", "test", id])
        #expect(status == 0, "\(output)")
        #expect(output.hasPrefix("HTTP 204 in "), "\(output)")

        // Update: another URL (answers 500), basic auth instead of the token, one header less.
        (status, output) = try await hooktop([
            "endpoint", "update", id, "--url", "http://127.0.0.1:\(failing.port)/x", "--allow-private-destinations",
            "--basic-auth", "alice:\(Self.password)", "--remove-header", "x-api-key", "--default-retries",
        ])
        #expect(status == 0, "\(output)")
        (status, output) = try await hooktop(["endpoint", "test", id])
        #expect(status != 0)
        #expect(output.hasPrefix("HTTP 500 in "), "\(output)")
        #expect(await eventually { failing.records.count == 1 })
        #expect(failing.headers(of: 0)["authorization"] == "Basic " + Data("alice:\(Self.password)".utf8).base64EncodedString())
        #expect(failing.headers(of: 0)["x-api-key"] == nil)
        #expect(failing.headers(of: 0)["x-team"] == "payments")
        (status, output) = try await hooktop(["endpoint", "show", id])
        #expect(output.contains("auth:        Basic alice:…") && !output.contains("retries:"), "\(output)")
        Self.expectMasked(output, "endpoint show after update")

        // A closed port: non-zero, the error class named.
        (status, output) = try await hooktop(["endpoint", "update", id, "--url", "http://127.0.0.1:9/closed", "--no-auth"])
        #expect(status == 0, "\(output)")
        (status, output) = try await hooktop(["endpoint", "test", id])
        #expect(status != 0)
        #expect(output.hasPrefix("connect_refused: connection refused in "), "\(output)")

        // TLS: unknown until --ca-file; the test says which.
        (status, output) = try await hooktop(["endpoint", "update", id, "--url", "https://localhost:\(tls.port)/t"])
        #expect(status == 0, "\(output)")
        (status, output) = try await hooktop(["endpoint", "test", id])
        #expect(status != 0)
        #expect(output.hasPrefix("tls_unknown_authority: certificate signed by an unknown authority"), "\(output)")
        (status, output) = try await hooktop(["endpoint", "test", id, "--ca-file", certificates.caPEM])
        #expect(status == 0, "serve's --ca-file, given to test: \(output)")
        (status, output) = try await hooktop(["endpoint", "update", id, "--ca-file", certificates.caPEM])
        #expect(status == 0, "\(output)")
        (status, output) = try await hooktop(["endpoint", "test", id, "--json"])
        #expect(status == 0, "\(output)")
        #expect(output.contains(#""status" : 204"#), "\(output)")

        // Refusals: one line, non-zero, nothing changed.
        for arguments in [
            ["endpoint", "update", id, "--header", "Webhook-Signature: forged"],
            ["endpoint", "update", id, "--header", "X-Bad: a\r\nX-Evil: 1"],
            ["endpoint", "update", id, "--client-cert", certificates.clientPEM, "--client-key", certificates.serverKey],
            ["endpoint", "update", id, "--client-cert", certificates.clientPEM],
            ["endpoint", "update", id, "--ca-file", certificates.clientKey],
            ["endpoint", "update", id, "--ca-file", "/no/such/file.pem"],
            ["endpoint", "update", id, "--retry-schedule", "soon"],
            ["endpoint", "update", id],
            ["endpoint", "test", "ep_missing"],
        ] {
            (status, output) = try await hooktop(arguments)
            #expect(status == 1, "\(arguments): \(output)")
            #expect(output.hasPrefix("hooktop: ") && output.split(separator: "\n").count == 1, "\(arguments): \(output)")
        }
        #expect(try await database.store.endpoint(id: id)?.connection.headers.map(\.name) == ["X-Team"])
    }

    @Test(.timeLimit(.minutes(3)))
    func serveDeliversWithTheSettingsAndTheAPIMasksThem() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let database = try TemporaryDatabase()
        let receiver = try await LocalReceiver("receiver")
        let proxy = try await LocalReceiver("proxy")
        defer { Task { await receiver.stop(); await proxy.stop() } }
        let serve = try await ServeProcess.start(
            executable, database: database.path, arguments: ["--proxy", "http://127.0.0.1:\(proxy.port)", "--log-level", "debug"])
        defer { serve.child.signal(SIGTERM) }
        func call(_ method: String, _ path: String, _ body: String? = nil) async throws -> (Int, [String: Any]) {
            let (status, text) = RawHTTP.exchange(
                port: serve.port,
                RawHTTP.request(method, path, headers: ["Authorization: Bearer \(serve.token)"], body: body),
                timeout: .seconds(20))
            let json = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
            let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
            return (status ?? 0, object)
        }

        var (status, object) = try await call(
            "POST", "/v1/endpoints",
            #"{"url":"http://127.0.0.1:\#(receiver.port)/api","headers":{"X-Team":"api"},"bearer_token":"\#(Self.token)","retry_schedule":"1s"}"#)
        #expect(status == 201, "\(object)")
        let id = try #require(object["id"] as? String)
        #expect(object["bearer_token"] as? String == Self.token, "created: shown once, like the secret")
        (status, object) = try await call("GET", "/v1/endpoints/\(id)")
        #expect(object["authorization"] as? String == "Bearer tok_…3f")
        #expect(object["bearer_token"] as? String == Self.token, "the one endpoint's object shows its secrets")
        #expect((object["headers"] as? [String: String]) == ["X-Team": "api"])
        #expect(object["retry_schedule"] as? String == "1s")
        let (_, list) = RawHTTP.exchange(
            port: serve.port, RawHTTP.request("GET", "/v1/endpoints", headers: ["Authorization: Bearer \(serve.token)"]))
        #expect(list.contains("Bearer tok_…3f"), "\(list)")
        Self.expectMasked(list, "GET /v1/endpoints")
        (status, object) = try await call("PATCH", "/v1/endpoints/\(id)", #"{"headers":{"Host":"evil"}}"#)
        #expect(status == 422, "\(object)")
        (status, object) = try await call("PATCH", "/v1/endpoints/\(id)", #"{"client_certificate_pem":"x"}"#)
        #expect(status == 422, "\(object)")

        // A test ping through the API.
        (status, object) = try await call("POST", "/v1/endpoints/\(id)/test")
        #expect(status == 200, "\(object)")
        #expect(object["ok"] as? Bool == true && object["status"] as? Int == 204, "\(object)")

        // A delivery by serve's dispatcher, through the proxy, with the header and the token; recorded masked.
        (status, object) = try await call("POST", "/v1/events", #"{"type":"invoice.paid","payload":{"n":1}}"#)
        #expect(status == 202, "\(object)")
        #expect(await eventually(timeout: .seconds(20)) { receiver.records.count == 2 })
        #expect(receiver.headers(of: 1)["authorization"] == "Bearer \(Self.token)")
        #expect(receiver.headers(of: 1)["x-team"] == "api")
        #expect(await eventually { proxy.records.contains { $0["target"] as? String == "127.0.0.1:\(receiver.port)" } })
        let deliveries = try await eventually {
            try database.store.read { db in
                try db.scalar("SELECT count(*) FROM deliveries WHERE status = 'delivered'")
            } == 1
        }
        #expect(deliveries)
        let recorded = try database.store.read { db in
            try db.query("SELECT request_headers FROM attempts", []) { $0.text(0) }
        }
        #expect(recorded.count == 1 && recorded[0].contains("Bearer tok_…3f"), "\(recorded)")
        Self.expectMasked(recorded.joined(), "the attempt log")
        let (_, deliveriesOutput) = try await runProcess(
            executable, ["deliveries", "--endpoint", id, "--db", database.path])
        Self.expectMasked(deliveriesOutput, "hooktop deliveries")
        serve.child.signal(SIGTERM)
        _ = await serve.child.waitForExit(timeout: .seconds(10))
        Self.expectMasked(serve.child.text, "serve's log")
        // The audit names the ping.
        let (_, audit) = try await runProcess(executable, ["audit", "--db", database.path])
        #expect(audit.contains("endpoint.test"), "\(audit)")
    }
}
