import Foundation

/// An event as published: sent to every subscribed endpoint under the same `webhook-id`.
public struct Message: Sendable, Equatable, Codable, Identifiable {
    /// The `webhook-id` on the wire, `msg_` followed by random characters.
    public var id: String
    public var eventType: String
    /// The JSON payload as published.
    public var payload: String
    public var idempotencyKey: String?
    public var createdAt: Date

    public init(id: String, eventType: String, payload: String, idempotencyKey: String?, createdAt: Date) {
        self.id = id
        self.eventType = eventType
        self.payload = payload
        self.idempotencyKey = idempotencyKey
        self.createdAt = createdAt
    }
}

/// A message with how its fan-out is going.
public struct MessageSummary: Sendable, Equatable {
    public var message: Message
    /// SQLiteRow position in the log, the keyset cursor for paging.
    public var sequence: Int64
    public var deliveryCount: Int
    public var delivered: Int
    public var failing: Int
    public var dead: Int

    public init(message: Message, sequence: Int64, deliveryCount: Int, delivered: Int, failing: Int, dead: Int) {
        self.message = message
        self.sequence = sequence
        self.deliveryCount = deliveryCount
        self.delivered = delivered
        self.failing = failing
        self.dead = dead
    }
}

/// A running dispatcher, as recorded by its heartbeat.
public struct WorkerInfo: Sendable, Equatable, Codable {
    public var id: String
    public var pid: Int
    public var host: String
    public var startedAt: Date
    public var heartbeatAt: Date
    public var version: String
    public var inFlight: Int
    /// The delays of the retry schedule this dispatcher runs (nil: a dispatcher too old to say).
    public var retryDelays: [TimeInterval]?

    public init(
        id: String, pid: Int, host: String, startedAt: Date, heartbeatAt: Date, version: String, inFlight: Int,
        retryDelays: [TimeInterval]? = nil
    ) {
        self.id = id
        self.pid = pid
        self.host = host
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
        self.version = version
        self.inFlight = inFlight
        self.retryDelays = retryDelays
    }

    /// Scheduled attempts before a delivery is dead, under this dispatcher's schedule.
    public var maxAttempts: Int? { retryDelays.map { $0.count + 1 } }

    /// A heartbeat older than this means the dispatcher is gone.
    public static let staleAfter: TimeInterval = 5

    /// A dispatcher whose heartbeat is this old loses its leases to the live ones, which send its deliveries again.
    /// Longer than `staleAfter`: a dispatcher that is only held up (a starved machine, a slow disk, a database
    /// failover) keeps its work rather than have it sent twice; one that died on another host has its work back
    /// within this, or sooner when its leases run out. A restarted dispatcher on the same host takes a dead one's
    /// leases back at once (its process is gone).
    public static let leasesTakenOverAfter: TimeInterval = 30

    /// What dispatchers' ids (their lease owner names) start with; an operator's process sending one redelivery
    /// leases it as `op:…`.
    public static let idPrefix = "w:"

    /// Minutes of its per-minute attempt counts a dispatcher keeps (readers sum the last 5).
    static let attemptMinutesKept: Int64 = 15

    public func isAlive(now: Date) -> Bool { now.timeIntervalSince(heartbeatAt) < Self.staleAfter }
}
