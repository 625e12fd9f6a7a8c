import Crypto
@testable import DeliveryCore
import Foundation
import HooktopReceivers
import HooktopTesting
import Testing

struct WebhookSignatureTests {
    static let vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let vectorId = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    static let vectorTimestamp: Int64 = 1_614_265_330
    static let vectorBody = Array(#"{"test": 2432232314}"#.utf8)
    static let vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    static var vectorTime: Date { Date(timeIntervalSince1970: TimeInterval(vectorTimestamp)) }

    @Test func matchesTheReferenceVector() throws {
        let key = try WebhookSignature.key(fromSecret: Self.vectorSecret)
        let signature = WebhookSignature.sign(id: Self.vectorId, timestamp: Self.vectorTimestamp, body: Self.vectorBody, key: key)
        #expect(signature == Self.vectorSignature)
        try WebhookSignature.verify(
            id: Self.vectorId, timestamp: String(Self.vectorTimestamp), signatureHeader: Self.vectorSignature,
            body: Self.vectorBody, key: key, now: Self.vectorTime)
    }

    @Test func headerCarriesOneSignaturePerKey() throws {
        let old = try WebhookSignature.key(fromSecret: Self.vectorSecret)
        let new = try WebhookSignature.key(fromSecret: WebhookSignature.generateSecret())
        let header = WebhookSignature.header(id: Self.vectorId, timestamp: Self.vectorTimestamp, body: Self.vectorBody, keys: [new, old])
        let parts = header.split(separator: " ")
        #expect(parts.count == 2)
        #expect(parts[1] == Self.vectorSignature[...])
        for key in [old, new] {
            try WebhookSignature.verify(
                id: Self.vectorId, timestamp: String(Self.vectorTimestamp), signatureHeader: header,
                body: Self.vectorBody, key: key, now: Self.vectorTime)
        }
    }

    @Test func rotationSignsWithBothSecretsFor24Hours() throws {
        let database = try TemporaryDatabase()
        let now = Date()
        let endpoint = try database.store.addTestEndpoint("http://127.0.0.1:9/a", now: now)
        #expect(WebhookSender.signingKeys(for: endpoint, now: now) == [endpoint.secret])
        let rotated = try database.store.rotateSecret(endpointId: endpoint.id, now: now, by: testActor)
        #expect(rotated.secret != endpoint.secret)
        #expect(rotated.previousSecret == endpoint.secret)
        #expect(WebhookSender.signingKeys(for: rotated, now: now) == [rotated.secret, endpoint.secret])
        #expect(WebhookSender.signingKeys(for: rotated, now: now.addingTimeInterval(23 * 3600)).count == 2)
        #expect(WebhookSender.signingKeys(for: rotated, now: now.addingTimeInterval(24 * 3600 + 1)) == [rotated.secret])
        let twice = try database.store.rotateSecret(endpointId: endpoint.id, now: now.addingTimeInterval(60), by: testActor)
        #expect(WebhookSender.signingKeys(for: twice, now: now.addingTimeInterval(120)) == [twice.secret, rotated.secret])
        #expect(throws: HooktopError.self) {
            try database.store.rotateSecret(endpointId: endpoint.id, newSecret: "not-a-secret", by: testActor)
        }
    }

    enum Tampering: String, CaseIterable {
        case body, id, timestamp, wrongSecret, signatureVersion, truncatedSignature
    }

    @Test(arguments: Tampering.allCases)
    func rejectsTampering(_ tampering: Tampering) throws {
        let key = try WebhookSignature.key(fromSecret: Self.vectorSecret)
        var id = Self.vectorId
        var timestamp = String(Self.vectorTimestamp)
        var body = Self.vectorBody
        var header = Self.vectorSignature
        var verifyKey = key
        switch tampering {
        case .body: body[body.count - 2] = UInt8(ascii: "5")
        case .id: id = "msg_other"
        case .timestamp: timestamp = String(Self.vectorTimestamp + 1)
        case .wrongSecret: verifyKey = try WebhookSignature.key(fromSecret: WebhookSignature.generateSecret())
        case .signatureVersion: header = "v2," + header.dropFirst(3)
        case .truncatedSignature: header = String(header.dropLast(4))
        }
        #expect(throws: WebhookSignature.VerificationFailure.noMatchingSignature) {
            try WebhookSignature.verify(
                id: id, timestamp: timestamp, signatureHeader: header, body: body, key: verifyKey, now: Self.vectorTime)
        }
    }

    @Test func rejectsStaleFutureAndMalformedTimestamps() throws {
        let key = try WebhookSignature.key(fromSecret: Self.vectorSecret)
        func verify(now: Date, timestamp: String? = String(Self.vectorTimestamp)) throws(WebhookSignature.VerificationFailure) {
            try WebhookSignature.verify(
                id: Self.vectorId, timestamp: timestamp, signatureHeader: Self.vectorSignature, body: Self.vectorBody,
                key: key, now: now)
        }
        try verify(now: Self.vectorTime.addingTimeInterval(299))
        try verify(now: Self.vectorTime.addingTimeInterval(-299))
        #expect(throws: WebhookSignature.VerificationFailure.timestampTooOld) { try verify(now: Self.vectorTime.addingTimeInterval(301)) }
        #expect(throws: WebhookSignature.VerificationFailure.timestampTooNew) { try verify(now: Self.vectorTime.addingTimeInterval(-301)) }
        #expect(throws: WebhookSignature.VerificationFailure.invalidTimestamp) { try verify(now: Self.vectorTime, timestamp: "yesterday") }
        #expect(throws: WebhookSignature.VerificationFailure.invalidTimestamp) { try verify(now: Self.vectorTime, timestamp: "1614265330.5") }
    }

    @Test func rejectsMissingHeaders() throws {
        let key = try WebhookSignature.key(fromSecret: Self.vectorSecret)
        let cases: [(String?, String?, String?)] = [
            (nil, String(Self.vectorTimestamp), Self.vectorSignature),
            ("", String(Self.vectorTimestamp), Self.vectorSignature),
            (Self.vectorId, nil, Self.vectorSignature),
            (Self.vectorId, String(Self.vectorTimestamp), nil),
        ]
        for (id, timestamp, signature) in cases {
            #expect(throws: WebhookSignature.VerificationFailure.missingHeaders) {
                try WebhookSignature.verify(
                    id: id, timestamp: timestamp, signatureHeader: signature, body: Self.vectorBody, key: key,
                    now: Self.vectorTime)
            }
        }
        #expect(throws: WebhookSignature.VerificationFailure.noMatchingSignature) {
            try WebhookSignature.verify(
                id: Self.vectorId, timestamp: String(Self.vectorTimestamp), signatureHeader: "", body: Self.vectorBody,
                key: key, now: Self.vectorTime)
        }
    }

    @Test(arguments: [
        "", "whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_" + Data(count: 16).base64EncodedString(),
        "whsec_" + Data(count: 65).base64EncodedString(), "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ])
    func rejectsBadSecrets(_ secret: String) {
        let error = #expect(throws: HooktopError.self) { try WebhookSignature.key(fromSecret: secret) }
        #expect(error?.code == .invalidInput)
    }

    @Test func generatedSecretsAre32RandomBytes() throws {
        let first = WebhookSignature.generateSecret()
        let second = WebhookSignature.generateSecret()
        #expect(first != second)
        #expect(first.hasPrefix("whsec_"))
        #expect(Data(base64Encoded: String(first.dropFirst(6)))?.count == 32)
        _ = try WebhookSignature.key(fromSecret: first)
    }

    // MARK: Interoperability with the reference library (PyPI standardwebhooks)

    @Test(.timeLimit(.minutes(3)))
    func referenceLibraryVerifiesWhatGoesOnTheWire() async throws {
        let database = try TemporaryDatabase()
        let store = database.store
        try await withReceiver(["hook": .healthy]) { receiver in
            let endpoint = try store.addTestEndpoint(receiver.url("hook"))
            let rotated = try store.rotateSecret(endpointId: endpoint.id, by: testActor)
            let published = try store.publish(
                eventType: "user.created", payload: #"{"name":"Zoë \"Z\" ☃","tags":["a/b","<c>"],"n":1.5e3}"#)
            try await withSender { sender in
                let job = try #require(try store.claimAll(rotated).first)
                let outcome = await sender.send(job)
                #expect(outcome.responseStatus == 200)
            }
            let request = try #require(receiver.requests.first)
            #expect(request.header("webhook-id") == published.message.id)
            #expect(request.header("webhook-signature")?.split(separator: " ").count == 2)
            // Both the new and the old secret verify during rotation.
            for secret in [rotated.secret, endpoint.secret] {
                let headers = ["webhook-id", "webhook-timestamp", "webhook-signature"].reduce(into: [String: String]()) {
                    $0[$1] = request.header($1)
                }
                let result = try await runPython(
                    """
                    import json, sys
                    from standardwebhooks.webhooks import Webhook
                    secret, headers = sys.argv[1], json.loads(sys.argv[2])
                    body = sys.stdin.buffer.read()
                    payload = Webhook(secret).verify(body, headers)
                    print(json.dumps(payload["data"], sort_keys=True))
                    """, arguments: [secret, try jsonText(headers)], input: request.body)
                #expect(result.status == 0, "python: \(result.error)")
                #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines)
                    == #"{"n": 1500.0, "name": "Zo\u00eb \"Z\" \u2603", "tags": ["a/b", "<c>"]}"#)
            }
            // And a wrong secret does not.
            let wrong = try await runPython(
                """
                import json, sys
                from standardwebhooks.webhooks import Webhook, WebhookVerificationError
                try:
                    Webhook(sys.argv[1]).verify(sys.stdin.buffer.read(), json.loads(sys.argv[2]))
                    print("verified")
                except WebhookVerificationError as error:
                    print("rejected")
                """,
                arguments: [WebhookSignature.generateSecret(), try jsonText([
                    "webhook-id": request.header("webhook-id") ?? "", "webhook-timestamp": request.header("webhook-timestamp") ?? "",
                    "webhook-signature": request.header("webhook-signature") ?? "",
                ])], input: request.body)
            #expect(wrong.output.trimmingCharacters(in: .whitespacesAndNewlines) == "rejected", "python: \(wrong.error)")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func acceptsWhatTheReferenceLibrarySigns() async throws {
        let secret = WebhookSignature.generateSecret()
        let body = #"{"type":"invoice.paid","data":{"amount":42,"note":"ünïcödé"}}"#
        let result = try await runPython(
            """
            import sys, time
            from datetime import datetime, timezone
            from standardwebhooks.webhooks import Webhook
            now = datetime.now(tz=timezone.utc)
            body = sys.stdin.buffer.read().decode()
            print(int(now.timestamp()))
            print(Webhook(sys.argv[1]).sign("msg_from_python", now, body))
            """, arguments: [secret], input: Array(body.utf8))
        #expect(result.status == 0, "python: \(result.error)")
        let lines = result.output.split(separator: "\n").map(String.init)
        try #require(lines.count == 2)
        let key = try WebhookSignature.key(fromSecret: secret)
        try WebhookSignature.verify(
            id: "msg_from_python", timestamp: lines[0], signatureHeader: lines[1], body: Array(body.utf8), key: key)
        #expect(throws: WebhookSignature.VerificationFailure.noMatchingSignature) {
            try WebhookSignature.verify(
                id: "msg_from_python", timestamp: lines[0], signatureHeader: lines[1], body: Array((body + " ").utf8),
                key: key)
        }
        // Our own signature for the same input is byte-identical.
        let seconds = try #require(Int64(lines[0]))
        #expect(WebhookSignature.sign(id: "msg_from_python", timestamp: seconds, body: Array(body.utf8), key: key) == lines[1])
    }
}

private func jsonText(_ object: [String: String]) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
}

