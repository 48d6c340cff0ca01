public import Foundation
public import Logging
import Mailer
import Postgres

/// `listctl send FILE`: renders and splits an issue for a list, and stores
/// it with its parts, to go out now or at a set time. Two steps, so that a
/// command can show what will happen and ask before anything is written:
/// ``prepare(file:list:sendAt:budget:scope:)`` reads and checks, ``submit(_:)`` stores.
public struct IssueSubmitter: Sendable {
    /// What would be sent, before anything is stored.
    public struct Plan: Sendable {
        public var listSlug: String
        public var listID: Int64
        public var subject: String
        public var slug: String
        public var contentSHA256: String
        public var source: String
        public var preheader: String
        /// Front matter `archive`: whether the issue goes into the list's public archive.
        public var inArchive = true
        public var parts: [StoredPart]
        /// Recipients if the snapshot were taken now (for a scheduled issue, an estimate).
        public var recipients: Int
        /// When it goes out; nil: now.
        public var sendAt: Date?
        /// A notice for the writer (a send time in the past is taken as now).
        public var notices: [String]
        /// The issue already stored with the same content for this list, if any: nothing will be sent.
        public var existing: ExistingIssue?
        public var budget: Int
        /// What `budget` bounds. The parts are stored as cut, so delivery
        /// never needs it again: `issues.budget_bytes` records the number only.
        public var scope: BudgetScope = .default
        /// Raw HTML left out because the list does not allow it, for warnings.
        public var droppedHTML: [DroppedHTML] = []
        /// Each part's whole message at its longest (``RenderedPart/encodedMessageBytes``), in part order.
        public var encodedMessageBytes: [Int] = []
    }

    /// An issue with the same content, already sent or on its way.
    public struct ExistingIssue: Sendable, Codable {
        public var id: Int64
        public var state: String
        public var sentAt: Date?
        public var scheduledAt: Date?
    }

    /// What ``submit(_:)`` stored.
    public struct Submitted: Sendable, Codable {
        public var issue: Int64
        public var slug: String
        public var state: String
        public var parts: Int
        /// Deliveries in the ledger (0 until a scheduled issue falls due).
        public var recipients: Int
        public var scheduledAt: Date?
    }

    public let database: ListDatabase
    public let configuration: ListctlConfiguration
    public let logger: Logger

    public init(database: ListDatabase, configuration: ListctlConfiguration, logger: Logger) {
        self.database = database
        self.configuration = configuration
        self.logger = logger
    }

    /// Reads, renders and splits `file` for its list; writes nothing.
    ///
    /// - Parameters:
    ///   - list: the list's slug (else the front matter's `list`).
    ///   - sendAt: when to send (else the front matter's `send_at`; else now).
    /// - Throws: `MailerError` for an unreadable or unrenderable file,
    ///   ``ListServiceError`` for an unknown list, an empty list, a bad time,
    ///   a list without a sender or public address, or a missing secret.
    ///   - budget, scope: the size budget of a part and what it bounds.
    public func prepare(
        file: String, list: String?, sendAt: String?, budget: Int = IssueRenderer.defaultBudget, scope: BudgetScope = .default
    ) async throws -> Plan {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw MailerError(code: .unreadableFile, message: "cannot read the issue: no such file, or not readable", file: file)
        }
        let bytes = Array(data)
        let document = try IssueDocument.parse(bytes: bytes, fileName: file)
        guard let slug = list ?? document.list else {
            throw ListServiceError(
                code: .invalidInput, message: "\(file): which list? Give --list SLUG or `list:` in the front matter")
        }
        var notices: [String] = []
        var when: Date?
        if let text = sendAt ?? document.sendAt {
            let source = sendAt != nil ? "--at" : "\(file): send_at"
            let date = try Self.parseTime(text, source: source)
            if date <= Date() {
                notices.append("\(source) \(text) is in the past: sending now")
            } else {
                when = date
            }
        }
        // The secret is checked before anything else is: links cannot be signed without it.
        let (secrets, notice) = try TokenSecrets.load(configuration)
        if let notice { notices.append(notice) }
        _ = secrets
        let sha = Digest.hex(Digest.sha256(bytes))
        let (sendTime, allNotices) = (when, notices)
        return try await database.pool.withConnection { connection in
            guard let mailingList = try await ListStore.find(slug, on: connection) else {
                throw ListServiceError(code: .notFound, message: "no list named \"\(slug)\"; see `listctl lists`")
            }
            let existing = try await connection.query(
                """
                SELECT id, state, sent_at, scheduled_at FROM issues
                WHERE list_id = $1 AND content_sha256 = $2 AND state <> 'cancelled'
                """, mailingList.id, sha
            ).first.map { row in
                ExistingIssue(id: try row.decode(at: 0), state: try row.decode(at: 1), sentAt: try row.decode(at: 2), scheduledAt: try row.decode(at: 3))
            }
            let recipients = try await connection.query(LedgerSQL.recipientCount, mailingList.id)[0].decode(Int.self, at: 0)
            let (rendered, issueSlug) = try await Self.render(
                document, for: mailingList, at: sendTime ?? Date(), budget: budget, scope: scope, on: connection,
                configuration: configuration)
            if existing == nil && recipients == 0 {
                throw ListServiceError(
                    code: .invalidInput,
                    message: """
                        list "\(slug)" has no active subscribers (none subscribed, or all unsubscribed or suppressed): \
                        nothing to send. Import some with `listctl import FILE --list \(slug)`.
                        """)
            }
            var plan = Plan(
                listSlug: slug, listID: mailingList.id, subject: rendered.subject, slug: issueSlug, contentSHA256: sha,
                source: String(decoding: bytes, as: UTF8.self), preheader: rendered.preheader ?? "",
                parts: rendered.parts.map(\.stored), recipients: recipients, sendAt: sendTime, notices: allNotices,
                existing: existing, budget: budget)
            plan.inArchive = document.inArchive
            plan.scope = scope
            plan.droppedHTML = rendered.droppedHTML
            plan.encodedMessageBytes = rendered.parts.map(\.encodedMessageBytes)
            return plan
        }
    }

    /// Stores the issue of `plan` and its parts. Due now: its recipients are
    /// snapshotted into the ledger in the same transaction and it is
    /// `sending`; else it is `scheduled`. Workers are notified.
    ///
    /// - Throws: ``ListServiceError`` `.conflict` when the same content went
    ///   to the list meanwhile, `.invalidInput` when the list emptied meanwhile.
    public func submit(_ plan: Plan) async throws -> Submitted {
        if let existing = plan.existing {
            throw ListServiceError(code: .conflict, message: "issue \(existing.id) has the same content (\(existing.state))")
        }
        return try await database.pool.withConnection { connection in
            try await connection.transaction { connection in
                let row = try await connection.query(
                    """
                    INSERT INTO issues (list_id, subject, preheader, source, content_sha256, state, scheduled_at, slug, budget_bytes, in_archive)
                    VALUES ($1, $2, $3, $4, $5, 'scheduled', coalesce($6, now()), $7, $8, $9)
                    ON CONFLICT (list_id, content_sha256) WHERE state <> 'cancelled' DO NOTHING
                    RETURNING id, scheduled_at
                    """, plan.listID, plan.subject, plan.preheader, plan.source, plan.contentSHA256, plan.sendAt, plan.slug,
                    plan.budget, plan.inArchive)
                guard let row = row.first else {
                    throw ListServiceError(
                        code: .conflict, message: "an issue with the same content was stored for \(plan.listSlug) meanwhile; nothing sent twice")
                }
                let id: Int64 = try row.decode(at: 0)
                try await Self.storeParts(plan.parts, issue: id, on: connection)
                var recipients = 0
                var state = "scheduled"
                if plan.sendAt == nil {
                    try await connection.query(
                        "UPDATE issues SET state = 'sending', started_at = now(), snapshot_at = now() WHERE id = $1", id)
                    recipients = try await connection.query(LedgerSQL.snapshot + " RETURNING 1", id).count
                    guard recipients > 0 else {
                        throw ListServiceError(code: .invalidInput, message: "list \"\(plan.listSlug)\" has no active subscribers any more: nothing sent")
                    }
                    state = "sending"
                }
                try await connection.query("SELECT pg_notify($1, $2)", LedgerSQL.channel, String(id))
                return Submitted(issue: id, slug: plan.slug, state: state, parts: plan.parts.count, recipients: recipients, scheduledAt: plan.sendAt)
            }
        }
    }

    /// Stores an issue's rendered parts, as the engine will send them.
    static func storeParts(_ parts: [StoredPart], issue id: Int64, on connection: PostgresConnection) async throws {
        for part in parts {
            try await connection.query(
                """
                INSERT INTO issue_parts (issue_id, part, subject, html, text, encoded_html, encoded_text,
                                         html_bytes, encoded_html_bytes, text_bytes)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                """, id, part.number, part.subject, part.html, part.text, part.encodedHTML, part.encodedText,
                part.htmlBytes, part.encodedHTMLBytes, part.textBytes)
        }
    }

    /// Renders and splits `document` for `list`, with the slug its issue will get (issues/{slug} is the
    /// "View in browser" link every part carries).
    static func render(
        _ document: IssueDocument, for list: MailingList, at day: Date, budget: Int, scope: BudgetScope = .default,
        on connection: PostgresConnection, configuration: ListctlConfiguration
    ) async throws -> (RenderedIssue, String) {
        let (identity, root) = try list.deliveryIdentity(configuration)
        let template = try list.emailTemplate()
        let subject = document.subject ?? ""
        let issueSlug: String = try await connection.query(
            "SELECT listctl_issue_slug($1, $2, $3)", list.id, subject.isEmpty ? "issue" : subject, day
        )[0].decode(at: 0)
        let rendered = try IssueRenderer(identity: identity, template: template, budget: budget, scope: scope)
            .render(document, viewInBrowserURL: "\(root)/issues/\(issueSlug)")
        return (rendered, issueSlug)
    }

    /// ISO 8601 (`2026-12-01T09:00:00Z`, with an offset, or a date), or
    /// `2026-12-01 09:00` in the local time zone.
    /// - Throws: ``ListServiceError`` `.invalidInput` naming `source`.
    public static func parseTime(_ text: String, source: String) throws -> Date {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let iso = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds]] {
            iso.formatOptions = options
            if let date = iso.date(from: trimmed) { return date }
        }
        let local = DateFormatter()
        local.locale = Locale(identifier: "en_US_POSIX")
        local.timeZone = TimeZone.current
        for format in ["yyyy-MM-dd HH:mm", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd"] {
            local.dateFormat = format
            if let date = local.date(from: trimmed) { return date }
        }
        throw ListServiceError(
            code: .invalidInput,
            message: "\(source): \(text.debugDescription) is not a time; write 2026-12-01T09:00:00Z, 2026-12-01T09:00+01:00 or \"2026-12-01 09:00\" (local time)")
    }
}
