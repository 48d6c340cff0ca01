import Postgres
import Foundation
import Mailer

/// `listctl suppressions`: the addresses never mailed on any list
/// (docs/SUPPRESSION.md). Adding one stops mail at once (every claim checks
/// it); removing one lets the address be mailed again only where its
/// subscription is still active: it resubscribes nobody.
public struct SuppressionList: Sendable {
    public let database: ListDatabase
    /// Recognises forgotten addresses in ``add(_:reason:detail:)``; `nil`: not checked.
    public let forgetKeys: ForgetKeys?

    public init(database: ListDatabase, forgetKeys: ForgetKeys? = nil) {
        self.database = database
        self.forgetKeys = forgetKeys
    }

    public struct Entry: Sendable, Codable, Equatable {
        public var email: String
        public var reason: String
        public var detail: String
        public var createdAt: Date
    }

    /// The reasons an operator can give (`hard_bounce` and `complaint` for ones learnt outside listctl).
    public static let reasons = ["manual", "unsubscribed", "hard_bounce", "complaint"]

    public func all() async throws -> [Entry] {
        try await database.pool.withConnection { connection in
            try await connection.query("SELECT email_key, reason, detail, created_at FROM suppressions ORDER BY created_at, email_key").map {
                Entry(email: try $0.decode(at: 0), reason: try $0.decode(at: 1), detail: try $0.decode(at: 2), createdAt: try $0.decode(at: 3))
            }
        }
    }

    /// Suppresses `email` everywhere, with an event. Returns false when it was already suppressed (left as it was).
    /// A forgotten address is refused (`.conflict`), nothing changed: it is never mailed anyway, and a suppression
    /// would store the address again. With no forget key that is not checked: stopping mail comes first.
    @discardableResult
    public func add(_ email: String, reason: String, detail: String = "") async throws -> Bool {
        let key = try Self.key(email)
        guard Self.reasons.contains(reason) else {
            throw ListServiceError(code: .invalidInput, message: "--reason \(reason): use one of \(Self.reasons.joined(separator: ", "))")
        }
        return try await database.pool.withConnection { connection in
            try await connection.transaction { connection in
                if let forgetKeys, try await ForgottenAddresses.contains(address: key, keys: forgetKeys, on: connection, lock: true) {
                    throw ForgottenAddresses.refusal(key, action: "a suppression")
                }
                let added = try await connection.query(
                    "INSERT INTO suppressions (email_key, reason, detail) VALUES (lower($1), $2, $3) ON CONFLICT (email_key) DO NOTHING RETURNING 1",
                    key, reason, detail.isEmpty ? "listctl suppressions add" : detail)
                guard !added.isEmpty else { return false }
                try await connection.query("""
                    INSERT INTO events (kind, subscriber_id, email_key, detail)
                    SELECT 'suppressed', (SELECT id FROM subscribers WHERE email_key = lower($1)), lower($1),
                           jsonb_build_object('action', 'added', 'reason', $2::text, 'source', 'cli')
                    """, key, reason)
                return true
            }
        }
    }

    /// Lifts the suppression of `email`, with an event. Subscriptions keep their status: a bounced or
    /// unsubscribed one stays so. Throws `.notFound` when the address is not suppressed.
    public func remove(_ email: String) async throws -> Entry {
        let key = try Self.key(email)
        return try await database.pool.withConnection { connection in
            try await connection.transaction { connection in
                guard let row = try await connection.query(
                    "DELETE FROM suppressions WHERE email_key = lower($1) RETURNING email_key, reason, detail, created_at", key).first
                else {
                    throw ListServiceError(code: .notFound, message: "\(key) is not suppressed (nothing changed); see `listctl suppressions list`")
                }
                let entry = Entry(email: try row.decode(at: 0), reason: try row.decode(at: 1), detail: try row.decode(at: 2), createdAt: try row.decode(at: 3))
                try await connection.query("""
                    INSERT INTO events (kind, subscriber_id, email_key, detail)
                    SELECT 'suppressed', (SELECT id FROM subscribers WHERE email_key = lower($1)), lower($1),
                           jsonb_build_object('action', 'removed', 'reason', $2::text, 'source', 'cli')
                    """, key, entry.reason)
                return entry
            }
        }
    }

    /// The address normalised (punycode domain), or `.invalidInput` naming what is wrong with it. The SQL
    /// lower-cases it into the key (`lower(email)`, as `subscribers.email_key`).
    static func key(_ email: String) throws(ListServiceError) -> String {
        do {
            return try EmailAddress(normalizing: email).address
        } catch {
            throw ListServiceError(code: .invalidInput, message: "\(EmailAddress.quoted(email)): \(error.reason)")
        }
    }
}
