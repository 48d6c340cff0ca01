import Foundation
import Mailer
import Postgres

/// A list's standing issues: its confirmation mail and its welcome issue
/// (docs/SUPPRESSION.md "Joining"). Stored like any issue, rendered and
/// split once, but `standing`: they stay `sending` and get ledger rows one
/// person at a time (a request to join, a confirmation), so their mail goes
/// through the same claims, leases and acks as every other delivery.
public struct StandingIssues: Sendable {
    public let database: ListDatabase
    public let configuration: ListctlConfiguration

    public init(database: ListDatabase, configuration: ListctlConfiguration) {
        self.database = database
        self.configuration = configuration
    }

    /// The confirmation mail's Markdown for a list: one link in the HTML and in the text part.
    static func confirmationMarkdown(listName: String) -> String {
        """
        Please confirm that you want to receive **\(Self.markdownEscaped(listName))** by email.

        [Yes, subscribe me](\(RecipientField.confirmURL.token))

        Or copy this link into your browser: \(RecipientField.confirmURL.token)

        The link works for \(DoubleOptIn.confirmDays) days. If you did not ask for this, ignore this message: \
        you will not be added, and you will get nothing more from us.

        """
    }

    /// Backslash before every Markdown punctuation character, so a list's name is shown as written.
    static func markdownEscaped(_ text: String) -> String {
        var out = ""
        for character in text {
            if "\\`*_{}[]()#+-.!<>|~&".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }

    /// The list's confirmation issue, made on first use (and again when the list's name changed, so the
    /// mail names it as it is now). Runs in the caller's transaction.
    static func confirmationIssue(for list: MailingList, on connection: PostgresConnection, configuration: ListctlConfiguration)
        async throws -> (issue: Int64, parts: Int)
    {
        // One maker per list at a time: two first subscribers must not make two confirmation issues.
        try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended('listctl.standing-issue', $1))", list.id)
        let markdown = confirmationMarkdown(listName: list.name)
        let sha = Self.contentHash(kind: "confirmation", Array(markdown.utf8))
        if let row = try await connection.query("""
            SELECT i.id, (SELECT count(*) FROM issue_parts p WHERE p.issue_id = i.id)::int
            FROM lists l JOIN issues i ON i.id = l.confirmation_issue_id
            WHERE l.id = $1 AND i.standing AND i.state = 'sending' AND i.content_sha256 = $2
            """, list.id, sha).first {
            return (try row.decode(at: 0), try row.decode(at: 1))
        }
        let document = IssueDocument(subject: "Confirm your subscription to \(list.name)", body: Array(markdown.utf8))
        let stored = try await store(document, kind: "confirmation", sha: sha, for: list, on: connection, configuration: configuration)
        try await connection.query("UPDATE lists SET confirmation_issue_id = $2 WHERE id = $1", list.id, stored.issue)
        return stored
    }

    /// What `setWelcome` did.
    public enum WelcomeChange: Sendable, Equatable {
        case set(issue: Int64, parts: Int)
        case unchanged(issue: Int64)
        case removed
    }

    /// `listctl lists set SLUG --welcome FILE.md`: the issue each newly confirmed subscriber gets once.
    /// The previous welcome issue stops standing: mail already queued for it still goes, then it is sent.
    /// `file` nil removes the welcome issue.
    public func setWelcome(list slug: String, file: String?) async throws -> WelcomeChange {
        var document: IssueDocument?
        var sha = ""
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw MailerError(code: .unreadableFile, message: "cannot read the welcome issue: no such file, or not readable", file: file)
            }
            document = try IssueDocument.parse(bytes: Array(data), fileName: file)
            sha = Self.contentHash(kind: "welcome", Array(data))
        }
        _ = try TokenSecrets.load(configuration)
        let (welcome, hash) = (document, sha)
        return try await database.pool.withConnection { connection in
            try await connection.transaction { connection in
                guard let list = try await ListStore.find(slug, on: connection) else {
                    throw ListServiceError(code: .notFound, message: "no list named \"\(slug)\"; see `listctl lists`")
                }
                try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended('listctl.standing-issue', $1))", list.id)
                let current: Int64? = try await connection.query("SELECT welcome_issue_id FROM lists WHERE id = $1", list.id)[0].decode(at: 0)
                if let current, welcome != nil, try await connection.query(
                    "SELECT 1 FROM issues WHERE id = $1 AND content_sha256 = $2 AND standing", current, hash).first != nil {
                    return .unchanged(issue: current)
                }
                if let current {
                    try await connection.query("UPDATE issues SET standing = false, updated_at = now() WHERE id = $1", current)
                    try await connection.query(LedgerSQL.finish, current)
                }
                guard let welcome else {
                    try await connection.query("UPDATE lists SET welcome_issue_id = NULL, updated_at = now() WHERE id = $1", list.id)
                    return .removed
                }
                // A welcome with this content stored before (set, replaced, set again) stands again rather than being
                // stored twice: who got it once does not get it again.
                if let earlier = try await connection.query("""
                    UPDATE issues SET standing = true, state = 'sending', sent_at = NULL, updated_at = now()
                    WHERE list_id = $1 AND kind = 'welcome' AND content_sha256 = $2 AND state <> 'cancelled'
                    RETURNING id, (SELECT count(*) FROM issue_parts p WHERE p.issue_id = issues.id)::int
                    """, list.id, hash).first {
                    let id: Int64 = try earlier.decode(at: 0)
                    try await connection.query("UPDATE lists SET welcome_issue_id = $2, updated_at = now() WHERE id = $1", list.id, id)
                    return .set(issue: id, parts: try earlier.decode(at: 1))
                }
                let stored = try await store(welcome, kind: "welcome", sha: hash, for: list, on: connection)
                try await connection.query("UPDATE lists SET welcome_issue_id = $2, updated_at = now() WHERE id = $1", list.id, stored.issue)
                return .set(issue: stored.issue, parts: stored.parts)
            }
        }
    }

    /// Renders, splits and stores a standing issue, `sending` from now on.
    private func store(_ document: IssueDocument, kind: String, sha: String, for list: MailingList, on connection: PostgresConnection)
        async throws -> (issue: Int64, parts: Int)
    {
        try await Self.store(document, kind: kind, sha: sha, for: list, on: connection, configuration: configuration)
    }

    private static func store(
        _ document: IssueDocument, kind: String, sha: String, for list: MailingList, on connection: PostgresConnection,
        configuration: ListctlConfiguration
    ) async throws -> (issue: Int64, parts: Int) {
        let (rendered, slug) = try await IssueSubmitter.render(
            document, for: list, at: Date(), budget: IssueRenderer.defaultBudget, on: connection, configuration: configuration)
        let parts = rendered.parts.map(\.stored)
        let id: Int64 = try await connection.query(
            """
            INSERT INTO issues (list_id, subject, preheader, source, content_sha256, state, started_at, slug, budget_bytes, kind, standing)
            VALUES ($1, $2, $3, $4, $5, 'sending', now(), $6, $7, $8, true)
            RETURNING id
            """, list.id, rendered.subject, rendered.preheader ?? "", String(decoding: document.body, as: UTF8.self), sha, slug,
            IssueRenderer.defaultBudget, kind)[0].decode(at: 0)
        try await IssueSubmitter.storeParts(parts, issue: id, on: connection)
        return (id, parts.count)
    }

    /// A standing issue's content hash is its kind's and the text's, so it never collides with an
    /// ordinary issue of the same text (`issues_list_content_idx`).
    static func contentHash(kind: String, _ bytes: [UInt8]) -> String {
        Digest.hex(Digest.sha256(Array("listctl-\(kind)\u{0}".utf8) + bytes))
    }
}
