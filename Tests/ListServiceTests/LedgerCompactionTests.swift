import Foundation
import ListService
import Postgres
import TestSupport
import Testing

@Suite("Ledger compaction")
struct LedgerCompactionTests {
    /// An issue of list `main`, sent, with `count` sent deliveries (2 parts each).
    static func sentIssue(_ count: Int, on connection: PostgresConnection) async throws -> Int64 {
        try await connection.execute(script: """
            INSERT INTO lists (slug, name, from_address) VALUES ('main', 'Main', 'news@example.org');
            INSERT INTO subscribers (email, email_key) SELECT 'p' || g || '@example.net', 'p' || g || '@example.net'
                FROM generate_series(1, \(count)) g;
            INSERT INTO issues (list_id, subject, source, content_sha256, state, sent_at, started_at)
                SELECT id, 'Big', '# Big', repeat('a', 64), 'sent', now() - interval '40 days', now() - interval '40 days' FROM lists;
            INSERT INTO deliveries (issue_id, subscriber_id, email, part_count, next_part, state, updated_at)
                SELECT (SELECT id FROM issues), id, email, 2, 3, 'sent', now() - interval '40 days' FROM subscribers;
            """)
        return try await connection.query("SELECT id FROM issues")[0].decode(at: 0)
    }

    @Test("the compacting session terminated mid-way: the issue is wholly as it was; compacted again: every id once")
    func terminatedMidway() async throws {
        try await withMigratedDatabase { database, connection in
            let count = 300_000
            let issue = try await Self.sentIssue(count, on: connection)
            let compaction = Task { try await LedgerCompaction(database: database).compact() }
            // Wait for the move statement to be running, then end its session.
            var terminated = false
            for _ in 0..<400 where !terminated {
                terminated = try await connection.query(
                    """
                    SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity
                    WHERE query LIKE '%INSERT INTO delivery_summaries%' AND state = 'active' AND pid <> pg_backend_pid()
                      AND datname = current_database()  -- not another test's migration, whose script has the same words
                    """)[0].decode(Bool.self, at: 0)
                if !terminated { try await Task.sleep(for: .milliseconds(5)) }
            }
            #expect(terminated, "the move statement was seen running and terminated")
            let result = await compaction.result
            if terminated { #expect(throws: PostgresError.self) { try result.get() } }
            #expect(try await connection.query("SELECT count(*) FROM deliveries")[0].decode(Int.self, at: 0) == count)
            #expect(try await connection.query("SELECT count(*) FROM delivery_summaries")[0].decode(Int.self, at: 0) == 0)
            #expect(try await connection.query("SELECT compacted_at IS NULL FROM issues")[0].decode(Bool.self, at: 0))

            let outcomes = try await LedgerCompaction(database: database).compact()
            #expect(outcomes.map(\.issue) == [issue] && outcomes.first?.deliveriesCompacted == count)
            #expect(outcomes.first?.summaryRows == count / 10_000 + 1, "one row per block of 10,000 ids")
            let summary = try await connection.query(
                """
                SELECT count(*), count(DISTINCT id), min(id), max(id)
                FROM delivery_summaries, unnest(subscriber_ids) AS id
                """)[0]
            #expect(try summary.decode(Int.self, at: 0) == count)
            #expect(try summary.decode(Int.self, at: 1) == count)
            #expect(try await connection.query("SELECT count(*) FROM deliveries")[0].decode(Int.self, at: 0) == 0)
            let status = try await IssueStatus.load(issue, from: database)
            #expect(status.sent == count && status.recipients == count && status.messagesSent == 2 * count)
            // Sorted within each block, and every block's ids belong to it.
            #expect(try await connection.query(
                """
                SELECT count(*) FROM delivery_summaries
                WHERE subscriber_ids <> ARRAY(SELECT x FROM unnest(subscriber_ids) x ORDER BY x)
                   OR EXISTS (SELECT 1 FROM unnest(subscriber_ids) x WHERE x / 10000 <> id_block)
                """)[0].decode(Int.self, at: 0) == 0)
            #expect(try await LedgerCompaction(database: database).compact().isEmpty, "a second run finds nothing")
        }
    }
}
