import Foundation

/// How to connect: the user's connection string plus listctl's defaults.
///
/// The defaults apply only where the user's string (or libpq's environment
/// variable for the keyword) sets nothing, so `DATABASE_URL` can override any
/// of them: `connect_timeout` (10 s), TCP keepalives (a peer that vanished is
/// noticed in about a minute), `application_name`, and the session settings
/// in the startup `options`. Session settings travel in the startup packet,
/// not as `SET` after connecting, so that `DISCARD ALL` (the pool's reset)
/// returns to them.
public struct PostgresConnectionConfiguration: Sendable {
    /// Any libpq connection string or URI. May hold a password: never log it.
    public var connectionString: String
    /// `application_name`, shown in `pg_stat_activity` (`listctl/import`).
    public var applicationName: String
    /// How long to wait for the server to accept a connection and answer the startup handshake.
    public var connectTimeout: Duration
    /// `statement_timeout`: only for sessions whose statements are known to be
    /// short (HTTP requests, worker claims); `nil` for imports, migrations, exports.
    public var statementTimeout: Duration?
    /// `idle_in_transaction_session_timeout`: the server ends a session that
    /// sits in an open transaction this long, releasing its locks.
    public var idleInTransactionTimeout: Duration?

    public init(
        connectionString: String, applicationName: String = "listctl", connectTimeout: Duration = .seconds(10),
        statementTimeout: Duration? = nil, idleInTransactionTimeout: Duration? = .seconds(60)
    ) {
        self.connectionString = connectionString
        self.applicationName = applicationName
        self.connectTimeout = connectTimeout
        self.statementTimeout = statementTimeout
        self.idleInTransactionTimeout = idleInTransactionTimeout
    }

    /// Where the server is, for messages (never a password).
    public var serverDescription: String {
        (try? PostgresConnectionInfo(parsing: connectionString).serverDescription) ?? "the configured server"
    }

    /// Settings the row decoders rely on. They go last in `options`, so that
    /// they win over a user's `-c TimeZone=...`.
    static let sessionSettings = "-c TimeZone=UTC -c DateStyle=ISO,YMD -c bytea_output=hex -c client_encoding=UTF8"

    /// The keywords and values to connect with, and where that is (for messages).
    func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Resolved {
        let info = try PostgresConnectionInfo(parsing: connectionString)
        var keywords: [(String, String)] = info.parameters.filter { $0.keyword != "options" }.map { ($0.keyword, $0.value) }
        func isSet(_ keyword: String, _ variable: String) -> Bool {
            info[keyword] != nil || environment[variable].map { !$0.isEmpty } == true
        }
        var timeout = connectTimeout
        if let text = info["connect_timeout"] ?? environment["PGCONNECT_TIMEOUT"], let seconds = Int(text.trimmingCharacters(in: .whitespaces)) {
            // libpq: zero or negative means wait forever; minimum 2 s.
            timeout = seconds <= 0 ? .seconds(86_400 * 365) : .seconds(max(seconds, 2))
        }
        keywords.removeAll { $0.0 == "connect_timeout" }
        if !isSet("keepalives", "PGKEEPALIVES") {
            keywords += [("keepalives", "1")]
            if !isSet("keepalives_idle", "") { keywords.append(("keepalives_idle", "30")) }
            if !isSet("keepalives_interval", "") { keywords.append(("keepalives_interval", "10")) }
            if !isSet("keepalives_count", "") { keywords.append(("keepalives_count", "3")) }
        }
        if !isSet("application_name", "PGAPPNAME") { keywords.append(("application_name", applicationName)) }

        var options: [String] = []
        if let statementTimeout { options.append("-c statement_timeout=\(Self.milliseconds(statementTimeout))") }
        if let idleInTransactionTimeout {
            options.append("-c idle_in_transaction_session_timeout=\(Self.milliseconds(idleInTransactionTimeout))")
        }
        if let user = info["options"] ?? environment["PGOPTIONS"], !user.isEmpty { options.append(user) }
        options.append(Self.sessionSettings)
        keywords.append(("options", options.joined(separator: " ")))
        return Resolved(keywords: keywords, connectTimeout: timeout, serverDescription: info.serverDescription)
    }

    struct Resolved: Sendable {
        var keywords: [(String, String)]
        var connectTimeout: Duration
        var serverDescription: String
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }
}
