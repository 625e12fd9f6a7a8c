import DeliveryCore
import Foundation
import HTTPTypes
import HooktopLab
import HooktopTesting
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing

/// `hooktop receive`: verification, duplicates, injected failures, and interoperability with the reference library.
struct WebhookReceiverTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let body = #"{"type":"invoice.paid","timestamp":"2026-11-30T12:00:00Z","data":{"amount":42}}"#

    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
    }

    private func signed(id: String, at date: Date = Date(), body: String = Self.body) throws -> HTTPFields {
        let key = try WebhookSignature.key(fromSecret: Self.secret)
        let timestamp = Int64(date.timeIntervalSince1970)
        var headers = HTTPFields()
        headers[HTTPField.Name("webhook-id")!] = id
        headers[HTTPField.Name("webhook-timestamp")!] = String(timestamp)
        headers[HTTPField.Name("webhook-signature")!] = WebhookSignature.sign(
            id: id, timestamp: timestamp, body: Array(body.utf8), key: key)
        return headers
    }

    private func withReceiver(
        _ configuration: WebhookReceiver.Configuration = .init(),
        _ body: @Sendable (any TestClientProtocol, Lines) async throws -> Void
    ) async throws {
        let lines = Lines()
        let receiver = try WebhookReceiver(secret: Self.secret, configuration: configuration) { line in
            lines.lines.withLock { $0.append(line) }
        }
        try await Application(router: receiver.router()).test(.router) { client in try await body(client, lines) }
    }

    @Test func acceptsAValidSignatureAndPrintsTheEvent() async throws {
        let headers = try signed(id: "msg_valid")
        try await withReceiver { client, lines in
            let response = try await client.execute(
                uri: "/webhooks", method: .post, headers: headers, body: ByteBuffer(string: Self.body))
            #expect(response.status == .ok)
            let output = lines.all.joined(separator: "\n")
            #expect(output.contains("invoice.paid"))
            #expect(output.contains("msg_valid"))
            #expect(output.contains("\"amount\" : 42"))
        }
    }

    /// Payloads are outside text: C1 controls (U+009B is an 8-bit CSI) and bidi overrides never reach the terminal.
    @Test func printsPayloadsWithoutControlsOrBidiOverrides() async throws {
        let body = #"{"type":"invoice.paid","timestamp":"2026-11-30T12:00:00Z","data":{"note":"\#u{9B}2J\#u{202E}gnp.exe\#u{85}","esc":"\u001b]0;owned\u0007"}}"#
        let headers = try signed(id: "msg_c1", body: body)
        try await withReceiver { client, lines in
            let response = try await client.execute(
                uri: "/webhooks", method: .post, headers: headers, body: ByteBuffer(string: body))
            #expect(response.status == .ok)
            let output = lines.all.joined(separator: "\n")
            #expect(output.contains("gnp.exe"))
            #expect(output.contains("<U+202E>"))
            for scalar in output.unicodeScalars {
                #expect(scalar == "\n" || !(scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)), "\(scalar.value)")
                #expect(!(0x202A...0x202E).contains(scalar.value) && !(0x2066...0x2069).contains(scalar.value))
            }
        }
    }

    @Test func rejectsTamperedMissingAndStaleSignatures() async throws {
        let valid = try signed(id: "msg_t")
        let stale = try signed(id: "msg_s", at: Date().addingTimeInterval(-600))
        let future = try signed(id: "msg_f", at: Date().addingTimeInterval(600))
        var missing = valid
        missing[HTTPField.Name("webhook-signature")!] = nil
        var wrongKey = valid
        wrongKey[HTTPField.Name("webhook-signature")!] = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        let cases: [(HTTPFields, String, String)] = [
            (valid, Self.body.replacingOccurrences(of: "42", with: "43"), "no signature"),
            (missing, Self.body, "missing"),
            (stale, Self.body, "too old"),
            (future, Self.body, "future"),
            (wrongKey, Self.body, "no signature"),
            (HTTPFields(), Self.body, "missing"),
        ]
        try await withReceiver { client, lines in
            for (headers, body, reason) in cases {
                let response = try await client.execute(uri: "/", method: .post, headers: headers, body: ByteBuffer(string: body))
                #expect(response.status == .unauthorized)
                let text = String(buffer: response.body)
                #expect(text.contains(reason), "\(text)")
                #expect(text.split(separator: "\n").count == 1, "one-line reason")
            }
            #expect(lines.all.allSatisfy { $0.contains("rejected") })
        }
    }

    @Test func aSeenIdIsAcknowledgedAsDuplicateNotProcessedTwice() async throws {
        let headers = try signed(id: "msg_dup")
        try await withReceiver { client, lines in
            for _ in 0..<3 {
                let response = try await client.execute(uri: "/", method: .post, headers: headers, body: ByteBuffer(string: Self.body))
                #expect(response.status == .ok)
            }
            #expect(lines.all.filter { $0.contains("verified") }.count == 1)
            #expect(lines.all.filter { $0.contains("duplicate") }.count == 2)
        }
    }

    @Test func injectedFailuresAreNotRememberedSoTheRetryIsProcessed() async throws {
        var failing = WebhookReceiver.Configuration()
        failing.failRate = 1
        let receiver = try WebhookReceiver(secret: Self.secret, configuration: failing, output: { _ in })
        let key = try WebhookSignature.key(fromSecret: Self.secret)
        let now = Int64(Date().timeIntervalSince1970)
        let signature = WebhookSignature.sign(id: "msg_x", timestamp: now, body: Array(Self.body.utf8), key: key)
        for _ in 0..<2 {
            #expect(receiver.verdict(id: "msg_x", timestamp: String(now), signature: signature, body: Array(Self.body.utf8)) == .injectedFailure)
        }
    }

    @Test func jsonLinesCarryTheResult() async throws {
        var configuration = WebhookReceiver.Configuration()
        configuration.json = true
        let headers = try signed(id: "msg_json")
        try await withReceiver(configuration) { client, lines in
            _ = try await client.execute(uri: "/", method: .post, headers: headers, body: ByteBuffer(string: Self.body))
            let object = try JSONSerialization.jsonObject(with: Data(try #require(lines.all.first).utf8)) as? [String: Any]
            #expect(object?["result"] as? String == "accepted")
            #expect(object?["id"] as? String == "msg_json")
            #expect((object?["payload"] as? [String: Any])?["amount"] as? Int == 42)
        }
    }

    /// What the reference library signs, `receive` accepts.
    @Test func acceptsWhatTheReferenceLibrarySigns() async throws {
        let script = """
            import sys, datetime
            from standardwebhooks.webhooks import Webhook
            now = datetime.datetime.now(tz=datetime.timezone.utc)
            print(int(now.timestamp()))
            print(Webhook(sys.argv[1]).sign(sys.argv[2], now, sys.argv[3]))
            """
        let python = try await runProcess("/usr/bin/env", ["python3", "-c", script, Self.secret, "msg_ref", Self.body])
        #expect(python.status == 0, "python3 with standardwebhooks is needed (.ci/run installs it): \(python.output)")
        let lines = python.output.split(separator: "\n").map(String.init)
        try #require(lines.count >= 2)
        let receiver = try WebhookReceiver(secret: Self.secret, output: { _ in })
        #expect(receiver.verdict(id: "msg_ref", timestamp: lines[0], signature: lines[1], body: Array(Self.body.utf8)) == .accepted)
        #expect(receiver.verdict(id: "msg_ref", timestamp: lines[0], signature: lines[1], body: Array(Self.body.utf8)) == .duplicate)
    }
}
