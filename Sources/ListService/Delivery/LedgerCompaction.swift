import Foundation
import Postgres

/// `listctl db compact` (docs/LEDGER.md §11): the `sent` ledger rows of a
/// finished issue become a few rows of `delivery_summaries`, one per block
/// of 10,000 subscriber ids holding the sorted ids. Status and "who got it"
/// read both, so they answer the same before and after. Failed, bounced,
/// skipped and cancelled rows stay as they are.
public struct LedgerCompaction: Sendable {
    /// What compaction did (or, dry, would do) to one issue.
    public struct Outcome: Sendable, Codable, Equatable {
        public var issue: Int64
        public var subject: String
        /// `sent` rows moved out of `deliveries`.
        public var deliveriesCompacted: Int
        /// Summary rows written or merged into.
        public var summaryRows: Int
        public var dryRun: Bool
    }

    public let database: ListDatabase

    public init(database: ListDatabase) { self.database = database }

    /// Compacts `issue`, or every sent or cancelled issue that finished more
    /// than `olderThanDays` days ago and still has `sent` rows. Each issue is
    /// one transaction under its row lock: a crash leaves it wholly compacted
    /// or wholly as it was, and a second run finds nothing to do.
    ///
    /// - Throws: `.notFound` for an unknown issue; `.conflict` for a named
    ///   issue that is still scheduled, sending or paused, or has pending deliveries.
    public func compact(issue: Int64? = nil, olderThanDays: Double = 30, dryRun: Bool = false) async throws -> [Outcome] {
        guard olderThanDays >= 0, olderThanDays.isFinite else {
            throw ListServiceError(code: .invalidInput, message: "--older-than \(olderThanDays): must be a number of days, 0 or more")
        }
        let candidates: [Int64] = try await database.pool.withConnection { connection in
            if let issue {
                try await Self.check(issue, on: connection)
                return [issue]
            }
            return try await connection.query(
                """
                SELECT i.id FROM issues i
                WHERE i.state IN ('sent', 'cancelled')
                  AND coalesce(i.sent_at, i.updated_at) < now() - make_interval(secs => $1)
                  AND EXISTS (SELECT 1 FROM deliveries d WHERE d.issue_id = i.id AND d.state = 'sent')
                  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.issue_id = i.id AND d.state = 'pending')
                ORDER BY i.id
                """, olderThanDays * 86_400
            ).map { try $0.decode(Int64.self, at: 0) }
        }
        var outcomes: [Outcome] = []
        for id in candidates {
            if let outcome = try await compactOne(id, dryRun: dryRun, named: issue != nil) { outcomes.append(outcome) }
        }
        return outcomes
    }

    private func compactOne(_ issue: Int64, dryRun: Bool, named: Bool) async throws -> Outcome? {
        try await database.pool.withConnection { connection in
            try await connection.transaction(end: dryRun ? .rollback : .commit) { connection in
                // Under the issue's lock, again: a `retry` may have sent it back to the queue meanwhile.
                guard let row = try await connection.query(
                    "SELECT subject, state FROM issues WHERE id = $1 FOR UPDATE", issue
                ).first else { return nil }
                let state: String = try row.decode(at: 1)
                let pending = try await connection.query(
                    "SELECT 1 FROM deliveries WHERE issue_id = $1 AND state = 'pending' LIMIT 1", issue)
                guard ["sent", "cancelled"].contains(state), pending.isEmpty else {
                    if named { try await Self.check(issue, on: connection) }
                    return nil
                }
                let counts = try await connection.query(Self.move, issue)[0]
                let moved: Int = try counts.decode(at: 0)
                guard moved > 0 else { return nil }
                if !dryRun { try await connection.query("UPDATE issues SET compacted_at = now() WHERE id = $1", issue) }
                return Outcome(
                    issue: issue, subject: try row.decode(at: 0), deliveriesCompacted: moved,
                    summaryRows: try counts.decode(at: 1), dryRun: dryRun)
            }
        }
    }

    /// Refuses an issue that is unknown or not finished.
    private static func check(_ issue: Int64, on connection: PostgresConnection) async throws {
        guard let row = try await connection.query(
            """
            SELECT state, EXISTS (SELECT 1 FROM deliveries d WHERE d.issue_id = i.id AND d.state = 'pending')
            FROM issues i WHERE id = $1
            """, issue
        ).first else {
            throw ListServiceError(code: .notFound, message: "no issue \(issue); see `listctl issues`")
        }
        let state: String = try row.decode(at: 0)
        let pending: Bool = try row.decode(at: 1)
        guard ["sent", "cancelled"].contains(state), !pending else {
            throw ListServiceError(
                code: .conflict,
                message: "issue \(issue) is \(state)\(pending ? " with deliveries pending" : ""): only a sent or cancelled issue with nothing pending can be compacted; nothing was changed")
        }
    }

    /// Moves issue $1's `sent` rows into summaries, merging with any from an
    /// earlier compaction (after a `retry`). Returns (rows moved, summary rows).
    static let move = """
        WITH moved AS (
            DELETE FROM deliveries WHERE issue_id = $1 AND state = 'sent'
            RETURNING subscriber_id, part_count, updated_at
        ), blocks AS (
            SELECT subscriber_id / 10000 AS id_block, part_count, count(*) AS n,
                   array_agg(subscriber_id ORDER BY subscriber_id) AS ids, min(updated_at) AS first_at, max(updated_at) AS last_at
            FROM moved GROUP BY 1, 2
        ), written AS (
            INSERT INTO delivery_summaries AS s (issue_id, id_block, part_count, subscriber_ids, first_sent_at, last_sent_at)
            SELECT $1, id_block, part_count, ids, first_at, last_at FROM blocks
            ON CONFLICT (issue_id, id_block, part_count) DO UPDATE SET
                subscriber_ids = ARRAY(SELECT DISTINCT x FROM unnest(s.subscriber_ids || EXCLUDED.subscriber_ids) AS x ORDER BY x),
                first_sent_at = least(s.first_sent_at, EXCLUDED.first_sent_at),
                last_sent_at = greatest(s.last_sent_at, EXCLUDED.last_sent_at)
            RETURNING 1
        )
        SELECT coalesce((SELECT sum(n) FROM blocks), 0)::bigint, (SELECT count(*) FROM written)
        """
}
