import Postgres
import Foundation

/// `listctl subscribers show EMAIL`: what is stored about one person, for an
/// operator answering "why didn't I get it?" or "take me off".
public struct SubscriberRecord: Sendable, Codable {
    public struct Subscription: Sendable, Codable {
        public var list: String
        public var status: String
        public var subscribedAt: Date
        public var statusChangedAt: Date
        public var unsubscribedAt: Date?
    }

    public struct Event: Sendable, Codable {
        public var occurredAt: Date
        public var kind: String
        public var list: String?
        public var issue: Int64?
        public var detail: String
    }

    /// A request to join a list, with its proof (docs/SUPPRESSION.md "Joining").
    public struct Consent: Sendable, Codable {
        public var list: String
        public var source: String
        public var requestedAt: Date
        public var clientAddress: String?
        public var userAgent: String?
        public var confirmedAt: Date?
        public var confirmedAddress: String?
        public var confirmedUserAgent: String?
    }

    public var email: String
    public var name: String
    public var createdAt: Date
    /// The subscriber's attributes, as JSON text.
    public var attributes: String
    public var subscriptions: [Subscription]
    public var suppression: SuppressionList.Entry?
    /// Every request to join, oldest first.
    public var consents: [Consent] = []
    /// Newest first: the latest 50 for `show`, all of them for `export-person`.
    public var events: [Event]

    /// The record of `email`; `.notFound` if there is neither a subscriber nor a suppression.
    public static func load(_ email: String, database: ListDatabase, eventLimit: Int? = 50) async throws -> SubscriberRecord {
        let address = try SuppressionList.key(email)
        return try await database.pool.withConnection { connection in
            let suppression = try await connection.query(
                "SELECT email_key, reason, detail, created_at FROM suppressions WHERE email_key = lower($1)", address
            ).first.map {
                SuppressionList.Entry(email: try $0.decode(at: 0), reason: try $0.decode(at: 1), detail: try $0.decode(at: 2), createdAt: try $0.decode(at: 3))
            }
            guard let row = try await connection.query(
                "SELECT id, email, name, created_at, attributes::text FROM subscribers WHERE email_key = lower($1)", address).first
            else {
                guard let suppression else {
                    throw ListServiceError(code: .notFound, message: "no subscriber \(address), and it is not suppressed")
                }
                return SubscriberRecord(email: address, name: "", createdAt: suppression.createdAt, attributes: "{}",
                                        subscriptions: [], suppression: suppression, events: [])
            }
            let id: Int64 = try row.decode(at: 0)
            let subscriptions = try await connection.query("""
                SELECT l.slug, s.status, s.created_at, s.status_changed_at, s.unsubscribed_at
                FROM subscriptions s JOIN lists l ON l.id = s.list_id WHERE s.subscriber_id = $1 ORDER BY l.slug
                """, id).map {
                Subscription(list: try $0.decode(at: 0), status: try $0.decode(at: 1), subscribedAt: try $0.decode(at: 2),
                             statusChangedAt: try $0.decode(at: 3), unsubscribedAt: try $0.decode(at: 4))
            }
            let events = try await connection.query("""
                SELECT e.occurred_at, e.kind, l.slug, e.issue_id, e.detail::text
                FROM events e LEFT JOIN lists l ON l.id = e.list_id
                WHERE e.subscriber_id = $1 OR e.email_key = lower($2) ORDER BY e.occurred_at DESC, e.id DESC LIMIT $3
                """, id, address, eventLimit).map {
                Event(occurredAt: try $0.decode(at: 0), kind: try $0.decode(at: 1), list: try $0.decode(at: 2), issue: try $0.decode(at: 3),
                      detail: try $0.decode(at: 4))
            }
            let consents = try await connection.query("""
                SELECT l.slug, r.source, r.requested_at, r.client_address, r.user_agent, r.confirmed_at, r.confirmed_address, r.confirmed_user_agent
                FROM consent_requests r JOIN lists l ON l.id = r.list_id WHERE r.subscriber_id = $1 ORDER BY r.id
                """, id).map {
                Consent(list: try $0.decode(at: 0), source: try $0.decode(at: 1), requestedAt: try $0.decode(at: 2), clientAddress: try $0.decode(at: 3),
                        userAgent: try $0.decode(at: 4), confirmedAt: try $0.decode(at: 5), confirmedAddress: try $0.decode(at: 6),
                        confirmedUserAgent: try $0.decode(at: 7))
            }
            return SubscriberRecord(
                email: try row.decode(at: 1), name: try row.decode(at: 2), createdAt: try row.decode(at: 3), attributes: try row.decode(at: 4),
                subscriptions: subscriptions, suppression: suppression, consents: consents, events: events)
        }
    }
}
