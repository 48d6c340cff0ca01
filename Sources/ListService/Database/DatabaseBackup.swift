import Dispatch
public import Foundation
public import Logging
import Migrations
import Postgres

/// The rows of one table, for what a backup holds or a restore replaced.
public struct TableRowCount: Sendable, Hashable, Codable {
    /// `subscribers`, or `schema.table` outside `public`.
    public var table: String
    public var rows: Int64
}

/// What ``DatabaseBackup/backup(to:overwrite:)`` wrote.
public struct BackupSummary: Sendable {
    public var file: URL
    public var bytes: Int64
    /// Where the data came from (never a password).
    public var server: String
    /// Every table in the backup with its rows, counted in the snapshot that was dumped.
    public var tables: [TableRowCount]
    /// The newest migration the database had (`nil`: not a listctl database).
    public var schemaVersion: Int?
}

/// What ``DatabaseBackup/restore(from:force:)`` did.
public struct RestoreSummary: Sendable {
    /// The schema after the restore, compared with this binary's migrations.
    public enum Schema: Sendable, Hashable {
        /// At this binary's version.
        case current
        /// The backup was behind; these migrations were applied now (the embedded cluster).
        case migrated([String])
        /// The backup is behind and these migrations are pending: run `listctl migrate`.
        case behind([String])
        /// The backup comes from a newer listctl (or has edited migrations).
        case incompatible(String)
    }

    public var file: URL
    public var server: String
    /// The non-empty tables that were replaced (only with `force`).
    public var replaced: [TableRowCount]
    /// Every table after the restore with its rows.
    public var tables: [TableRowCount]
    public var schemaVersion: Int?
    public var schema: Schema
}

/// `listctl db backup` and `listctl db restore`: a pg_dump custom-format
/// archive of the whole database, made and read by the installed server's
/// own `pg_dump`, `pg_restore` and `psql`.
///
/// The connection reaches those tools through libpq's environment variables
/// (`PGHOST`, `PGPASSWORD`, …), never their command line, where `ps` would
/// show a password.
public struct DatabaseBackup: Sendable {
    /// listctl's data tables: a row in any of them makes a database "not empty".
    public static let dataTables = [
        "lists", "subscribers", "subscriptions", "suppressions", "imports", "issues", "issue_parts", "deliveries", "events",
        "rate_buckets", "delivery_summaries", "bounce_reports", "consent_requests", "forgotten_addresses", "delivery_tallies",
    ]
    /// Tables listctl creates that hold no one's data.
    static let bookkeepingTables = ["listctl_schema_migrations"]

    public let database: ListDatabase
    let logger: Logger

    public init(database: ListDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    // MARK: Backup

    /// Dumps the database to `file` in pg_dump's custom format.
    ///
    /// The archive is written beside `file` under a temporary name with mode
    /// 0600 (it holds every address), then renamed over it: `file` is either
    /// the whole archive or untouched. Rows are counted in the very snapshot
    /// that pg_dump dumps.
    ///
    /// - Parameter overwrite: replace an existing `file` (`--force`).
    /// - Throws: `ListServiceError` `.conflict` (the file exists), `.notFound`
    ///   (no such directory), `.backup` (pg_dump failed, with its message);
    ///   `PostgresError` when the database cannot be reached.
    public func backup(to file: URL, overwrite: Bool = false) async throws -> BackupSummary {
        let info = try PostgresConnectionInfo(parsing: database.connectionString)
        let server = info.serverDescription
        let path = file.path
        let directory = file.deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue {
                throw ListServiceError(code: .invalidInput, message: "\(path) is a directory: give the path of the backup file to write, such as \(file.appendingPathComponent("listctl.dump").path)")
            }
            if !overwrite {
                throw ListServiceError(code: .conflict, message: "\(path) already exists; nothing was written. Choose another name, or add --force to replace it.")
            }
        }
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ListServiceError(code: .notFound, message: "cannot write \(path): the directory \(directory.path) does not exist.")
        }
        let temporary = directory.appendingPathComponent(".\(file.lastPathComponent).\(UUID().uuidString.prefix(8)).partial").path
        let descriptor = open(temporary, O_CREAT | O_EXCL | O_WRONLY, 0o600)
        guard descriptor >= 0 else {
            throw ListServiceError(code: .backup, message: "cannot write in \(directory.path): \(String(cString: strerror(errno))). Nothing was written.")
        }
        close(descriptor)
        var renamed = false
        defer { if !renamed { unlink(temporary) } }

        logger.info("backing up", metadata: ["server": "\(server)", "file": "\(path)"])
        let environment = Self.toolEnvironment(info, application: "backup")
        let (tables, version) = try await database.pool.withConnection { connection in
            try await connection.transaction { connection in
                // One snapshot for the counts and the dump, so they agree.
                try await connection.execute(script: "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                // The transaction waits for pg_dump, however long it takes: the
                // idle-in-transaction timeout must not end it meanwhile.
                try await connection.execute(script: "SET LOCAL idle_in_transaction_session_timeout = 0")
                let snapshot = try await connection.query("SELECT pg_export_snapshot()")[0].decode(String.self, at: 0)
                let tables = try await Self.countRows(on: connection)
                let version = try await Self.schemaVersion(on: connection)
                let result = try await Self.offPool {
                    try ServerTool.run(ServerTool.Invocation(
                        tool: "pg_dump",
                        arguments: ["--format=custom", "--no-password", "--snapshot=\(snapshot)", "--file=\(temporary)"],
                        environment: environment), code: .backup)
                }
                guard result.status == 0 else {
                    throw ListServiceError(
                        code: .backup,
                        message: "pg_dump could not back up \(server); nothing was written to \(path):\n\(Self.clean(result.output, info))")
                }
                return (tables, version)
            }
        }
        try Self.checkArchive(URL(fileURLWithPath: temporary))
        chmod(temporary, 0o600)
        guard rename(temporary, path) == 0 else {
            throw ListServiceError(code: .backup, message: "cannot rename \(temporary) to \(path): \(String(cString: strerror(errno))).")
        }
        renamed = true
        Self.syncDirectory(directory.path)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
        return BackupSummary(file: file, bytes: bytes, server: server, tables: tables, schemaVersion: version)
    }

    // MARK: Restore

    /// Replaces everything in the database's `public` schema with the backup
    /// in `file`, in one transaction: a restore that fails leaves the
    /// database as it was.
    ///
    /// Refuses a database that is not empty (a row in any of
    /// ``dataTables``, or a table listctl does not know) unless `force`. A
    /// database with listctl's schema and no rows (the embedded cluster just
    /// created) is empty. Ownership and grants are not restored: the objects
    /// belong to the user that restores.
    ///
    /// Afterwards the schema is the backup's. On the embedded cluster, a
    /// schema behind this binary is migrated at once (as opening it would);
    /// an external database is left for `listctl migrate`.
    ///
    /// - Throws: `ListServiceError` `.notFound` (no file), `.invalidInput`
    ///   (not a pg_dump custom-format archive), `.conflict` (not empty, and
    ///   no `force`), `.backup` (pg_restore or psql failed, with their
    ///   message); `PostgresError` when the database cannot be reached.
    public func restore(from file: URL, force: Bool = false) async throws -> RestoreSummary {
        let info = try PostgresConnectionInfo(parsing: database.connectionString)
        let server = info.serverDescription
        try Self.checkArchive(file)
        let list = try await Self.offPool {
            try ServerTool.run(ServerTool.Invocation(tool: "pg_restore", arguments: ["--list", file.path]), code: .backup)
        }
        guard list.status == 0 else {
            throw ListServiceError(
                code: .invalidInput,
                message: "\(file.path) cannot be read as a backup; nothing was changed:\n\(Self.clean(list.output, info))")
        }

        let before = try await database.pool.withConnection { try await Self.countRows(on: $0) }
        let occupied = Self.occupied(before)
        if !occupied.isEmpty && !force {
            throw ListServiceError(
                code: .conflict,
                message: "\(server) is not empty: it has \(Self.describe(occupied)). A restore replaces everything in it: add --force to replace it with \(file.path). Nothing was changed.")
        }

        logger.info("restoring", metadata: ["server": "\(server)", "file": "\(file.path)"])
        let environment = Self.toolEnvironment(info, application: "restore")
        // pg_restore writes the archive as SQL wrapped in BEGIN … COMMIT
        // (--single-transaction); psql runs it after clearing `public` in the
        // same transaction. If pg_restore stops early, no COMMIT arrives and
        // psql's end rolls everything back; an error stops psql likewise.
        let producer = ServerTool.Invocation(
            tool: "pg_restore",
            arguments: ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", "--file=-", file.path])
        let consumer = ServerTool.Invocation(
            tool: "psql",
            arguments: [
                "--no-psqlrc", "--quiet", "--no-password", "--set=ON_ERROR_STOP=1", "--output=/dev/null",
                "--command=BEGIN", "--command=\(Self.clearPublicSchema)", "--file=-",
            ],
            environment: environment)
        let (restore, apply) = try await Self.offPool { try ServerTool.pipeline(producer, into: consumer, code: .backup) }
        guard restore.status == 0, apply.status == 0 else {
            // psql's error is the cause when it stopped first (pg_restore then dies of SIGPIPE).
            let output = apply.status != 0 ? apply.output : restore.output
            let tool = apply.status != 0 ? "psql" : "pg_restore"
            throw ListServiceError(
                code: .backup,
                message: "restoring \(file.path) into \(server) failed and was rolled back; the database is as it was. \(tool) said:\n\(Self.clean(output, info))")
        }

        var schema: RestoreSummary.Schema = .current
        let status = try await database.migrationStatus()
        if let problem = status.problems.first {
            schema = .incompatible(problem.message)
        } else if !status.pending.isEmpty {
            if database.isEmbedded {
                schema = .migrated(try await database.migrate().map(\.label))
            } else {
                schema = .behind(status.pending.map(\.label))
            }
        }
        let (after, version) = try await database.pool.withConnection { connection in
            (try await Self.countRows(on: connection), try await Self.schemaVersion(on: connection))
        }
        return RestoreSummary(
            file: file, server: server, replaced: occupied, tables: after, schemaVersion: version, schema: schema)
    }

    /// Throws unless `file` is a readable pg_dump custom-format archive (it starts with `PGDMP`).
    public static func checkArchive(_ file: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory) else {
            throw ListServiceError(code: .notFound, message: "\(file.path) does not exist; nothing was changed.")
        }
        guard !isDirectory.boolValue else {
            throw ListServiceError(code: .invalidInput, message: "\(file.path) is a directory, not a backup file made by `listctl db backup`.")
        }
        guard let handle = FileHandle(forReadingAtPath: file.path) else {
            throw ListServiceError(code: .invalidInput, message: "cannot read \(file.path): \(String(cString: strerror(errno))).")
        }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 5)) ?? Data()
        guard head == Data("PGDMP".utf8) else {
            var message = "\(file.path) is not a listctl backup: a pg_dump custom-format archive starts with \"PGDMP\". Make one with `listctl db backup FILE`."
            if head.starts(with: Data("--".utf8)) {
                message += " It looks like a plain SQL dump: load that with psql instead."
            }
            throw ListServiceError(code: .invalidInput, message: message + " Nothing was changed.")
        }
    }

    // MARK: Inspecting

    /// Every table outside the system schemas, with its rows.
    static func countRows(on connection: PostgresConnection) async throws -> [TableRowCount] {
        let names = try await connection.query("""
            SELECT format('%I.%I', schemaname, tablename),
                   CASE WHEN schemaname = 'public' THEN tablename ELSE schemaname || '.' || tablename END
            FROM pg_tables
            WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND schemaname NOT LIKE 'pg\\_%'
            ORDER BY 2
            """)
        var counts: [TableRowCount] = []
        for row in names {
            // The identifier comes from the catalog, quoted by format('%I').
            let quoted = try row.decode(String.self, at: 0)
            let rows = try await connection.query("SELECT count(*) FROM \(quoted)")[0].decode(Int64.self, at: 0)
            counts.append(TableRowCount(table: try row.decode(String.self, at: 1), rows: rows))
        }
        return counts
    }

    static func schemaVersion(on connection: PostgresConnection) async throws -> Int? {
        let exists = try await connection.query("SELECT to_regclass('public.listctl_schema_migrations') IS NOT NULL")[0]
            .decode(Bool.self, at: 0)
        guard exists else { return nil }
        return try await connection.query("SELECT max(version) FROM public.listctl_schema_migrations")[0].decode(Int?.self, at: 0)
    }

    /// What makes a database not empty: rows in listctl's data tables, and any table listctl does not know.
    static func occupied(_ tables: [TableRowCount]) -> [TableRowCount] {
        tables.filter { table in
            if dataTables.contains(table.table) { return table.rows > 0 }
            return !bookkeepingTables.contains(table.table)
        }
    }

    /// "120 subscribers, 2 lists and another table (old_stuff)"
    static func describe(_ tables: [TableRowCount]) -> String {
        let known = tables.filter { dataTables.contains($0.table) }.map { "\($0.rows) \($0.table)" }
        let other = tables.filter { !dataTables.contains($0.table) }.map { "\($0.table) (\($0.rows) rows)" }
        var parts = known
        if !other.isEmpty { parts.append("\(other.count == 1 ? "a table" : "tables") listctl does not know: \(other.joined(separator: ", "))") }
        return parts.joined(separator: ", ")
    }

    /// Drops what is in `public` (not the schema itself, which the user may not
    /// own), leaving extensions' objects to their extensions. The archive's
    /// own tables, `listctl_schema_migrations` among them, come back with it.
    static let clearPublicSchema = """
        DO $clear$
        DECLARE
            object record;
        BEGIN
            FOR object IN
                SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                      WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind,
                       format('%I.%I', n.nspname, c.relname) AS name
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                  AND NOT EXISTS (SELECT FROM pg_depend d
                                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
                ORDER BY CASE c.relkind WHEN 'v' THEN 0 WHEN 'm' THEN 1 WHEN 'S' THEN 3 ELSE 2 END
            LOOP
                EXECUTE format('DROP %s IF EXISTS %s CASCADE', object.kind, object.name);
            END LOOP;
            FOR object IN
                SELECT CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END AS kind,
                       p.oid::regprocedure::text AS name
                FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = 'public'
                  AND NOT EXISTS (SELECT FROM pg_depend d
                                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
            LOOP
                EXECUTE format('DROP %s IF EXISTS %s CASCADE', object.kind, object.name);
            END LOOP;
            FOR object IN
                SELECT format('%I.%I', n.nspname, t.typname) AS name
                FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                WHERE n.nspname = 'public' AND t.typtype IN ('c', 'd', 'e', 'r')
                  AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
                  AND NOT EXISTS (SELECT FROM pg_depend d
                                  WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
            LOOP
                EXECUTE format('DROP TYPE IF EXISTS %s CASCADE', object.name);
            END LOOP;
        END
        $clear$
        """

    // MARK: Helpers

    /// The connection as libpq environment variables for a tool, with an
    /// application name for `pg_stat_activity` unless the user chose one.
    static func toolEnvironment(_ info: PostgresConnectionInfo, application: String) -> [String: String] {
        var environment = info.environment
        if environment["PGAPPNAME"] == nil { environment["PGAPPNAME"] = "listctl/\(application)" }
        return environment
    }

    /// A tool's output for a message: trimmed, and never the password, even
    /// if some tool were to echo it.
    static func clean(_ output: String, _ info: PostgresConnectionInfo) -> String {
        var text = output.trimmingCharacters(in: .whitespacesAndNewlines)
        if let password = info["password"], !password.isEmpty {
            text = text.replacingOccurrences(of: password, with: "********")
        }
        return text.isEmpty ? "(no output)" : text
    }

    /// Runs blocking work (a child process) on a thread of its own, off the cooperative pool.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Makes the rename durable.
    static func syncDirectory(_ path: String) {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }
}
