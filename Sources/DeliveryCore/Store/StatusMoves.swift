/// Deliveries created or moving between statuses, per endpoint, applied to `delivery_counts` once per transaction.
///
/// Inserts and status changes (three per delivery: claim, attempt, sometimes a retry) are counted by the statements
/// that make them: a row trigger costs more than the update it counts. Deletes (rare: endpoint removal, pruning) are
/// still counted by a trigger.
struct StatusMoves {
    private struct Key: Hashable {
        var endpointId: String
        var status: String
    }

    private var deltas: [Key: Int] = [:]

    mutating func move(_ endpointId: String, from old: String, to new: String, count: Int = 1) {
        guard old != new, count != 0 else { return }
        deltas[Key(endpointId: endpointId, status: old), default: 0] -= count
        deltas[Key(endpointId: endpointId, status: new), default: 0] += count
    }

    mutating func move(_ endpointId: String, from old: DeliveryStatus, to new: DeliveryStatus, count: Int = 1) {
        move(endpointId, from: old.rawValue, to: new.rawValue, count: count)
    }

    /// `count` new deliveries of `endpointId` in `status`.
    mutating func insert(_ endpointId: String, status: DeliveryStatus, count: Int = 1) {
        guard count != 0 else { return }
        deltas[Key(endpointId: endpointId, status: status.rawValue), default: 0] += count
    }

    /// Adds `other`'s changes to these.
    mutating func merge(_ other: StatusMoves) {
        deltas.merge(other.deltas, uniquingKeysWith: +)
    }

    /// The net changes: endpoint, status, delta.
    var changes: [(endpointId: String, status: String, delta: Int)] {
        deltas.compactMap { $0.value == 0 ? nil : ($0.key.endpointId, $0.key.status, $0.value) }
    }

    /// Writes the net changes; call in the transaction that made them.
    func apply(_ db: Connection) throws {
        for (key, delta) in deltas where delta != 0 {
            try db.run(
                "UPDATE delivery_counts SET n = n + ? WHERE endpoint_id = ? AND status = ?",
                [.from(delta), .text(key.endpointId), .text(key.status)])
        }
    }
}
