import Postgres
import Foundation

/// A person's own changes to their subscriptions, as the links in their mail
/// ask for them (docs/SUPPRESSION.md). Each is idempotent.
public struct SubscriptionChanges: Sendable {
    public let database: ListDatabase
    /// Recognises forgotten people in ``subscribe(email:list:name:)``; `nil`: no forget key configured
    /// (then adding anyone is refused once somebody was forgotten).
    public let forgetKeys: ForgetKeys?

    public init(database: ListDatabase, forgetKeys: ForgetKeys? = nil) {
        self.database = database
        self.forgetKeys = forgetKeys
    }

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
            // Prepared: planning this statement costs the server more than running it (pgbench: 3× the rate
            // prepared as unprepared), and a pooled session keeps it (docs/BENCHMARKS.md, one-click unsubscribe).
            let rows = try await connection.query(prepared: Self.unsubscribe, [listID, subscriberID, issueID, source])
            guard let row = rows.first else { return .unknown }
            let before: String = try row.decode(at: 0)
            let changed: Bool = try row.decode(at: 1)
            return changed ? .unsubscribed : .alreadyStopped(status: before)
        }
    }

    /// What `subscribe(email:list:name:)` did.
    public enum AddOutcome: Sendable, Equatable {
        case added
        /// Already active on the list: nothing changed.
        case alreadyActive
    }

    /// `listctl subscribers add EMAIL --list SLUG`: an operator adds a person, active at once (they asked by other
    /// means). Like an import, it never brings anyone back: a suppressed address, or one that left, bounced or
    /// complained on this list, is refused with nothing changed (docs/SUPPRESSION.md), and so is a forgotten one
    /// (`listctl subscribers forget`).
    public func subscribe(email: String, list slug: String, name: String?) async throws -> AddOutcome {
        let address = try SuppressionList.key(email)
        // By bytes: "\r\n" is one Character, equal to neither "\r" nor "\n".
        if let name, name.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) {
            throw ListServiceError(code: .invalidInput, message: "--name: a line break would end up in a mail header")
        }
        let list = try await ListStore(database: database).require(slug)
        return try await database.pool.withConnection { connection in
            try await connection.transaction { connection in
                if try await ForgottenAddresses.contains(address: address, keys: forgetKeys, on: connection, lock: true) {
                    throw ForgottenAddresses.refusal(address, action: "adding it")
                }
                if let reason: String = try await connection.query(
                    "SELECT reason FROM suppressions WHERE email_key = lower($1)", address).first?.decode(at: 0) {
                    throw ListServiceError(
                        code: .conflict,
                        message: "\(address) is suppressed on every list (\(reason)); nothing changed. Only their own confirmation brings them back; `listctl suppressions remove` if you know it was a mistake")
                }
                let subscriber: Int64 = try await connection.query("""
                    INSERT INTO subscribers (email, email_key, name) VALUES ($1, lower($1), coalesce($2, ''))
                    ON CONFLICT (email_key) DO UPDATE SET name = CASE WHEN $2 IS NULL OR $2 = '' THEN subscribers.name ELSE $2 END,
                                                          updated_at = now()
                    RETURNING id
                    """, address, name)[0].decode(at: 0)
                if let status: String = try await connection.query(
                    "SELECT status FROM subscriptions WHERE list_id = $1 AND subscriber_id = $2 FOR UPDATE", list.id, subscriber).first?.decode(at: 0) {
                    if status == "active" { return .alreadyActive }
                    if status != "pending" {
                        throw ListServiceError(
                            code: .conflict,
                            message: "\(address) is \(status) on \(slug); nothing changed. Nobody is resubscribed but by their own confirmation")
                    }
                }
                try await connection.query("""
                    INSERT INTO subscriptions (list_id, subscriber_id, status, confirmed_at) VALUES ($1, $2, 'active', now())
                    ON CONFLICT (list_id, subscriber_id) DO UPDATE SET status = 'active', status_changed_at = now(), confirmed_at = now()
                    """, list.id, subscriber)
                try await connection.query("""
                    INSERT INTO events (kind, list_id, subscriber_id, email_key, detail)
                    VALUES ('subscribed', $1, $2, lower($3), jsonb_build_object('source', 'cli'))
                    """, list.id, subscriber, address)
                return .added
            }
        }
    }

    /// `listctl subscribers unsubscribe EMAIL --list SLUG`: as the person's own link would.
    /// - Throws: `.notFound` for an unknown list, or an address not on it.
    public func unsubscribe(email: String, list slug: String) async throws -> UnsubscribeOutcome {
        let address = try SuppressionList.key(email)
        let list = try await ListStore(database: database).require(slug)
        let subscriber: Int64? = try await database.pool.withConnection { connection in
            try await connection.query("SELECT id FROM subscribers WHERE email_key = lower($1)", address).first?.decode(at: 0)
        }
        guard let subscriber else {
            throw ListServiceError(code: .notFound, message: "\(address) is not a subscriber (nothing changed); see `listctl subscribers show`")
        }
        let outcome = try await unsubscribe(listID: list.id, subscriberID: subscriber, issueID: nil, source: "cli")
        if case .unknown = outcome {
            throw ListServiceError(code: .notFound, message: "\(address) is not on \(slug) (nothing changed)")
        }
        return outcome
    }

    /// `listctl subscribers unsubscribe EMAIL --all` ("unsubscribe from all"): the address is suppressed
    /// (reason `unsubscribed`) and every subscription that still mails is unsubscribed, each with its event.
    /// A forgotten address is refused (`.conflict`) when ``forgetKeys`` is set, as in ``SuppressionList/add(_:reason:detail:)``.
    /// - Returns: the slugs of the lists it was unsubscribed from.
    public func unsubscribeEverywhere(email: String, source: String) async throws -> [String] {
        let address = try SuppressionList.key(email)
        return try await database.pool.withConnection { connection in
            try await connection.transaction { connection in
                if let forgetKeys, try await ForgottenAddresses.contains(address: address, keys: forgetKeys, on: connection, lock: true) {
                    throw ForgottenAddresses.refusal(address, action: "a suppression")
                }
                try await connection.query("""
                    INSERT INTO suppressions (email_key, reason, detail) VALUES (lower($1), 'unsubscribed', 'unsubscribe from all (' || $2 || ')')
                    ON CONFLICT (email_key) DO NOTHING
                    """, address, source)
                return try await connection.query("""
                    WITH changed AS (
                        UPDATE subscriptions s SET status = 'unsubscribed', status_changed_at = now(), unsubscribed_at = now()
                        FROM subscribers sub
                        WHERE sub.id = s.subscriber_id AND sub.email_key = lower($1) AND s.status IN ('active', 'pending')
                        RETURNING s.list_id, s.subscriber_id, sub.email_key
                    ), event AS (
                        INSERT INTO events (kind, list_id, subscriber_id, email_key, detail)
                        SELECT 'unsubscribed', list_id, subscriber_id, email_key, jsonb_build_object('source', $2::text, 'all', true) FROM changed
                        RETURNING 1
                    )
                    SELECT l.slug FROM changed c JOIN lists l ON l.id = c.list_id ORDER BY l.slug
                    """, address, source).map { try $0.decode(String.self, at: 0) }
            }
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
