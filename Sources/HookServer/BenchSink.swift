import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The cheapest possible receiver for `hooktop bench`: answers every request with `200 ok` straight from a NIO
/// channel handler (no router, no task per request), so the benchmark measures hooktop rather than its sink.
public final class BenchSink: Sendable {
    public let port: Int
    private let channel: any Channel
    private let counter: SinkCounter

    public static func start(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> BenchSink {
        let counter = SinkCounter()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: false)
                    try channel.pipeline.syncOperations.addHandler(SinkHandler(counter: counter))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return BenchSink(port: channel.localAddress?.port ?? 0, channel: channel, counter: counter)
    }

    private init(port: Int, channel: any Channel, counter: SinkCounter) {
        self.port = port
        self.channel = channel
        self.counter = counter
    }

    public var url: String { "http://127.0.0.1:\(port)/sink" }
    public var count: Int { counter.value.load(ordering: .relaxed) }

    public func stop() async {
        try? await channel.close()
    }
}

final class SinkCounter: Sendable {
    let value = Atomic<Int>(0)
}

private final class SinkHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let counter: SinkCounter
    private var keepAlive = true
    private static let headers: HTTPHeaders = ["content-length": "2", "content-type": "text/plain"]

    init(counter: SinkCounter) { self.counter = counter }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            counter.value.add(1, ordering: .relaxed)
            var headers = Self.headers
            if !keepAlive { headers.add(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "ok")))), promise: nil)
            let keepAlive = self.keepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [context] _ in
                if !keepAlive { context.close(promise: nil) }
            }
        }
    }
}
