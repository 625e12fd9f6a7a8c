import DeliveryCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
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
///
/// Built on SwiftNIO's HTTP/1 codec alone (no web framework), so the core's tests that receive webhooks build
/// nothing but the core and NIO.
public final class ScriptedReceiver: Sendable {
    public let port: Int
    private let channel: any Channel
    private let log: ReceiverLog

    /// The URL of a path on this receiver.
    public func url(_ path: String) -> String { "http://127.0.0.1:\(port)/\(path)" }

    /// Starts a receiver serving `routes` (path without the leading slash → behaviour) to POSTs; anything else is
    /// answered 404.
    /// - Parameters:
    ///   - keepRequests: record every request's headers and body (tests); otherwise only count them.
    public static func start(
        routes: [String: ReceiverBehavior], port: Int = 0, keepRequests: Bool = true
    ) async throws -> ScriptedReceiver {
        let log = ReceiverLog()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                log.open(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        ScriptedHandler(routes: routes, log: log, keepRequests: keepRequests))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        return ScriptedReceiver(port: channel.localAddress?.port ?? port, channel: channel, log: log)
    }

    private init(port: Int, channel: any Channel, log: ReceiverLog) {
        self.port = port
        self.channel = channel
        self.log = log
    }

    /// The answer to a behaviour: status, headers, body, and how long to wait first (nil: never answer).
    static func answer(_ behavior: ReceiverBehavior) -> (status: Int, headers: [(String, String)], body: ByteBuffer, delayMilliseconds: Int?) {
        switch behavior {
        case .healthy:
            return (200, [], ByteBuffer(string: "ok"), 0)
        case .slow(let milliseconds):
            return (200, [], ByteBuffer(string: "ok, slowly"), milliseconds)
        case .flaky(let rate):
            if Double.random(in: 0..<1) < rate { return (500, [], ByteBuffer(string: #"{"error":"internal"}"#), 0) }
            return (200, [], ByteBuffer(), 0)
        case .rateLimited(let seconds, let rate):
            if Double.random(in: 0..<1) < rate { return (429, [("retry-after", String(seconds))], ByteBuffer(string: "slow down"), 0) }
            return (200, [], ByteBuffer(), 0)
        case .hanging:
            return (200, [], ByteBuffer(), nil)
        case .gone:
            return (410, [], ByteBuffer(string: "this endpoint was removed"), 0)
        case .redirect(let location):
            return (302, [("location", location)], ByteBuffer(), 0)
        case .hugeBody(let bytes):
            return (200, [], ByteBuffer(repeating: UInt8(ascii: "x"), count: bytes), 0)
        case .status(let code):
            return (code, [], ByteBuffer(), 0)
        }
    }

    /// Requests received so far (empty unless started with `keepRequests`).
    public var requests: [ReceivedRequest] { log.requests.withLock { $0 } }

    /// How many requests arrived.
    public var count: Int { log.counter.load(ordering: .relaxed) }

    /// How many connections were accepted, closed ones included: requests that reuse a connection open none.
    public var connectionsAccepted: Int { log.accepted.load(ordering: .relaxed) }

    /// Stops listening and closes every connection; hanging requests are dropped.
    public func stop() async {
        try? await channel.close()
        for connection in log.connections.withLock({ Array($0.values) }) {
            try? await connection.close()
        }
    }
}

/// One connection's requests: a request is answered once its body is complete, after its behaviour's delay.
private final class ScriptedHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: [String: ReceiverBehavior]
    private let log: ReceiverLog
    private let keepRequests: Bool
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private static let maxBody = 16 << 20

    init(routes: [String: ReceiverBehavior], log: ReceiverLog, keepRequests: Bool) {
        self.routes = routes
        self.log = log
        self.keepRequests = keepRequests
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(var chunk):
            if body.count + chunk.readableBytes <= Self.maxBody, let bytes = chunk.readBytes(length: chunk.readableBytes) {
                body += bytes
            }
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "").drop { $0 == "/" }
        guard head.method == .POST, let behavior = routes[String(path)] else {
            write(status: 404, headers: [], body: ByteBuffer(), keepAlive: head.isKeepAlive, context: context)
            return
        }
        log.counter.add(1, ordering: .relaxed)
        if keepRequests {
            let received = ReceivedRequest(
                path: String(path), headers: head.headers.map { Header(name: $0.name.lowercased(), value: $0.value) },
                body: body, at: Date())
            log.requests.withLock { $0.append(received) }
        }
        let answer = ScriptedReceiver.answer(behavior)
        guard let delay = answer.delayMilliseconds else { return }
        let keepAlive = head.isKeepAlive
        if delay == 0 {
            write(status: answer.status, headers: answer.headers, body: answer.body, keepAlive: keepAlive, context: context)
            return
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: .milliseconds(Int64(delay))) {
            let (handler, context) = bound.value
            handler.write(
                status: answer.status, headers: answer.headers, body: answer.body, keepAlive: keepAlive, context: context)
        }
    }

    private func write(status: Int, headers: [(String, String)], body: ByteBuffer, keepAlive: Bool, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        var fields = HTTPHeaders(headers)
        fields.add(name: "content-length", value: String(body.readableBytes))
        if !keepAlive { fields.add(name: "connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: fields)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if !keepAlive {
            let channel = context.channel
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

final class ReceiverLog: Sendable {
    let requests = Mutex<[ReceivedRequest]>([])
    let counter = Atomic<Int>(0)
    /// Connections accepted, closed ones included.
    let accepted = Atomic<Int>(0)
    /// Open connections, closed by `stop`.
    let connections = Mutex<[ObjectIdentifier: any Channel]>([:])

    func open(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        accepted.add(1, ordering: .relaxed)
        connections.withLock { $0[key] = channel }
        channel.closeFuture.whenComplete { _ in _ = self.connections.withLock { $0.removeValue(forKey: key) } }
    }
}
