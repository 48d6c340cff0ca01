public import Foundation
import Postgres

/// `listctl status ISSUE`: where one issue stands, from the ledger.
public struct IssueStatus: Sendable, Codable {
    public var issue: Int64
    public var list: String
    public var subject: String
    public var slug: String
    public var state: String
    public var pausedReason: String?
    public var parts: Int
    /// Deliveries in the ledger (one per subscriber), compacted ones included.
    public var recipients: Int
    public var sent: Int
    public var pending: Int
    public var failed: Int
    /// Of `failed`: the outcome stayed unknown twice.
    public var failedUnknown: Int
    public var bounced: Int
    public var skipped: Int
    public var cancelled: Int
    /// Parts accepted, over every delivery.
    public var messagesSent: Int
    /// Of `recipients`: deliveries to people forgotten since (`subscribers forget`), counted in their
    /// final state from the issue's tally (a pending one as skipped); no address is kept for them.
    public var forgotten: Int
    /// Messages per second between the start and the last recorded message.
    public var rate: Double?
    public var scheduledAt: Date?
    public var startedAt: Date?
    public var finishedAt: Date?

    /// One recipient, for "who didn't get it".
    public struct Recipient: Sendable, Codable {
        public var email: String
        public var state: String
        public var partsSent: Int
        public var parts: Int
        public var attempts: Int
        public var lastError: String?
        public var updatedAt: Date
    }

    /// - Throws: `.notFound` for an unknown issue.
    public static func load(_ issue: Int64, from database: ListDatabase) async throws -> IssueStatus {
        try await database.pool.withConnection { connection in
            guard let row = try await connection.query(
                """
                SELECT i.id, l.slug, i.subject, i.slug, i.state, i.paused_reason,
                       (SELECT count(*) FROM issue_parts p WHERE p.issue_id = i.id),
                       i.scheduled_at, i.started_at, i.sent_at
                FROM issues i JOIN lists l ON l.id = i.list_id WHERE i.id = $1
                """, issue
            ).first else {
                throw ListServiceError(code: .notFound, message: "no issue \(issue); see `listctl issues`")
            }
            // The ledger's rows, and the `sent` ones a compaction moved into summaries (docs/LEDGER.md §11).
            let compacted = try await connection.query(
                """
                SELECT coalesce(sum(cardinality(subscriber_ids)), 0)::bigint,
                       coalesce(sum(cardinality(subscriber_ids) * part_count), 0)::bigint, max(last_sent_at)
                FROM delivery_summaries WHERE issue_id = $1
                """, issue)[0]
            let compactedSent: Int = try compacted.decode(at: 0)
            let compactedMessages: Int = try compacted.decode(at: 1)
            // Deliveries of people forgotten since (schema 0009), by final state.
            let tally = try await connection.query(
                """
                SELECT coalesce(sum(deliveries), 0)::bigint,
                       coalesce(sum(deliveries) FILTER (WHERE state = 'sent'), 0)::bigint,
                       coalesce(sum(deliveries) FILTER (WHERE state = 'failed'), 0)::bigint,
                       coalesce(sum(failed_unknown), 0)::bigint,
                       coalesce(sum(deliveries) FILTER (WHERE state = 'bounced'), 0)::bigint,
                       coalesce(sum(deliveries) FILTER (WHERE state = 'skipped'), 0)::bigint,
                       coalesce(sum(deliveries) FILTER (WHERE state = 'cancelled'), 0)::bigint,
                       coalesce(sum(messages), 0)::bigint, max(last_sent_at)
                FROM delivery_tallies WHERE issue_id = $1
                """, issue)[0]
            let tallied: [Int] = try (0..<8).map { try tally.decode(Int.self, at: $0) }
            let counts = try await connection.query(
                """
                SELECT count(*),
                       count(*) FILTER (WHERE state = 'sent'), count(*) FILTER (WHERE state = 'pending'),
                       count(*) FILTER (WHERE state = 'failed'),
                       count(*) FILTER (WHERE state = 'failed' AND last_error LIKE 'failed-unknown:%'),
                       count(*) FILTER (WHERE state = 'bounced'), count(*) FILTER (WHERE state = 'skipped'),
                       count(*) FILTER (WHERE state = 'cancelled'),
                       coalesce(sum(next_part - 1), 0),
                       max(updated_at) FILTER (WHERE next_part > 1)
                FROM deliveries WHERE issue_id = $1
                """, issue)[0]
            let started: Date? = try row.decode(at: 8)
            let last = [try counts.decode(Date?.self, at: 9), try compacted.decode(Date?.self, at: 2), try tally.decode(Date?.self, at: 8)]
                .compactMap { $0 }.max()
            let messages: Int = try counts.decode(at: 8) + compactedMessages + tallied[7]
            var rate: Double?
            if let started, let last, last.timeIntervalSince(started) > 0.001 { rate = Double(messages) / last.timeIntervalSince(started) }
            return IssueStatus(
                issue: try row.decode(at: 0), list: try row.decode(at: 1), subject: try row.decode(at: 2), slug: try row.decode(at: 3),
                state: try row.decode(at: 4), pausedReason: try row.decode(at: 5), parts: try row.decode(at: 6),
                recipients: try counts.decode(Int.self, at: 0) + compactedSent + tallied[0],
                sent: try counts.decode(Int.self, at: 1) + compactedSent + tallied[1],
                pending: try counts.decode(at: 2),
                failed: try counts.decode(Int.self, at: 3) + tallied[2], failedUnknown: try counts.decode(Int.self, at: 4) + tallied[3],
                bounced: try counts.decode(Int.self, at: 5) + tallied[4], skipped: try counts.decode(Int.self, at: 6) + tallied[5],
                cancelled: try counts.decode(Int.self, at: 7) + tallied[6], messagesSent: messages, forgotten: tallied[0], rate: rate,
                scheduledAt: try row.decode(at: 7), startedAt: started, finishedAt: try row.decode(at: 9))
        }
    }

    /// The recipients of `issue` in `state` (sent, pending, failed, bounced, skipped, cancelled), with their last error.
    public static func recipients(_ issue: Int64, state: String, from database: ListDatabase) async throws -> [Recipient] {
        let states = ["sent", "pending", "failed", "bounced", "skipped", "cancelled"]
        guard states.contains(state) else {
            throw ListServiceError(code: .invalidInput, message: "--recipients \(state): use one of \(states.joined(separator: ", "))")
        }
        _ = try await load(issue, from: database)
        return try await database.pool.withConnection { connection in
            try await connection.query(
                """
                SELECT email, state, parts_sent, part_count, attempts, last_error, updated_at FROM (
                    SELECT email, state, next_part - 1 AS parts_sent, part_count, attempts, last_error, updated_at
                    FROM deliveries WHERE issue_id = $1 AND state = $2
                    UNION ALL
                    -- Compacted: the address is the subscriber's current one, the time the block's last.
                    SELECT sub.email, 'sent', s.part_count, s.part_count, 0, NULL, s.last_sent_at
                    FROM delivery_summaries s CROSS JOIN LATERAL unnest(s.subscriber_ids) AS u (id)
                    JOIN subscribers sub ON sub.id = u.id
                    WHERE s.issue_id = $1 AND $2 = 'sent'
                ) r ORDER BY email
                """, issue, state
            ).map { row in
                Recipient(
                    email: try row.decode(at: 0), state: try row.decode(at: 1), partsSent: try row.decode(at: 2),
                    parts: try row.decode(at: 3), attempts: try row.decode(at: 4), lastError: try row.decode(at: 5),
                    updatedAt: try row.decode(at: 6))
            }
        }
    }
}
