import Foundation
import Mailer
import Postgres

/// An issue as the public archive shows it (docs/ARCHIVE.md): sent (or
/// going out), not a standing confirmation or welcome issue, not left out
/// with `archive: false`, of a list whose archive is public. Its content is
/// rendered whole for the web, never with anything of a subscriber's.
public struct PublicIssue: Sendable {
    public var listID: Int64
    public var subject: String
    /// When it went out (an imported letter: its original date).
    public var sentAt: Date
    /// The page's content: the whole issue, sanitised.
    public var html: String

    /// The public issue `slug` of one of `lists`, or nil when there is none to show.
    public static func load(slug: String, of lists: [MailingList], from database: ListDatabase) async throws -> PublicIssue? {
        guard !lists.isEmpty, slug.utf8.count <= 80 else { return nil }
        let row = try await database.pool.withConnection { connection in
            try await connection.query(
                """
                SELECT i.list_id, i.subject, i.source, i.source_format,
                       coalesce(i.sent_at, i.started_at, i.scheduled_at, i.created_at)
                FROM issues i JOIN lists l ON l.id = i.list_id
                WHERE i.list_id = ANY ($1) AND i.slug = $2 AND l.archive = 'public' AND i.in_archive AND NOT i.standing
                  AND i.state IN ('sent', 'sending')
                ORDER BY i.list_id LIMIT 1
                """, lists.map(\.id), slug
            ).first
        }
        guard let row else { return nil }
        let listID: Int64 = try row.decode(at: 0)
        let source: String = try row.decode(at: 2), format: String = try row.decode(at: 3)
        let html: String
        if format == "html" {
            html = WebIssueRenderer.html(imported: source)
        } else {
            let document = try IssueDocument.parse(markdown: source, fileName: slug)
            let allowRaw = lists.first { $0.id == listID }?.allowRawHTML ?? false
            html = WebIssueRenderer.html(markdown: document.body, allowRawHTML: allowRaw)
        }
        return PublicIssue(
            listID: listID, subject: try row.decode(at: 1), sentAt: try row.decode(at: 4), html: html)
    }
}
