import NIOCore
import NIOPosix

/// A port on 127.0.0.1 that nothing listens on (for "connection refused"): one the system just handed out to a
/// listener that is closed again.
public func closedLocalPort() -> Int {
    let group = MultiThreadedEventLoopGroup.singleton
    guard let channel = try? ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).wait() else { return 9 }
    let port = channel.localAddress?.port ?? 9
    try? channel.close().wait()
    return port
}
