import HTTPTypes
import HummingbirdCore
import NIOCore
import NIOHTTPTypes
import Synchronization

/// What the API allows its clients: how many connections at once, and how long a connection may sit without sending
/// a request.
public struct ConnectionLimits: Sendable, Equatable {
    /// API connections open at once. Past it, the connection that has waited longest for a request is closed to make
    /// room; when every connection is busy, new ones wait in the listen backlog. The dispatcher's descriptors are
    /// counted apart (`OpenFileLimit`), so clients holding sockets never starve deliveries.
    public var maxConnections = 256
    /// From accepting a connection (or finishing a response on it) to the end of the next request's headers: one
    /// timer for a silent client, a slow-header (slowloris) client and an idle keep-alive connection.
    public var headerTimeout: Duration = .seconds(10)
    /// From the end of a request's headers to the end of its body.
    public var bodyTimeout: Duration = .seconds(30)

    public init() {}
}

/// Counts the API's connections and closes the idlest ones when the cap is reached.
final class ConnectionRegistry: Sendable {
    private struct State {
        var open = 0
        var nextToken: UInt64 = 0
        /// Connections waiting for a request, by the token given when they began waiting (older tokens waited longer).
        var waiting: [UInt64: any Channel] = [:]
        /// The cap refused a connection while none was idle: the next one to become idle makes room.
        var starved = false
    }

    let limits: ConnectionLimits
    private let state = Mutex(State())

    init(limits: ConnectionLimits) { self.limits = limits }

    var openConnections: Int { state.withLock { $0.open } }

    func opened() { state.withLock { $0.open += 1 } }
    func closed() { state.withLock { $0.open -= 1 } }

    /// Whether another connection may be accepted now. At the cap, closes the connections that have waited longest
    /// for a request (enough to get back under it); their closing lets the server accept again.
    func admits() -> Bool {
        let victims: [(UInt64, any Channel)] = state.withLock { state in
            guard state.open >= limits.maxConnections else { return [] }
            let excess = state.open - limits.maxConnections + 1
            let oldest = state.waiting.keys.sorted().prefix(excess)
            let victims = oldest.compactMap { token in state.waiting.removeValue(forKey: token).map { (token, $0) } }
            // Every connection busy: whoever becomes idle next makes room.
            if victims.isEmpty { state.starved = true }
            return victims
        }
        if victims.isEmpty { return state.withLock { $0.open < limits.maxConnections } }
        for (token, channel) in victims { Self.evict(channel, token: token) }
        return false
    }

    /// Marks `channel` as waiting for a request; returns the token to end the wait with. While the cap starves the
    /// listener, the connection becoming idle is closed at once to make room.
    func beginWaiting(_ channel: any Channel) -> UInt64? {
        let makeRoom = state.withLock { state -> Bool in
            guard state.starved, state.open >= limits.maxConnections else {
                state.starved = false
                return false
            }
            state.starved = false
            return true
        }
        if makeRoom {
            channel.close(promise: nil)
            return nil
        }
        return state.withLock { state in
            state.nextToken += 1
            state.waiting[state.nextToken] = channel
            return state.nextToken
        }
    }

    /// An eviction found its connection busy after all: the next connection to become idle makes room instead.
    func evictionMissed() { state.withLock { $0.starved = true } }

    /// Closes `channel` on its own event loop if it is still waiting under `token`: a request head that arrived
    /// meanwhile keeps it open.
    private static func evict(_ channel: any Channel, token: UInt64) {
        channel.pipeline.fireUserInboundEventTriggered(EvictIfIdle(token: token))
    }

    func endWaiting(_ token: UInt64) { _ = state.withLock { $0.waiting.removeValue(forKey: token) } }
}

/// Asks a connection's deadline handler to close it if it is still waiting under `token`.
struct EvictIfIdle: Sendable {
    let token: UInt64
}

/// The connection cap as Hummingbird's accept gate.
struct ConnectionCap: AvailableConnectionsDelegate {
    let registry: ConnectionRegistry

    mutating func connectionOpened() { registry.opened() }
    mutating func connectionClosed() { registry.closed() }
    func isAcceptingNewConnections() -> Bool { registry.admits() }
}

/// Closes a connection whose client does not send a whole request head within `headerTimeout` of connecting or of
/// the previous response, or a whole body within `bodyTimeout` of the head.
final class ConnectionDeadlines: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let registry: ConnectionRegistry
    private var timer: Scheduled<Void>?
    private var waitingToken: UInt64?
    /// Requests whose head arrived and whose response has not ended (more than one when a client pipelines).
    private var unanswered = 0
    /// Between a request's head and the end of its body (the body deadline runs).
    private var readingBody = false

    init(registry: ConnectionRegistry) { self.registry = registry }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { awaitRequest(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if waitingToken == nil && timer == nil { awaitRequest(context: context) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            unanswered += 1
            readingBody = true
            stopWaiting()
            arm(context: context, after: registry.limits.bodyTimeout)
        case .body:
            break
        case .end:
            guard readingBody else { break }
            readingBody = false
            timer?.cancel()
            timer = nil
            // Answered before its body was read (a 401 or 413): idle from here.
            if unanswered == 0, context.channel.isActive { awaitRequest(context: context) }
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let evict = event as? EvictIfIdle {
            if waitingToken == evict.token { context.close(promise: nil) } else { registry.evictionMissed() }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        let written = promise ?? context.eventLoop.makePromise()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        written.futureResult.whenSuccess {
            let (handler, context) = loopBound.value
            handler.unanswered = max(0, handler.unanswered - 1)
            // Idle again only when no pipelined request is still being answered, and this one's body was read.
            if context.channel.isActive, handler.unanswered == 0, !handler.readingBody {
                handler.awaitRequest(context: context)
            }
        }
        context.write(data, promise: written)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { stop() }

    private func awaitRequest(context: ChannelHandlerContext) {
        stopWaiting()
        waitingToken = registry.beginWaiting(context.channel)
        arm(context: context, after: registry.limits.headerTimeout)
    }


    private func arm(context: ChannelHandlerContext, after delay: Duration) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: TimeAmount(delay)) { channel.close(promise: nil) }
    }

    private func stopWaiting() {
        if let token = waitingToken { registry.endWaiting(token) }
        waitingToken = nil
    }

    private func stop() {
        stopWaiting()
        timer?.cancel()
        timer = nil
    }
}
