import DeliveryCore
import Foundation

extension DashboardState {
    /// Takes in a loaded snapshot: the header always, list data when it answers the current request.
    mutating func apply(_ snapshot: DataSnapshot) {
        let current = dataRequest
        let request = snapshot.request
        changeCounter = snapshot.changeCounter
        lastQueryMilliseconds = snapshot.queryMilliseconds
        if let overview = snapshot.overview { self.overview = overview }
        if let error = snapshot.error { say(error, .error) }
        if let endpoints = snapshot.endpoints { self.endpoints = endpoints }
        if let failureGroups = snapshot.failureGroups { self.failureGroups = failureGroups }
        if let deliveries = snapshot.deliveries, request.deliveries == current.deliveries, request.view == view {
            self.deliveries = deliveries
            deliveriesQuery = request.deliveries
            if let head = snapshot.deliveriesHead, let anchor = lists[.deliveries]?.anchor {
                newRows = head.count { $0.id > anchor }
            } else {
                newRows = 0
            }
        }
        if let samples = snapshot.failureSamples, let query = request.failureSamples, query == current.failureSamples {
            groupDeliveries = samples
            groupDeliveriesQuery = query
        }
        if let retryQueue = snapshot.retryQueue, request.retryQueue == current.retryQueue {
            self.retryQueue = retryQueue
        }
        if let messages = snapshot.messages, request.messages == current.messages { self.messages = messages }
        if let entries = snapshot.audit, request.audit == current.audit { auditEntries = entries }
        if let alerts = snapshot.alerts, current.alerts { alertEntries = alerts }
        if let progress = snapshot.recovery, var watch = recoveryWatch, progress.endpointId == watch.endpointId,
            progress.startedAt >= watch.startedAt.addingTimeInterval(-5)
        {
            followRecovery(progress, &watch)
        }
        if let id = detail?.deliveryId, request.detailId == id {
            detailData = snapshot.detail
        }
        if let watch, let watched = snapshot.watched, watched.delivery.id == watch.deliveryId,
            watched.attempts.count > watch.previousAttempts, let attempt = watched.attempts.last
        {
            self.watch = nil
            say(
                "#\(watch.deliveryId) redelivered → \(Self.describe(attempt))", attempt.succeeded ? .success : .error,
                for: 8)
        }
        if request.view == view, request.deliveries == current.deliveries, request.retryQueue == current.retryQueue,
            request.messages == current.messages, request.failureSamples == current.failureSamples
        {
            loaded = true
        }
        syncSelection()
    }

    /// The footer's live line for a recovery, then its outcome once every queued delivery was attempted.
    private mutating func followRecovery(_ progress: RecoveryProgress, _ watch: inout RecoveryWatch) {
        let dot = glyphs == .ascii ? "-" : "\u{00B7}"
        let failures = progress.failed > 0 ? " (\(progress.topError ?? "error"))" : ""
        let counts = "\(progress.delivered) ok \(dot) \(progress.failed) failed\(failures)"
            + (progress.other > 0 ? " \(dot) \(progress.other) cancelled" : "")
        let name = endpointName(progress.endpointId)
        if progress.isDone {
            recoveryWatch = nil
            say(
                "recover \(name) done: \(progress.sent) sent \(dot) \(counts)", progress.failed == 0 ? .success : .error,
                for: 60)
            return
        }
        if progress.sent != watch.lastSent {
            watch.lastSent = progress.sent
            watch.lastChange = now
        }
        recoveryWatch = watch
        let stalled = now.timeIntervalSince(watch.lastChange) > 60 && overview?.liveWorker(now: now) == nil
        say(
            "recover \(name): \(progress.sent)/\(progress.total) sent \(dot) \(counts)"
                + (stalled ? " \(dot) no dispatcher alive: nothing is sending" : ""),
            stalled ? .error : .info, for: 3600)
    }

    /// `200 in 35 ms` or `connect_refused after 3 ms`.
    static func describe(_ attempt: Attempt) -> String {
        let latency = Formatting.latency(Double(attempt.durationMilliseconds))
        if let status = attempt.responseStatus { return "\(status) in \(latency)" }
        return "\(attempt.errorClass?.rawValue ?? "error") after \(latency)"
    }
}
