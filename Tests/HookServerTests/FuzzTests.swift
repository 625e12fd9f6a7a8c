import DeliveryCore
import Foundation
import HTTPTypes
import HookServer
import HooktopTesting
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import PropertyBased
import Synchronization
import Testing

@testable import DeliveryCore

/// Property-based fuzzing, bounded in count so it runs with every `swift test`: the sanitiser on text built from
/// the pieces escape sequences are made of, the API's body parsing on mutated JSON, and the HTTP server on malformed
/// requests. A failure prints the seed to replay it with `.fixedSeed(...)`.
struct FuzzTests {
    /// One of `choices`, at random.
    static func pick(_ choices: [String]) -> Generator<String, Shrink.Integer<Int>> {
        Gen.int(in: 0...(choices.count - 1)).map { choices[$0] }
    }

    // MARK: Sanitiser

    /// The pieces of hostile terminal text: introducers, terminators, parameters, controls, bidi marks, wide text.
    static let fragments: [String] = [
        "\u{1B}", "\u{1B}[", "\u{1B}]", "\u{1B}P", "\u{1B}_", "\u{1B}^", "\u{1B}X", "\u{1B}\\", "\u{1B}(", "\u{1B} ",
        "\u{9B}", "\u{9C}", "\u{9D}", "\u{90}", "\u{98}", "\u{9E}", "\u{9F}", "\u{85}", "\u{07}", "\u{08}", "\u{00}",
        "\u{7F}", "\r", "\n", "\r\n", "\t", "0", "2J", "31m", ";", "?", "[", "]", "owned", "a", " ", "é", "名", "🚀",
        "\u{202E}", "\u{202A}", "\u{2066}", "\u{2069}", "\u{200F}", "\u{061C}", "\u{FE0F}", "\u{0301}",
    ]

    static let hostileText = pick(fragments).array(of: 0...40)
        .map { $0.joined() }

    static func isSafe(_ line: String) -> Bool {
        line.unicodeScalars.allSatisfy { s in
            !(s.value < 0x20 || (0x7F...0x9F).contains(s.value) || (0x202A...0x202E).contains(s.value)
                || (0x2066...0x2069).contains(s.value) || [0x200E, 0x200F, 0x061C].contains(s.value))
        }
    }

    @Test func theSanitiserNeverLetsAControlThrough() async {
        await propertyCheck(count: 3_000, input: Self.hostileText) { text in
            let line = Sanitizer.line(text)
            #expect(Self.isSafe(line), "\(text.debugDescription) → \(line.debugDescription)")
            #expect(Sanitizer.line(line) == line, "not stable: \(text.debugDescription)")
            for part in Sanitizer.lines(text) { #expect(Self.isSafe(part), "\(text.debugDescription)") }
            // Without an escape introducer, plain text after the input survives as it was.
            let introducers: Set<UInt32> = [0x1B, 0x90, 0x98, 0x9B, 0x9D, 0x9E, 0x9F]
            if !text.unicodeScalars.contains(where: { introducers.contains($0.value) }) {
                let tail = Array(Sanitizer.line(text + " tail").unicodeScalars.suffix(5))
                #expect(tail == Array(" tail".unicodeScalars), "\(text.debugDescription)")
            }
        }
    }

    // MARK: Request bodies

    /// JSON values of every kind, including the awkward ones.
    static let jsonValues: [String] = [
        "null", "true", "false", "0", "-1", "1e309", "9223372036854775808", "-9223372036854775809", "1.5", "\"\"",
        "\"a.b\"", "\"invoice.*\"", "\"http://127.0.0.1:9/x\"", "\"https://[::1]/\"", "\"\\u001b[2J\"",
        "\"\\u0000\"", "\"\\ud800\"", "\"1h\"", "\"2026-01-01T00:00:00Z\"", "\"whsec_AAAA\"", "[]", "[\"a.b\"]",
        "[1,2]", "{}", "{\"a\":{\"b\":[{}]}}", String(repeating: "[", count: 300) + String(repeating: "]", count: 300),
        "\"" + String(repeating: "x", count: 3000) + "\"",
    ]

    static let fieldNames = [
        "type", "payload", "idempotency_key", "url", "description", "event_types", "max_in_flight", "timeout_ms",
        "secret", "since", "reason", "status", "id", "__proto__", "",
    ]

    /// A JSON object of random fields and values, sometimes cut short or with a byte flipped.
    static let bodies = zip(
        pick(fieldNames).array(of: 0...6),
        pick(jsonValues).array(of: 6),
        Gen.int(in: 0...9), Gen.int(in: 0...10_000)
    ).map { names, values, damage, position -> String in
        let fields = names.enumerated().map { index, name in "\"\(name)\":\(values[index % values.count])" }
        var body = Array("{" + fields.joined(separator: ",") + "}")
        switch damage {
        case 0 where !body.isEmpty: body = Array(body.prefix(position % body.count))
        case 1 where !body.isEmpty: body[position % body.count] = "\u{1B}"
        case 2: body = Array(values.joined(separator: ","))
        default: break
        }
        return String(body)
    }

    /// Every route with its parameters filled in, some real and some not.
    static let requests = zip(
        Gen.int(in: 0...(HookServer.routes.count - 1)),
        pick(["ep_missing", "dlv_1", "dlv_99999999999999999999", "%00", "pause", "recover", "rotate-secret", "x"]),
        Gen.bool
    )

    @Test func noRequestBodyMakesTheAPIFail() async throws {
        let fixture = try Fixture(allowPrivate: true)
        let endpoint = try fixture.store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: testActor)
        _ = try fixture.store.publish(eventType: "a.b", payload: "{}")
        let allowed: Set<Int> = [200, 201, 202, 204, 400, 401, 404, 409, 413, 422]
        try await fixture.test { client in
            await propertyCheck(count: 600, input: Self.requests, Self.bodies) { request, body in
                let (index, parameter, useRealID) = request
                let route = HookServer.routes[index]
                let id = useRealID ? (route.path.hasPrefix("/v1/deliveries") ? "dlv_1" : endpoint.id) : parameter
                let path = route.path.replacingOccurrences(of: ":id", with: id)
                    .replacingOccurrences(of: ":action", with: parameter)
                let response = try? await fixture.request(client, route.method, path, body)
                guard let response else {
                    Issue.record("\(route.method) \(path) threw with \(body.debugDescription)")
                    return
                }
                #expect(allowed.contains(response.status.code), "\(route.method) \(path) \(body.prefix(200).debugDescription) → \(response.status.code): \(String(buffer: response.body).prefix(200))")
                if response.status.code >= 400 {
                    let object = try? JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]
                    #expect((object?["error"] as? [String: Any])?["code"] is String, "\(path): not a JSON error")
                }
            }
        }
    }

    // MARK: HTTP requests on the wire

    static let methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW", "get", "", "G\u{0}T",
                          String(repeating: "P", count: 5000)]
    static let targets = ["/healthz", "/v1/events", "//v1/endpoints", "*", "http://127.0.0.1/healthz", "", "/%",
                          "/%zz", "/\u{1B}[2J", "/" + String(repeating: "a", count: 9000), "/a b", "/metrics?x=%00"]
    static let versions = ["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/9", "", "HTTP/1.1 extra"]
    static let headerLines = [
        "Host: 127.0.0.1", "Content-Length: 5", "Content-Length: -1", "Content-Length: 99999999999999999999",
        "Content-Length: 3", "Transfer-Encoding: chunked", "Transfer-Encoding: gzip, chunked", "Connection: close",
        "Connection: keep-alive", "Authorization: Bearer x", "X: \u{7F}", "NoColon", ": empty", "Bad Name: x",
        "X-Long: " + String(repeating: "v", count: 90_000), "Expect: 100-continue", "Content-Type: application/json",
    ]
    static let trailers = ["", "hello", "0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n", "zz\r\n", "{\"type\":\"a.b\"}"]

    static let wireRequests = zip(
        pick(methods), pick(targets),
        pick(versions),
        pick(headerLines).array(of: 0...5),
        pick(trailers)
    ).map { method, target, version, headers, trailer in
        "\(method) \(target) \(version)\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n" + trailer
    }

    /// Whatever arrives on the wire, the server answers or closes within its deadlines and keeps serving.
    @Test(.timeLimit(.minutes(3)))
    func malformedRequestsGetAnAnswerOrAClose() async throws {
        let fixture = try Fixture(allowPrivate: true)
        var configuration = fixture.server.configuration
        configuration.connections.headerTimeout = .seconds(2)
        configuration.connections.bodyTimeout = .seconds(2)
        let server = HookServer(
            operations: Operations(store: fixture.store), token: HookServerTests.token,
            configuration: configuration)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var logger = Logger(label: "fuzz")
        logger.logLevel = .critical
        let app = server.application(host: "127.0.0.1", port: 0, logger: logger, eventLoopGroup: .shared(group))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let outcomes = Mutex<[(String, Int?, Duration)]>([])
            await propertyCheck(count: 100, input: Self.wireRequests) { request in
                await onOwnThread {
                    let started = ContinuousClock.now
                    let (status, _) = RawHTTP.exchange(port: port, request, timeout: .seconds(10))
                    outcomes.withLock { $0.append((request, status, ContinuousClock.now - started)) }
                }
            }
            for (request, status, took) in outcomes.withLock({ $0 }) {
                // An answer is a client error or a success; no answer means the server closed the connection, and
                // either way within the deadlines (2 s for the headers, 2 s for the body, and 3 s of slack for a
                // loaded machine), never held open until the client gives up (10 s).
                if let status { #expect(status < 500, "\(request.prefix(120).debugDescription) → \(status)") }
                #expect(took < .seconds(7), "\(request.prefix(120).debugDescription) held for \(took)")
            }
            let health = RawHTTP.exchange(port: port, RawHTTP.request("GET", "/healthz"))
            #expect(health.status == 200)
        }
        try await group.shutdownGracefully()
    }
}
