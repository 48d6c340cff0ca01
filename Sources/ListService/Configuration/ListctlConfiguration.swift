public import Foundation
public import Postgres

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
    /// `application_name` of listctl's database sessions (`listctl/import`), shown in `pg_stat_activity`.
    public var applicationName = "listctl"
    /// `LISTCTL_STATEMENT_TIMEOUT` (seconds, default 30; 0 turns it off): the
    /// `statement_timeout` of commands whose statements are known to be short
    /// (status, lists, the HTTP service's requests, the worker's claims).
    /// Imports, migrations, exports and backups run without one.
    public var statementTimeout: Duration? = .seconds(30)
    /// `LISTCTL_IDLE_IN_TRANSACTION_TIMEOUT` (seconds, default 60; 0 turns it
    /// off): the server ends a listctl session that sits this long inside an
    /// open transaction, so a stuck process cannot hold locks for ever.
    public var idleInTransactionTimeout: Duration? = .seconds(60)
    /// `LISTCTL_SECRET`: the token secret itself (see ``TokenSecrets``). Never log it.
    public var secret: String?
    /// `LISTCTL_SECRET_FILE`: a file of token secrets, one a line, the first current.
    public var secretFile: String?
    /// `LISTCTL_FORGET_KEY`: the key of the forgotten addresses' hashes (see ``ForgetKeys``). Never log it.
    public var forgetKey: String?
    /// `LISTCTL_FORGET_KEY_FILE`: a file of forget keys, one a line, the first current.
    public var forgetKeyFile: String?

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
        var configuration = ListctlConfiguration(
            databaseURL: value("DATABASE_URL"), home: home, homeIsDefault: isDefault,
            defaultFrom: value("LISTCTL_FROM"), defaultBaseURL: value("LISTCTL_BASE_URL"),
            transport: value("LISTCTL_TRANSPORT"))
        if let seconds = value("LISTCTL_STATEMENT_TIMEOUT").flatMap(Double.init) {
            configuration.statementTimeout = seconds > 0 ? .milliseconds(Int64(seconds * 1000)) : nil
        }
        if let seconds = value("LISTCTL_IDLE_IN_TRANSACTION_TIMEOUT").flatMap(Double.init) {
            configuration.idleInTransactionTimeout = seconds > 0 ? .milliseconds(Int64(seconds * 1000)) : nil
        }
        configuration.secret = value("LISTCTL_SECRET")
        configuration.secretFile = value("LISTCTL_SECRET_FILE")
        configuration.forgetKey = value("LISTCTL_FORGET_KEY")
        configuration.forgetKeyFile = value("LISTCTL_FORGET_KEY_FILE")
        return configuration
    }

    /// How to connect to `connectionString` for a command; `shortStatements`
    /// adds the statement timeout (see ``statementTimeout``).
    public func connectionConfiguration(_ connectionString: String, shortStatements: Bool) -> PostgresConnectionConfiguration {
        PostgresConnectionConfiguration(
            connectionString: connectionString, applicationName: applicationName,
            statementTimeout: shortStatements ? statementTimeout : nil,
            idleInTransactionTimeout: idleInTransactionTimeout)
    }
}
