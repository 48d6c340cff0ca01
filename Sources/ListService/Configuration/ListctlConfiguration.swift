public import Foundation

/// Settings from the environment (12-factor); the CLI overrides them with flags.
public struct ListctlConfiguration: Sendable {
    /// `DATABASE_URL`: any libpq connection string or URI. `nil` → the embedded cluster.
    public var databaseURL: String?
    /// Where the embedded cluster and other state live.
    public var home: URL
    /// `true` when `home` was chosen by default rather than set by `LISTCTL_HOME`.
    public var homeIsDefault: Bool
    /// `LISTCTL_FROM`: default sender ("Name <addr>") for lists that set none.
    public var defaultFrom: String?
    /// `LISTCTL_BASE_URL`: default public base URL for lists that set none.
    public var defaultBaseURL: String?
    /// `LISTCTL_TRANSPORT`: where mail goes; `nil` → `outbox://./outbox`.
    public var transport: String?

    public init(
        databaseURL: String?, home: URL, homeIsDefault: Bool = false, defaultFrom: String? = nil,
        defaultBaseURL: String? = nil, transport: String? = nil
    ) {
        self.databaseURL = databaseURL
        self.home = home
        self.homeIsDefault = homeIsDefault
        self.defaultFrom = defaultFrom
        self.defaultBaseURL = defaultBaseURL
        self.transport = transport
    }

    /// Reads the process environment.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        -> ListctlConfiguration
    {
        func value(_ key: String) -> String? {
            guard let value = environment[key]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
            return value
        }
        let home: URL
        var isDefault = false
        if let explicit = value("LISTCTL_HOME") {
            home = URL(fileURLWithPath: explicit, isDirectory: true)
        } else if getuid() == 0 {
            // root's home is closed to the postgres user that must run the server.
            home = URL(fileURLWithPath: "/var/lib/listctl", isDirectory: true)
            isDefault = true
        } else if let xdg = value("XDG_DATA_HOME") {
            home = URL(fileURLWithPath: xdg, isDirectory: true).appendingPathComponent("listctl", isDirectory: true)
            isDefault = true
        } else {
            let userHome = value("HOME") ?? NSHomeDirectory()
            home = URL(fileURLWithPath: userHome, isDirectory: true)
                .appendingPathComponent(".local/share/listctl", isDirectory: true)
            isDefault = true
        }
        return ListctlConfiguration(
            databaseURL: value("DATABASE_URL"), home: home, homeIsDefault: isDefault,
            defaultFrom: value("LISTCTL_FROM"), defaultBaseURL: value("LISTCTL_BASE_URL"),
            transport: value("LISTCTL_TRANSPORT"))
    }
}
