import Foundation
import Mailer
import Postgres

/// What the public archive holds (docs/ARCHIVE.md), read from the database
/// on every call, so `lists set --archive private` or an issue cancelled
/// shows at once. Each issue is rendered once from its Markdown (or its
/// imported HTML) and kept in ``RenderedIssues`` while it is unchanged.
public struct PublicArchive: Sendable {
    let database: ListDatabase
    let rendered: RenderedIssues

    public init(database: ListDatabase, rendered: RenderedIssues = RenderedIssues()) {
        self.database = database
        self.rendered = rendered
    }

    /// A list's public issues, newest first.
    public struct Contents: Sendable {
        public var list: MailingList
        public var issues: [PublicIssue]
        /// The newest change of the list or of any issue shown: the archive's Last-Modified.
        public var lastModified: Date
    }

    /// Which issues are public: the rule of every archive page, the feed and the export.
    static let publicIssue = """
        i.in_archive AND i.kind = 'issue' AND NOT i.standing AND i.state IN ('sent', 'sending', 'paused')
        """
    static let published = "coalesce(i.sent_at, i.started_at, i.scheduled_at, i.created_at)"

    /// The public issues of `list`, rendered; nil when the list's archive is private (or the list is gone).
    public func contents(of list: MailingList) async throws -> Contents? {
        let rows = try await database.pool.withConnection { connection in
            // Prepared: a public page asks this on every request.
            try await connection.query(
                prepared: """
                SELECT l.archive = 'public', l.updated_at, i.id, i.slug, i.subject, i.preheader, \(Self.published),
                       i.updated_at, i.content_sha256
                FROM lists l LEFT JOIN issues i ON i.list_id = l.id AND \(Self.publicIssue)
                WHERE l.id = $1
                ORDER BY \(Self.published) DESC NULLS LAST, i.id DESC
                """, [list.id]
            )
        }
        guard let first = rows.first, try first.decode(at: 0) as Bool else { return nil }
        var lastModified: Date = try first.decode(at: 1)
        var listed: [PublicIssue] = []
        for row in rows {
            guard let id: Int64 = try row.decode(at: 2) else { continue }
            let updatedAt: Date = try row.decode(at: 7)
            lastModified = max(lastModified, updatedAt)
            listed.append(PublicIssue(
                id: id, listID: list.id, slug: try row.decode(at: 3), subject: try row.decode(at: 4), summary: try row.decode(at: 5),
                publishedAt: try row.decode(at: 6), updatedAt: updatedAt, html: "", contentSHA256: try row.decode(at: 8)))
        }
        let pages = try await html(of: listed.map { ($0.id, $0.contentSHA256) }, allowRawHTML: list.allowRawHTML)
        let issues = listed.map { listedIssue in
            var issue = listedIssue
            // No page: the issue went between the two reads; it shows empty until the next request.
            issue.html = pages[issue.id]?.html ?? ""
            if issue.summary.isEmpty { issue.summary = pages[issue.id]?.excerpt ?? "" }
            return issue
        }
        return Contents(list: list, issues: issues, lastModified: lastModified)
    }

    /// The public issue `slug` of one of `lists` (the lists whose root a request came in under), with the
    /// newest change of it and its list; nil when there is none to show.
    public func issue(slug: String, of lists: [MailingList]) async throws -> (issue: PublicIssue, lastModified: Date)? {
        guard !lists.isEmpty, slug.utf8.count <= 80 else { return nil }
        let row = try await database.pool.withConnection { connection in
            try await connection.query(
                prepared: """
                SELECT i.id, i.list_id, i.subject, i.preheader, \(Self.published), i.updated_at, i.content_sha256, l.updated_at
                FROM issues i JOIN lists l ON l.id = i.list_id
                WHERE i.list_id = ANY ($1) AND i.slug = $2 AND l.archive = 'public' AND \(Self.publicIssue)
                ORDER BY i.list_id LIMIT 1
                """, [lists.map(\.id), slug]
            ).first
        }
        guard let row else { return nil }
        let id: Int64 = try row.decode(at: 0), listID: Int64 = try row.decode(at: 1), sha: String = try row.decode(at: 6)
        let allowRaw = lists.first { $0.id == listID }?.allowRawHTML ?? false
        guard let page = try await html(of: [(id, sha)], allowRawHTML: allowRaw)[id] else { return nil }
        let preheader: String = try row.decode(at: 3)
        let updatedAt: Date = try row.decode(at: 5), listUpdatedAt: Date = try row.decode(at: 7)
        let issue = PublicIssue(
            id: id, listID: listID, slug: slug, subject: try row.decode(at: 2), summary: preheader.isEmpty ? page.excerpt : preheader,
            publishedAt: try row.decode(at: 4), updatedAt: updatedAt, html: page.html, contentSHA256: sha)
        return (issue, max(updatedAt, listUpdatedAt))
    }

    /// The web HTML of issues `(id, content_sha256)`: from ``RenderedIssues`` when unchanged, else read and rendered.
    func html(of issues: [(id: Int64, sha: String)], allowRawHTML: Bool) async throws -> [Int64: RenderedIssues.Page] {
        var pages = await rendered.pages(issues, allowRawHTML: allowRawHTML)
        let missing = issues.map(\.id).filter { pages[$0] == nil }
        guard !missing.isEmpty else { return pages }
        let rows = try await database.pool.withConnection { connection in
            try await connection.query(
                "SELECT id, source, source_format, content_sha256 FROM issues WHERE id = ANY ($1)", missing
            )
        }
        for row in rows {
            let id: Int64 = try row.decode(at: 0), source: String = try row.decode(at: 1), format: String = try row.decode(at: 2)
            let html: String
            if format == "html" {
                html = WebIssueRenderer.html(imported: source)
            } else {
                let document = try IssueDocument.parse(markdown: source, fileName: "issue \(id)")
                html = WebIssueRenderer.html(markdown: document.body, allowRawHTML: allowRawHTML)
            }
            let page = RenderedIssues.Page(
                sha: try row.decode(at: 3), allowRawHTML: allowRawHTML, html: html, excerpt: IssueExcerpt.text(ofSanitized: html))
            await rendered.keep(page, id: id)
            pages[id] = page
        }
        return pages
    }
}

/// Issues rendered for the web, kept while their content and their list's
/// raw-HTML setting stay as they were; at most `capacity` bytes of HTML
/// (the oldest kept go first).
public actor RenderedIssues {
    public struct Page: Sendable {
        var sha: String
        var allowRawHTML: Bool
        var html: String
        var excerpt: String
    }

    let capacity: Int
    private var pages: [Int64: Page] = [:]
    private var order: [Int64] = []
    private var bytes = 0

    public init(capacity: Int = 64 << 20) {
        self.capacity = capacity
    }

    /// The kept pages of `issues` still current (same content hash, same raw-HTML setting), in one call.
    func pages(_ issues: [(id: Int64, sha: String)], allowRawHTML: Bool) -> [Int64: Page] {
        var found: [Int64: Page] = [:]
        for (id, sha) in issues {
            if let page = pages[id], page.sha == sha, page.allowRawHTML == allowRawHTML { found[id] = page }
        }
        return found
    }

    func keep(_ page: Page, id: Int64) {
        if let old = pages.updateValue(page, forKey: id) {
            bytes -= old.html.utf8.count
            order.removeAll { $0 == id }
        }
        order.append(id)
        bytes += page.html.utf8.count
        while bytes > capacity, order.count > 1 {
            let oldest = order.removeFirst()
            if let gone = pages.removeValue(forKey: oldest) { bytes -= gone.html.utf8.count }
        }
    }
}
