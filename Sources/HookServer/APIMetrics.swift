import DeliveryCore
import Foundation
import Prometheus
import Synchronization

/// Prometheus metrics: process counters plus gauges read from the log at scrape time.
final class APIMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let published: Counter
    /// The dispatcher attempts the counters already hold (they move up by what was recorded since).
    private let countedAttempts = Mutex(Dispatcher.RecordedAttempts())

    init() {
        published = registry.makeCounter(descriptor: MetricNameDescriptor(metricName: "hooktop_events_published_total", unitName: "", helpText: "Events accepted by the API."))
    }

    /// The exposition text, with the log's current state and the attempts of this process's `dispatcher`.
    func render(overview: Overview, summaries: [EndpointSummary], dispatcher: Dispatcher?) -> String {
        if let dispatcher { countAttempts(of: dispatcher) }
        for status in DeliveryStatus.allCases {
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "hooktop_deliveries", unitName: "", helpText: "Deliveries by status."), labels: [("status", status.rawValue)]).set(Double(overview.totals[status]))
        }
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "hooktop_endpoints", unitName: "", helpText: "Endpoints by status."), labels: [("status", "paused")])
            .set(Double(overview.pausedEndpoints))
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "hooktop_endpoints", unitName: "", helpText: "Endpoints by status."), labels: [("status", "disabled")])
            .set(Double(overview.disabledEndpoints))
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "hooktop_endpoints", unitName: "", helpText: "Endpoints by status."), labels: [("status", "active")])
            .set(Double(overview.endpointCount - overview.pausedEndpoints - overview.disabledEndpoints))
        let alive = overview.workers.filter { $0.isAlive(now: Date()) }
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "hooktop_dispatchers_alive", unitName: "", helpText: "Dispatchers with a fresh heartbeat."))
            .set(Double(alive.count))
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "hooktop_deliveries_per_second", unitName: "", helpText: "Successful deliveries per second, last minute."))
            .set(overview.deliveriesPerSecond)
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "hooktop_oldest_due_seconds", unitName: "", helpText: "How late the oldest due delivery of an active endpoint is (0 when none is due)."))
            .set(Double(overview.oldestDueSeconds(now: Date())))
        for summary in summaries {
            let labels = [("endpoint", summary.endpoint.id)]
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "hooktop_endpoint_attempts_5m", unitName: "", helpText: "Attempts in the last 5 minutes."), labels: labels).set(Double(summary.recent.attempts))
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "hooktop_endpoint_failures_5m", unitName: "", helpText: "Failed attempts in the last 5 minutes."), labels: labels).set(Double(summary.recent.failures))
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "hooktop_endpoint_queue", unitName: "", helpText: "Pending and retrying deliveries."), labels: labels).set(Double(summary.counts.queued))
        }
        return registry.emitToString()
    }

    /// Adds what `dispatcher` recorded since the last scrape to `hooktop_dispatcher_attempts_total`.
    private func countAttempts(of dispatcher: Dispatcher) {
        let descriptor = MetricNameDescriptor(
            metricName: "hooktop_dispatcher_attempts_total", unitName: "",
            helpText: "Attempts this process's dispatcher recorded, by outcome (success: a 2xx answer).")
        let success = registry.makeCounter(descriptor: descriptor, labels: [("outcome", "success")])
        let failure = registry.makeCounter(descriptor: descriptor, labels: [("outcome", "failure")])
        // Read under the lock: scrapes at once each add their own part, never the same part twice.
        countedAttempts.withLock { counted in
            let now = dispatcher.recordedAttempts
            success.increment(by: Int64(now.successes - counted.successes))
            failure.increment(by: Int64(now.failures - counted.failures))
            counted = now
        }
    }
}
