import Dispatch
public import Logging
public import Postgres
public import Migrations

/// The opened subscriber store: a connection pool on a database whose schema
/// matches this binary.
public struct ListDatabase: Sendable {
    public let pool: PostgresPool
    /// The connection string in use (for `listctl db url`; may hold a password,
    /// so never log it).
    public let connectionString: String
    public let isEmbedded: Bool
    public let logger: Logger

    /// Opens the configured database.
    ///
    /// With `DATABASE_URL` set, the schema must already be current: listctl
    /// never migrates an external database by itself (`listctl migrate` does).
    /// Without it, the embedded cluster is created, started and migrated on demand.
    ///
    /// Connections are checked before use and replaced when the server
    /// restarted; see ``PostgresPool``.
    ///
    /// - Parameters:
    ///   - requireSchema: `false` for commands that manage the schema
    ///     themselves (`listctl migrate`): then nothing is checked or applied.
    ///   - shortStatements: the command's statements are all short: its
    ///     sessions get ``ListctlConfiguration/statementTimeout``.
    /// - Throws: `ListServiceError`, `MigrationError` or `PostgresError`.
    public static func open(
        _ configuration: ListctlConfiguration, requireSchema: Bool = true, maximumConnections: Int = 4,
        shortStatements: Bool = false, logger: Logger
    ) async throws -> ListDatabase {
        func pool(_ url: String) -> PostgresPool {
            PostgresPool(
                configuration: configuration.connectionConfiguration(url, shortStatements: shortStatements),
                maximumConnections: maximumConnections, logger: logger)
        }
        if let url = configuration.databaseURL {
            let database = ListDatabase(pool: pool(url), connectionString: url, isEmbedded: false, logger: logger)
            if requireSchema {
                try await database.pool.withConnection { try await Migrator(logger: logger).requireCurrent(on: $0) }
            }
            return database
        }
        let embedded = EmbeddedPostgres(home: configuration.home, logger: logger)
        // initdb and pg_ctl block: keep them off the cooperative pool.
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result { _ = try embedded.start() })
            }
        }
        let database = ListDatabase(
            pool: pool(embedded.connectionURL), connectionString: embedded.connectionURL, isEmbedded: true, logger: logger)
        if requireSchema {
            try await database.pool.withConnection { connection in
                _ = try await Migrator(logger: logger).migrate(on: connection)
            }
        }
        return database
    }

    public init(pool: PostgresPool, connectionString: String, isEmbedded: Bool, logger: Logger) {
        self.pool = pool
        self.connectionString = connectionString
        self.isEmbedded = isEmbedded
        self.logger = logger
    }

    public func close() async { await pool.close() }
}

extension ListDatabase {
    /// Applies pending migrations (`listctl migrate`); returns those applied now.
    @discardableResult
    public func migrate() async throws -> [Migration] {
        try await pool.withConnection { try await Migrator(logger: logger).migrate(on: $0) }
    }

    /// Applied and pending migrations (`listctl migrate status`).
    public func migrationStatus() async throws -> MigrationStatus {
        try await pool.withConnection { try await Migrator(logger: logger).status(on: $0) }
    }
}
