import DeliveryCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// How a scripted endpoint answers: the behaviours of real receivers, for the demo, tests and benchmarks.
public enum ReceiverBehavior: Sendable, Equatable {
    /// 200 at once.
    case healthy
    /// 200 after a delay.
    case slow(milliseconds: Int)
    /// 500 for about `failureRate` of requests, else 200.
    case flaky(failureRate: Double)
    /// 429 with `Retry-After: seconds` for about `limitedRate` of requests, else 200.
    case rateLimited(retryAfterSeconds: Int, limitedRate: Double)
    /// Never answers (until the receiver stops).
    case hanging
    /// 410 Gone.
    case gone
    /// 302 to another URL.
    case redirect(location: String)
    /// 200 with a body of this many bytes.
    case hugeBody(bytes: Int)
    /// This status, always.
    case status(Int)
}

/// One request a scripted receiver got.
public struct ReceivedRequest: Sendable {
    public var path: String
    public var headers: [Header]
    public var body: [UInt8]
    public var at: Date

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// An HTTP server on 127.0.0.1 whose paths behave as scripted: `/healthy`, `/flaky`, ...
public final class ScriptedReceiver: Sendable {
    public let port: Int
    private let task: Task<Void, any Error>
    private let log: ReceiverLog

    /// The URL of a path on this receiver.
    public func url(_ path: String) -> String { "http://127.0.0.1:\(port)/\(path)" }

    /// Starts a receiver serving `routes` (path without the leading slash → behaviour).
    /// - Parameters:
    ///   - keepRequests: record every request's headers and body (tests); otherwise only count them.
    public static func start(
        routes: [String: ReceiverBehavior], port: Int = 0, keepRequests: Bool = true
    ) async throws -> ScriptedReceiver {
        let log = ReceiverLog()
        let router = Router()
        for (path, behavior) in routes {
            router.post(RouterPath(path)) { request, _ -> Response in
                let body = try await request.body.collect(upTo: 16 << 20)
                log.counter.add(1, ordering: .relaxed)
                if keepRequests {
                    let received = ReceivedRequest(
                        path: path,
                        // HTTP/1's Host header arrives as the request's authority.
                        headers: (request.head.authority.map { [Header(name: "host", value: $0)] } ?? [])
                            + request.headers.map { Header(name: $0.name.canonicalName, value: $0.value) },
                        body: Array(body.readableBytesView), at: Date())
                    log.requests.withLock { $0.append(received) }
                }
                return try await Self.respond(behavior)
            }
        }
        var logger = Logger(label: "receiver")
        logger.logLevel = .critical
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? port) }, logger: logger)
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = stream.makeAsyncIterator()
        guard let bound = await iterator.next() else { throw HooktopError.invalid("receiver did not start") }
        return ScriptedReceiver(port: bound, task: task, log: log)
    }

    private init(port: Int, task: Task<Void, any Error>, log: ReceiverLog) {
        self.port = port
        self.task = task
        self.log = log
    }

    static func respond(_ behavior: ReceiverBehavior) async throws -> Response {
        switch behavior {
        case .healthy:
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok")))
        case .slow(let milliseconds):
            try await Task.sleep(for: .milliseconds(milliseconds))
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok, slowly")))
        case .flaky(let rate):
            if Double.random(in: 0..<1) < rate {
                return Response(status: .internalServerError, body: .init(byteBuffer: ByteBuffer(string: "{\"error\":\"internal\"}")))
            }
            return Response(status: .ok)
        case .rateLimited(let seconds, let rate):
            if Double.random(in: 0..<1) < rate {
                var headers = HTTPFields()
                headers[.retryAfter] = String(seconds)
                return Response(status: .tooManyRequests, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "slow down")))
            }
            return Response(status: .ok)
        case .hanging:
            try await Task.sleep(for: .seconds(3600))
            return Response(status: .ok)
        case .gone:
            return Response(status: .gone, body: .init(byteBuffer: ByteBuffer(string: "this endpoint was removed")))
        case .redirect(let location):
            var headers = HTTPFields()
            headers[.location] = location
            return Response(status: .found, headers: headers)
        case .hugeBody(let bytes):
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(repeating: UInt8(ascii: "x"), count: bytes)))
        case .status(let code):
            return Response(status: .init(code: code))
        }
    }

    /// Requests received so far (empty unless started with `keepRequests`).
    public var requests: [ReceivedRequest] { log.requests.withLock { $0 } }

    /// How many requests arrived.
    public var count: Int { log.counter.load(ordering: .relaxed) }

    /// Stops listening; hanging requests are dropped.
    public func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}

final class ReceiverLog: Sendable {
    let requests = Mutex<[ReceivedRequest]>([])
    let counter = Atomic<Int>(0)
}

/// A port on 127.0.0.1 that nothing listens on (for "connection refused").
public func closedLocalPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
