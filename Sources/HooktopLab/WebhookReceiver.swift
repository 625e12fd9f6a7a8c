import Crypto
import DeliveryCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// The consumer's half: an endpoint that verifies Standard Webhooks signatures, acknowledges duplicates
/// without processing them twice, and reports each event (`hooktop receive`).
public struct WebhookReceiver: Sendable {
    /// How the receiver behaves.
    public struct Configuration: Sendable {
        /// Accepted clock skew of `webhook-timestamp`, in seconds (default 300).
        public var tolerance: TimeInterval = 300
        /// Fraction of valid requests answered with 500 instead, to exercise a sender's retries (default 0).
        public var failRate = 0.0
        /// Delay before answering, in milliseconds (default 0).
        public var delayMilliseconds = 0
        /// Print JSON lines instead of text (default `false`).
        public var json = false
        /// Largest accepted body (default 1 MiB).
        public var maxBodyBytes = 1 << 20
        /// Webhook ids remembered for duplicate detection (default 100,000; oldest forgotten first).
        public var rememberedIds = 100_000

        public init() {}
    }

    /// What became of one request.
    public enum Verdict: Sendable, Equatable {
        case accepted
        case duplicate
        case rejected(String)
        case injectedFailure
    }

    private let key: SymmetricKey
    public let configuration: Configuration
    private let seen: SeenIDs
    private let output: @Sendable (String) -> Void
    private let now: @Sendable () -> Date

    /// - Throws: `HooktopError.invalidInput` for a secret that is not `whsec_<base64>`.
    public init(
        secret: String, configuration: Configuration = Configuration(),
        output: @escaping @Sendable (String) -> Void, now: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        self.key = try WebhookSignature.key(fromSecret: secret)
        self.configuration = configuration
        self.seen = SeenIDs(capacity: configuration.rememberedIds)
        self.output = output
        self.now = now
    }

    /// A router that accepts POSTs on any path.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            try await self.handle(request)
        }
        router.post("/", use: handler)
        router.post("**", use: handler)
        return router
    }

    func handle(_ request: Request) async throws -> Response {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: configuration.maxBodyBytes)
        } catch {
            return text(.contentTooLarge, "body over \(configuration.maxBodyBytes) bytes")
        }
        let bytes = Array(body.readableBytesView)
        let id = request.headers[HTTPField.Name("webhook-id")!]
        let verdict = verdict(
            id: id, timestamp: request.headers[HTTPField.Name("webhook-timestamp")!],
            signature: request.headers[HTTPField.Name("webhook-signature")!], body: bytes)
        if configuration.delayMilliseconds > 0 { try await Task.sleep(for: .milliseconds(configuration.delayMilliseconds)) }
        report(verdict, id: id, body: bytes)
        switch verdict {
        case .accepted: return text(.ok, "ok")
        case .duplicate: return text(.ok, "duplicate: already processed")
        case .rejected(let reason): return text(.unauthorized, reason)
        case .injectedFailure: return text(.internalServerError, "injected failure (--fail-rate)")
        }
    }

    /// Verifies one request and records its id when accepted.
    public func verdict(id: String?, timestamp: String?, signature: String?, body: [UInt8]) -> Verdict {
        do {
            try WebhookSignature.verify(
                id: id, timestamp: timestamp, signatureHeader: signature, body: body, key: key, now: now(),
                tolerance: configuration.tolerance)
        } catch {
            return .rejected(error.description)
        }
        guard let id else { return .rejected("missing webhook-id") }
        if seen.contains(id) { return .duplicate }
        if configuration.failRate > 0 && Double.random(in: 0..<1) < configuration.failRate { return .injectedFailure }
        seen.insert(id)
        return .accepted
    }

    private func report(_ verdict: Verdict, id: String?, body: [UInt8]) {
        var members: [String: JSONValue] = [:]
        if case .object(let object)? = try? JSONValue(parsing: String(decoding: body, as: UTF8.self)) { members = object }
        var type = "?"
        if case .string(let text)? = members["type"] { type = text }
        let safeID = Self.visible(id ?? "-")
        if configuration.json {
            var line = ReceivedLine(id: id, type: type, at: JSONRepresentation.timestamp(now()), result: "accepted")
            switch verdict {
            case .accepted: line.payload = members["data"]
            case .duplicate: line.result = "duplicate"
            case .injectedFailure: line.result = "failed"
            case .rejected(let reason):
                line.result = "rejected"
                line.reason = reason
            }
            output((try? JSONRepresentation.encode(line)) ?? "{}")
            return
        }
        let time = Date.ISO8601FormatStyle().format(now())
        switch verdict {
        case .accepted:
            var lines = ["\(time)  \(Self.visible(type))  \(safeID)  verified"]
            if let data = members["data"], let text = try? JSONRepresentation.encode(data, pretty: true) {
                lines.append(text.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            }
            say(lines.joined(separator: "\n"))
        case .duplicate: say("\(time)  \(Self.visible(type))  \(safeID)  duplicate (acknowledged, not processed again)")
        case .injectedFailure: say("\(time)  \(Self.visible(type))  \(safeID)  answered 500 (--fail-rate)")
        case .rejected(let reason): say("\(time)  rejected \(safeID): \(reason)")
        }
    }

    /// Control characters shown as `?`, so a hostile id or type cannot drive the terminal.
    static func visible(_ text: String) -> String { Sanitizer.line(String(text.prefix(200))) }

    /// Human-readable output, every line made safe for a terminal (payloads carry C1 controls and bidi overrides too).
    private func say(_ text: String) { output(Sanitizer.lines(text).joined(separator: "\n")) }

    private func text(_ status: HTTPResponse.Status, _ message: String) -> Response {
        Response(status: status, body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
    }
}

/// A bounded set of ids, forgetting the oldest first.
final class SeenIDs: Sendable {
    private struct State {
        var set = Set<String>()
        var order: [String] = []
        var head = 0
    }

    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    func contains(_ id: String) -> Bool { state.withLock { $0.set.contains(id) } }

    func insert(_ id: String) {
        state.withLock { state in
            guard state.set.insert(id).inserted else { return }
            if state.order.count < capacity {
                state.order.append(id)
            } else {
                state.set.remove(state.order[state.head])
                state.order[state.head] = id
                state.head = (state.head + 1) % capacity
            }
        }
    }
}
