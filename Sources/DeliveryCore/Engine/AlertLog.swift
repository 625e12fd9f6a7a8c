import Foundation

/// What the alert monitor needs of a storage engine: the checks' inputs, alerts recorded once across processes, and
/// their sends claimed with a lease so that one process sends each.
public protocol AlertLog: Sendable {
    /// The state the alert checks read: endpoints with their health, dead deliveries since `deadSince`, and the
    /// newest health alert of each; dispatchers; the oldest due delivery.
    func alertInputs(now: Date, deadSince: Date) async throws -> AlertInputs
    /// Records `alert` unless one with its type, object and key exists or, with a debounce, one of its type and
    /// object was recorded less than that long ago; atomically, so that of several processes one records it.
    /// With `owner`, the alert is recorded leased to it (a process that sends it at once).
    /// - Returns: the recorded alert, or nil when it was not recorded.
    func recordAlert(_ alert: NewAlert, status: AlertSendStatus, leasedTo owner: String?, now: Date) async throws -> Alert?
    /// One alert by id.
    func alert(id: String) async throws -> Alert?
    /// Leases pending alerts due for a send to `owner`, oldest first.
    func claimAlerts(owner: String, now: Date, lease: TimeInterval, limit: Int) async throws -> [Alert]
    /// Records a send's result: `status`, the destinations that took it so far, the error, and when to try again.
    func finishAlert(
        sequence: Int64, owner: String, status: AlertSendStatus, sentTo: [String], error: String?,
        nextAttemptAt: Date?, now: Date
    ) async throws
    /// Marks a pending alert `unsent` (nothing took it in time); false when it was no longer pending.
    func abandonAlert(sequence: Int64, reason: String, now: Date) async throws -> Bool
}
