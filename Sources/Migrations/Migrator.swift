public import Logging
public import Postgres
import Foundation

/// A migration recorded as applied in the database.
public struct AppliedMigration: Sendable, Hashable {
    public let version: Int
    public let name: String
    public let checksum: String
    public let appliedAt: Date
}

/// Applied and pending migrations of one database, as `listctl migrate status` shows them.
public struct MigrationStatus: Sendable {
    public let applied: [AppliedMigration]
    public let pending: [Migration]
    /// Non-empty when the database cannot be used by this binary (drift, newer schema).
    public let problems: [MigrationError]

    public var isCurrent: Bool { pending.isEmpty && problems.isEmpty }
}

/// Applies `sql/migrations` in order, each in its own transaction, recording
/// version, name, checksum and time in `listctl_schema_migrations`. Runs under
/// a session advisory lock, so two `listctl migrate` at once are safe.
public struct Migrator: Sendable {
    /// Advisory-lock key shared by every listctl that migrates ("listmigr").
    public static let lockKey: Int64 = 0x6c69_7374_6d69_6772
    public let migrations: [Migration]
    let logger: Logger

    public init(migrations: [Migration] = Migration.embedded, logger: Logger = Logger(label: "listctl.migrations")) {
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.logger = logger
    }

    /// Applies every pending migration. Refuses, changing nothing, a database
    /// with checksum drift or with a migration this binary does not know.
    ///
    /// - Returns: the migrations applied now (empty if it was current).
    /// - Throws: `MigrationError`.
    @discardableResult
    public func migrate(on connection: PostgresConnection) async throws -> [Migration] {
        try await connection.withAdvisoryLock(Self.lockKey) {
            try await connection.execute(script: """
                CREATE TABLE IF NOT EXISTS listctl_schema_migrations (
                    version     integer PRIMARY KEY,
                    name        text NOT NULL,
                    checksum    text NOT NULL,
                    applied_at  timestamptz NOT NULL DEFAULT now()
                )
                """)
            let status = try await status(on: connection)
            if let problem = status.problems.first { throw problem }
            var done: [Migration] = []
            for migration in status.pending {
                logger.info("applying migration", metadata: ["migration": "\(migration.label)"])
                do {
                    try await connection.transaction { connection in
                        try await connection.execute(script: migration.sql)
                        try await connection.query(
                            "INSERT INTO listctl_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                            migration.version, migration.name, migration.checksum)
                    }
                } catch {
                    throw MigrationError(
                        code: .migrationFailed,
                        message: "migration \(migration.label) failed and was rolled back; nothing after it was applied",
                        migration: migration.label, underlying: error)
                }
                done.append(migration)
            }
            return done
        }
    }

    /// Reads what is applied and compares it with this binary's migrations.
    public func status(on connection: PostgresConnection) async throws -> MigrationStatus {
        let exists = try await connection.query("SELECT to_regclass('listctl_schema_migrations') IS NOT NULL")
            .first?.decode(Bool.self, at: 0) ?? false
        var applied: [AppliedMigration] = []
        if exists {
            for row in try await connection.query(
                "SELECT version, name, checksum, applied_at FROM listctl_schema_migrations ORDER BY version")
            {
                applied.append(AppliedMigration(
                    version: try row.decode(at: 0), name: try row.decode(at: 1),
                    checksum: try row.decode(at: 2), appliedAt: try row.decode(at: 3)))
            }
        }
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        var problems: [MigrationError] = []
        for record in applied {
            guard let migration = known[record.version] else {
                problems.append(MigrationError(
                    code: .unknownMigration,
                    message: "the database has migration \(record.version) (\(record.name)), which this listctl does not know: it was migrated by a newer listctl. Upgrade listctl; nothing was changed.",
                    migration: "\(record.version)_\(record.name)"))
                continue
            }
            if migration.checksum != record.checksum {
                problems.append(MigrationError(
                    code: .checksumMismatch,
                    message: "migration \(migration.label) was applied with checksum \(record.checksum.prefix(12))… but this listctl's file has \(migration.checksum.prefix(12))…: sql/migrations/\(migration.label).sql was edited after it was applied. Restore the original file and add a new migration instead; nothing was changed.",
                    migration: migration.label))
            }
        }
        let appliedVersions = Set(applied.map(\.version))
        let pending = migrations.filter { !appliedVersions.contains($0.version) }
        return MigrationStatus(applied: applied, pending: pending, problems: problems)
    }

    /// Throws unless the database is exactly at this binary's schema: used
    /// before any command on an external database, which listctl never
    /// migrates by itself.
    public func requireCurrent(on connection: PostgresConnection) async throws {
        let status = try await status(on: connection)
        if let problem = status.problems.first { throw problem }
        if !status.pending.isEmpty {
            let names = status.pending.map(\.label).joined(separator: ", ")
            throw MigrationError(
                code: .behind,
                message: "the database is behind this listctl: \(status.pending.count) migration(s) pending (\(names)). Run `listctl migrate`.")
        }
    }
}
