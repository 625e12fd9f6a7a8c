import AsyncHTTPClient
import Crypto
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
        /// Connections kept per host (default 64), in all: shared out among the event loops' clients.
        public var connectionsPerHost = 64
        /// Whether loopback and private destinations are allowed for every endpoint (default `false`).
        public var allowPrivateDestinations = false
        /// `User-Agent` header.
        public var userAgent = "hooktop/\(HooktopVersion.current)"
        /// CA certificates (PEM) trusted for every endpoint on top of the system's (`serve --ca-file`).
        public var caPEM: String?
        /// The HTTP proxy deliveries go through (`serve --proxy`, or the `HTTPS_PROXY` family).
        public var proxy: ProxySettings?

        public init() {}
    }

    public let configuration: Configuration
    /// One client per event loop, each with its own pool on that loop (see `init`).
    private let shards: [Shard]
    private let resolver: DestinationCache
    /// Clients for checked hostnames, connecting to the checked address.
    private let pinned: PinnedClients
    private let prepared = PreparedValues()
    /// TLS settings of endpoints that have their own.
    private let tls: TLSConfigurations
    /// Clients that go through `configuration.proxy`.
    private let proxied: ProxiedClients
    private let diagnosis = TLSDiagnosis()
    private let pacer = SendPacer()
    /// Where `send` and `start` put their next request.
    private let nextShard = Atomic<Int>(0)

    /// An event loop with the client and deadline sweeper that only it uses.
    private struct Shard: Sendable {
        let loop: any EventLoop
        let client: HTTPClient
        let deadlines: DeadlineSweeper
    }

    public convenience init(configuration: Configuration = Configuration()) {
        self.init(configuration: configuration, destinations: DestinationCache())
    }

    /// With `destinations` checking hosts at connect time (tests give a resolver of their own).
    init(configuration: Configuration, destinations: DestinationCache) {
        self.configuration = configuration
        self.resolver = destinations
        var config = HTTPClient.Configuration()
        config.redirectConfiguration = .disallow
        // Only the connect timeout is AHC's: each attempt's own timeout (the endpoint's, covering the whole exchange,
        // body included) is enforced by `deadlines`, which saves two timers per request on the event loops.
        config.timeout = .init(connect: configuration.connectTimeout)
        config.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.connectionsPerHost)
        // A refused connection fails the attempt at once instead of retrying until the connect timeout.
        config.connectionPool.retryConnectionEstablishment = false
        config.decompression = .disabled
        // No distributed tracing: without a tracer bootstrapped, AHC would still build and label a no-op span
        // for every request.
        config.tracing.tracer = nil
        config.http1_1ConnectionDebugInitializer = RequestHeadCoalescer.install(on:)
        // A bad bundle is refused where it is given (`serve --ca-file`); here it could only be ignored.
        self.tls = (try? TLSConfigurations(caPEM: configuration.caPEM)) ?? (try! TLSConfigurations(caPEM: nil))
        if configuration.caPEM != nil { config.tlsConfiguration = tls.base }
        self.pinned = PinnedClients(configuration: config)
        self.proxied = ProxiedClients(configuration: config)
        // A client's pool is one state machine behind one lock, taken to start every request and again to hand its
        // connection back. Shared by the event loops, that lock was contended on nearly every request (threads
        // parked and woken through futexes); a client per loop, whose connections all live on that loop, keeps every
        // request's work on one thread. The connections per host are shared out among the loops (and no more loops
        // are used than connections allowed).
        let connections = max(1, configuration.connectionsPerHost)
        let loops = Array(HTTPClient.defaultEventLoopGroup.makeIterator().prefix(connections))
        self.shards = loops.enumerated().map { index, loop in
            var shardConfig = config
            shardConfig.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit =
                connections / loops.count + (index < connections % loops.count ? 1 : 0)
            return Shard(
                loop: loop, client: HTTPClient(eventLoopGroup: loop, configuration: shardConfig),
                deadlines: DeadlineSweeper(on: loop))
        }
    }

    /// Whether a deadline timer is running on any event loop (only while requests are in flight).
    var isWatchingDeadlines: Bool { shards.contains { $0.deadlines.isSweeping } }

    /// Closes every connection. Call once, when done.
    public func shutdown() async {
        for shard in shards {
            shard.deadlines.stop()
            try? await shard.client.shutdown()
        }
        await pinned.shutdown()
        await proxied.shutdown()
    }

    private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// The body sent for a message: the Standard Webhooks envelope `{"type", "timestamp", "data"}`.
    /// Event types are validated to letters, digits, `.`, `_` and `-`, so they need no escaping.
    public static func body(for message: Message) -> String {
        body(for: message, timestamp: timestampStyle.format(message.createdAt))
    }

    private static func body(for message: Message, timestamp: String) -> String {
        "{\"type\":\"\(message.eventType)\",\"timestamp\":\"\(timestamp)\",\"data\":\(message.payload)}"
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
        let shard = (nextShard.wrappingAdd(1, ordering: .relaxed).oldValue & Int.max) % shards.count
        return await withCheckedContinuation { continuation in
            shards[shard].loop.execute {
                self.start(job, startedAt: started, shard: shard) { continuation.resume(returning: $0) }
            }
        }
    }

    /// Starts sending every job without waiting, shared among the client's event loops: `completion` runs once per
    /// job with its outcome, on an event loop thread. The dispatcher's way: no task and no thread hop per delivery.
    public func start(_ jobs: [DeliveryJob], completion: @escaping @Sendable (AttemptOutcome) -> Void) {
        guard !jobs.isEmpty else { return }
        // Dealt in turn from where the last batch ended: small batches (one or two jobs under light load) would
        // otherwise all go to the first loop, whose pool has only its share of the connections.
        let first = nextShard.wrappingAdd(jobs.count, ordering: .relaxed).oldValue
        for offset in 0..<min(shards.count, jobs.count) {
            let index = ((first &+ offset) & Int.max) % shards.count
            let share = Array(stride(from: offset, to: jobs.count, by: shards.count).lazy.map { jobs[$0] })
            shards[index].loop.execute {
                for job in share {
                    // A rate-limited endpoint's requests leave spaced out, whenever the dispatcher claimed them: a
                    // stalled moment does not turn into a burst at the receiver.
                    guard let limit = job.endpoint.rateLimit else {
                        self.start(job, startedAt: Date(), shard: index, completion: completion)
                        continue
                    }
                    self.startPaced(job, limit: limit, delay: self.pacer.reserve(job.endpoint.id, limit: limit),
                        shard: index, completion: completion)
                }
            }
        }
    }

    /// Starts a rate-limited job after `delay` seconds, and only once the pacer admits it at that moment.
    private func startPaced(
        _ job: DeliveryJob, limit: Int, delay: Double, shard: Int, completion: @escaping @Sendable (AttemptOutcome) -> Void
    ) {
        let attempt: @Sendable () -> Void = {
            let wait = self.pacer.admit(job.endpoint.id, limit: limit)
            guard wait > 0 else { return self.start(job, startedAt: Date(), shard: shard, completion: completion) }
            self.startPaced(job, limit: limit, delay: wait, shard: shard, completion: completion)
        }
        guard delay > 0 else { return attempt() }
        shards[shard].loop.scheduleTask(in: .nanoseconds(Int64(delay * 1e9))) { attempt() }
    }

    /// Builds, signs and sends one request through `shard`'s client, on its event loop; `completion` gets the outcome.
    private func start(
        _ job: DeliveryJob, startedAt started: Date, shard: Int,
        completion: @escaping @Sendable (AttemptOutcome) -> Void
    ) {
        let clock = ContinuousClock.now
        let timestamp = Int64(started.timeIntervalSince1970)
        let body = Self.body(
            for: job.message,
            timestamp: prepared.timestamp(job.message.createdAt) { Self.timestampStyle.format($0) })
        let keys = Self.signingKeys(for: job.endpoint, now: started).compactMap { prepared.keyed($0) }
        var recorded = [
            Header(name: "content-type", value: "application/json"),
            Header(name: "user-agent", value: configuration.userAgent),
            Header(name: "webhook-id", value: job.message.id),
            Header(name: "webhook-timestamp", value: String(timestamp)),
            Header(name: "webhook-signature", value: WebhookSignature.header(
                id: job.message.id, timestamp: timestamp, body: Array(body.utf8), keyed: keys)),
        ]
        // The endpoint's own headers follow hooktop's; a credential (or a header that looks like one) is recorded
        // masked, never as sent.
        let settings = job.endpoint.connection
        var sent = recorded + settings.headers
        recorded += settings.headers.map(ConnectionRules.displayed)
        if let credential = settings.credential {
            sent.append(Header(name: "authorization", value: credential.headerValue))
            recorded.append(Header(name: "authorization", value: credential.masked))
        }
        let headers = sent
        var outcome = AttemptOutcome(
            deliveryId: job.deliveryId, endpointId: job.endpoint.id, trigger: job.trigger, startedAt: started,
            durationMilliseconds: 0, requestHeaders: recorded, responseStatus: nil, responseHeaders: [],
            responseBodyExcerpt: nil, errorClass: nil, errorMessage: nil, retryAfter: nil)
        outcome.retrySchedule = settings.retrySchedule
        outcome.claim = job.claim
        outcome.messageCreatedAt = job.message.createdAt
        let attempt = outcome
        let fail: @Sendable (ErrorClass, String) -> Void = { errorClass, message in
            var outcome = attempt
            outcome.errorClass = errorClass
            outcome.errorMessage = message
            completion(Self.timed(outcome, since: clock))
        }
        // `checked`: the addresses a destination check passed, which the connection must go to (nil: no check).
        let send: @Sendable (_ checked: [String]?) -> Void = { checked in
            let shard = self.shards[shard]
            var client = shard.client
            // Through a proxy, the proxy connects: the receiver's address was checked all the same.
            if let server = self.configuration.proxy?.server(for: job.endpoint.url) {
                guard let proxied = self.proxied.client(for: server) else {
                    return fail(.network, "the sender is shutting down")
                }
                return self.execute(
                    job, body: body, headers: headers, attempt: attempt, clock: clock, shard: shard, client: proxied,
                    diagnosis: .none, fail: fail, completion: completion)
            }
            if let checked {
                let host = DestinationCache.host(job.endpoint.url)
                // A numeric host is its own checked address; a name is pinned to what it resolved to.
                if !DestinationPolicy.isNumeric(host) {
                    guard let (pinned, address) = self.pinned.client(host: host, addresses: checked) else {
                        return fail(.dns, "cannot resolve host \(host): no address (or the sender is shutting down)")
                    }
                    client = pinned
                    // An address that refuses or does not answer the connection is skipped for a minute: the next
                    // attempt goes to another checked address.
                    let pinnedClients = self.pinned
                    return self.execute(
                        job, body: body, headers: headers, attempt: attempt, clock: clock, shard: shard, client: client,
                        diagnosis: .at(address), fail: fail,
                        completion: { outcome in
                            if outcome.errorClass == .connectRefused || outcome.errorMessage == "connect timed out" {
                                pinnedClients.markUnreachable(host: host, address: address)
                            }
                            completion(outcome)
                        })
                }
            }
            // A numeric host is the address that was checked; without a check, the host may be looked up again.
            let host = DestinationCache.host(job.endpoint.url)
            self.execute(
                job, body: body, headers: headers, attempt: attempt, clock: clock, shard: shard, client: client,
                diagnosis: checked == nil ? .byName : (DestinationPolicy.isNumeric(host) ? .at(host) : .none), fail: fail,
                completion: completion)
        }
        guard !(configuration.allowPrivateDestinations || job.endpoint.allowPrivateDestination) else { return send(nil) }
        switch resolver.recentVerdict(url: job.endpoint.url, now: started) {
        case .allowed(let addresses)?: send(addresses)
        case .refused(let reason)?: fail(.destinationRefused, reason)
        case nil:
            // Not checked in the last minute: resolved off the event loop, so a slow DNS server does not hold up the
            // other deliveries on it.
            DestinationCache.lookups.async {
                do {
                    send(try self.resolver.check(url: job.endpoint.url, now: started))
                } catch let error as HooktopError {
                    fail(error.code == .destinationRefused ? .destinationRefused : .dns, error.message)
                } catch {
                    fail(.dns, "\(error)")
                }
            }
        }
    }

    /// Builds the request and hands it to AHC; `completion` gets the outcome.
    /// Where a TLS diagnosis may connect: never anywhere but where the attempt was allowed to go.
    enum DiagnosisTarget: Sendable {
        /// No second handshake (through a proxy, or no checked address).
        case none
        /// The checked address the attempt connected to.
        case at(String)
        /// The host by name (private destinations allowed: nothing to check).
        case byName
    }

    private func execute(
        _ job: DeliveryJob, body: String, headers: [Header], attempt: AttemptOutcome, clock: ContinuousClock.Instant,
        shard: Shard, client: HTTPClient, diagnosis target: DiagnosisTarget,
        fail: @escaping @Sendable (ErrorClass, String) -> Void,
        completion: @escaping @Sendable (AttemptOutcome) -> Void
    ) {
        var request: HTTPClient.Request
        do {
            request = try prepared.request(job.endpoint.url)
            request.headers.reserveCapacity(headers.count)
            for header in headers { request.headers.add(name: header.name, value: header.value) }
            request.body = .byteBuffer(ByteBuffer(string: body))
            if let configuration = tls.configuration(for: job.endpoint.connection) {
                request.tlsConfiguration = configuration
            }
        } catch {
            let (errorClass, message) = TransportFailure.classify(error)
            return fail(errorClass, message)
        }
        let collector = ResponseCollector(limit: configuration.maxResponseBytes)
        // The shard's client has one event loop: the request, its connection and its completion all run there. A
        // pinned or proxied client spans the loops: its delegate runs on the shard's loop, its connection on any.
        // (Requiring the channel's loop as well would make AHC open a connection bound to that loop for each
        // request and close it once idle: a new TCP and TLS handshake, or a new proxy tunnel, per delivery.)
        let task = client === shard.client
            ? client.execute(request: request, delegate: collector, eventLoop: .indifferent)
            : client.execute(request: request, delegate: collector, eventLoop: .delegate(on: shard.loop))
        let deadlines = shard.deadlines
        let watch = deadlines.watch(task, until: .now() + .milliseconds(Int64(job.endpoint.timeoutMilliseconds)))
        let excerptBytes = configuration.excerptBytes
        let sent = request
        task.futureResult.whenComplete { result in
            deadlines.forget(watch)
            var error: (any Error)?
            if case .failure(let failure) = result { error = failure }
            let outcome = Self.outcome(attempt, collected: collector.collected, error: error, excerptBytes: excerptBytes)
            // Only the handshake's own failures (not its timeout, not a failure once a response came) are worth a
            // second look, and only where the attempt itself was allowed to connect.
            let address: String?
            switch target {
            case .none: return completion(Self.timed(outcome, since: clock))
            case .at(let checked): address = checked
            case .byName: address = nil
            }
            guard collector.collected.head == nil,
                outcome.errorClass == .tlsHostnameMismatch
                    || (outcome.errorClass == .tls && outcome.errorMessage == TransportFailure.handshakeFailed),
                sent.url.scheme?.lowercased() == "https", let host = sent.url.host
            else { return completion(Self.timed(outcome, since: clock)) }
            // Why the certificate was refused, from a second look at the receiver's chain (see TLSDiagnosis).
            let trust = sent.tlsConfiguration ?? self.tls.base
            self.diagnosis.diagnose(
                host: host, port: sent.url.port ?? 443, address: address, trust: trust,
                trustKey: job.endpoint.connection.caPEM ?? "", on: shard.loop
            ).whenComplete { verdict in
                var outcome = outcome
                if case .success(let verdict?) = verdict {
                    outcome.errorClass = verdict.errorClass
                    outcome.errorMessage = verdict.message
                }
                completion(Self.timed(outcome, since: clock))
            }
        }
    }

    /// The attempt described by what the receiver answered, and by the error that ended the exchange, if any.
    static func outcome(
        _ attempt: AttemptOutcome, collected: ResponseCollector.Collected, error: (any Error)?, excerptBytes: Int
    ) -> AttemptOutcome {
        var outcome = attempt
        if let head = collected.head {
            outcome.responseStatus = Int(head.status.code)
            outcome.responseHeaders = head.headers.prefix(64).map {
                Header(name: $0.name, value: String($0.value.prefix(1024)))
            }
            if let retryAfter = head.headers.first(name: "retry-after") {
                outcome.retryAfter = RetryPolicy.parseRetryAfter(retryAfter, now: attempt.startedAt)
            }
        }
        switch error {
        case nil, is ResponseCollector.LimitReached:
            guard let head = collected.head else {
                outcome.errorClass = .network
                outcome.errorMessage = "no response"
                return outcome
            }
            outcome.responseBodyExcerpt = excerpt(collected.bytes, limit: excerptBytes, truncated: collected.truncated)
            if !outcome.succeeded {
                outcome.errorClass = .httpStatus
                outcome.errorMessage = "HTTP \(head.status.code) \(head.status.reasonPhrase)"
            }
        case let error?:
            if outcome.succeeded {
                // The receiver accepted it; only reading the rest of the body failed.
                outcome.responseBodyExcerpt = "(body not read: \(TransportFailure.classify(error).1))"
            } else if let head = collected.head {
                // The receiver answered (a failure); the connection ended badly after that.
                outcome.responseBodyExcerpt = excerpt(collected.bytes, limit: excerptBytes, truncated: true)
                outcome.errorClass = .httpStatus
                outcome.errorMessage = "HTTP \(head.status.code) \(head.status.reasonPhrase)"
            } else {
                (outcome.errorClass, outcome.errorMessage) = TransportFailure.classify(error)
            }
        }
        return outcome
    }

    private static func timed(_ outcome: AttemptOutcome, since clock: ContinuousClock.Instant) -> AttemptOutcome {
        var outcome = outcome
        let elapsed = ContinuousClock.now - clock
        outcome.durationMilliseconds = Int(elapsed.components.seconds * 1000)
            + Int(elapsed.components.attoseconds / 1_000_000_000_000_000)
        return outcome
    }

    /// The first `limit` bytes of a body as text (invalid UTF-8 replaced), marked when cut.
    static func excerpt(_ bytes: [UInt8], limit: Int, truncated: Bool) -> String? {
        if bytes.isEmpty && !truncated { return nil }
        let cut = bytes.count > limit || truncated
        var text = String(decoding: bytes.prefix(limit), as: UTF8.self)
        if cut { text += "\n… (truncated)" }
        return text
    }
}

/// Keeps a response's head and at most `limit` bytes of its body; past the limit it ends the exchange.
final class ResponseCollector: HTTPClientResponseDelegate {
    typealias Response = Void

    struct Collected: Sendable {
        var head: HTTPResponseHead?
        var bytes: [UInt8] = []
        var truncated = false
    }

    /// Ends the exchange once `limit` bytes were read (not a failure of the attempt).
    struct LimitReached: Error {}

    let limit: Int
    private let state = Mutex(Collected())

    init(limit: Int) { self.limit = limit }

    var collected: Collected { state.withLock { $0 } }

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        state.withLock { $0.head = head }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        let full = state.withLock { state -> Bool in
            let room = limit - state.bytes.count
            if buffer.readableBytes > room {
                state.bytes.append(contentsOf: buffer.readableBytesView.prefix(room))
                state.truncated = true
                return true
            }
            state.bytes.append(contentsOf: buffer.readableBytesView)
            return false
        }
        return full ? task.eventLoop.makeFailedFuture(LimitReached()) : task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {}
}

/// What every attempt would otherwise recompute: HMACs keyed with each secret, requests for each endpoint URL
/// (parsed, without headers and body), formatted message timestamps. Each table is small and starts over when full.
final class PreparedValues: Sendable {
    private let keys = BoundedCache<String, HMAC<SHA256>>()
    private let requests = BoundedCache<String, HTTPClient.Request>()
    private let timestamps = BoundedCache<Date, String>()

    func keyed(_ secret: String) -> HMAC<SHA256>? {
        keys.value(for: secret) { secret in (try? WebhookSignature.key(fromSecret: secret)).map { HMAC(key: $0) } }
    }

    /// A POST to `url` with no headers and no body yet.
    /// - Throws: what AHC says of a URL it cannot send to (such URLs are not kept).
    func request(_ url: String) throws -> HTTPClient.Request {
        if let request = requests.value(for: url, make: { try? HTTPClient.Request(url: $0, method: .POST) }) {
            return request
        }
        return try HTTPClient.Request(url: url, method: .POST)
    }

    func timestamp(_ date: Date, format: (Date) -> String) -> String { timestamps.value(for: date, make: format)! }
}

/// A dictionary of computed values, emptied when it reaches `capacity` entries.
final class BoundedCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let entries = Mutex<[Key: Value]>([:])
    private let capacity: Int

    init(capacity: Int = 1024) { self.capacity = capacity }

    /// The cached value for `key`, or what `make` returns for it (kept unless `nil`).
    func value(for key: Key, make: (Key) -> Value?) -> Value? {
        if let value = entries.withLock({ $0[key] }) { return value }
        guard let value = make(key) else { return nil }
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll() }
            entries[key] = value
        }
        return value
    }

    /// Keeps `value` for `key`, replacing what was there.
    func set(_ key: Key, _ value: Value) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll() }
            entries[key] = value
        }
    }
}

/// Holds back the flush after a request head when a body follows, so head and body leave in one write (one system
/// call and one TCP segment per attempt instead of two). AHC flushes the head and each body part separately.
final class RequestHeadCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private var bodyFollows = false

    /// Adds a coalescer to an AHC HTTP/1.1 connection, next to its request encoder.
    @Sendable static func install(on channel: any Channel) -> EventLoopFuture<Void> {
        channel.eventLoop.submit {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(
                RequestHeadCoalescer(), position: .after(pipeline.handler(type: HTTPRequestEncoder.self)))
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .head(let head) = unwrapOutboundIn(data) {
            bodyFollows = head.headers.contains(name: "transfer-encoding")
                || head.headers.first(name: "content-length").flatMap { Int($0) }.map { $0 > 0 } ?? false
        } else {
            bodyFollows = false
        }
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        // Unwritable (a head past the high-water mark): AHC waits for writability before sending the body, so the
        // head must go now.
        if !bodyFollows || !context.channel.isWritable { context.flush() }
    }
}

/// Fails requests that outlive their deadline, checked every 100 ms by one timer for all of them (a timer per request
/// would cost two heap operations on an event loop per attempt). The timer runs only while something is watched, so an
/// idle daemon is not woken ten times a second per event loop.
final class DeadlineSweeper: Sendable {
    private struct State {
        var next = 0
        var watched: [Int: (deadline: NIODeadline, task: HTTPClient.Task<Void>)] = [:]
        var timer: RepeatedTask?
        var stopped = false
    }

    private let eventLoop: any EventLoop
    private let state = Mutex(State())
    static let interval = TimeAmount.milliseconds(100)

    init(on eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    deinit { stop() }

    /// Whether the sweep timer is running (for tests).
    var isSweeping: Bool { state.withLock { $0.timer != nil } }

    /// Starts watching `task`; returns the ticket for `forget`.
    func watch(_ task: HTTPClient.Task<Void>, until deadline: NIODeadline) -> Int {
        state.withLock { state in
            state.next += 1
            state.watched[state.next] = (deadline, task)
            if state.timer == nil, !state.stopped {
                state.timer = eventLoop.scheduleRepeatedTask(initialDelay: Self.interval, delay: Self.interval) {
                    [weak self] _ in self?.sweep()
                }
            }
            return state.next
        }
    }

    func forget(_ ticket: Int) {
        _ = state.withLock { $0.watched.removeValue(forKey: ticket) }
    }

    private func sweep() {
        let now = NIODeadline.now()
        let overdue = state.withLock { state -> [HTTPClient.Task<Void>] in
            if state.watched.isEmpty {
                state.timer?.cancel()
                state.timer = nil
                return []
            }
            return state.watched.values.filter { $0.deadline <= now }.map(\.task)
        }
        for task in overdue { task.fail(reason: HTTPClientError.deadlineExceeded) }
    }

    func stop() {
        state.withLock { state in
            state.stopped = true
            state.timer?.cancel()
            state.timer = nil
        }
    }
}

/// Destination checks at connect time, cached per host for a minute, with the addresses that passed.
final class DestinationCache: Sendable {
    private let entries = Mutex<[String: (Date, Verdict)]>([:])
    private let lookUp: @Sendable (String) throws -> [String]
    /// Where hosts are resolved (`getaddrinfo` blocks).
    static let lookups = DispatchQueue(label: "hooktop.destination-lookups", attributes: .concurrent)

    /// `lookUp` checks a URL against the policy, resolving its host, and returns the addresses it checked (by
    /// default the strict `DestinationPolicy`).
    init(lookUp: @escaping @Sendable (String) throws -> [String] = { try DestinationPolicy(allowPrivate: false).check(url: $0) }) {
        self.lookUp = lookUp
    }

    enum Verdict: Equatable {
        /// The host's addresses, all public: the connection goes to one of them.
        case allowed([String])
        case refused(String)
    }

    static func host(_ url: String) -> String { URLComponents(string: url)?.host ?? url }

    /// The verdict on `url`'s host from the last minute, or `nil` when it must be looked up.
    func recentVerdict(url: String, now: Date) -> Verdict? {
        guard let cached = entries.withLock({ $0[Self.host(url)] }), now.timeIntervalSince(cached.0) < 60 else {
            return nil
        }
        return cached.1
    }

    /// Checks `url`, looking its host up (blocking) unless it was checked in the last minute.
    /// - Returns: the checked addresses.
    @discardableResult
    func check(url: String, now: Date) throws -> [String] {
        switch recentVerdict(url: url, now: now) {
        case .allowed(let addresses)?: return addresses
        case .refused(let reason)?: throw HooktopError(.destinationRefused, reason)
        case nil: break
        }
        let host = Self.host(url)
        do {
            let addresses = try lookUp(url)
            entries.withLock { $0[host] = (now, .allowed(addresses)) }
            return addresses
        } catch let error as HooktopError where error.code == .destinationRefused {
            entries.withLock { $0[host] = (now, .refused(error.message)) }
            throw error
        }
    }
}

/// Clients that connect to a host's checked address instead of resolving its name again: the address a destination
/// check passed is the one the request goes to, so a DNS answer that changes in between (rebinding) cannot send it to
/// a private address. One client per host, its name pinned with `dnsOverride` (TLS still verifies and sends SNI for
/// the name); a client whose address dropped out of the host's checked ones is replaced, and shut down once its
/// requests can no longer be running.
final class PinnedClients: Sendable {
    private struct Pin {
        let address: String
        let client: HTTPClient
    }

    private struct State {
        var pins: [String: Pin] = [:]
        /// Addresses that refused or did not answer a connection, by host, with when.
        var unreachable: [String: [String: Date]] = [:]
        var stopped = false
    }

    private let base: HTTPClient.Configuration
    private let state = Mutex(State())
    private let retired = Mutex<[HTTPClient]>([])

    init(configuration: HTTPClient.Configuration) { self.base = configuration }

    /// The client for `host` and the address it connects to: one of `addresses`, the one already pinned while it is
    /// still among them and reachable, else the first not found unreachable in the last minute. Nil without
    /// addresses, or once shut down.
    func client(host: String, addresses: [String], now: Date = Date()) -> (HTTPClient, String)? {
        guard !addresses.isEmpty else { return nil }
        var replaced: HTTPClient?
        let chosen = state.withLock { state -> (HTTPClient, String)? in
            guard !state.stopped else { return nil }
            let bad = (state.unreachable[host] ?? [:]).filter { now.timeIntervalSince($0.value) < 60 }
            state.unreachable[host] = bad.isEmpty ? nil : bad
            if let pin = state.pins[host], addresses.contains(pin.address), bad[pin.address] == nil {
                return (pin.client, pin.address)
            }
            let address = addresses.first { bad[$0] == nil } ?? addresses[0]
            if let pin = state.pins[host], pin.address == address { return (pin.client, pin.address) }
            replaced = state.pins[host]?.client
            var configuration = base
            configuration.dnsOverride = [host: address]
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            state.pins[host] = Pin(address: address, client: client)
            return (client, address)
        }
        if let replaced {
            retired.withLock { $0.append(replaced) }
            // An attempt lasts at most 300 s (the largest endpoint timeout).
            DispatchQueue.global().asyncAfter(deadline: .now() + 330) { [self] in
                guard retired.withLock({ list in list.firstIndex { $0 === replaced }.map { list.remove(at: $0) } }) != nil
                else { return }
                Task { try? await replaced.shutdown() }
            }
        }
        return chosen
    }

    /// `address` of `host` refused or did not answer a connection: others are tried first for a minute.
    func markUnreachable(host: String, address: String, now: Date = Date()) {
        state.withLock { $0.unreachable[host, default: [:]][address] = now }
    }

    /// Shuts every client down; no client is made after this.
    func shutdown() async {
        let clients = state.withLock { state in
            state.stopped = true
            defer { state.pins.removeAll() }
            return state.pins.values.map(\.client)
        } + retired.withLock { list in
            defer { list.removeAll() }
            return list
        }
        for client in clients { try? await client.shutdown() }
    }
}
