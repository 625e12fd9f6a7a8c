import NIOCore
import NIOPosix
import Synchronization

/// The cheapest possible receiver for `hooktop bench`: a minimal HTTP/1.1 responder on a bare NIO channel (no HTTP
/// codec, no router, no task per request) that answers every request with `200 ok`, so the benchmark measures
/// hooktop rather than its sink. It understands what the sender sends: a head, a `content-length` body, keep-alive.
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
                counter.connections.add(1, ordering: .relaxed)
                return channel.eventLoop.makeCompletedFuture {
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
    /// Connections accepted so far.
    public var connections: Int { counter.connections.load(ordering: .relaxed) }

    public func stop() async {
        try? await channel.close()
    }
}

final class SinkCounter: Sendable {
    let value = Atomic<Int>(0)
    let connections = Atomic<Int>(0)
}

/// Reads requests off the byte stream (pipelined ones too) and answers each as soon as its body is complete.
private final class SinkHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let counter: SinkCounter
    /// Bytes read and not yet answered: the received buffer itself, unless a request spans reads.
    private var pending = ByteBuffer()
    private static let response = Array("HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok".utf8)
    /// The usual case, one answer per read: the same buffer every time, never copied.
    private static let oneResponse = ByteBuffer(bytes: response)

    init(counter: SinkCounter) { self.counter = counter }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if pending.readableBytes == 0 {
            pending = incoming
        } else {
            pending.writeBuffer(&incoming)
        }
        var answered = 0
        var close = false
        while let closes = nextRequest() {
            answered += 1
            if closes {
                close = true
                break
            }
        }
        guard answered > 0 || close else { return }
        counter.value.add(answered, ordering: .relaxed)
        if answered == 1 {
            context.writeAndFlush(wrapOutboundOut(Self.oneResponse), promise: nil)
        } else if answered > 1 {
            var out = context.channel.allocator.buffer(capacity: Self.response.count * answered)
            for _ in 0..<answered { out.writeBytes(Self.response) }
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        }
        if close {
            // Shut the sending side first: the peer sees the end of the stream even when a child process spawned
            // meanwhile inherited the socket (NIO does not accept sockets close-on-exec), which a close alone would
            // keep open.
            context.close(mode: .output, promise: nil)
            context.close(promise: nil)
        }
    }

    /// Consumes one whole request from `pending` and tells whether the client asked to close; `nil` while the
    /// request is not all there yet.
    private func nextRequest() -> Bool? {
        let parsed = pending.withUnsafeReadableBytes { bytes -> (size: Int, close: Bool)? in
            // The end of the head: the first CR LF CR LF.
            var end = 3
            while end < bytes.count {
                if bytes[end] == 10, bytes[end - 1] == 13, bytes[end - 2] == 10, bytes[end - 3] == 13 { break }
                end += 1
            }
            guard end < bytes.count else { return nil }
            var length = 0
            var close = false
            var lineStart = 0
            for index in 0...end where bytes[index] == 10 {
                let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<index])
                lineStart = index + 1
                if Self.hasPrefix(line, "content-length:") {
                    length = line.dropFirst(15).reduce(0) { (48...57).contains($1) ? $0 * 10 + Int($1 - 48) : $0 }
                } else if Self.hasPrefix(line, "connection:") {
                    close = Self.hasPrefix(UnsafeRawBufferPointer(rebasing: line.dropFirst(11)).drop { $0 == 32 }, "close")
                }
            }
            return (end + 1 + length, close)
        }
        guard let parsed, pending.readableBytes >= parsed.size else { return nil }
        pending.moveReaderIndex(forwardBy: parsed.size)
        return parsed.close
    }

    /// Whether `bytes` starts with the ASCII `prefix`, ignoring case.
    private static func hasPrefix(_ bytes: some Collection<UInt8>, _ prefix: StaticString) -> Bool {
        guard bytes.count >= prefix.utf8CodeUnitCount else { return false }
        return zip(bytes, UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount)).allSatisfy {
            ($0 | 0x20) == $1 || $0 == $1
        }
    }
}
