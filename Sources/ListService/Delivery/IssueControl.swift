public import Foundation
import Postgres

/// `listctl cancel | pause | resume | retry | reschedule ISSUE` (docs/LEDGER.md §8).
/// Each is one transaction; what was sent stays recorded.
public struct IssueControl: Sendable {
    public let database: ListDatabase

    public init(database: ListDatabase) { self.database = database }

    /// A scheduled, sending or paused issue sends nothing more. Rows on the
    /// wire keep their lease, so the part in flight is still recorded.
    /// - Returns: how many deliveries were cancelled.
    /// - Throws: `.notFound`, or `.conflict` for an issue that is sent or cancelled already.
    @discardableResult
    public func cancel(_ issue: Int64) async throws -> Int {
        try await change(issue, allowed: ["scheduled", "sending", "paused", "draft"], verb: "cancel") { connection in
            try await connection.query("UPDATE issues SET state = 'cancelled', updated_at = now() WHERE id = $1", issue)
            return try await connection.query(
                "UPDATE deliveries SET state = 'cancelled', updated_at = now() WHERE issue_id = $1 AND state = 'pending' RETURNING 1",
                issue
            ).count
        }
    }

    /// Claims stop; workers finish the part on the wire and let go.
    public func pause(_ issue: Int64, reason: String = "paused by an operator") async throws {
        _ = try await change(issue, allowed: ["sending", "scheduled"], verb: "pause") { connection in
            try await connection.query(
                "UPDATE issues SET state = 'paused', paused_reason = $2, updated_at = now() WHERE id = $1", issue, reason)
            return 0
        }
    }

    /// Back to sending (or scheduled, if it never started); workers are notified.
    public func resume(_ issue: Int64) async throws {
        _ = try await change(issue, allowed: ["paused"], verb: "resume") { connection in
            try await connection.query(
                """
                UPDATE issues SET state = CASE WHEN snapshot_at IS NULL THEN 'scheduled' ELSE 'sending' END,
                                  paused_reason = NULL, updated_at = now()
                WHERE id = $1
                """, issue)
            try await connection.query("SELECT pg_notify($1, $2)", LedgerSQL.channel, String(issue))
            return 0
        }
    }

    /// Failed deliveries back in the queue, due now; a sent issue goes back to sending.
    /// - Returns: how many deliveries were re-queued.
    public func retry(_ issue: Int64) async throws -> Int {
        try await change(issue, allowed: ["sending", "sent", "paused"], verb: "retry") { connection in
            let count = try await connection.query(
                """
                UPDATE deliveries SET state = 'pending', attempts = 0, unknowns = 0, next_attempt_at = now(),
                                      last_error = NULL, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
                WHERE issue_id = $1 AND state = 'failed' RETURNING 1
                """, issue
            ).count
            if count > 0 {
                try await connection.query(
                    "UPDATE issues SET state = 'sending', sent_at = NULL, updated_at = now() WHERE id = $1 AND state = 'sent'", issue)
                try await connection.query("SELECT pg_notify($1, $2)", LedgerSQL.channel, String(issue))
            }
            return count
        }
    }

    /// A scheduled issue goes out at `date` instead (now, if it is past).
    public func reschedule(_ issue: Int64, at date: Date) async throws {
        _ = try await change(issue, allowed: ["scheduled"], verb: "reschedule") { connection in
            try await connection.query(
                "UPDATE issues SET scheduled_at = greatest($2::timestamptz, now()), updated_at = now() WHERE id = $1", issue, date)
            try await connection.query("SELECT pg_notify($1, $2)", LedgerSQL.channel, String(issue))
            return 0
        }
    }

    private func change(
        _ issue: Int64, allowed: Set<String>, verb: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> Int
    ) async throws -> Int {
        try await database.pool.withConnection { connection in
            try await connection.transaction { connection in
                guard let row = try await connection.query("SELECT state FROM issues WHERE id = $1 FOR UPDATE", issue).first else {
                    throw ListServiceError(code: .notFound, message: "no issue \(issue); see `listctl issues`")
                }
                let state: String = try row.decode(at: 0)
                guard allowed.contains(state) else {
                    throw ListServiceError(
                        code: .conflict,
                        message: "issue \(issue) is \(state): cannot \(verb) it (only when \(allowed.sorted().joined(separator: " or ")))")
                }
                return try await body(connection)
            }
        }
    }
}
