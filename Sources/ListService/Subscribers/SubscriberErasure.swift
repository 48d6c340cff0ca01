import Foundation
import Mailer
import Postgres

/// `listctl subscribers forget EMAIL`: erasure (GDPR Art. 17). In one
/// transaction it deletes the person's subscriber row, and with it (foreign
/// keys and the triggers of schemas 0002, 0006 and 0009) their subscriptions,
/// any row of theirs in a table that references subscribers with ON DELETE
/// CASCADE (pending confirmations, say), their ledger rows and their ids in
/// compacted summaries (each issue's counts move to `delivery_tallies`, so
/// `listctl status` answers the same); every event that names them (by id,
/// by address, or quoting the address in its detail); the suppression of the
/// address. It keeps only the HMAC of the address under the forget key in
/// `forgotten_addresses`, so no import or operator brings them back.
public struct SubscriberErasure: Sendable {
    public let database: ListDatabase
    public let keys: ForgetKeys

    public init(database: ListDatabase, keys: ForgetKeys) {
        self.database = database
        self.keys = keys
    }

    /// What a `forget` erased.
    public struct Outcome: Sendable, Codable, Equatable {
        /// The address as normalised (the operator's own input, for the answer).
        public var email: String
        /// There was a subscriber row.
        public var found: Bool
        /// The address was forgotten before (under this key or another configured one).
        public var alreadyForgotten: Bool
        /// The lists the person was on, by slug.
        public var lists: [String]
        public var subscriptions: Int
        public var events: Int
        /// Ledger rows (their counts stay in the tally).
        public var deliveries: Int
        /// Deliveries of compacted issues (ids taken out of summaries; counted on likewise).
        public var compactedDeliveries: Int
        /// The reason of the suppression that was deleted, if there was one.
        public var suppression: String?
        /// The id of the key whose hash is kept, 8 hex digits.
        public var keyID: String
        /// Where the address still appears that erasure does not rewrite: import file
        /// names (`import N`) and issues' own text (`issue N`), written by the operator.
        public var stillMentioned: [String]

        /// Nothing at all was stored about the address.
        public var nothingStored: Bool {
            !found && events == 0 && suppression == nil
        }
    }

    /// Forgets `email`.
    /// - Throws: ``ListServiceError`` `.invalidInput` for a bad address (nothing changed).
    public func forget(_ email: String) async throws -> Outcome {
        let address = try SuppressionList.key(email)
        let emailKey = address.lowercased()
        let hashes = ForgottenAddresses.hexHashes(address, keys)
        // The address as it appears inside a JSON string (quotes and backslashes escaped).
        let quoted = String(decoding: try JSONEncoder().encode(emailKey), as: UTF8.self).dropFirst().dropLast()
        return try await database.pool.withConnection { connection in
            try await connection.transaction { connection in
                // Wait for a running import (it plans from a snapshot), and for anyone adding this address.
                try await connection.query(ImportSQL.serialize)
                try await ForgottenAddresses.lock(address: address, on: connection)
                let already: Bool = try await connection.query(
                    "SELECT EXISTS (SELECT 1 FROM forgotten_addresses WHERE hash IN (SELECT decode(h, 'hex') FROM unnest($1::text[]) AS h))",
                    hashes)[0].decode(at: 0)
                try await connection.query(
                    "INSERT INTO forgotten_addresses (hash, key_id) VALUES (decode($1, 'hex'), $2) ON CONFLICT (hash) DO NOTHING",
                    hashes[0], Int64(keys.current.id))

                var outcome = Outcome(
                    email: address, found: false, alreadyForgotten: already, lists: [], subscriptions: 0, events: 0, deliveries: 0,
                    compactedDeliveries: 0, suppression: nil, keyID: String(format: "%08x", keys.current.id), stillMentioned: [])
                let subscriber: Int64? = try await connection.query(
                    "SELECT id FROM subscribers WHERE email_key = lower($1) FOR UPDATE", address).first?.decode(at: 0)
                if let subscriber {
                    outcome.found = true
                    outcome.lists = try await connection.query(
                        "SELECT l.slug FROM subscriptions s JOIN lists l ON l.id = s.list_id WHERE s.subscriber_id = $1 ORDER BY l.slug",
                        subscriber).map { try $0.decode(String.self, at: 0) }
                    outcome.subscriptions = outcome.lists.count
                    let ledger = try await connection.query("""
                        SELECT (SELECT count(*) FROM deliveries WHERE subscriber_id = $1),
                               (SELECT count(*) FROM delivery_summaries WHERE id_block = $1 / 10000 AND $1 = ANY (subscriber_ids))
                        """, subscriber)[0]
                    outcome.deliveries = try ledger.decode(at: 0)
                    outcome.compactedDeliveries = try ledger.decode(at: 1)
                }
                // Events that name the person; the subscriber's delete (0002's trigger) would take the
                // first two kinds too, but not those of an address that never had a subscriber row.
                outcome.events = try await connection.query("""
                    DELETE FROM events
                    WHERE subscriber_id = $1 OR email_key = lower($2) OR strpos(lower(detail::text), lower($3)) > 0
                    """, subscriber, address, String(quoted)).affectedRows
                if let subscriber {
                    try await connection.query("DELETE FROM subscribers WHERE id = $1", subscriber)
                }
                outcome.suppression = try await connection.query(
                    "DELETE FROM suppressions WHERE email_key = lower($1) RETURNING reason", address).first?.decode(at: 0)
                outcome.stillMentioned = try await connection.query("""
                    SELECT 'import ' || id FROM imports WHERE strpos(lower(file_name), lower($1)) > 0
                    UNION ALL
                    SELECT 'issue ' || id FROM issues WHERE strpos(lower(subject), lower($1)) > 0 OR strpos(lower(source), lower($1)) > 0
                    """, emailKey).map { try $0.decode(String.self, at: 0) }
                return outcome
            }
        }
    }
}
