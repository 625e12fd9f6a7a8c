import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The upkeep of a PostgreSQL log that one process runs for all (`PostgresEngine.upkeep`): every `serve` runs this
/// service, and the one holding the `maintenance` lease is the leader.
///
/// Each turn (every 5 s) takes the lease or renews it; the lease runs 30 s, so when the leader stops (cleanly: it
/// gives the lease up; or dies) another `serve` leads within 5 s, or within 35 s. The leader runs the upkeep once on
/// taking the lease and every minute after. Others do nothing but try for the lease.
public final class PostgresMaintenance: Service, Sendable {
    /// The pacing of the leader's work.
    public struct Configuration: Sendable {
        /// How long the lease lasts unless renewed, in seconds (default 30).
        public var leaseDuration: TimeInterval = 30
        /// How often the lease is taken or renewed (default 5 s).
        public var renewInterval: Duration = .seconds(5)
        /// How often the leader runs the upkeep, in seconds (default 60).
        public var upkeepInterval: TimeInterval = 60

        public init() {}
    }

    /// The lease's name in `leases`.
    public static let leaseName = "maintenance"

    public let engine: PostgresEngine
    public let configuration: Configuration
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var leading = false
        var lastUpkeep: Date?
        /// The last failure logged (the same one is not logged again every turn).
        var lastError: String?
    }

    public init(engine: PostgresEngine, configuration: Configuration = Configuration(), logger: Logger) {
        self.engine = engine
        self.configuration = configuration
        self.logger = logger
    }

    /// The lease holder's name: the engine's writer id.
    public var owner: String { engine.writerId }

    /// Whether this process held the lease at its last turn.
    public var isLeader: Bool { state.withLock { $0.leading } }

    /// Turns until a graceful shutdown or cancellation, then gives the lease up.
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.turn(now: Date())
                try await Task.sleep(for: self.configuration.renewInterval)
            }
        }
        await resign()
    }

    /// Takes or renews the lease and, leading, runs the upkeep when it is due. A failure is logged, never thrown:
    /// a turn that cannot reach the database does not lead.
    /// - Returns: whether this process leads.
    @discardableResult
    public func turn(now: Date) async -> Bool {
        let leads: Bool
        do {
            leads = try await engine.takeLease(
                Self.leaseName, owner: owner, duration: configuration.leaseDuration, now: now)
            state.withLock { $0.lastError = nil }
        } catch {
            report("cannot take or renew the maintenance lease", error)
            leads = false
        }
        let (changed, due) = state.withLock { state in
            defer { state.leading = leads }
            let due = leads && (state.lastUpkeep.map { now.timeIntervalSince($0) >= configuration.upkeepInterval } ?? true)
            return (state.leading != leads, due)
        }
        if changed { logger.info(leads ? "leading the log's maintenance" : "no longer leading the log's maintenance") }
        if due {
            do {
                let done = try await engine.upkeep(now: now)
                state.withLock { $0.lastUpkeep = now }
                if done != PostgresEngine.Upkeep() {
                    logger.info(
                        "maintenance",
                        metadata: [
                            "partitions": "\(done.partitionsMade)", "expired_keys": "\(done.keysExpired)",
                            "folded_rows": "\(done.rowsFolded)",
                        ])
                }
            } catch {
                report("maintenance failed", error)
            }
        }
        return leads
    }

    /// Gives the lease up if this process holds it (whether or not its last turn knew), so that another process
    /// takes over at its next turn; done even when the calling task is cancelled (a service group stopping after
    /// another service failed).
    public func resign() async {
        state.withLock { $0.leading = false }
        let (engine, owner) = (self.engine, self.owner)
        let released = await Task { try await engine.releaseLease(Self.leaseName, owner: owner) }.result
        if case .failure(let error) = released { report("cannot give the maintenance lease up", error) }
    }

    /// Logs a failure unless it is the one logged last, or the turn was cancelled (the service is stopping).
    private func report(_ what: String, _ error: any Error) {
        guard !Task.isCancelled else { return }
        let message = "\(what): \(PostgresPool.reason(error))"
        let repeated = state.withLock { state in
            defer { state.lastError = message }
            return state.lastError == message
        }
        if !repeated { logger.warning("\(message)") }
    }
}
