import Foundation
import ListService
import Logging
import Migrations
import Postgres
import TestSupport
import Testing

/// Every public table's rows as (count, md5 of the sorted rows): equal
/// fingerprints mean equal contents.
func tableFingerprints(_ connection: PostgresConnection) async throws -> [String: String] {
    var fingerprints: [String: String] = [:]
    for row in try await connection.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1") {
        let table = try row.decode(String.self, at: 0)
        let digest = try await connection.query(
            "SELECT count(*)::text || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '-') FROM public.\"\(table)\" t")
        fingerprints[table] = try digest[0].decode(String.self, at: 0)
    }
    return fingerprints
}

/// Fills a migrated database with a bit of everything: lists, subscribers,
/// subscriptions and suppressions from imports, past issues with a part, a
/// delivery, a compacted summary, events, a bounce report.
func populate(_ database: ListDatabase, on connection: PostgresConnection) async throws {
    let importer = SubscriberImporter(database: database)
    _ = try await importer.importFile(at: importFixture("tinyletter_subscribers.csv"), options: ImportOptions(list: "main"), on: connection)
    _ = try await importer.importFile(at: importFixture("unsubscribed_members_export_1a2b3c.csv"), options: ImportOptions(list: "main"), on: connection)
    _ = try await importer.importFile(at: importFixture("cleaned_members_export_1a2b3c.csv"), options: ImportOptions(list: "main"), on: connection)
    _ = try await importer.importFile(at: importFixture("tinyletter_archive.csv"), options: ImportOptions(list: "letters"), on: connection)
    try await connection.execute(script: """
        INSERT INTO suppressions (email_key, reason, detail) VALUES ('manual@example.com', 'manual', 'asked by phone');
        INSERT INTO rate_buckets (transport, rate, burst, tokens) VALUES ('smtp://relay.example.com:587', 14, 14, 3.5);
        INSERT INTO issue_parts (issue_id, part, subject, html, text, html_bytes, encoded_html_bytes, text_bytes)
            SELECT id, 1, subject, '<p>Hi</p>', 'Hi', 9, 9, 2 FROM issues ORDER BY id LIMIT 1;
        INSERT INTO deliveries (issue_id, subscriber_id, email, part_count)
            SELECT (SELECT min(id) FROM issues), id, email, 1 FROM subscribers ORDER BY id LIMIT 2;
        INSERT INTO delivery_summaries (issue_id, id_block, part_count, subscriber_ids, first_sent_at, last_sent_at)
            SELECT (SELECT max(id) FROM issues), 0, 1, ARRAY(SELECT id FROM subscribers WHERE id < 10000 ORDER BY id LIMIT 3), now(), now();
        INSERT INTO events (kind, list_id, email_key, detail)
            SELECT 'confirmed', id, 'ada@example.com', '{"by": "test"}' FROM lists WHERE slug = 'main';
        INSERT INTO bounce_reports (email_key, issue_id, kind, list_id, subscriber_id, source, traced_by, detail)
            SELECT d.email_key, i.issue_id, 'soft_bounce', 1, d.id, 'dsn', 'trace', '4.2.2 mailbox full'
            FROM (SELECT id, email_key FROM subscribers ORDER BY id LIMIT 1) d, (SELECT min(id) AS issue_id FROM issues) i;
        INSERT INTO consent_requests (list_id, subscriber_id, source, client_address, user_agent)
            SELECT (SELECT min(id) FROM lists), id, 'form', '192.0.2.1', 'Test/1.0' FROM subscribers ORDER BY id LIMIT 1;
        INSERT INTO forgotten_addresses (hash, key_id) VALUES (sha256('forgotten'), 12345);
        INSERT INTO delivery_tallies (issue_id, state, deliveries, messages, last_sent_at)
            SELECT min(id), 'sent', 2, 2, now() FROM issues;
        """)
}

/// A migrated test database with a `ListDatabase` and a connection, closed and dropped (awaited).
func withMigratedDatabase<T>(
    isolation: isolated (any Actor)? = #isolation, _ body: (ListDatabase, PostgresConnection) async throws -> T
) async throws -> T {
    try await withTemporaryDatabase { test in
        try await withConnection(to: test) { connection in
            try await Migrator().migrate(on: connection)
            let database = ListDatabase(
                pool: PostgresPool(connectionString: test.url, maximumConnections: 2), connectionString: test.url,
                isEmbedded: false, logger: Logger(label: "test"))
            do {
                let value = try await body(database, connection)
                await database.close()
                return value
            } catch {
                await database.close()
                throw error
            }
        }
    }
}

private func backupFile(_ name: String = "list.dump") throws -> URL {
    try makeTemporaryDirectory("backup").appendingPathComponent(name)
}

@Suite("Backup and restore")
struct BackupTests {
    let logger = Logger(label: "test")

    @Test("backup of a populated database, restore into an empty one: every table's rows equal")
    func roundTrip() async throws {
        try await withMigratedDatabase { source, sourceConnection in
            try await populate(source, on: sourceConnection)
            let expected = try await tableFingerprints(sourceConnection)
            #expect(expected.count == 16)
            #expect(expected.values.allSatisfy { !$0.hasPrefix("0:") }, "every table has rows: \(expected)")

            let file = try backupFile()
            let summary = try await DatabaseBackup(database: source, logger: logger).backup(to: file)
            #expect(summary.bytes > 0)
            #expect(summary.schemaVersion == Migration.embedded.map(\.version).max())
            let subscribers = try await sourceConnection.query("SELECT count(*) FROM subscribers")[0].decode(Int64.self, at: 0)
            #expect(summary.tables.first { $0.table == "subscribers" }?.rows == subscribers)
            let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            #expect(try FileManager.default.contentsOfDirectory(atPath: file.deletingLastPathComponent().path) == [file.lastPathComponent],
                    "no temporary file left beside it")

            try await withMigratedDatabase { target, targetConnection in
                let restored = try await DatabaseBackup(database: target, logger: logger).restore(from: file)
                #expect(restored.replaced.isEmpty)
                #expect(restored.schema == .current)
                #expect(try await tableFingerprints(targetConnection) == expected)
                // Identity sequences came along: a new row gets a new id.
                let maxID = try await targetConnection.query("SELECT max(id) FROM subscribers")[0].decode(Int64.self, at: 0)
                let newID = try await targetConnection.query(
                    "INSERT INTO subscribers (email, email_key) VALUES ('new@example.com', 'new@example.com') RETURNING id")[0]
                    .decode(Int64.self, at: 0)
                #expect(newID > maxID)
                // The append-only trigger came back too.
                await #expect(throws: PostgresError.self) {
                    try await targetConnection.query("UPDATE events SET kind = 'sent'")
                }
            }
        }
    }

    @Test("restore into a database that is not empty is refused and changes nothing; --force replaces it")
    func nonEmptyTarget() async throws {
        try await withMigratedDatabase { source, sourceConnection in
            try await populate(source, on: sourceConnection)
            let expected = try await tableFingerprints(sourceConnection)
            let file = try backupFile()
            _ = try await DatabaseBackup(database: source, logger: logger).backup(to: file)

            try await withMigratedDatabase { target, targetConnection in
                try await ListStore(database: target).create("other", MailingListChanges(name: "Other"))
                try await targetConnection.execute(script: "INSERT INTO subscribers (email, email_key) VALUES ('zed@example.com', 'zed@example.com')")
                let before = try await tableFingerprints(targetConnection)
                let error = await #expect(throws: ListServiceError.self) {
                    try await DatabaseBackup(database: target, logger: logger).restore(from: file)
                }
                #expect(error?.code == .conflict)
                #expect(error?.message.contains("1 subscribers") == true, "\(error?.message ?? "")")
                #expect(error?.message.contains("--force") == true)
                #expect(try await tableFingerprints(targetConnection) == before)

                let forced = try await DatabaseBackup(database: target, logger: logger).restore(from: file, force: true)
                #expect(Set(forced.replaced.map(\.table)) == ["lists", "subscribers"])
                #expect(try await tableFingerprints(targetConnection) == expected)
            }
        }
    }

    @Test("a table listctl does not know makes a database not empty; --force clears it")
    func unexpectedTable() async throws {
        try await withMigratedDatabase { source, _ in
            let file = try backupFile()
            _ = try await DatabaseBackup(database: source, logger: logger).backup(to: file)
            try await withMigratedDatabase { target, targetConnection in
                try await targetConnection.execute(script: "CREATE TABLE notes (body text); CREATE VIEW notes_view AS SELECT * FROM notes")
                let error = await #expect(throws: ListServiceError.self) {
                    try await DatabaseBackup(database: target, logger: logger).restore(from: file)
                }
                #expect(error?.message.contains("notes") == true, "\(error?.message ?? "")")
                _ = try await DatabaseBackup(database: target, logger: logger).restore(from: file, force: true)
                #expect(try await targetConnection.query("SELECT to_regclass('notes') IS NULL")[0].decode(Bool.self, at: 0))
            }
        }
    }

    @Test("restore into a database with no schema at all, then the schema is the backup's")
    func intoBareDatabase() async throws {
        try await withMigratedDatabase { source, sourceConnection in
            try await populate(source, on: sourceConnection)
            let expected = try await tableFingerprints(sourceConnection)
            let file = try backupFile()
            _ = try await DatabaseBackup(database: source, logger: logger).backup(to: file)
            try await withTemporaryDatabase { bare in
                let database = ListDatabase(
                    pool: PostgresPool(connectionString: bare.url, maximumConnections: 2), connectionString: bare.url,
                    isEmbedded: false, logger: logger)
                let restored = try await DatabaseBackup(database: database, logger: logger).restore(from: file)
                #expect(restored.schema == .current)
                let actual = try await withConnection(to: bare) { connection in try await tableFingerprints(connection) }
                #expect(actual == expected)
                await database.close()
            }
        }
    }

    @Test("a backup whose schema is behind: restored, and the external database is left for `listctl migrate`")
    func behindSchema() async throws {
        try await withMigratedDatabase { source, sourceConnection in
            // Pretend the latest migration had not been applied.
            let latest = Migration.embedded.map(\.version).max() ?? 1
            try await sourceConnection.query("DELETE FROM listctl_schema_migrations WHERE version = $1", latest)
            let file = try backupFile()
            _ = try await DatabaseBackup(database: source, logger: logger).backup(to: file)
            try await withMigratedDatabase { target, _ in
                let restored = try await DatabaseBackup(database: target, logger: logger).restore(from: file)
                guard case .behind(let pending) = restored.schema else {
                    Issue.record("expected .behind, got \(restored.schema)")
                    return
                }
                #expect(pending.count == 1)
            }
        }
    }

    @Test("backup never overwrites without force, and writes nothing on refusal")
    func noOverwrite() async throws {
        try await withMigratedDatabase { source, _ in
            let file = try backupFile()
            try Data("precious".utf8).write(to: file)
            let error = await #expect(throws: ListServiceError.self) {
                try await DatabaseBackup(database: source, logger: logger).backup(to: file)
            }
            #expect(error?.code == .conflict)
            #expect(error?.message.contains(file.path) == true && error?.message.contains("--force") == true)
            #expect(try Data(contentsOf: file) == Data("precious".utf8))
            _ = try await DatabaseBackup(database: source, logger: logger).backup(to: file, overwrite: true)
            try DatabaseBackup.checkArchive(file)
            #expect((try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int) == 0o600)

            let missingDirectory = file.deletingLastPathComponent().appendingPathComponent("no/such/dir/x.dump")
            let notFound = await #expect(throws: ListServiceError.self) {
                try await DatabaseBackup(database: source, logger: logger).backup(to: missingDirectory)
            }
            #expect(notFound?.code == .notFound)
        }
    }

    @Test("a file that is not an archive, a missing file, a truncated archive: clear errors, nothing changed")
    func badArchives() async throws {
        try await withMigratedDatabase { source, sourceConnection in
            try await populate(source, on: sourceConnection)
            let file = try backupFile()
            _ = try await DatabaseBackup(database: source, logger: logger).backup(to: file)
            let csv = try backupFile("export.csv")
            try Data("Email,Name\nann@example.com,Ann\n".utf8).write(to: csv)
            let sql = try backupFile("dump.sql")
            try Data("--\n-- PostgreSQL database dump\n--\n".utf8).write(to: sql)
            let bytes = try Data(contentsOf: file)
            let truncated = try backupFile("truncated.dump")
            try bytes.prefix(bytes.count * 2 / 3).write(to: truncated)

            try await withMigratedDatabase { target, targetConnection in
                try await targetConnection.execute(script: "INSERT INTO suppressions (email_key, reason) VALUES ('keep@example.com', 'manual')")
                let before = try await tableFingerprints(targetConnection)
                let backup = DatabaseBackup(database: target, logger: logger)

                let notArchive = await #expect(throws: ListServiceError.self) { try await backup.restore(from: csv, force: true) }
                #expect(notArchive?.code == .invalidInput)
                #expect(notArchive?.message.contains(csv.path) == true && notArchive?.message.contains("PGDMP") == true)
                let plain = await #expect(throws: ListServiceError.self) { try await backup.restore(from: sql, force: true) }
                #expect(plain?.message.contains("plain SQL dump") == true)
                let missing = await #expect(throws: ListServiceError.self) {
                    try await backup.restore(from: csv.deletingLastPathComponent().appendingPathComponent("nope.dump"), force: true)
                }
                #expect(missing?.code == .notFound)
                let broken = await #expect(throws: ListServiceError.self) { try await backup.restore(from: truncated, force: true) }
                #expect(broken?.message.contains(truncated.path) == true, "\(broken?.message ?? "")")
                #expect(try await tableFingerprints(targetConnection) == before, "a failed restore leaves the database as it was")
            }
        }
    }

    @Test("the password never appears in an error")
    func noPasswordInErrors() async throws {
        let admin = try TestDatabase.adminURL()
        let info = try PostgresConnectionInfo(parsing: admin)
        let host = info["host"] ?? "127.0.0.1"
        let port = info["port"] ?? "5432"
        let secret = "hunter2-\(UUID().uuidString.prefix(6))"
        let url = "postgresql://postgres:\(secret)@\(host):\(port)/no_such_database_\(UUID().uuidString.prefix(6).lowercased())?connect_timeout=5"
        let database = ListDatabase(
            pool: PostgresPool(connectionString: url, maximumConnections: 1), connectionString: url, isEmbedded: false, logger: logger)
        let file = try backupFile()
        let backupError = await #expect(throws: (any Error).self) {
            try await DatabaseBackup(database: database, logger: logger).backup(to: file)
        }
        try await withMigratedDatabase { source, _ in
            _ = try await DatabaseBackup(database: source, logger: logger).backup(to: file)
        }
        let restoreError = await #expect(throws: (any Error).self) {
            try await DatabaseBackup(database: database, logger: logger).restore(from: file)
        }
        await database.close()
        for error in [backupError, restoreError] {
            let text = "\(error.map { "\($0)" } ?? "")"
            #expect(text.contains("no_such_database"), "\(text)")
            #expect(!text.contains(secret), "\(text)")
        }
        #expect(!FileManager.default.fileExists(atPath: file.path + ".partial"))
    }

    @Test("the embedded cluster (as root too): backup, restore into a new one without --force, rows equal")
    func embeddedRoundTrip() async throws {
        let homeA = try makeTemporaryDirectory("embedded-a")
        let homeB = try makeTemporaryDirectory("embedded-b")
        defer {
            try? FileManager.default.removeItem(at: homeA)
            try? FileManager.default.removeItem(at: homeB)
        }
        let clusterA = EmbeddedPostgres(home: homeA, noSync: true)
        let clusterB = EmbeddedPostgres(home: homeB, noSync: true)
        do {
            let file = try backupFile()
            let a = try await ListDatabase.open(ListctlConfiguration(databaseURL: nil, home: homeA), logger: logger)
            let expected: [String: String]
            do {
                let connection = try await PostgresConnection.connect(to: a.connectionString)
                try await populate(a, on: connection)
                expected = try await tableFingerprints(connection)
                await connection.close()
                let summary = try await DatabaseBackup(database: a, logger: logger).backup(to: file)
                #expect(summary.server.contains(clusterA.socketDirectory.path))
                await a.close()
            } catch {
                await a.close()
                throw error
            }

            // A cluster just created and migrated counts as empty.
            let b = try await ListDatabase.open(ListctlConfiguration(databaseURL: nil, home: homeB), logger: logger)
            do {
                let restored = try await DatabaseBackup(database: b, logger: logger).restore(from: file)
                #expect(restored.replaced.isEmpty)
                #expect(restored.schema == .current)
                let connection = try await PostgresConnection.connect(to: b.connectionString)
                #expect(try await tableFingerprints(connection) == expected)
                await connection.close()
                await b.close()
            } catch {
                await b.close()
                throw error
            }
        } catch {
            _ = try? clusterA.stop()
            _ = try? clusterB.stop()
            throw error
        }
        try clusterA.stop()
        try clusterB.stop()
    }
}
