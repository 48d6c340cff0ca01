import Foundation
import Migrations
import Postgres
import TestSupport
import Testing

@Suite("Migrations")
struct MigratorTests {
    @Test("the binary carries 0001 and a fresh database gets it applied")
    func freshDatabase() async throws {
        #expect(Migration.embedded.first?.label == "0001_initial")
        try await withTemporaryDatabase { database in
            let connection = try await database.connect()
            let before = try await Migrator().status(on: connection)
            #expect(before.applied.isEmpty)
            #expect(before.pending.count == Migration.embedded.count)
            let applied = try await Migrator().migrate(on: connection)
            #expect(applied.map(\.version) == Migration.embedded.map(\.version))
            let after = try await Migrator().status(on: connection)
            #expect(after.isCurrent)
            #expect(after.applied.first?.name == "initial")
            #expect(after.applied.first?.checksum == Migration.embedded.first?.checksum)
            #expect(try await Migrator().migrate(on: connection).isEmpty)
            try await Migrator().requireCurrent(on: connection)
            await connection.close()
        }
    }

    @Test("two concurrent migrate runs apply each migration once")
    func concurrentRuns() async throws {
        try await withTemporaryDatabase { database in
            let results = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        try await withConnection(to: database) { try await Migrator().migrate(on: $0).count }
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(results.sorted() == [0, Migration.embedded.count])
            let connection = try await database.connect()
            #expect(try await connection.query("SELECT count(*) FROM listctl_schema_migrations")[0].decode(Int.self, at: 0) == Migration.embedded.count)
            await connection.close()
        }
    }

    @Test("checksum drift and unknown migrations are refused with nothing changed")
    func drift() async throws {
        try await withTemporaryDatabase { database in
            let connection = try await database.connect()
            let first = Migration(version: 1, name: "first", sql: "CREATE TABLE a (n int);")
            try await Migrator(migrations: [first]).migrate(on: connection)

            let edited = Migration(version: 1, name: "first", sql: "CREATE TABLE a (n bigint);")
            let second = Migration(version: 2, name: "second", sql: "CREATE TABLE b (n int);")
            let drift = await #expect(throws: MigrationError.self) {
                try await Migrator(migrations: [edited, second]).migrate(on: connection)
            }
            #expect(drift?.code == .checksumMismatch)
            #expect(drift?.message.contains("0001_first") == true)
            #expect(try await connection.query("SELECT to_regclass('b') IS NULL")[0].decode(Bool.self, at: 0))

            try await Migrator(migrations: [first, second]).migrate(on: connection)
            let unknown = await #expect(throws: MigrationError.self) {
                try await Migrator(migrations: [first]).requireCurrent(on: connection)
            }
            #expect(unknown?.code == .unknownMigration)
            let third = Migration(version: 3, name: "third", sql: "CREATE TABLE c (n int);")
            let behind = await #expect(throws: MigrationError.self) {
                try await Migrator(migrations: [first, second, third]).requireCurrent(on: connection)
            }
            #expect(behind?.code == .behind)
            #expect(behind?.message.contains("listctl migrate") == true)
            await connection.close()
        }
    }

    @Test("a failing migration rolls back whole and stops the run")
    func failingMigration() async throws {
        try await withTemporaryDatabase { database in
            let connection = try await database.connect()
            let good = Migration(version: 1, name: "good", sql: "CREATE TABLE a (n int);")
            let bad = Migration(version: 2, name: "bad", sql: "CREATE TABLE b (n int); SELECT * FROM nowhere;")
            let later = Migration(version: 3, name: "later", sql: "CREATE TABLE c (n int);")
            let error = await #expect(throws: MigrationError.self) {
                try await Migrator(migrations: [good, bad, later]).migrate(on: connection)
            }
            #expect(error?.code == .migrationFailed)
            #expect(error?.migration == "0002_bad")
            let row = try await connection.query("SELECT to_regclass('a') IS NOT NULL, to_regclass('b') IS NULL, to_regclass('c') IS NULL")[0]
            #expect(try row.decode(Bool.self, at: 0) && row.decode(Bool.self, at: 1) && row.decode(Bool.self, at: 2))
            await connection.close()
        }
    }

    @Test("schema constraints hold in the database")
    func constraints() async throws {
        try await withTemporaryDatabase { database in
            let connection = try await database.connect()
            try await Migrator().migrate(on: connection)
            try await connection.query("INSERT INTO lists (slug, name) VALUES ('main', 'Main')")
            try await connection.query("INSERT INTO subscribers (email, email_key) VALUES ('Ann@example.com', 'ann@example.com')")
            let duplicate = await #expect(throws: PostgresError.self) {
                try await connection.query("INSERT INTO subscribers (email, email_key) VALUES ('ANN@example.com', 'ann@example.com')")
            }
            #expect(duplicate?.sqlState == "23505")
            let badKey = await #expect(throws: PostgresError.self) {
                try await connection.query("INSERT INTO subscribers (email, email_key) VALUES ('b@example.com', 'B@example.com')")
            }
            #expect(badKey?.sqlState == "23514")
            let badStatus = await #expect(throws: PostgresError.self) {
                try await connection.query("INSERT INTO subscriptions (list_id, subscriber_id, status) SELECT l.id, s.id, 'maybe' FROM lists l, subscribers s")
            }
            #expect(badStatus?.sqlState == "23514")
            let orphan = await #expect(throws: PostgresError.self) {
                try await connection.query("INSERT INTO subscriptions (list_id, subscriber_id, status) VALUES (999, 999, 'active')")
            }
            #expect(orphan?.sqlState == "23503")
            try await connection.query("INSERT INTO events (kind) VALUES ('imported')")
            let rewrite = await #expect(throws: PostgresError.self) { try await connection.query("UPDATE events SET kind = 'sent'") }
            #expect(rewrite?.message.contains("append-only") == true)
            await connection.close()
        }
    }
}
