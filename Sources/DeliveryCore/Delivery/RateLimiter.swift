import Foundation
import Synchronization

/// Limits the requests a dispatcher starts per endpoint per second, with the clock passed in.
///
/// Two rules together. A sliding window lets at most N requests start in any `window` (1.25 s: the 250 ms beyond a
/// second absorb the spread between a request starting and reaching the receiver, which on a loaded 2-core machine
/// exceeded 100 ms, so a receiver counting arrivals per second does not see more than N). A bucket holding
/// 100 ms worth of the rate (at least one request; the dispatcher looks every 50 ms) spreads them out, so a resume or a recovery releases a backlog at
/// a steady pace instead of N at once at the start of every window. The steady rate is therefore N / 1.25 per second.
public struct RateLimiter: Sendable {
    /// Requests started within this many seconds count against the limit.
    public static let window = 1.25

    struct Bucket: Sendable {
        /// Start times within the window, oldest first.
        var starts: [Double] = []
        var tokens: Double
        var refilledAt: Double
        var limit: Int
    }

    private var buckets: [String: Bucket] = [:]

    public init() {}

    static func capacity(_ limit: Int) -> Double { max(1, Double(limit) * 0.1) }

    /// How many requests to `endpoint` may start at `now` (seconds on any monotonic clock) under `limit` per second.
    public mutating func allowance(endpoint: String, limit: Int, now: Double) -> Int {
        var bucket = buckets[endpoint] ?? Bucket(tokens: Self.capacity(limit), refilledAt: now, limit: limit)
        if bucket.limit != limit {
            // A changed limit starts from a bucket of the new size; the window still counts what was started.
            bucket.limit = limit
            bucket.tokens = min(bucket.tokens, Self.capacity(limit))
        }
        bucket.tokens = min(Self.capacity(limit), bucket.tokens + max(0, now - bucket.refilledAt) * Double(limit))
        bucket.refilledAt = now
        let expired = bucket.starts.firstIndex { $0 > now - Self.window } ?? bucket.starts.count
        bucket.starts.removeFirst(expired)
        buckets[endpoint] = bucket
        // A whole token refilled in steps of 0.05 s × limit may add up to 0.9999...: not a reason to wait a poll more.
        return max(0, min(limit - bucket.starts.count, Int((bucket.tokens + 1e-6).rounded(.down))))
    }

    /// `count` requests to `endpoint` started at `now` (at most what `allowance` gave).
    public mutating func started(endpoint: String, count: Int, now: Double) {
        guard count > 0, var bucket = buckets[endpoint] else { return }
        bucket.starts.append(contentsOf: repeatElement(now, count: count))
        bucket.tokens -= Double(count)
        buckets[endpoint] = bucket
    }

    /// Forgets endpoints not in `keep` (removed, or their limit lifted).
    public mutating func retain(_ keep: Set<String>) {
        buckets = buckets.filter { keep.contains($0.key) }
    }
}

/// Spaces the requests to each rate-limited endpoint at least `RateLimiter.window / N` seconds apart at the moment they
/// start, so that no second holds more than N starts however the claims were bunched (a stalled event loop, a slow
/// transaction). The dispatcher's `RateLimiter` keeps claims to the same pace, so the wait here stays short.
final class SendPacer: Sendable {
    private let next = Mutex<[String: Double]>([:])
    /// Actual start times per endpoint within the last window, oldest first.
    private let started = Mutex<[String: [Double]]>([:])

    /// Whether a request to `endpoint` may start now: yes (0, and counted) when fewer than `limit` started within the
    /// last window, else how long until one may. Checked when the request really starts, so an event loop that ran a
    /// scheduled start late cannot put more than `limit` into one window.
    func admit(_ endpoint: String, limit: Int, now: Double = ProcessInfo.processInfo.systemUptime) -> Double {
        started.withLock { started in
            if started.count > 10_000 { started = started.filter { ($0.value.last ?? 0) > now - RateLimiter.window } }
            var times = started[endpoint] ?? []
            times.removeFirst(times.firstIndex { $0 > now - RateLimiter.window } ?? times.count)
            defer { started[endpoint] = times }
            guard times.count >= max(1, limit) else {
                times.append(now)
                return 0
            }
            return times[0] + RateLimiter.window - now + 0.001
        }
    }

    /// Reserves the next start for `endpoint` and returns how many seconds from now it is.
    func reserve(_ endpoint: String, limit: Int, now: Double = ProcessInfo.processInfo.systemUptime) -> Double {
        next.withLock { next in
            if next.count > 10_000 { next = next.filter { $0.value > now } }
            let start = max(now, next[endpoint] ?? now)
            next[endpoint] = start + RateLimiter.window / Double(max(1, limit))
            return start - now
        }
    }
}
