import Foundation

/// A list's public root (shared/DESIGN.md §5a), split into what a request is
/// matched by: the host and the path prefix. A token names its list, so the
/// service finds the list first and then checks the request came in under
/// that list's root: a link of one list never acts under another's.
struct PublicRoot: Sendable, Equatable {
    /// Lower-cased, without a port.
    var host: String
    /// Path segments before the action, e.g. `["weekly"]` for `https://news.example.org/weekly`.
    var prefix: [String]

    /// nil for a URL with no host.
    init?(url text: String) {
        guard let components = URLComponents(string: text), let host = components.host, !host.isEmpty else { return nil }
        self.host = host.lowercased()
        self.prefix = components.path.split(separator: "/").map(String.init)
    }

    init(host: String, prefix: [String]) {
        self.host = host.lowercased()
        self.prefix = prefix
    }

    /// Whether a request for `host` (a Host header or authority, with or without a port) and
    /// `prefix` (the path segments before the action) is under this root.
    func matches(host requestHost: String?, prefix requestPrefix: [String]) -> Bool {
        guard let requestHost else { return false }
        return Self.hostWithoutPort(requestHost) == host && requestPrefix == prefix
    }

    static func hostWithoutPort(_ authority: String) -> String {
        let lowered = authority.lowercased()
        if lowered.hasPrefix("[") {  // [::1]:8080
            return String(lowered.prefix { $0 != "]" }) + "]"
        }
        return String(lowered.prefix { $0 != ":" })
    }
}
