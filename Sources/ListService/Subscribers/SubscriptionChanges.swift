public import Postgres
import Foundation

/// A person's own changes to their subscriptions, as the links in their mail
/// ask for them (docs/SUPPRESSION.md). Each is idempotent.
public struct SubscriptionChanges: Sendable {
    public let database: ListDatabase

    public init(database: ListDatabase) { self.database = database }

    /// What an unsubscribe did.
    public enum UnsubscribeOutcome: Sendable, Equatable {
        /// Active or pending before; unsubscribed now, with an event.
        case unsubscribed
        /// Mail had already stopped on this list (unsubscribed, bounced, complained): nothing changed.
        case alreadyStopped(status: String)
        /// No such subscription (the person or the list was deleted since the mail went out).
        case unknown
    }

    /// Unsubscribes the subscriber from the list: this subscription only.
    /// - Parameter source: how the person asked (`link`, `one-click`), kept in the event.
    public func unsubscribe(listID: Int64, subscriberID: Int64, issueID: Int64?, source: String) async throws -> UnsubscribeOutcome {
        try await database.pool.withConnection { connection in
            let rows = try await connection.query(Self.unsubscribe, listID, subscriberID, issueID, source)
            guard let row = rows.first else { return .unknown }
            let before: String = try row.decode(at: 0)
            let changed: Bool = try row.decode(at: 1)
            return changed ? .unsubscribed : .alreadyStopped(status: before)
        }
    }

    /// One statement: the change, its event, and the status before (for the page's answer).
    static let unsubscribe = """
        WITH before AS (
            SELECT s.status, sub.email_key FROM subscriptions s JOIN subscribers sub ON sub.id = s.subscriber_id
            WHERE s.list_id = $1 AND s.subscriber_id = $2
            FOR UPDATE OF s
        ), changed AS (
            UPDATE subscriptions SET status = 'unsubscribed', status_changed_at = now(), unsubscribed_at = now()
            WHERE list_id = $1 AND subscriber_id = $2 AND status IN ('active', 'pending')
            RETURNING subscriber_id
        ), event AS (
            INSERT INTO events (kind, list_id, subscriber_id, issue_id, email_key, detail)
            SELECT 'unsubscribed', $1, $2, i.id, b.email_key, jsonb_build_object('source', $4::text)
            FROM changed, before b LEFT JOIN issues i ON i.id = $3::bigint
            RETURNING 1
        )
        SELECT b.status, EXISTS (SELECT 1 FROM changed) FROM before b
        """
}
