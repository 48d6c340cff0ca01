import Foundation
@testable import ListService
import Postgres
import Synchronization
import TestSupport
import Testing

/// Imports beside other writers: what they lock, and what they do with rows
/// that someone else wrote after the import planned.
@Suite("Import concurrency")
struct ImportConcurrencyTests {
    /// AccessExclusiveLock on the four tables, held by anyone in this database.
    static let strongLocks = """
        SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
        WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND c.relname IN ('subscribers', 'subscriptions', 'lists', 'suppressions')
          AND l.mode = 'AccessExclusiveLock'
        """

    /// Whether backend `pid` holds ROW EXCLUSIVE on subscriptions (it has written there).
    static func isWriting(_ pid: Int, on connection: PostgresConnection) async throws -> Bool {
        try await connection.query(
            """
            SELECT count(*) > 0 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
            WHERE l.pid = $1 AND c.relname = 'subscriptions' AND l.mode = 'RowExclusiveLock' AND l.granted
            """, pid)[0].decode(at: 0)
    }

    static func file(rows: Int) throws -> URL {
        var text = "email,name\n"
        text.reserveCapacity(rows * 40)
        for index in 0..<rows { text += "reader\(index)@example.com,Reader \(index)\n" }
        return try writeTemporaryFile(Array(text.utf8), name: "big.csv")
    }

    /// A subscription that is not in the big file, on another list, for the concurrent UPDATE.
    static func otherSubscription(_ harness: ImportHarness) async throws {
        try await harness.run(url: try writeTemporaryFile(Array("email\nbystander@example.com\n".utf8), name: "other.csv"), ImportOptions(list: "other"))
    }

    static let unsubscribeBystander = """
        UPDATE subscriptions SET status = 'unsubscribed', unsubscribed_at = now(), status_changed_at = now()
        WHERE subscriber_id = (SELECT id FROM subscribers WHERE email_key = 'bystander@example.com')
        """

    @Test("During an import of 300,000 new rows no ACCESS EXCLUSIVE lock is taken on the four tables, and another subscription's UPDATE commits at once")
    func importBlocksNoOne() async throws {
        try await ImportHarness.with { harness in
            try await Self.otherSubscription(harness)
            let url = try Self.file(rows: 300_000)
            let importing = try await harness.test.connect()
            let monitor = try await harness.test.connect()
            let writer = try await harness.test.connect()
            let pid: Int = try await importing.query("SELECT pg_backend_pid()")[0].decode(at: 0)
            try await writer.execute(script: "SET lock_timeout = '20s'")

            let finished = Flag()
            let updateCommitted = Flag()
            var options = ImportOptions()
            // Every lock the import takes is held now; the UPDATE must not wait for any.
            options.beforeCommit = {
                let start = ContinuousClock.now
                try await writer.query(Self.unsubscribeBystander)
                let waited = ContinuousClock.now - start
                #expect(waited < .seconds(5), "the UPDATE waited \(waited) for the import")
                let importFinished = finished.isSet
                #expect(!importFinished)
                let writing = try await Self.isWriting(pid, on: monitor)
                #expect(writing, "the import's transaction is still open, holding its writes")
                let strong = try await count(Self.strongLocks, on: monitor)
                #expect(strong == 0)
                updateCommitted.set()
            }
            let started = ContinuousClock.now
            let task = Task {
                defer { finished.set() }
                return try await harness.importer.importFile(at: url, options: options, on: importing)
            }
            // Poll pg_locks for the whole import, from another connection.
            var polls = 0
            var strong = 0
            var sawWriting = false
            while !finished.isSet {
                strong = max(strong, try await count(Self.strongLocks, on: monitor))
                if !updateCommitted.isSet, try await Self.isWriting(pid, on: monitor) { sawWriting = true }
                polls += 1
                try await Task.sleep(for: .milliseconds(20))
            }
            let summary = try await task.value
            let duration = ContinuousClock.now - started
            print("import of 300,000 rows: \(duration), \(polls) polls of pg_locks")
            await importing.close()
            await monitor.close()
            await writer.close()
            #expect(summary.inserted == 300_000)
            #expect(strong == 0, "ACCESS EXCLUSIVE seen on one of the four tables")
            #expect(polls > 10)
            #expect(sawWriting, "polling covered the merge")
            let committed = updateCommitted.isSet
            #expect(committed)
            #expect(try await harness.statuses(list: "other") == ["bystander@example.com": "unsubscribed"])
        }
    }

    @Test("With exclusive: true the import does lock the tables, and the same UPDATE has to wait")
    func exclusiveLocks() async throws {
        try await ImportHarness.with { harness in
            try await Self.otherSubscription(harness)
            let url = try Self.file(rows: 2_000)
            let importing = try await harness.test.connect()
            let monitor = try await harness.test.connect()
            let writer = try await harness.test.connect()
            try await writer.execute(script: "SET lock_timeout = '2s'")
            var options = ImportOptions(exclusive: true)
            options.bulkKeyThreshold = 1
            options.beforeCommit = {
                let strong = try await count(Self.strongLocks, on: monitor)
                #expect(strong >= 3)
                let error = await #expect(throws: PostgresError.self) { try await writer.query(Self.unsubscribeBystander) }
                #expect(error?.sqlState == "55P03", "lock_not_available: the UPDATE waited for the import")
            }
            let summary = try await harness.importer.importFile(at: url, options: options, on: importing)
            await importing.close()
            await monitor.close()
            await writer.close()
            #expect(summary.inserted == 2_000)
            #expect(try await harness.statuses(list: "other") == ["bystander@example.com": "active"])
        }
    }

    @Test("Changes committed between planning and merge survive: an unsubscribe, a suppression, a sign-up of the same address")
    func changesMeanwhile() async throws {
        try await ImportHarness.with { harness in
            try await harness.run(url: try writeTemporaryFile(Array("email,name\nann@example.com,Ann\nben@example.com,Ben\n".utf8), name: "first.csv"))
            try await harness.connection.query(
                "UPDATE subscriptions SET status = 'pending' WHERE subscriber_id = (SELECT id FROM subscribers WHERE email_key = 'ben@example.com')")
            let other = try await harness.test.connect()
            var options = ImportOptions()
            options.afterPlanning = {
                // Ann (planned: a new name only) and Ben (planned: pending → active) unsubscribe.
                try await other.query(
                    """
                    UPDATE subscriptions SET status = 'unsubscribed', unsubscribed_at = now()
                    WHERE subscriber_id IN (SELECT id FROM subscribers WHERE email_key IN ('ann@example.com', 'ben@example.com'))
                    """)
                // Cat signs up to this list, Eve to another one: both new rows of the file.
                try await other.execute(script: """
                    INSERT INTO subscribers (email, email_key, name) VALUES ('Cat@example.com', 'cat@example.com', 'Cat Signup'),
                                                                            ('eve@example.com', 'eve@example.com', '');
                    INSERT INTO lists (slug, name) VALUES ('other', 'Other');
                    INSERT INTO subscriptions (list_id, subscriber_id, status)
                    SELECT (SELECT id FROM lists WHERE slug = 'main'), id, 'pending' FROM subscribers WHERE email_key = 'cat@example.com';
                    INSERT INTO subscriptions (list_id, subscriber_id, status)
                    SELECT (SELECT id FROM lists WHERE slug = 'other'), id, 'active' FROM subscribers WHERE email_key = 'eve@example.com';
                    """)
                // Dan complains (from a previous send), before the import writes his subscription.
                try await other.query("INSERT INTO suppressions (email_key, reason) VALUES ('dan@example.com', 'complaint')")
            }
            let file = "email,name\nann@example.com,Ann A\nben@example.com,Ben\ncat@example.com,Cat\ndan@example.com,Dan\neve@example.com,Eve\n"
            let summary = try await harness.run(url: try writeTemporaryFile(Array(file.utf8), name: "second.csv"), options)
            await other.close()

            #expect(try await harness.statuses() == [
                "ann@example.com": "unsubscribed", "ben@example.com": "unsubscribed",
                "Cat@example.com": "active", "dan@example.com": "complained", "eve@example.com": "active",
            ])
            #expect(try await harness.statuses(list: "other") == ["eve@example.com": "active"])
            #expect(try await count("SELECT count(*) FROM subscribers", on: harness.connection) == 5)
            let cat = try await harness.connection.query("SELECT email, name FROM subscribers WHERE email_key = 'cat@example.com'")[0]
            #expect(try cat.decode(String.self, at: 0) == "Cat@example.com", "the stored spelling stays")
            #expect(try cat.decode(String.self, at: 1) == "Cat", "the file's name is merged in, as for any stored subscriber")
            let ann = try await harness.connection.query("SELECT name FROM subscribers WHERE email_key = 'ann@example.com'")[0]
            #expect(try ann.decode(String.self, at: 0) == "Ann A")
            // Counts: Ann updated (name), Cat updated (merged: pending → active), Ben unchanged
            // (his planned change lost to the unsubscribe), Dan and Eve new on the list.
            #expect(summary.inserted == 2)
            #expect(summary.updated == 2)
            #expect(summary.unchanged == 1)
            #expect(summary.suppressed == 3)
            #expect(try await count("SELECT count(*) FROM events WHERE kind = 'complained' AND email_key = 'dan@example.com'", on: harness.connection) == 1)
            #expect(try await count("SELECT count(*) FROM events WHERE kind = 'unsubscribed' AND detail->>'source' = 'import'", on: harness.connection) == 0,
                    "the import recorded no unsubscribe it did not make")
        }
    }

    @Test("The psql script has every merge statement, and its --exclusive variant the lock and the key swap")
    func psqlScriptInSync() {
        let script = ImportSQL.psqlScript()
        for step in ImportSQL.merge { #expect(script.contains(step.sql)) }
        #expect(!script.contains(ImportSQL.dropSubscriptionKeys))
        #expect(!script.contains(ImportSQL.lockExclusive))
        let exclusive = ImportSQL.psqlScript(exclusive: true)
        #expect(exclusive.contains(ImportSQL.dropSubscriptionKeys) && exclusive.contains(ImportSQL.lockExclusive))
    }
}

/// A flag set by one task and read by another.
final class Flag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
