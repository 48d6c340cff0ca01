import Foundation
import Mailer
import Postgres

/// Joining a list by double opt-in (docs/SUPPRESSION.md "Joining"): a
/// request records proof of consent and queues a confirmation mail through
/// the ledger; the person's own confirmation makes the subscription active,
/// lifts a suppression of their address (and the hash `forget` left), and queues the list's welcome
/// issue once. The only way back onto a list after leaving it.
public struct DoubleOptIn: Sendable {
    /// A confirmation link works this long.
    public static let confirmDays = 7
    /// Requests never confirmed are purged after this long, with the pending people they made.
    public static let purgeDays = 30
    /// Confirmation mails to one address a day, over all lists; a suppressed address gets one.
    public static let mailsPerAddressPerDay = 3

    public let database: ListDatabase
    public let configuration: ListctlConfiguration
    /// The keys that recognise people erased by `subscribers forget` (``ForgottenAddresses``): a
    /// forgotten address is mailed like a suppressed one, and its own confirmation removes its hash.
    public let forgetKeys: ForgetKeys?

    public init(database: ListDatabase, configuration: ListctlConfiguration, forgetKeys: ForgetKeys?) {
        self.database = database
        self.configuration = configuration
        self.forgetKeys = forgetKeys
    }

    /// Where a request or a confirmation came from: the proof kept with it.
    public struct Consent: Sendable, Equatable {
        /// `form`, `api` (a JSON POST) or `cli` (`subscribers add --pending`).
        public var source: String
        public var clientAddress: String?
        public var userAgent: String?

        public init(source: String, clientAddress: String? = nil, userAgent: String? = nil) {
            self.source = source
            self.clientAddress = clientAddress.map { String($0.prefix(64)) }
            self.userAgent = userAgent.map { String($0.unicodeScalars.filter { $0.value >= 32 && $0.value != 127 }.prefix(512)) }
        }
    }

    /// What a request did. The subscribe form answers the same for all of them, so it cannot be used to
    /// learn who is on a list.
    public enum RequestOutcome: Sendable, Equatable {
        /// A confirmation mail is queued for request `id`.
        case queued(request: Int64)
        /// Already active on the list: nothing to confirm, no mail.
        case alreadyActive
        /// The address had its confirmation mails for today: the request is kept, no mail.
        case limited(request: Int64)
    }

    /// Records a request to join `list` and queues its confirmation mail.
    /// - Parameter name: kept for a new subscriber only (a stranger's form must not rename someone).
    /// - Throws: ``ListServiceError`` `.invalidInput` for an address that is not one.
    public func request(email: String, list: MailingList, name: String?, consent: Consent) async throws -> RequestOutcome {
        let address = try SuppressionList.key(email)
        let cleanName = name.map { String($0.unicodeScalars.filter { $0.value >= 32 && $0.value != 127 }.prefix(200)) } ?? ""
        let configuration = self.configuration
        let forgotten = ForgottenAddresses(database: database, keys: forgetKeys)
        return try await database.pool.withConnection { connection in
            try await connection.transaction { connection in
                // Erased people may ask again; until they confirm they are mailed as sparingly as a suppressed address.
                let wasForgotten = try await forgotten.contains(address, on: connection)
                let subscriber: Int64 = try await connection.query("""
                    INSERT INTO subscribers (email, email_key, name) VALUES ($1, lower($1), $2)
                    ON CONFLICT (email_key) DO UPDATE SET email_key = subscribers.email_key
                    RETURNING id
                    """, address, cleanName)[0].decode(at: 0)
                let status: String? = try await connection.query(
                    "SELECT status FROM subscriptions WHERE list_id = $1 AND subscriber_id = $2 FOR UPDATE", list.id, subscriber
                ).first?.decode(at: 0)
                if status == "active" { return .alreadyActive }
                if status == nil {
                    try await connection.query(
                        "INSERT INTO subscriptions (list_id, subscriber_id, status) VALUES ($1, $2, 'pending')", list.id, subscriber)
                }
                let request: Int64 = try await connection.query("""
                    INSERT INTO consent_requests (list_id, subscriber_id, source, client_address, user_agent)
                    VALUES ($1, $2, $3, $4, $5) RETURNING id
                    """, list.id, subscriber, consent.source, consent.clientAddress, consent.userAgent)[0].decode(at: 0)
                // Confirmation mails sent to this address in the last day, over all lists (each request's event says).
                let recent = try await connection.query("""
                    SELECT count(*)::int, EXISTS (SELECT 1 FROM suppressions WHERE email_key = lower($2))
                    FROM events
                    WHERE subscriber_id = $1 AND kind = 'subscribed' AND detail @> '{"mailed": true}'
                      AND occurred_at > now() - interval '1 day'
                    """, subscriber, address)[0]
                let mailed: Int = try recent.decode(at: 0), suppressed: Bool = try recent.decode(at: 1) || wasForgotten
                if mailed >= (suppressed ? 1 : Self.mailsPerAddressPerDay) {
                    try await Self.recordRequest(list: list.id, subscriber: subscriber, issue: nil, address: address,
                                                 consent: consent, request: request, on: connection)
                    return .limited(request: request)
                }
                let (issue, parts) = try await StandingIssues.confirmationIssue(for: list, on: connection, configuration: configuration)
                // One ledger row per (confirmation issue, person): a new request re-arms it with its own request id
                // (and so its own link and Message-ID), unless a worker holds it right now.
                try await connection.query("""
                    INSERT INTO deliveries (issue_id, subscriber_id, email, part_count, request_id)
                    VALUES ($1, $2, $3, $4, $5)
                    ON CONFLICT (issue_id, subscriber_id) DO UPDATE SET
                        request_id = EXCLUDED.request_id, email = EXCLUDED.email, part_count = EXCLUDED.part_count,
                        state = 'pending', next_part = 1, attempts = 0, unknowns = 0, next_attempt_at = now(),
                        last_error = NULL, message_ids = '{}', updated_at = now()
                    WHERE deliveries.lease_owner IS NULL OR deliveries.lease_expires_at < now()
                    """, issue, subscriber, address, parts, request)
                try await Self.recordRequest(list: list.id, subscriber: subscriber, issue: issue, address: address,
                                             consent: consent, request: request, on: connection)
                try await connection.query("SELECT pg_notify($1, $2)", LedgerSQL.channel, String(issue))
                return .queued(request: request)
            }
        }
    }

    /// The request's `subscribed` event; `issue` is the confirmation issue when a mail was queued
    /// (`mailed` true: the per-address daily limit counts these), nil when the limit held it back.
    static func recordRequest(
        list: Int64, subscriber: Int64, issue: Int64?, address: String, consent: Consent, request: Int64, on connection: PostgresConnection
    ) async throws {
        try await connection.query("""
            INSERT INTO events (kind, list_id, subscriber_id, issue_id, email_key, detail)
            VALUES ('subscribed', $1, $2, $3, lower($4), jsonb_build_object('source', $5::text, 'pending', true,
                    'request', $6::bigint, 'mailed', $3::bigint IS NOT NULL))
            """, list, subscriber, issue, address, consent.source, request)
    }

    /// What a confirmation did.
    public enum ConfirmOutcome: Sendable, Equatable {
        /// Active now; `welcome` when the list's welcome issue was queued.
        case confirmed(welcome: Bool)
        /// This link was used before: nothing changed (a replay never resubscribes someone who left since).
        case alreadyConfirmed(active: Bool)
        /// Older than ``confirmDays``: nothing changed; subscribe again for a new link.
        case expired
        /// The person left the list after asking: this request no longer counts.
        case withdrawn
        /// No such request (purged, or the person was erased).
        case unknown
    }

    /// The request `token` names (a confirm token's issue field is the request id) is confirmed by its person.
    public func confirm(token: SubscriberToken, consent: Consent) async throws -> ConfirmOutcome {
        guard token.purpose == .confirm, let requestID = token.issueID else { return .unknown }
        let forgotten = ForgottenAddresses(database: database, keys: forgetKeys)
        return try await database.pool.withConnection { connection in
            try await connection.transaction { connection in
                guard let row = try await connection.query("""
                    SELECT r.confirmed_at IS NOT NULL, r.requested_at < now() - make_interval(days => $4),
                           coalesce(s.status, 'none'), s.unsubscribed_at IS NOT NULL AND s.unsubscribed_at > r.requested_at,
                           sub.email_key
                    FROM consent_requests r
                    JOIN subscribers sub ON sub.id = r.subscriber_id
                    LEFT JOIN subscriptions s ON s.list_id = r.list_id AND s.subscriber_id = r.subscriber_id
                    WHERE r.id = $1 AND r.list_id = $2 AND r.subscriber_id = $3
                    FOR UPDATE OF r
                    """, requestID, token.listID, token.subscriberID, Self.confirmDays).first
                else { return .unknown }
                let used: Bool = try row.decode(at: 0), expired: Bool = try row.decode(at: 1)
                let status: String = try row.decode(at: 2), leftSince: Bool = try row.decode(at: 3)
                let emailKey: String = try row.decode(at: 4)
                if used { return .alreadyConfirmed(active: status == "active") }
                if expired { return .expired }
                if leftSince { return .withdrawn }
                try await connection.query("""
                    UPDATE consent_requests SET confirmed_at = now(), confirmed_address = $2, confirmed_user_agent = $3 WHERE id = $1
                    """, requestID, consent.clientAddress, consent.userAgent)
                if status == "active" { return .alreadyConfirmed(active: true) }
                try await connection.query("""
                    INSERT INTO subscriptions (list_id, subscriber_id, status, confirmed_at) VALUES ($1, $2, 'active', now())
                    ON CONFLICT (list_id, subscriber_id) DO UPDATE SET status = 'active', status_changed_at = now(), confirmed_at = now()
                    """, token.listID, token.subscriberID)
                // Their own confirmation is the one thing that lifts a suppression of their address.
                let lifted: String? = try await connection.query(
                    "DELETE FROM suppressions WHERE email_key = $1 RETURNING reason", emailKey).first?.decode(at: 0)
                // ...and the hash that `forget` left: they have given their address back themselves.
                let unforgotten = try await forgotten.remove(emailKey, on: connection)
                try await connection.query("""
                    INSERT INTO events (kind, list_id, subscriber_id, email_key, detail)
                    VALUES ('confirmed', $1, $2, $3, jsonb_strip_nulls(jsonb_build_object(
                        'request', $4::bigint, 'source', $5::text, 'lifted_suppression', $6::text,
                        'was_forgotten', CASE WHEN $7::boolean THEN true END)))
                    """, token.listID, token.subscriberID, emailKey, requestID, consent.source, lifted, unforgotten)
                let welcome = try await connection.query("""
                    INSERT INTO deliveries (issue_id, subscriber_id, email, part_count)
                    SELECT i.id, sub.id, sub.email, (SELECT count(*) FROM issue_parts p WHERE p.issue_id = i.id)
                    FROM lists l JOIN issues i ON i.id = l.welcome_issue_id AND i.standing AND i.state = 'sending'
                    JOIN subscribers sub ON sub.id = $2
                    WHERE l.id = $1
                    ON CONFLICT DO NOTHING
                    RETURNING issue_id
                    """, token.listID, token.subscriberID)
                if let issue: Int64 = try welcome.first?.decode(at: 0) {
                    try await connection.query("SELECT pg_notify($1, $2)", LedgerSQL.channel, String(issue))
                }
                return .confirmed(welcome: !welcome.isEmpty)
            }
        }
    }

    /// What ``purge()`` removed.
    public struct Purged: Sendable, Equatable {
        public var requests: Int
        public var subscriptions: Int
        public var subscribers: Int
    }

    /// Removes requests never confirmed within ``purgeDays``, the pending subscriptions they made, and the people
    /// who are then on no list (with their events: an address nobody confirmed is not kept).
    public func purge() async throws -> Purged {
        try await database.pool.withConnection { connection in
            try await connection.transaction { connection in
                let pairs = try await connection.query("""
                    DELETE FROM consent_requests WHERE confirmed_at IS NULL AND requested_at < now() - make_interval(days => $1)
                    RETURNING list_id, subscriber_id
                    """, Self.purgeDays)
                let subscribers = Array(Set(try pairs.map { try $0.decode(Int64.self, at: 1) }))
                let lists = try pairs.map { try $0.decode(Int64.self, at: 0) }
                let people = try pairs.map { try $0.decode(Int64.self, at: 1) }
                let subscriptions = try await connection.query("""
                    DELETE FROM subscriptions s USING unnest($1::bigint[], $2::bigint[]) AS p(list_id, subscriber_id)
                    WHERE s.list_id = p.list_id AND s.subscriber_id = p.subscriber_id AND s.status = 'pending'
                      AND NOT EXISTS (SELECT 1 FROM consent_requests r WHERE r.list_id = s.list_id AND r.subscriber_id = s.subscriber_id)
                    RETURNING s.subscriber_id
                    """, lists, people).count
                let orphans = try await connection.query("""
                    SELECT id FROM subscribers sub WHERE sub.id = ANY ($1)
                      AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.subscriber_id = sub.id)
                      AND NOT EXISTS (SELECT 1 FROM consent_requests r WHERE r.subscriber_id = sub.id)
                    """, subscribers).map { try $0.decode(Int64.self, at: 0) }
                try await connection.query("DELETE FROM events WHERE subscriber_id = ANY ($1)", orphans)
                try await connection.query("DELETE FROM subscribers WHERE id = ANY ($1)", orphans)
                return Purged(requests: pairs.count, subscriptions: subscriptions, subscribers: orphans.count)
            }
        }
    }
}
