import AsyncHTTPClient
import Crypto
@testable import DeliveryCore
import Foundation
import HooktopReceivers
import HooktopTesting
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Synchronization
import Testing

struct RequestHeadCoalescerTests {
    private func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTPRequestEncoder())
        let installed = RequestHeadCoalescer.install(on: channel)
        channel.embeddedEventLoop.run()
        try installed.wait()
        return channel
    }

    private func head(_ headers: [(String, String)]) -> HTTPClientRequestPart {
        .head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/hook", headers: HTTPHeaders(headers)))
    }

    /// Writes a request head and flushes, as AHC does before the body.
    private func sendHead(_ headers: [(String, String)], on channel: EmbeddedChannel) {
        channel.write(head(headers), promise: nil)
        channel.flush()
    }

    private func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    @Test func aHeadWithABodyToFollowWaitsForTheBody() throws {
        let channel = try channel()
        defer { _ = try? channel.finish() }
        sendHead([("content-length", "5")], on: channel)
        #expect(try written(channel).isEmpty)

        try channel.writeAndFlush(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: "hello")))).wait()
        try channel.writeAndFlush(HTTPClientRequestPart.end(nil)).wait()
        let text = try written(channel)
        #expect(text.hasPrefix("POST /hook HTTP/1.1\r\n"))
        #expect(text.hasSuffix("\r\n\r\nhello"))
    }

    @Test func aHeadWithoutABodyIsFlushedAtOnce() throws {
        let channel = try channel()
        defer { _ = try? channel.finish() }
        channel.write(head([("content-length", "0")]), promise: nil)
        channel.write(HTTPClientRequestPart.end(nil), promise: nil)
        channel.flush()
        #expect(try written(channel).hasPrefix("POST /hook HTTP/1.1\r\n"))

        try channel.writeAndFlush(head([])).wait()
        #expect(try written(channel).hasPrefix("POST /hook HTTP/1.1\r\n"))
    }

    @Test func anUnwritableChannelGetsTheHeadAtOnce() throws {
        let channel = try channel()
        defer { _ = try? channel.finish() }
        // AHC waits for writability before it sends the body: a held head would then wait forever.
        channel.isWritable = false
        sendHead([("content-length", "5")], on: channel)
        #expect(try written(channel).hasPrefix("POST /hook HTTP/1.1\r\n"))
    }

    @Test func aChunkedHeadWaitsForItsFirstChunk() throws {
        let channel = try channel()
        defer { _ = try? channel.finish() }
        sendHead([("transfer-encoding", "chunked")], on: channel)
        #expect(try written(channel).isEmpty)
        try channel.writeAndFlush(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: "abc")))).wait()
        #expect(try written(channel).contains("\r\n\r\n3\r\nabc\r\n"))
    }
}

struct PreparedValuesTests {
    @Test func requestsAreParsedOncePerURLAndStartEmpty() throws {
        let prepared = PreparedValues()
        var first = try prepared.request("http://127.0.0.1:9/a?x=1")
        first.headers.add(name: "webhook-id", value: "msg_1")
        first.body = .byteBuffer(ByteBuffer(string: "{}"))
        let again = try prepared.request("http://127.0.0.1:9/a?x=1")
        #expect(again.headers.isEmpty)
        #expect(again.body == nil)
        #expect(again.method == .POST)
        #expect(again.url.absoluteString == "http://127.0.0.1:9/a?x=1")
        #expect(try prepared.request("http://127.0.0.1:9/b").url.path == "/b")
    }

    @Test func aURLThatCannotBeSentToThrowsEveryTime() {
        let prepared = PreparedValues()
        for _ in 0..<2 {
            #expect(throws: HTTPClientError.self) { try prepared.request("ftp://example.com/hook") }
            #expect(throws: HTTPClientError.self) { try prepared.request("http://") }
        }
    }

    @Test func aKeyedHMACSignsEachMessageAfreshAndRejectsBadSecrets() throws {
        let prepared = PreparedValues()
        let keyed = try #require(prepared.keyed(WebhookSignatureTests.vectorSecret))
        let vector = {
            WebhookSignature.header(
                id: WebhookSignatureTests.vectorId, timestamp: WebhookSignatureTests.vectorTimestamp,
                body: WebhookSignatureTests.vectorBody, keyed: [keyed])
        }
        #expect(vector() == WebhookSignatureTests.vectorSignature)
        let other = WebhookSignature.header(id: "msg_other", timestamp: 1, body: Array("{}".utf8), keyed: [keyed])
        #expect(other != WebhookSignatureTests.vectorSignature)
        #expect(vector() == WebhookSignatureTests.vectorSignature)
        #expect(prepared.keyed("whsec_!!!") == nil)
    }
}

struct DestinationLookupTests {
    private func job(_ id: Int64, url: String, allowPrivate: Bool) -> DeliveryJob {
        var endpoint = testEndpoint(url: url)
        endpoint.id = "ep_\(id)"
        endpoint.allowPrivateDestination = allowPrivate
        return testJob(id, to: endpoint)
    }

    /// A host resolved by a slow DNS server: the lookup happens off the event loops, so the deliveries sharing a loop
    /// with it go ahead (the lookup is only let finish once they all did).
    @Test(.timeLimit(.minutes(3)))
    func aSlowLookupDoesNotHoldUpOtherDeliveries() async throws {
        let release = DispatchSemaphore(value: 0)
        let destinations = DestinationCache { url in
            guard url.contains("slow.test") else { return [] }
            _ = release.wait(timeout: .now() + 20)
            throw HooktopError(.destinationRefused, "destination slow.test resolves to non-public address 10.0.0.1")
        }
        let sender = WebhookSender(configuration: WebhookSender.Configuration(), destinations: destinations)
        let finished = Mutex<[AttemptOutcome]>([])
        try await withReceiver(["ok": .healthy]) { receiver in
            // Jobs are dealt to the event loops in turn: the slow one shares its loop with others.
            let jobs = [job(1, url: "http://slow.test/hook", allowPrivate: false)]
                + (2...7).map { job($0, url: receiver.url("ok"), allowPrivate: true) }
            sender.start(jobs) { outcome in
                let count = finished.withLock { finished in
                    finished.append(outcome)
                    return finished.count
                }
                if count == jobs.count - 1 { release.signal() }
            }
            #expect(await eventually { finished.withLock { $0.count } == jobs.count })
        }
        await sender.shutdown()
        let outcomes = finished.withLock { $0 }
        #expect(outcomes.last?.deliveryId == 1)
        #expect(outcomes.last?.errorClass == .destinationRefused)
        #expect(outcomes.dropLast().allSatisfy { $0.succeeded })
    }

    @Test func aCheckedHostIsNotLookedUpAgainWithinAMinute() throws {
        let lookups = Mutex(0)
        let destinations = DestinationCache { _ in
            lookups.withLock { $0 += 1 }
            return ["93.184.216.34"]
        }
        let now = Date()
        #expect(destinations.recentVerdict(url: "https://hooks.example.com/a", now: now) == nil)
        try destinations.check(url: "https://hooks.example.com/a", now: now)
        #expect(
            destinations.recentVerdict(url: "https://hooks.example.com/b", now: now.addingTimeInterval(59))
                == .allowed(["93.184.216.34"]))
        try destinations.check(url: "https://hooks.example.com/b", now: now.addingTimeInterval(59))
        #expect(lookups.withLock { $0 } == 1)
        #expect(destinations.recentVerdict(url: "https://hooks.example.com/a", now: now.addingTimeInterval(61)) == nil)
    }
}

/// The connection goes to the address the destination check passed: the name is never resolved a second time.
struct DestinationPinningTests {
    /// `pinned.test` does not exist in DNS: the delivery can only arrive if the sender connects to the address its
    /// check returned (the loopback receiver), with the name kept in the Host header.
    @Test(.timeLimit(.minutes(3)))
    func theRequestGoesToTheCheckedAddressWithoutASecondLookup() async throws {
        let lookups = Mutex<[String]>([])
        let destinations = DestinationCache { url in
            lookups.withLock { $0.append(url) }
            return ["127.0.0.1"]
        }
        let sender = WebhookSender(configuration: WebhookSender.Configuration(), destinations: destinations)
        try await withReceiver(["ok": .healthy]) { receiver in
            let url = receiver.url("ok").replacingOccurrences(of: "127.0.0.1", with: "pinned.test")
            for id in 1...3 {
                let outcome = await sender.send(testJob(Int64(id), to: testEndpoint(url: url)))
                #expect(outcome.succeeded, "\(outcome.errorClass.map { "\($0)" } ?? ""): \(outcome.errorMessage ?? "")")
            }
            #expect(receiver.requests.count == 3)
            #expect(
                receiver.requests.allSatisfy { $0.header("host") == "pinned.test:\(receiver.port)" },
                "\(receiver.requests.map { $0.header("host") ?? "none" })")
            #expect(receiver.connectionsAccepted == 1, "one after the other, the three share a kept-alive connection")
        }
        await sender.shutdown()
        #expect(lookups.withLock { $0.count } == 1, "checked once a minute, and nothing else resolves the name")
    }

    /// A pin holds while its address is still among the checked ones, and moves when it is not.
    @Test func aChangedAnswerMovesThePin() async throws {
        let clients = PinnedClients(configuration: HTTPClient.Configuration())
        let a = try #require(clients.client(host: "pinned.test", addresses: ["127.0.0.1"]))
        #expect(clients.client(host: "pinned.test", addresses: ["127.0.0.2", "127.0.0.1"])?.0 === a.0)
        let b = try #require(clients.client(host: "pinned.test", addresses: ["127.0.0.2"]))
        #expect(b.0 !== a.0)
        #expect(b.1 == "127.0.0.2")
        #expect(clients.client(host: "pinned.test", addresses: []) == nil)
        // An address that refused a connection is skipped for a minute, then tried again.
        let now = Date()
        clients.markUnreachable(host: "two.test", address: "127.0.0.1", now: now)
        #expect(clients.client(host: "two.test", addresses: ["127.0.0.1", "127.0.0.3"], now: now)?.1 == "127.0.0.3")
        #expect(clients.client(host: "two.test", addresses: ["127.0.0.1", "127.0.0.3"], now: now.addingTimeInterval(61))?.1 == "127.0.0.3")
        clients.markUnreachable(host: "two.test", address: "127.0.0.3", now: now.addingTimeInterval(62))
        #expect(clients.client(host: "two.test", addresses: ["127.0.0.1", "127.0.0.3"], now: now.addingTimeInterval(62))?.1 == "127.0.0.1")
        await clients.shutdown()
        #expect(clients.client(host: "late.test", addresses: ["127.0.0.1"]) == nil, "no client after shutdown")
    }
}

/// An endpoint at `url` that signs with the test vector's secret.
private func testEndpoint(url: String, timeoutMilliseconds: Int = 15_000) -> Endpoint {
    Endpoint(
        id: "ep_test", url: url, secret: WebhookSignatureTests.vectorSecret, timeoutMilliseconds: timeoutMilliseconds,
        createdAt: Date(), updatedAt: Date())
}

/// The first scheduled attempt of message `msg_<id>` to `endpoint`.
private func testJob(_ id: Int64, to endpoint: Endpoint) -> DeliveryJob {
    let message = Message(id: "msg_\(id)", eventType: "a.b", payload: "{}", idempotencyKey: nil, createdAt: Date())
    return DeliveryJob(deliveryId: id, endpoint: endpoint, message: message, attemptNumber: 1, trigger: .scheduled)
}

/// A sender allowed to reach the tests' loopback receivers, keeping `connections` per host.
private func loopbackSender(connections: Int) -> WebhookSender {
    var configuration = WebhookSender.Configuration()
    configuration.connectionsPerHost = connections
    configuration.allowPrivateDestinations = true
    // A request waits for a pooled connection as long as a connect may take: on a machine busy with other tests,
    // 300 requests queued on one connection must not fail for waiting, which is not what these tests are about.
    configuration.connectTimeout = .seconds(60)
    return WebhookSender(configuration: configuration)
}

struct ConnectionPoolTests {
    /// Each event loop has a client and pool of its own; together they keep to the connections configured, and
    /// every request rides a kept-alive one.
    @Test(.timeLimit(.minutes(3)), arguments: [1, 3, 4])
    func requestsShareTheConfiguredConnections(connections: Int) async throws {
        let sink = try await BenchSink.start()
        let sender = loopbackSender(connections: connections)
        // 300 requests on one connection, on a machine busy with other tests, may take longer than the default
        // 15 s that each request's deadline counts from its start (and a cut request closes its connection).
        let endpoint = testEndpoint(url: sink.url, timeoutMilliseconds: 120_000)
        let jobs = (1...300).map { testJob($0, to: endpoint) }
        let finished = Mutex<[AttemptOutcome]>([])
        sender.start(jobs) { outcome in finished.withLock { $0.append(outcome) } }
        #expect(await eventually { finished.withLock { $0.count } == jobs.count })
        // One at a time through `send` too, from outside the event loops.
        for job in jobs.prefix(10) { #expect(await sender.send(job).succeeded) }
        await sender.shutdown()
        await sink.stop()
        let failures = finished.withLock { $0.filter { !$0.succeeded } }
        #expect(failures.isEmpty, "\(failures.count) failed, like \(failures.first.map { "\($0.errorClass.map { "\($0)" } ?? ""): \($0.errorMessage ?? "")" } ?? "")")
        #expect(sink.count == jobs.count + 10)
        #expect((1...connections).contains(sink.connections))
    }

    /// Batches of one job (light load) go to the event loops in turn, not all to the first one, whose pool holds only
    /// its share of the connections.
    @Test(.timeLimit(.minutes(3)))
    func smallBatchesAreDealtToEveryEventLoop() async throws {
        let loops = Array(HTTPClient.defaultEventLoopGroup.makeIterator()).count
        let sink = try await BenchSink.start()
        let sender = loopbackSender(connections: 2)
        let endpoint = testEndpoint(url: sink.url)
        for id in 1...6 {
            let outcome = await withCheckedContinuation { continuation in
                sender.start([testJob(Int64(id), to: endpoint)]) { continuation.resume(returning: $0) }
            }
            #expect(outcome.succeeded)
        }
        await sender.shutdown()
        await sink.stop()
        // One connection per loop's pool, each used in turn.
        #expect(sink.connections == min(2, loops))
    }
}

struct OpenFileLimitTests {
    @Test func theSoftLimitIsRaisedToTheHardOneAndAShortfallIsOneLine() throws {
        let before = OpenFileLimit.current()
        let target = OpenFileLimit.target
        #expect(target >= before.soft && target <= max(before.soft, before.hard))
        let limit = OpenFileLimit.raise()
        #expect(limit == target)
        #expect(OpenFileLimit.current().soft == limit)
        #expect(throws: Never.self) { try OpenFileLimit.require(limit, for: "this") }
        let error = try #require(throws: HooktopError.self) { try OpenFileLimit.require(limit + 1, for: "--max-in-flight 9") }
        #expect(error.message == "--max-in-flight 9 needs \(limit + 1) open files, but this process may open only \(limit) (see ulimit -n)")
    }
}

struct DeadlineTests {
    /// Each attempt's timeout is enforced by a sweep that runs only while requests are in flight: an idle sender is
    /// not woken every 100 ms, and the sweep starts again for the next request.
    @Test(.timeLimit(.minutes(3)))
    func theSweepRunsOnlyWhileRequestsAreInFlight() async throws {
        // One connection: one event loop's client and sweeper, so the second request finds the same sweeper stopped.
        let sender = loopbackSender(connections: 1)
        #expect(!sender.isWatchingDeadlines)
        try await withReceiver(["hang": .hanging]) { receiver in
            let job = testJob(1, to: testEndpoint(url: receiver.url("hang"), timeoutMilliseconds: 300))
            for _ in 1...2 {
                let outcome = await sender.send(job)
                #expect(outcome.errorClass == .timeout)
                #expect((250..<5000).contains(outcome.durationMilliseconds))
                #expect(await eventually { !sender.isWatchingDeadlines })
            }
        }
        await sender.shutdown()
    }
}
