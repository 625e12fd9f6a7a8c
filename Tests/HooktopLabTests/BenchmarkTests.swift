import DeliveryCore
import Foundation
import HooktopLab
import HooktopReceivers
import HooktopTesting
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `hooktop bench`'s receiver and the benchmark itself (their numbers go in the README, so they must be right).
struct BenchmarkTests {
    private static let response = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"

    @Test(.timeLimit(.minutes(1)))
    func theSinkAnswersRequestsSplitAcrossReadsAndPipelined() async throws {
        let sink = try await BenchSink.start()
        let port = sink.port
        let answers = Answers()
        // Blocking socket calls: on a thread of their own, not one of the test runner's few.
        await onOwnThread {
            answers.record {
                let client = try BlockingClient(port: port)
                defer { client.close() }
                let body = #"{"type":"a.b"}"#
                let head = "POST /sink HTTP/1.1\r\nhost: 127.0.0.1\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
                let request = head + body
                // One request in three reads: part of the head, the rest of the head (whole, body missing), the body.
                for piece in [String(head.prefix(12)), String(head.dropFirst(12)), body] {
                    try client.send(piece)
                    usleep(20_000)
                }
                var received = [try client.receive(bytes: Self.response.utf8.count, "split")]
                // Two requests in one write, answered in order.
                try client.send(request + request)
                received.append(try client.receive(bytes: 2 * Self.response.utf8.count, "pipelined"))
                // `connection: close` is answered, then the connection ends.
                try client.send("POST /sink HTTP/1.1\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
                received.append(try client.receive(bytes: Self.response.utf8.count, "close"))
                received.append(try client.receive(bytes: 1, "eof"))
                return received
            }
        }
        await sink.stop()
        let received = try answers.result.get()
        #expect(received == [Self.response, Self.response + Self.response, Self.response, ""])
        #expect(sink.count == 4)
    }

    @Test(.timeLimit(.minutes(2)))
    func theBenchmarkDeliversAndRecordsEveryDelivery() async throws {
        let database = try TemporaryDatabase()
        let result = try await DeliveryBenchmark(events: 300, endpoints: 3, maxInFlight: 16).run(store: database.store)
        #expect(result.deliveries == 900)
        #expect(result.delivered == 900)
        #expect(result.attemptsRecorded >= 900)
        #expect(result.sinkRequests == 900)
        #expect(result.deliveriesPerSecond > 0 && result.seconds > 0)
        #expect(result.p50Milliseconds <= result.p99Milliseconds)
        #expect(result.peakMemoryMiB > 0)
        #expect(result.cpuSeconds > 0)
        #expect(result.cpuMicrosecondsPerDelivery == result.cpuSeconds * 1e6 / 900)
        #expect(try database.store.attemptCount() == result.attemptsRecorded)
    }

    /// `bench --dispatchers 2` on PostgreSQL: two dispatchers, each with its own connections and lease owner, share the
    /// work and send each delivery once.
    @Test(.timeLimit(.minutes(5)))
    func twoDispatchersOnOnePostgresLogSendEachDeliveryOnce() async throws {
        try await TestEngine.postgres.withLog { log in
            let first = try await PostgresEngine.open(try PostgresURL(log.location))
            let second = try await PostgresEngine.open(try PostgresURL(log.location))
            let result = try await DeliveryBenchmark(events: 300, endpoints: 3, maxInFlight: 16)
                .run(engine: first, otherLogs: [second])
            await second.close()
            await first.close()
            #expect(result.delivered == 900)
            #expect(result.attemptsRecorded == 900)
            #expect(result.sinkRequests == 900)
        }
    }

    @Test func severalRunsAreSummarisedByTheirMedian() {
        let odd = DeliveryBenchmark.Spread([9_000, 11_000, 10_000])
        #expect(odd.count == 3)
        #expect(odd.median == 10_000)
        #expect(odd.lowest == 9_000 && odd.highest == 11_000)
        #expect(DeliveryBenchmark.Spread([190, 150, 170]).median == 170)
        // An even count: the mean of the two middle runs.
        let even = DeliveryBenchmark.Spread([12_000, 9_000, 10_000, 8_000])
        #expect(even.median == 9_500)
        #expect(even.lowest == 8_000 && even.highest == 12_000)
        #expect(DeliveryBenchmark.Spread([140, 200, 180, 160]).median == 170)
        #expect(DeliveryBenchmark.Spread([]).median == 0)
    }

    @Test(.timeLimit(.minutes(2)))
    func aRateLimitedBenchmarkPublishesNoFasterThanAsked() async throws {
        let database = try TemporaryDatabase()
        let result = try await DeliveryBenchmark(events: 60, endpoints: 2, maxInFlight: 16, rate: 200)
            .run(store: database.store)
        #expect(result.delivered == 120)
        // Events are published as they fall due, 200 per second: the 60th is due after 0.3 s.
        #expect(result.seconds >= 0.25)
    }
}

/// What the client thread got back, or why it failed.
private final class Answers: Sendable {
    private let stored = Mutex<Result<[String], any Error>>(.success([]))

    func record(_ body: () throws -> [String]) {
        let outcome = Result { try body() }
        stored.withLock { $0 = outcome }
    }

    var result: Result<[String], any Error> { stored.withLock { $0 } }
}

/// A blocking TCP client on 127.0.0.1 whose reads give up after 5 seconds.
private final class BlockingClient {
    private let fd: Int32

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket failed") }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var noDelay: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw Failure(description: "connect failed")
        }
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { throw Failure(description: "send failed") }
    }

    /// Reads until `bytes` bytes came, the peer closed (fewer then), or 5 s passed without any (an error).
    func receive(bytes count: Int, _ step: String = "") throws -> String {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while received.count < count {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, min($0.count, count - received.count), 0) }
            if n == 0 { break }
            guard n > 0 else {
                throw Failure(description: "\(step): no answer within 5 s (\(received.count) of \(count) bytes)")
            }
            received += buffer[0..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }

    func close() { Glibc.close(fd) }
}
