import DeliveryCore
import Foundation

/// What the subcommands print with `--json` beyond the shared objects (`EndpointObject`, `DeliveryObject`, ...).
enum CLIOutput {
    /// `hooktop stats --json`.
    struct Stats: Encodable {
        struct Dispatcher: Encodable {
            var id: String
            var host: String
            var pid: Int
            var alive: Bool
            var inFlight: Int
            var attemptsLast5m: Int

            enum CodingKeys: String, CodingKey {
                case id, host, pid, alive, inFlight = "in_flight", attemptsLast5m = "attempts_last_5m"
            }
        }

        struct EndpointHealth: Encodable {
            var id: String
            var url: String
            var status: EndpointStatus
            var counts: [String: Int]
            var last5m: WindowStatsObject

            enum CodingKeys: String, CodingKey {
                case id, url, status, counts, last5m = "last_5m"
            }
        }

        var totals: [String: Int]
        var retryQueueDepth: Int
        var dead: Int
        var deliveriesPerSecond: Double
        var last5m: WindowStatsObject
        var dispatcherAlive: Bool
        var dispatchers: [Dispatcher]
        var oldestDueSeconds: Int
        var endpoints: [EndpointHealth]

        enum CodingKeys: String, CodingKey {
            case totals, dead, dispatchers, endpoints
            case retryQueueDepth = "retry_queue_depth", deliveriesPerSecond = "deliveries_per_second"
            case last5m = "last_5m", dispatcherAlive = "dispatcher_alive", oldestDueSeconds = "oldest_due_seconds"
        }

        init(_ overview: Overview, _ summaries: [EndpointSummary], now: Date) {
            totals = overview.totals.byName
            retryQueueDepth = overview.totals.queued
            dead = overview.totals.dead
            deliveriesPerSecond = overview.deliveriesPerSecond
            last5m = WindowStatsObject(overview.recent)
            dispatcherAlive = overview.liveWorker(now: now) != nil
            dispatchers = overview.workers.map { worker in
                Dispatcher(
                    id: worker.id, host: worker.host, pid: worker.pid, alive: worker.isAlive(now: now),
                    inFlight: worker.inFlight, attemptsLast5m: overview.recentAttempts(of: worker))
            }
            oldestDueSeconds = overview.oldestDueSeconds(now: now)
            endpoints = summaries.map { summary in
                EndpointHealth(
                    id: summary.endpoint.id, url: summary.endpoint.url, status: summary.endpoint.status,
                    counts: summary.counts.byName, last5m: WindowStatsObject(summary.recent))
            }
        }
    }

    /// `hooktop doctor --json`.
    struct Checkup: Encodable {
        struct Finding: Encodable {
            var check: String
            var verdict: String
            var detail: String
            var repairable: Bool
        }

        var healthy: Bool
        var repaired: [String]
        var findings: [Finding]
    }

    /// A line of `hooktop audit --json`.
    struct AuditLine: Encodable {
        var at: String
        var action: String
        var objectType: String
        var objectId: String
        var detail: String
        var user: String
        var pid: Int
        var via: String
        @ExplicitNull var origin: String?
        @ExplicitNull var tty: String?

        enum CodingKeys: String, CodingKey {
            case at, action, detail, user, pid, via, origin, tty
            case objectType = "object_type", objectId = "object_id"
        }

        init(_ entry: AuditEntry) {
            at = JSONRepresentation.timestamp(entry.at)
            action = entry.action
            objectType = entry.objectType
            objectId = entry.objectId
            detail = entry.detail
            user = entry.user
            pid = entry.pid
            via = entry.via
            origin = entry.origin
            tty = entry.tty
        }
    }

    /// An element of `hooktop token list --json`.
    struct Token: Encodable {
        var id: String
        var name: String
        var createdAt: String
        var createdBy: String
        @ExplicitNull var revokedAt: String?

        enum CodingKeys: String, CodingKey {
            case id, name, createdAt = "created_at", createdBy = "created_by", revokedAt = "revoked_at"
        }

        init(_ token: APIToken) {
            id = token.id
            name = token.name
            createdAt = JSONRepresentation.timestamp(token.createdAt)
            createdBy = token.createdBy
            revokedAt = token.revokedAt.map(JSONRepresentation.timestamp)
        }
    }

    /// What a publish adds to the message it shows: how many deliveries, whether the key was seen before.
    struct Published: Encodable, Sendable {
        var deliveries: Int
        var duplicate: Bool
    }

    /// What `endpoint list --json` adds to each endpoint: its deliveries by status.
    struct Counts: Encodable, Sendable {
        var counts: [String: Int]
    }
}
