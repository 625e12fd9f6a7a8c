import DeliveryCore
import Foundation
import Synchronization

/// What `/healthz` reports: the dispatcher's liveness read from the log at most once a second however often probes
/// come, and whether the log takes writes (the last write's outcome and the free space, no query) on every probe.
final class HealthCache: Sendable {
    struct Reading: Sendable {
        /// A dispatcher with a fresh heartbeat, if any.
        var liveWorker: WorkerInfo?
        /// Why the log takes no writes, or nil when it does.
        var writeProblem: String?
        var at: ContinuousClock.Instant
    }

    private let engine: any DeliveryEngine
    private let cached = Mutex<Reading?>(nil)
    /// How long a reading answers probes.
    static let maximumAge = Duration.seconds(1)

    init(engine: any DeliveryEngine) { self.engine = engine }

    /// The latest reading, taken anew when older than `maximumAge`.
    func current() async throws -> Reading {
        let now = ContinuousClock.now
        let problem = await engine.writeProblem()
        if var reading = cached.withLock({ $0 }), now - reading.at < Self.maximumAge {
            reading.writeProblem = problem
            return reading
        }
        let date = Date()
        let reading = Reading(
            liveWorker: try await engine.workers().first { $0.isAlive(now: date) }, writeProblem: problem, at: now)
        cached.withLock { $0 = reading }
        return reading
    }
}
