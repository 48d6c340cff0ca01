public import Postgres
import Foundation
import Mailer

/// Reads and writes `lists`.
public struct ListStore: Sendable {
    public let database: ListDatabase

    public init(database: ListDatabase) { self.database = database }

    static let columns = "id, slug, name, from_name, from_address, reply_to, base_url, postal_address, allow_raw_html, created_at, template, bounce_address, page_template, welcome_issue_id, archive = 'public'"

    /// Every list, by slug.
    public func all() async throws -> [MailingList] {
        try await database.pool.withConnection { connection in
            try await connection.query("SELECT \(Self.columns) FROM lists ORDER BY slug").map(Self.decode)
        }
    }

    /// The list `slug`, or `nil`.
    public func find(_ slug: String) async throws -> MailingList? {
        try await database.pool.withConnection { try await Self.find(slug, on: $0) }
    }

    /// The list `slug`, or a `.notFound` error that says how to create it.
    public func require(_ slug: String) async throws -> MailingList {
        guard let list = try await find(slug) else {
            throw ListServiceError(code: .notFound, message: "no list named \"\(slug)\". Create it with `listctl lists create \(slug)`, or see `listctl lists`.")
        }
        return list
    }

    /// What deleting a list removed.
    public struct Deleted: Sendable, Codable, Equatable {
        public var slug: String
        public var subscriptions: Int
        public var issues: Int
    }

    /// Deletes the list with its subscriptions, issues, parts and ledger rows in one transaction. Subscribers
    /// stay (they may be on other lists), and so do suppressions and the events (their list becomes NULL).
    /// - Throws: `.notFound`; `.conflict` while one of its issues is scheduled, sending or paused
    ///   (cancel it first: a worker must not be left sending to a list that is gone).
    public func delete(_ slug: String) async throws -> Deleted {
        try await database.pool.withConnection { connection in
            try await connection.transaction { connection in
                guard let row = try await connection.query("SELECT id FROM lists WHERE slug = $1 FOR UPDATE", slug).first else {
                    throw ListServiceError(code: .notFound, message: "no list named \"\(slug)\"; see `listctl lists`")
                }
                let id: Int64 = try row.decode(at: 0)
                let live = try await connection.query(
                    "SELECT id, state FROM issues WHERE list_id = $1 AND state IN ('scheduled', 'sending', 'paused') AND NOT standing ORDER BY id", id)
                if let first = live.first {
                    let issue: Int64 = try first.decode(at: 0), state: String = try first.decode(at: 1)
                    throw ListServiceError(
                        code: .conflict,
                        message: "list \(slug) has issue \(issue) \(state): `listctl cancel \(issue)` first (what was sent stays recorded); nothing was deleted")
                }
                let counts = try await connection.query("""
                    SELECT (SELECT count(*) FROM subscriptions WHERE list_id = $1), (SELECT count(*) FROM issues WHERE list_id = $1)
                    """, id)[0]
                // The list's standing issues (confirmation, welcome) go with it; the FKs from lists are cleared first.
                try await connection.query("UPDATE lists SET confirmation_issue_id = NULL, welcome_issue_id = NULL WHERE id = $1", id)
                try await connection.query("DELETE FROM lists WHERE id = $1", id)
                return Deleted(slug: slug, subscriptions: try counts.decode(at: 0), issues: try counts.decode(at: 1))
            }
        }
    }

    /// The list with this id (a token names its list by id), or `nil`.
    public func find(id: Int64) async throws -> MailingList? {
        try await database.pool.withConnection { connection in
            try await connection.query("SELECT \(Self.columns) FROM lists WHERE id = $1", id).first.map(Self.decode)
        }
    }

    static func find(_ slug: String, on connection: PostgresConnection) async throws -> MailingList? {
        try await connection.query("SELECT \(columns) FROM lists WHERE slug = $1", slug).first.map(decode)
    }

    /// Creates a list.
    ///
    /// - Throws: `.conflict` if it exists, `.invalidInput` for a bad slug or field.
    @discardableResult
    public func create(_ slug: String, _ changes: MailingListChanges = MailingListChanges()) async throws -> MailingList {
        try Self.validate(slug: slug)
        let fields = try Self.Fields(changes)
        return try await database.pool.withConnection { connection in
            do {
                let row = try await connection.query(
                    """
                    INSERT INTO lists (slug, name, from_name, from_address, reply_to, base_url, postal_address, allow_raw_html, template,
                                       bounce_address, archive)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULLIF($9, ''), $10, CASE WHEN $11::boolean IS FALSE THEN 'private' ELSE 'public' END)
                    RETURNING \(Self.columns)
                    """,
                    slug, changes.name ?? slug, fields.fromName, fields.fromAddress, fields.replyTo, fields.baseURL,
                    changes.postalAddress, changes.allowRawHTML ?? false, changes.template, fields.bounceAddress, changes.archiveIsPublic)
                return try Self.decode(row[0])
            } catch let error as PostgresError where error.isUniqueViolation {
                throw ListServiceError(code: .conflict, message: "a list named \"\(slug)\" already exists; change it with `listctl lists set \(slug) ...`")
            }
        }
    }

    /// Creates the list `slug` if it does not exist (imports do this), returning it.
    public static func findOrCreate(_ slug: String, on connection: PostgresConnection) async throws -> MailingList {
        try validate(slug: slug)
        try await connection.query("INSERT INTO lists (slug, name) VALUES ($1, $1) ON CONFLICT (slug) DO NOTHING", slug)
        guard let list = try await find(slug, on: connection) else {
            throw ListServiceError(code: .database, message: "list \(slug) vanished while it was being created")
        }
        return list
    }

    /// Changes the fields given in `changes`; an empty string clears an optional field.
    public func update(_ slug: String, _ changes: MailingListChanges) async throws -> MailingList {
        let fields = try Self.Fields(changes)
        return try await database.pool.withConnection { connection in
            let rows = try await connection.query(
                """
                UPDATE lists SET
                    name = COALESCE($2, name),
                    from_name = CASE WHEN $3::boolean THEN $4 ELSE from_name END,
                    from_address = CASE WHEN $3::boolean THEN $5 ELSE from_address END,
                    reply_to = CASE WHEN $6::boolean THEN $7 ELSE reply_to END,
                    base_url = CASE WHEN $8::boolean THEN $9 ELSE base_url END,
                    postal_address = CASE WHEN $10::boolean THEN NULLIF($11, '') ELSE postal_address END,
                    allow_raw_html = COALESCE($12, allow_raw_html),
                    template = CASE WHEN $13::boolean THEN NULLIF($14, '') ELSE template END,
                    bounce_address = CASE WHEN $15::boolean THEN $16 ELSE bounce_address END,
                    page_template = CASE WHEN $17::boolean THEN NULLIF($18, '') ELSE page_template END,
                    archive = CASE WHEN $19::boolean IS NULL THEN archive WHEN $19::boolean THEN 'public' ELSE 'private' END,
                    updated_at = now()
                WHERE slug = $1
                RETURNING \(Self.columns)
                """,
                slug, changes.name, changes.from != nil, fields.fromName, fields.fromAddress,
                changes.replyTo != nil, fields.replyTo, changes.baseURL != nil, fields.baseURL,
                changes.postalAddress != nil, changes.postalAddress, changes.allowRawHTML,
                changes.template != nil, changes.template, changes.bounceAddress != nil, fields.bounceAddress,
                changes.pageTemplate != nil, changes.pageTemplate, changes.archiveIsPublic)
            guard let row = rows.first else {
                throw ListServiceError(code: .notFound, message: "no list named \"\(slug)\". Create it with `listctl lists create \(slug)`.")
            }
            return try Self.decode(row)
        }
    }

    static func validate(slug: String) throws {
        let allowed = slug.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95 }
        guard !slug.isEmpty, slug.utf8.count <= 63, allowed, slug.first != "-", slug.first != "_" else {
            throw ListServiceError(code: .invalidInput, message: "\"\(slug)\" is not a valid list slug: use 1–63 lower-case letters, digits, '-' or '_', starting with a letter or digit")
        }
    }

    /// Validated column values from `MailingListChanges`.
    struct Fields {
        var fromName: String?
        var fromAddress: String?
        var replyTo: String?
        var baseURL: String?
        var bounceAddress: String?

        init(_ changes: MailingListChanges) throws {
            if let given = changes.bounceAddress, !given.isEmpty {
                do {
                    bounceAddress = try EmailAddress(validating: EmailAddress(normalizing: given).address).address
                } catch {
                    throw ListServiceError(code: .invalidInput, message: "--bounce-address: \(error)")
                }
            }
            if let from = changes.from, !from.isEmpty {
                let parsed = try NamedAddress(parsing: from, field: "--from")
                fromName = parsed.name.isEmpty ? nil : parsed.name
                fromAddress = parsed.address
            }
            if let given = changes.replyTo, !given.isEmpty {
                replyTo = try NamedAddress(parsing: given, field: "--reply-to").address
            }
            if let url = changes.baseURL, !url.isEmpty {
                guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(),
                    scheme == "https" || scheme == "http", parsed.host != nil
                else {
                    throw ListServiceError(code: .invalidInput, message: "--base-url: \"\(url)\" is not an http(s) URL (example: https://news.example.com)")
                }
                baseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
            }
            if let template = changes.template, !template.isEmpty {
                // Refused before anything is stored: a list never holds a template that does not parse.
                _ = try EmailTemplate(string: template, name: changes.templateName ?? "--template")
                guard template.utf8.count <= 1_048_576 else {
                    throw ListServiceError(code: .invalidInput, message: "\(changes.templateName ?? "--template"): the template is over 1 MB")
                }
            }
            if let template = changes.pageTemplate, !template.isEmpty {
                _ = try PageTemplate(string: template, name: changes.pageTemplateName ?? "--page-template")
                guard template.utf8.count <= 1_048_576 else {
                    throw ListServiceError(code: .invalidInput, message: "\(changes.pageTemplateName ?? "--page-template"): the template is over 1 MB")
                }
            }
        }
    }

    static func decode(_ row: PostgresRow) throws -> MailingList {
        var list = MailingList(
            id: try row.decode(at: 0), slug: try row.decode(at: 1), name: try row.decode(at: 2),
            fromName: try row.decode(at: 3), fromAddress: try row.decode(at: 4), replyTo: try row.decode(at: 5),
            baseURL: try row.decode(at: 6), postalAddress: try row.decode(at: 7),
            allowRawHTML: try row.decode(at: 8), template: try row.decode(at: 10), createdAt: try row.decode(at: 9))
        list.bounceAddress = try row.decode(at: 11)
        list.pageTemplate = try row.decode(at: 12)
        list.welcomeIssueID = try row.decode(at: 13)
        list.archiveIsPublic = try row.decode(at: 14)
        return list
    }
}
