@testable import DeliveryCore
import Foundation
import HooktopReceivers
import HooktopTesting
import Testing

/// Rate limits per endpoint: the limiter alone on a simulated clock, then a real dispatcher counted at the receiver.
struct RateLimitTests {
    /// Requests in the busiest window of `length` seconds among `times` (sorted).
    static func busiestWindow(_ times: [Double], length: Double = 1) -> Int {
        var best = 0
        var start = 0
        for end in times.indices {
            while times[end] - times[start] >= length { start += 1 }
            best = max(best, end - start + 1)
        }
        return best
    }

    /// A dispatcher polling every `poll` seconds with a backlog that never runs out: what it may start, when.
    static func simulate(limit: Int, seconds: Double, poll: Double = 0.05, jitter: Bool = false) -> [Double] {
        var limiter = RateLimiter()
        var generator = SeededGenerator(seed: 7)
        var times: [Double] = []
        var now = 1000.0
        while now < 1000 + seconds {
            let allowed = limiter.allowance(endpoint: "ep", limit: limit, now: now)
            limiter.started(endpoint: "ep", count: allowed, now: now)
            times += repeatElement(now - 1000, count: allowed)
            // Iterations also run when attempts finish: at irregular moments.
            now += jitter ? Double.random(in: 0.001...poll, using: &generator) : poll
        }
        return times
    }

    @Test(arguments: [1, 3, 20, 100, 1000])
    func neverMoreThanTheLimitInAnySecondAndNoBurstAtTheStart(limit: Int) {
        for jitter in [false, true] {
            let times = Self.simulate(limit: limit, seconds: 10, jitter: jitter)
            #expect(Self.busiestWindow(times) <= limit, "limit \(limit), jitter \(jitter)")
            // The window is 1.25 s: arrivals up to 250 ms late still stay within the limit per second.
            #expect(Self.busiestWindow(times, length: RateLimiter.window) <= limit)
            // No burst: the first 50 ms start at most the bucket (10% of the limit, at least one) and what 50 ms
            // refill.
            #expect(times.filter { $0 < 0.05 }.count <= max(1, limit / 10) + limit / 20 + 1, "limit \(limit)")
            // And it is not too timid: close to limit / 1.05 per second over the run.
            let rate = Double(times.count) / 10
            #expect(rate >= Double(limit) / RateLimiter.window * 0.85, "limit \(limit): \(rate)/s")
        }
    }

    /// Claims bunched by a stall (all at once here) still start spaced out: never more than the limit in a second.
    @Test func bunchedClaimsStartSpacedOut() {
        let pacer = SendPacer()
        let starts = (0..<50).map { _ in 100 + pacer.reserve("ep", limit: 20, now: 100) }.map { $0 - 100 }
        #expect(starts.first == 0)
        #expect(Self.busiestWindow(starts) <= 20)
        #expect(Self.busiestWindow(starts, length: RateLimiter.window) <= 20)
        #expect(abs(starts[1] - RateLimiter.window / 20) < 1e-9)
        // Later, with nothing waiting, the next one goes at once; other endpoints are not held up.
        #expect(pacer.reserve("ep", limit: 20, now: 200) == 0)
        #expect(pacer.reserve("other", limit: 20, now: 100) == 0)
    }

    /// Starts that fire late and together (a stalled event loop) are admitted no more than the limit per window.
    @Test func lateStartsAreAdmittedWithinTheWindow() {
        let pacer = SendPacer()
        var starts: [Double] = []
        var pending = (0..<30).map { _ in 5.0 }  // all fire at 5.0 s
        while let at = pending.first {
            pending.removeFirst()
            let wait = pacer.admit("ep", limit: 10, now: at)
            if wait == 0 { starts.append(at) } else { pending.append(at + wait) }
            pending.sort()
        }
        #expect(starts.count == 30)
        #expect(Self.busiestWindow(starts, length: RateLimiter.window) <= 10)
    }

    @Test func aChangedLimitTakesEffectAndEndpointsAreApart() {
        var limiter = RateLimiter()
        #expect(limiter.allowance(endpoint: "a", limit: 100, now: 0) == 10)
        limiter.started(endpoint: "a", count: 10, now: 0)
        #expect(limiter.allowance(endpoint: "b", limit: 2, now: 0) == 1, "another endpoint has its own")
        #expect(limiter.allowance(endpoint: "a", limit: 100, now: 0) == 0)
        #expect(limiter.allowance(endpoint: "a", limit: 100, now: 0.05) == 5)
        // Lowered to 5/s: the 10 already started this second use it up.
        #expect(limiter.allowance(endpoint: "a", limit: 5, now: 0.5) == 0)
        #expect(limiter.allowance(endpoint: "a", limit: 5, now: RateLimiter.window) == 1)
        limiter.retain(["b"])
        #expect(limiter.allowance(endpoint: "a", limit: 5, now: RateLimiter.window) == 1, "forgotten: starts afresh")
    }

    /// A paused endpoint with a backlog and a limit of 20/s: resumed, no more than 20 attempts start in any second,
    /// the receiver (a process of its own, stamping arrivals) never counts more than 40 in any two, and the backlog
    /// takes about as long as the limit says.
    @Test(.timeLimit(.minutes(5)), arguments: TestEngine.allCases)
    func aResumedBacklogIsReleasedAtTheRateLimit(_ kind: TestEngine) async throws {
        try await kind.withEngine { engine in
            let receiver = try await LocalReceiver("receiver")
            defer { Task { await receiver.stop() } }
            var changes = EndpointChanges(maxInFlight: 50)
            changes.rateLimit = .set(20)
            let endpoint = try await engine.addEndpoint(
                url: "http://127.0.0.1:\(receiver.port)/ok", changes: changes, secret: nil, allowPrivateDestination: true,
                id: nil, now: Date(), by: testActor)
            let operations = Operations(engine: engine)
            try await operations.pause(endpointId: endpoint.id, by: testActor)
            for n in 0..<60 { _ = try await engine.publish(eventType: "a.b", payload: #"{"n":\#(n)}"#) }
            try await withSender { sender in
                try await withDispatcher(engine, sender: sender) { dispatcher in
                    try await Task.sleep(for: .milliseconds(200))
                    #expect(receiver.records.isEmpty, "held while paused")
                    let resumed = Date().timeIntervalSince1970
                    try await operations.resume(endpointId: endpoint.id, by: testActor)
                    dispatcher.wake()
                    #expect(await eventually(timeout: .seconds(20)) { receiver.records.count == 60 })
                    let arrivals = receiver.records.compactMap { $0["at"] as? Double }.map { $0 - resumed }.sorted()
                    // The limit holds the starts, as the log records them: never more than 20 in any second.
                    var starts: [Double] = []
                    for delivery in try await engine.deliveries(endpointId: endpoint.id) {
                        starts += try await engine.attempts(deliveryId: delivery.id).map {
                            $0.startedAt.timeIntervalSince1970 - resumed
                        }
                    }
                    starts.sort()
                    #expect(starts.count == 60)
                    #expect(Self.busiestWindow(starts) <= 20, "\(starts)")
                    // At the receiver, a process that a loaded machine can starve and that then reads a bunch at once,
                    // arrivals are counted over two seconds: 40 at most (a limiter letting 25 a second through would
                    // show 50).
                    #expect(Self.busiestWindow(arrivals, length: 2) <= 40, "\(arrivals)")
                    // 60 at 20/s (16/s steady with the margin): about 3.7 s, not at once.
                    let span = (arrivals.last ?? 0) - (arrivals.first ?? 0)
                    #expect(span >= 2.5, "released in \(span) s")
                    #expect(arrivals.filter { $0 < 0.5 }.count <= 11, "no burst at the resume: \(arrivals.prefix(15))")
                }
            }
            #expect(try await engine.deliveries(endpointId: endpoint.id).allSatisfy { $0.status == .delivered })
        }
    }
}
