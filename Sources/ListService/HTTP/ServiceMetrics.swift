import Foundation
import Prometheus

/// `GET /metrics`: Prometheus text (swift-prometheus) of what the service
/// did since it started, and the ledger's rows by state at the time of the
/// scrape. Labels never hold a token, an address or a raw path: routes are
/// named (`unsubscribe`, `confirm`, ...), so the series stay few.
public struct ServiceMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    public init() {}

    /// One answered request.
    func request(route: String, status: Int) {
        registry.makeCounter(name: "listctl_http_requests_total", labels: [("route", route), ("status", String(status))]).increment()
    }

    /// One subscription left, by how (`one-click`, `link`, `preferences`).
    func unsubscribed(source: String) {
        registry.makeCounter(name: "listctl_unsubscribes_total", labels: [("source", source)]).increment()
    }

    /// One request to join, by what became of it (`queued`, `already_active`, `limited`, `honeypot`).
    func subscribeRequest(outcome: String) {
        registry.makeCounter(name: "listctl_subscribe_requests_total", labels: [("outcome", outcome)]).increment()
    }

    /// One confirmation link used, by outcome (`confirmed`, `already_confirmed`, `expired`, `withdrawn`, `unknown`).
    func confirmation(outcome: String) {
        registry.makeCounter(name: "listctl_confirmations_total", labels: [("outcome", outcome)]).increment()
    }

    /// One provider webhook event, by provider and kind (`hard_bounce`, `soft_bounce`, `complaint`, `ignored`, `refused`).
    public func webhookEvent(provider: String, kind: String) {
        registry.makeCounter(name: "listctl_webhook_events_total", labels: [("provider", provider), ("kind", kind)]).increment()
    }

    /// The text of a scrape; `deliveries` are the ledger's rows by state (compacted summaries count as sent).
    func text(deliveries: [(state: String, count: Int64)]) -> String {
        for (state, count) in deliveries {
            registry.makeGauge(name: "listctl_deliveries", labels: [("state", state)]).set(count)
        }
        return registry.emitToString()
    }
}
