import DeliveryCore
import Foundation

/// What an operator calls an endpoint: its description, else the host and path of its URL, else its id.
///
/// Endpoint ids are random (`ep_8Z88Xl2mGA…`): nobody recognises them in a list. The id stays visible in the
/// delivery detail and in the filter syntax (`ep:<id>`).
public enum EndpointName {
    /// The display name of `endpoint` (sanitised).
    public static func of(_ endpoint: Endpoint) -> String {
        let description = Formatting.trimmingWhitespace(Sanitizer.line(endpoint.description))
        if !description.isEmpty { return description }
        return hostAndPath(endpoint.url) ?? Sanitizer.line(endpoint.id)
    }

    /// `api.example.com/hooks/in` from `https://api.example.com/hooks/in?x=1`, or `nil` when `url` has no host.
    public static func hostAndPath(_ url: String) -> String? {
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
            return nil
        }
        var text = host
        if let port = components.port { text += ":\(port)" }
        let path = components.path
        if !path.isEmpty, path != "/" { text += path }
        return Sanitizer.line(text)
    }
}

extension DashboardState {
    /// The display name of the endpoint `id`, from the loaded endpoints (the id itself when it is not loaded).
    public func endpointName(_ id: String) -> String {
        if let detailData, detailData.endpoint.id == id { return EndpointName.of(detailData.endpoint) }
        if let name = endpointNames[id] { return name }
        return Sanitizer.line(id)
    }

    /// Display names by endpoint id (the first summary wins for a repeated id).
    static func names(of endpoints: [EndpointSummary]) -> [String: String] {
        var names: [String: String] = [:]
        names.reserveCapacity(endpoints.count)
        for summary in endpoints where names[summary.endpoint.id] == nil {
            names[summary.endpoint.id] = EndpointName.of(summary.endpoint)
        }
        return names
    }
}
