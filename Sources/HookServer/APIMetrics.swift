import DeliveryCore
import Foundation
import Prometheus

/// Prometheus metrics: process counters plus gauges read from the log at scrape time.
final class APIMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let published: Counter

    init() {
        published = registry.makeCounter(name: "hooktop_events_published_total", help: "Events accepted by the API.")
    }

    /// The exposition text, with the log's current state.
    func render(overview: Overview, summaries: [EndpointSummary]) -> String {
        for status in DeliveryStatus.allCases {
            registry.makeGauge(
                name: "hooktop_deliveries", labels: [("status", status.rawValue)], help: "Deliveries by status."
            ).set(Double(overview.totals[status]))
        }
        registry.makeGauge(name: "hooktop_endpoints", labels: [("status", "paused")], help: "Endpoints by status.")
            .set(Double(overview.pausedEndpoints))
        registry.makeGauge(name: "hooktop_endpoints", labels: [("status", "disabled")], help: "Endpoints by status.")
            .set(Double(overview.disabledEndpoints))
        registry.makeGauge(name: "hooktop_endpoints", labels: [("status", "active")], help: "Endpoints by status.")
            .set(Double(overview.endpointCount - overview.pausedEndpoints - overview.disabledEndpoints))
        let alive = overview.workers.filter { $0.isAlive(now: Date()) }
        registry.makeGauge(name: "hooktop_dispatchers_alive", help: "Dispatchers with a fresh heartbeat.")
            .set(Double(alive.count))
        registry.makeGauge(name: "hooktop_deliveries_per_second", help: "Successful deliveries per second, last minute.")
            .set(overview.deliveriesPerSecond)
        for summary in summaries {
            let labels = [("endpoint", summary.endpoint.id)]
            registry.makeGauge(
                name: "hooktop_endpoint_attempts_5m", labels: labels, help: "Attempts in the last 5 minutes."
            ).set(Double(summary.recent.attempts))
            registry.makeGauge(
                name: "hooktop_endpoint_failures_5m", labels: labels, help: "Failed attempts in the last 5 minutes."
            ).set(Double(summary.recent.failures))
            registry.makeGauge(
                name: "hooktop_endpoint_queue", labels: labels, help: "Pending and retrying deliveries."
            ).set(Double(summary.counts.queued))
        }
        return registry.emitToString()
    }
}
