import DeliveryCore
import Foundation
import HooktopLab
import HooktopReceivers
import HooktopTesting
import Synchronization
import Testing

@testable import DeliveryCore

#if canImport(Glibc)
import Glibc
#endif

/// `hooktop serve` under a flood of idle and slow connections, with fewer descriptors than the flood: deliveries go
/// on, `/healthz` answers, the CPU stays idle and the process lives.
struct ConnectionFloodTests {
    static let headerTimeout = 3

    @Test(.timeLimit(.minutes(3)))
    func idleConnectionsBeyondTheDescriptorLimitStopNothing() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let database = try TemporaryDatabase()
        let sink = try await ScriptedReceiver.start(routes: ["sink": .healthy])
        defer { Task { await sink.stop() } }
        _ = try database.store.addEndpoint(url: sink.url("sink"), allowPrivateDestination: true, by: testActor)
        let serve = try await ServeProcess.start(
            executable, database: database.path,
            arguments: ["--max-in-flight", "64", "--max-connections", "100", "--header-timeout", "\(Self.headerTimeout)s"],
            prefix: ["/usr/bin/prlimit", "--nofile=1024:1024"])

        // More idle connections than the daemon may have descriptors: none sends a byte. They are held by a process
        // of their own (this one starts subprocesses, which Foundation cannot do with over 1,024 descriptors open).
        let flood = try ChildProcess("/usr/bin/python3", ["-c", Self.floodScript, String(serve.port), "1100", "40"])
        defer { flood.signal(SIGKILL) }
        let opened = try #require(await flood.waitFor("opened ", timeout: .seconds(40)), "the flood did not start")
        let count = Int(opened.split(separator: "opened ").last?.prefix { $0.isNumber } ?? "") ?? 0
        #expect(count > 1024, "opened \(count) connections")

        // Deliveries go on: events published by another process are delivered, none fails for lack of descriptors.
        for index in 0..<100 { _ = try database.store.publish(eventType: "flood.test", payload: #"{"n":\#(index)}"#) }
        let delivered = await eventually(timeout: .seconds(30)) {
            (try? database.store.overview(now: Date()).totals.delivered) == 100
        }
        #expect(delivered, "delivered \((try? database.store.overview(now: Date()).totals.delivered) ?? -1) of 100")
        #expect(sink.count >= 100)

        // Health answers while the flood is held (the idlest connections make room for it).
        let health = await answer(port: serve.port, "GET", "/healthz", within: .seconds(15))
        #expect(health == 200)

        // Every idle connection is closed by the daemon: evicted for newer ones, or timed out.
        let settled = try #require(await flood.waitFor("still open ", timeout: .seconds(45)), "the flood never ended")
        #expect(settled.contains("still open 0\n"), "\(settled)")

        // No spinning: over three quiet seconds the daemon uses well under half a core.
        let before = try cpuSeconds(pid: serve.child.pid)
        try await Task.sleep(for: .seconds(3))
        let used = try cpuSeconds(pid: serve.child.pid) - before
        #expect(used < 1.5, "used \(used) s of CPU in 3 s")

        #expect(serve.child.isRunning)
        #expect(await answer(port: serve.port, "GET", "/healthz", within: .seconds(5)) == 200)
        serve.child.signal(SIGTERM)
        #expect(await serve.child.waitForExit(timeout: .seconds(20)) == 0)
        let errors = try database.store.deliveries(DeliveryQuery(limit: 200)).compactMap(\.lastError)
        #expect(errors.isEmpty, "\(errors.prefix(3))")
    }

    /// A client that sends its headers a byte at a time (slowloris) is cut off at the header timeout, and so is one
    /// that keeps a connection open after its response.
    @Test(.timeLimit(.minutes(2)))
    func slowHeadersAndIdleKeepAliveAreCutOff() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let database = try TemporaryDatabase()
        let serve = try await ServeProcess.start(
            executable, database: database.path,
            arguments: ["--header-timeout", "\(Self.headerTimeout)s", "--body-timeout", "\(Self.headerTimeout)s"])
        defer { serve.child.signal(SIGKILL) }

        // Answered before its body came (no token): the body still has its deadline, then the connection closes.
        let early = Mutex<(status: Int?, closedAfter: Duration?)>((nil, nil))
        await onOwnThread {
            guard let fd = RawHTTP.connect(port: serve.port) else { return }
            defer { close(fd) }
            let head = Array("POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n".utf8)
            guard send(fd, head, head.count, Int32(MSG_NOSIGNAL)) == head.count else { return }
            let started = ContinuousClock.now
            let text = RawHTTP.readAll(fd, until: started + .seconds(Self.headerTimeout + 5))
            early.withLock { $0 = (RawHTTP.status(of: text), ContinuousClock.now - started) }
        }
        let (earlyStatus, earlyClosed) = early.withLock { $0 }
        #expect(earlyStatus == 401)
        let earlyHeld = try #require(earlyClosed)
        #expect(earlyHeld < .seconds(Self.headerTimeout + 3), "held \(earlyHeld) without its body")

        let slowloris = Mutex<(closedAfter: Duration?, answered: Bool)>((nil, false))
        await onOwnThread {
            guard let fd = RawHTTP.connect(port: serve.port) else { return }
            defer { close(fd) }
            let started = ContinuousClock.now
            let request = Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ".utf8)
                + Array(repeating: UInt8(ascii: "a"), count: 200)
            for byte in request {
                if send(fd, [byte], 1, Int32(MSG_NOSIGNAL)) != 1 || Self.isClosedByPeer(fd) { break }
                usleep(100_000)
                if ContinuousClock.now - started > .seconds(20) { break }
            }
            let closed = RawHTTP.waitForClose(fd, timeout: .seconds(5))
            slowloris.withLock { $0 = (closed ? ContinuousClock.now - started : nil, false) }
        }
        let (closedAfter, _) = slowloris.withLock { $0 }
        let after = try #require(closedAfter, "the slow client was never cut off")
        #expect(after >= .seconds(Self.headerTimeout - 1) && after < .seconds(Self.headerTimeout + 4), "cut off after \(after)")

        // Keep-alive: one request answered, then silence: closed at the header timeout, not held forever.
        let idle = Mutex<Duration?>(nil)
        await onOwnThread {
            guard let fd = RawHTTP.connect(port: serve.port) else { return }
            defer { close(fd) }
            let request = Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
            guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return }
            let started = ContinuousClock.now
            if RawHTTP.waitForClose(fd, timeout: .seconds(Self.headerTimeout + 5)) {
                idle.withLock { $0 = ContinuousClock.now - started }
            }
        }
        // Two pipelined requests on one connection are both answered.
        let pipelined = Mutex<String>("")
        await onOwnThread {
            let request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            pipelined.withLock { $0 = RawHTTP.exchange(port: serve.port, request, timeout: .seconds(5)).text }
        }
        #expect(pipelined.withLock { $0.components(separatedBy: "HTTP/1.1 200").count - 1 } == 2)

        let idleAfter = try #require(idle.withLock { $0 }, "an idle keep-alive connection was never closed")
        #expect(idleAfter >= .seconds(Self.headerTimeout - 1), "closed after \(idleAfter)")
        #expect(serve.child.isRunning)
    }

    /// Holds `count` idle connections to `port`, prints how many it opened, then waits (at most `hold` seconds) for the
    /// server to close them and prints how many are still open.
    static let floodScript = """
        import socket, sys, time
        port, count, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
        held, deadline = [], time.time() + 30
        for _ in range(count):
            if time.time() > deadline: break
            s = socket.socket()
            s.settimeout(1)
            try:
                s.connect(("127.0.0.1", port))
                s.setblocking(False)
                held.append(s)
            except OSError:
                s.close()
        print("opened", len(held), flush=True)
        end, still = time.time() + hold, set(held)
        while still and time.time() < end:
            for s in list(still):
                try:
                    if s.recv(1, socket.MSG_PEEK) == b"": still.discard(s)
                except BlockingIOError:
                    pass
                except OSError:
                    still.discard(s)
            time.sleep(0.2)
        print("still open", len(still), flush=True)
        """

    /// Whether the peer has closed `fd` (end of stream or reset), without waiting.
    static func isClosedByPeer(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_DONTWAIT | MSG_PEEK))
        if n == 0 { return true }
        return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK
    }

    /// The status of `method path` on a new connection, retried until `within` passes.
    private func answer(port: Int, _ method: String, _ path: String, within: Duration) async -> Int? {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            let status = Mutex<Int?>(nil)
            await onOwnThread {
                status.withLock { $0 = RawHTTP.exchange(port: port, RawHTTP.request(method, path), timeout: .seconds(3)).status }
            }
            if let code = status.withLock({ $0 }) { return code }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return nil
    }

    /// User and system CPU time of process `pid` so far.
    private func cpuSeconds(pid: Int32) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14 and 15.
        let fields = stat[stat.index(after: try #require(stat.lastIndex(of: ")")))...].split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (Double(fields[11])! + Double(fields[12])!) / ticks
    }
}
