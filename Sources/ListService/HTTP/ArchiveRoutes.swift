import Foundation
import HTTPTypes
import Hummingbird
import Mailer

/// The public archive under each list's root (docs/ARCHIVE.md): `GET <root>/archive` (newest first, paginated
/// with `?page=N`), `GET <root>/issues/{slug}` (the whole issue, the page every mailed part links to) and
/// `GET <root>/feed.xml` (Atom 1.0). 404 for what is not public: a private list, an `archive: false` issue,
/// a confirmation or welcome issue, one not sent. The pages carry no token of anyone's, forbid scripts, and
/// are cacheable: `ETag`, `Last-Modified`, `Cache-Control`, and 304 on a match.
extension SubscriberHTTPService {
    /// The lists whose public root the request came in under (the host and the path before the action), from
    /// the list cache: a name or template change shows within its lifetime; who may read is asked of the database.
    /// - Parameter readOnMiss: read the lists again when none in the cache matches (false for a path that is
    ///   only maybe a root, so that a stranger's random paths cost no database read).
    func listsRooted(at request: Request, prefix: [String], readOnMiss: Bool = true) async throws -> [MailingList] {
        let host = request.head.authority
        return try await lists.all(readOnMiss: readOnMiss) { root(of: $0)?.matches(host: host, prefix: prefix) == true }
    }

    /// `GET <root>/issues/{slug}`.
    func archivedIssue(_ request: Request, slug: String, prefix: [String]) async throws -> Response {
        if let refused = Self.refuseUnlessRead(request) { return refused }
        let lists = try await listsRooted(at: request, prefix: prefix)
        guard let (issue, lastModified) = try await archive.issue(slug: slug, of: lists),
              let list = lists.first(where: { $0.id == issue.listID }), let root = list.publicBaseURL(default: configuration.defaultBaseURL)
        else { return Self.notFound("There is no issue here.") }
        let answer = archiveAnswers.answer(
            "issue \(issue.id)", fingerprint: ArchiveResponseCache.fingerprint(list, root: root, issues: [issue], lastModified: lastModified)
        ) {
            PageTemplate.frame(ArchivePages(list: list, layout: .served(root: root)).issue(issue), list: list)
        }
        return Self.cacheable(request, answer, contentType: "text/html; charset=utf-8", lastModified: lastModified)
    }

    /// `GET <root>/archive` and `GET <root>/archive?page=N`.
    func archiveIndex(_ request: Request, prefix: [String]) async throws -> Response {
        if let refused = Self.refuseUnlessRead(request) { return refused }
        let pageText = request.uri.queryParameters["page"].map(String.init) ?? "1"
        guard let number = Int(pageText), let (list, found) = try await publicContents(request, prefix: prefix),
              number >= 1, number <= ArchivePages.pageCount(issues: found.contents.issues.count)
        else { return Self.notFound("There is no archive page here.") }
        let issues = found.contents.issues
        let answer = archiveAnswers.answer(
            "archive \(list.id) \(number)",
            fingerprint: ArchiveResponseCache.fingerprint(list, root: found.root, issues: issues, lastModified: found.contents.lastModified)
        ) {
            let page = ArchivePages(list: list, layout: .served(root: found.root)).index(issues, page: number)
            return page.map { PageTemplate.frame($0, list: list) } ?? ""
        }
        return Self.cacheable(request, answer, contentType: "text/html; charset=utf-8", lastModified: found.contents.lastModified)
    }

    /// `GET <root>/feed.xml`.
    func archiveFeed(_ request: Request, prefix: [String]) async throws -> Response {
        if let refused = Self.refuseUnlessRead(request) { return refused }
        guard let (list, found) = try await publicContents(request, prefix: prefix) else {
            return Self.notFound("There is no feed here.")
        }
        let (issues, updated) = (found.contents.issues, found.contents.lastModified)
        let answer = archiveAnswers.answer(
            "feed \(list.id)", fingerprint: ArchiveResponseCache.fingerprint(list, root: found.root, issues: issues, lastModified: updated)
        ) {
            ArchivePages(list: list, layout: .served(root: found.root)).feed(issues, updated: updated)
        }
        return Self.cacheable(request, answer, contentType: "application/atom+xml; charset=utf-8", lastModified: updated)
    }

    /// `GET <root>` itself: the archive is the list's front page.
    func archiveFront(_ request: Request, prefix: [String]) async throws -> Response? {
        guard request.method == .get || request.method == .head,
              let list = try await listsRooted(at: request, prefix: prefix, readOnMiss: false).first(where: \.archiveIsPublic),
              let root = list.publicBaseURL(default: configuration.defaultBaseURL)
        else { return nil }
        return Response(status: .found, headers: [.location: root + "/archive", .cacheControl: "no-store"])
    }

    /// The public list under the request's root with its contents, or nil (no such list, or a private archive).
    private func publicContents(_ request: Request, prefix: [String]) async throws
        -> (MailingList, (root: String, contents: PublicArchive.Contents))?
    {
        // Not filtered on the cached `archiveIsPublic`: the database says (contents is nil for a private list).
        for list in try await listsRooted(at: request, prefix: prefix) {
            guard let root = list.publicBaseURL(default: configuration.defaultBaseURL),
                  let contents = try await archive.contents(of: list)
            else { continue }
            return (list, (root, contents))
        }
        return nil
    }

    static func refuseUnlessRead(_ request: Request) -> Response? {
        request.method == .get || request.method == .head ? nil : Response(status: .methodNotAllowed, headers: [.allow: "GET, HEAD"])
    }

    // MARK: HTTP caching

    /// How long a cache may keep an archive page before asking again: a list made private, or an issue
    /// taken out, is gone from shared caches within that time.
    static let archiveMaxAge = 300

    /// A 200 with the answer's body, or a bodiless 304 when the request's `If-None-Match` names its ETag (or,
    /// without one, its `If-Modified-Since` is not before `lastModified`). The ETag is the SHA-256 of the body,
    /// so any change of the page (its issue, its list, its template, the settings) makes a new one.
    static func cacheable(_ request: Request, _ answer: ArchiveResponseCache.Answer, contentType: String, lastModified: Date) -> Response {
        let etag = answer.etag
        let modified = Date(timeIntervalSince1970: lastModified.timeIntervalSince1970.rounded(.down))
        var headers: HTTPFields = [
            .eTag: etag, .lastModified: HTTPDate.format(modified), .cacheControl: "public, max-age=\(archiveMaxAge)",
            .contentSecurityPolicy: servicePagePolicy, HTTPField.Name.referrerPolicy: "no-referrer",
        ]
        if ConditionalRequest.isNotModified(request.headers, etag: etag, lastModified: modified) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = contentType
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}

/// RFC 9110 §13.1: whether a GET may be answered 304.
enum ConditionalRequest {
    static func isNotModified(_ headers: HTTPFields, etag: String, lastModified: Date) -> Bool {
        let matches = headers[values: .ifNoneMatch]
        if !matches.isEmpty {
            // If-None-Match wins over If-Modified-Since; weak comparison, as the RFC asks for GET.
            let tags = matches.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
            return tags.contains { $0 == "*" || opaque($0) == opaque(etag) }
        }
        if let since = headers[.ifModifiedSince].flatMap(HTTPDate.parse) {
            return lastModified <= since
        }
        return false
    }

    static func opaque(_ tag: String) -> String { tag.hasPrefix("W/") ? String(tag.dropFirst(2)) : tag }
}

/// The IMF-fixdate of HTTP (`Sun, 06 Nov 1994 08:49:37 GMT`).
enum HTTPDate {
    static let style = Date.VerbatimFormatStyle(
        format: """
            \(weekday: .abbreviated), \(day: .twoDigits) \(month: .abbreviated) \(year: .extended(minimumLength: 4)) \
            \(hour: .twoDigits(clock: .twentyFourHour, hourCycle: .zeroBased)):\(minute: .twoDigits):\(second: .twoDigits) GMT
            """,
        locale: Locale(identifier: "en_US_POSIX"), timeZone: .gmt, calendar: Calendar(identifier: .gregorian))

    static func format(_ date: Date) -> String { date.formatted(style) }

    /// The IMF-fixdate a client echoes back; nil for what does not read as one.
    static func parse(_ text: String) -> Date? {
        try? Date(text.trimmingCharacters(in: .whitespaces), strategy: Date.ParseStrategy(
            format: "\(weekday: .abbreviated), \(day: .twoDigits) \(month: .abbreviated) \(year: .extended(minimumLength: 4)) \(hour: .twoDigits(clock: .twentyFourHour, hourCycle: .zeroBased)):\(minute: .twoDigits):\(second: .twoDigits) GMT",
            locale: Locale(identifier: "en_US_POSIX"), timeZone: .gmt))
    }
}
