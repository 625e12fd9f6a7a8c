import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Sends one signed webhook POST and describes what happened. Never throws: every failure is an outcome.
public final class WebhookSender: Sendable {
    /// How the sender talks HTTP.
    public struct Configuration: Sendable {
        /// Time to establish a connection (default 5 s).
        public var connectTimeout: TimeAmount = .seconds(5)
        /// Response bytes read at most; the rest is not read (default 64 KiB).
        public var maxResponseBytes = 64 * 1024
        /// Response body bytes stored with the attempt (default 4 KiB).
        public var excerptBytes = 4 * 1024
        /// Longest wait for the next bytes of a response body once its head arrived (default 30 s); the attempt's
        /// own timeout covers the wait for the head.
        public var readTimeout: TimeAmount = .seconds(30)
        /// Connections kept per host (default 64).
        public var connectionsPerHost = 64
        /// Whether loopback and private destinations are allowed for every endpoint (default `false`).
        public var allowPrivateDestinations = false
        /// `User-Agent` header.
        public var userAgent = "hooktop/\(HooktopVersion.current)"

        public init() {}
    }

    public let configuration: Configuration
    private let client: HTTPClient
    private let resolver = DestinationCache()

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        var config = HTTPClient.Configuration()
        config.redirectConfiguration = .disallow
        config.timeout = .init(connect: configuration.connectTimeout, read: configuration.readTimeout)
        config.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.connectionsPerHost)
        // A refused connection fails the attempt at once instead of retrying until the connect timeout.
        config.connectionPool.retryConnectionEstablishment = false
        config.decompression = .disabled
        self.client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config)
    }

    /// Closes every connection. Call once, when done.
    public func shutdown() async {
        try? await client.shutdown()
    }

    private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// The body sent for a message: the Standard Webhooks envelope `{"type", "timestamp", "data"}`.
    /// Event types are validated to letters, digits, `.`, `_` and `-`, so they need no escaping.
    public static func body(for message: Message) -> String {
        "{\"type\":\"\(message.eventType)\",\"timestamp\":\"\(timestampStyle.format(message.createdAt))\",\"data\":\(message.payload)}"
    }

    /// The signing keys for an endpoint at `now`: the current secret, and the previous one during rotation.
    static func signingKeys(for endpoint: Endpoint, now: Date) -> [String] {
        var secrets = [endpoint.secret]
        if let previous = endpoint.previousSecret, let until = endpoint.previousSecretExpiresAt, until > now {
            secrets.append(previous)
        }
        return secrets
    }

    /// Sends `job` and returns the outcome.
    public func send(_ job: DeliveryJob, now: @Sendable () -> Date = { Date() }) async -> AttemptOutcome {
        let started = now()
        let clock = ContinuousClock.now
        let timestamp = Int64(started.timeIntervalSince1970)
        let body = Self.body(for: job.message)
        let keys = Self.signingKeys(for: job.endpoint, now: started).compactMap { try? WebhookSignature.key(fromSecret: $0) }
        let headers = [
            Header(name: "content-type", value: "application/json"),
            Header(name: "user-agent", value: configuration.userAgent),
            Header(name: "webhook-id", value: job.message.id),
            Header(name: "webhook-timestamp", value: String(timestamp)),
            Header(name: "webhook-signature", value: WebhookSignature.header(
                id: job.message.id, timestamp: timestamp, body: Array(body.utf8), keys: keys)),
        ]
        var outcome = AttemptOutcome(
            deliveryId: job.deliveryId, endpointId: job.endpoint.id, trigger: job.trigger, startedAt: started,
            durationMilliseconds: 0, requestHeaders: headers, responseStatus: nil, responseHeaders: [],
            responseBodyExcerpt: nil, errorClass: nil, errorMessage: nil, retryAfter: nil)
        func finish() -> AttemptOutcome {
            let elapsed = ContinuousClock.now - clock
            outcome.durationMilliseconds = Int(elapsed.components.seconds * 1000)
                + Int(elapsed.components.attoseconds / 1_000_000_000_000_000)
            return outcome
        }
        do {
            if !(configuration.allowPrivateDestinations || job.endpoint.allowPrivateDestination) {
                try resolver.check(url: job.endpoint.url, now: started)
            }
        } catch let error as HooktopError {
            outcome.errorClass = error.code == .destinationRefused ? .destinationRefused : .dns
            outcome.errorMessage = error.message
            return finish()
        } catch {
            outcome.errorClass = .dns
            outcome.errorMessage = "\(error)"
            return finish()
        }
        var request = HTTPClientRequest(url: job.endpoint.url)
        request.method = .POST
        for header in headers { request.headers.add(name: header.name, value: header.value) }
        request.body = .bytes(ByteBuffer(string: body))
        let deadline = NIODeadline.now() + .milliseconds(Int64(job.endpoint.timeoutMilliseconds))
        do {
            let response = try await client.execute(request, deadline: deadline)
            outcome.responseStatus = Int(response.status.code)
            outcome.responseHeaders = response.headers.prefix(64).map {
                Header(name: $0.name, value: String($0.value.prefix(1024)))
            }
            if let retryAfter = response.headers.first(name: "retry-after") {
                outcome.retryAfter = RetryPolicy.parseRetryAfter(retryAfter, now: started)
            }
            let (bytes, truncated) = try await readCapped(response.body, deadline: deadline)
            outcome.responseBodyExcerpt = Self.excerpt(bytes, limit: configuration.excerptBytes, truncated: truncated)
            if !outcome.succeeded {
                outcome.errorClass = .httpStatus
                outcome.errorMessage = "HTTP \(response.status.code) \(response.status.reasonPhrase)"
            }
        } catch {
            if outcome.responseStatus != nil, outcome.succeeded {
                // The receiver accepted it; only reading the rest of the body failed.
                outcome.responseBodyExcerpt = outcome.responseBodyExcerpt ?? "(body not read: \(Self.classify(error).1))"
            } else {
                let (errorClass, message) = Self.classify(error)
                outcome.errorClass = errorClass
                outcome.errorMessage = message
            }
        }
        return finish()
    }

    /// Reads at most `maxResponseBytes` of a body. Reading stops at `deadline`, at the latest one read timeout
    /// (`readTimeout`) after it, so a receiver that drips its body cannot hold a worker.
    private func readCapped(_ body: HTTPClientResponse.Body, deadline: NIODeadline) async throws -> ([UInt8], Bool) {
        let limit = configuration.maxResponseBytes
        var bytes: [UInt8] = []
        for try await chunk in body {
            let room = limit - bytes.count
            if chunk.readableBytes > room {
                bytes.append(contentsOf: chunk.readableBytesView.prefix(room))
                return (bytes, true)
            }
            bytes.append(contentsOf: chunk.readableBytesView)
            if NIODeadline.now() > deadline { return (bytes, true) }
        }
        return (bytes, false)
    }

    /// The first `limit` bytes of a body as text (invalid UTF-8 replaced), marked when cut.
    static func excerpt(_ bytes: [UInt8], limit: Int, truncated: Bool) -> String? {
        if bytes.isEmpty && !truncated { return nil }
        let cut = bytes.count > limit || truncated
        var text = String(decoding: bytes.prefix(limit), as: UTF8.self)
        if cut { text += "\n… (truncated)" }
        return text
    }

    /// Maps a client error to an error class and a one-line message.
    static func classify(_ error: any Error) -> (ErrorClass, String) {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return (.timeout, "connect timed out")
            case .deadlineExceeded, .readTimeout, .writeTimeout: return (.timeout, "no response within the timeout")
            case .tlsHandshakeTimeout: return (.tls, "TLS handshake timed out")
            case .remoteConnectionClosed: return (.network, "connection closed by the receiver")
            case .invalidURL, .emptyHost, .emptyScheme: return (.invalidURL, "invalid URL")
            default: break
            }
        }
        let text = String(describing: error)
        let lower = text.lowercased()
        if lower.contains("refused") { return (.connectRefused, "connection refused") }
        if lower.contains("dns") || lower.contains("resolve") || lower.contains("unknown host")
            || lower.contains("nodename") || lower.contains("name or service")
        {
            return (.dns, "cannot resolve host")
        }
        if lower.contains("ssl") || lower.contains("tls") || lower.contains("certificate") {
            return (.tls, String(text.prefix(200)))
        }
        if lower.contains("timeout") || lower.contains("timed out") { return (.timeout, "timed out") }
        return (.network, String(text.prefix(200)))
    }
}

/// Destination checks at connect time, cached per host for a minute.
final class DestinationCache: Sendable {
    private let entries = Mutex<[String: (Date, String?)]>([:])
    private let policy = DestinationPolicy(allowPrivate: false)

    func check(url: String, now: Date) throws {
        let host = URLComponents(string: url)?.host ?? url
        if let cached = entries.withLock({ $0[host] }), now.timeIntervalSince(cached.0) < 60 {
            if let reason = cached.1 { throw HooktopError(.destinationRefused, reason) }
            return
        }
        do {
            try policy.check(url: url)
            entries.withLock { $0[host] = (now, nil) }
        } catch let error as HooktopError where error.code == .destinationRefused {
            entries.withLock { $0[host] = (now, error.message) }
            throw error
        }
    }
}

/// The version reported in `User-Agent`, worker rows and `--version`.
public enum HooktopVersion {
    public static let current = "0.1.0"
}
