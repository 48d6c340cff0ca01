public import Foundation
import Postgres

/// One issue as `listctl issues` shows it.
public struct IssueSummary: Sendable, Codable, Hashable {
    public var id: Int64
    public var list: String
    public var subject: String
    /// draft | scheduled | sending | sent | cancelled
    public var state: String
    /// markdown, or html for issues imported from an archive.
    public var sourceFormat: String
    public var scheduledAt: Date?
    public var sentAt: Date?
    public var createdAt: Date
    /// The last segment of its page in the public archive, `<root>/issues/<slug>`.
    public var slug: String
    /// Whether it is shown in the list's public archive (front matter `archive: false` leaves it out).
    public var inArchive: Bool
}

/// Reads the issues of a list (sent, archived, scheduled and drafts).
public struct IssueList: Sendable {
    public let database: ListDatabase

    public init(database: ListDatabase) { self.database = database }

    /// The issues of `list` (every list when `nil`), newest first by the
    /// time they went out, are due, or were written.
    ///
    /// - Throws: ``ListServiceError`` `.notFound` for a list that does not exist.
    public func issues(list: String? = nil) async throws -> [IssueSummary] {
        try await database.pool.withConnection { connection in
            if let list, try await connection.query("SELECT 1 FROM lists WHERE slug = $1", list).isEmpty {
                throw ListServiceError(code: .notFound, message: "no list named \"\(list)\"; see `listctl lists`")
            }
            let rows = try await connection.query(
                """
                SELECT i.id, l.slug, i.subject, i.state, i.source_format, i.scheduled_at, i.sent_at, i.created_at, i.slug, i.in_archive
                FROM issues i JOIN lists l ON l.id = i.list_id
                WHERE ($1::text IS NULL OR l.slug = $1) AND i.kind = 'issue'
                ORDER BY COALESCE(i.sent_at, i.scheduled_at, i.created_at) DESC, i.id DESC
                """, list)
            return try rows.map { row in
                IssueSummary(
                    id: try row.decode(at: 0), list: try row.decode(at: 1), subject: try row.decode(at: 2),
                    state: try row.decode(at: 3), sourceFormat: try row.decode(at: 4), scheduledAt: try row.decode(at: 5),
                    sentAt: try row.decode(at: 6), createdAt: try row.decode(at: 7),
                    slug: try row.decode(at: 8), inArchive: try row.decode(at: 9))
            }
        }
    }
}
