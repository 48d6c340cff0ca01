import Foundation
import Mailer

/// Where the archive's links point (docs/ARCHIVE.md).
public enum ArchiveLayout: Sendable, Equatable {
    /// Pages `listctl serve` answers under a list's public root: links by path from the root's
    /// (`/monthly/archive?page=N`), so they hold behind any proxy that keeps paths, over http or https.
    case served(root: String)
    /// Static files of `listctl archive export`: relative links between `index.html`, `page/N/index.html`,
    /// `issues/<slug>/index.html` and `feed.xml`, so the folder reads with no server. `root`, the list's
    /// public root when it has one, gives the feed its absolute ids and the pages their subscribe link.
    case exported(root: String?)

    public var root: String? {
        switch self {
        case .served(let root): root
        case .exported(let root): root
        }
    }
}

/// One of the archive's pages or its feed, as a link target.
enum ArchiveTarget: Equatable {
    case index(page: Int)
    case issue(slug: String)
    case feed
    /// The export's copy of the first page at `archive/index.html`, where `List-Archive` (`<root>/archive`) points.
    case archiveFolder
}

extension ArchiveLayout {
    /// The file an exported target is written to, relative to the export folder.
    static func file(_ target: ArchiveTarget) -> String {
        switch target {
        case .index(let page): page <= 1 ? "index.html" : "page/\(page)/index.html"
        case .issue(let slug): "issues/\(slug)/index.html"
        case .feed: "feed.xml"
        case .archiveFolder: "archive/index.html"
        }
    }

    /// How many folders deep the exported file of `target` is.
    static func depth(_ target: ArchiveTarget) -> Int {
        file(target).split(separator: "/").count - 1
    }

    /// The link to `target` on the page (or feed) `from`.
    func href(_ target: ArchiveTarget, from: ArchiveTarget) -> String {
        switch self {
        case .served(let root):
            return Self.path(of: root) + Self.servedPath(target)
        case .exported:
            return String(repeating: "../", count: Self.depth(from)) + Self.file(target)
        }
    }

    /// The absolute URL of `target` when the root is known (the feed's ids and links), else the exported file's path.
    func absolute(_ target: ArchiveTarget) -> String {
        guard let root else { return Self.file(target) }
        return root + Self.servedPath(target)
    }

    /// Where `serve` answers for `target`, under the root.
    static func servedPath(_ target: ArchiveTarget) -> String {
        switch target {
        case .index(let page): page <= 1 ? "/archive" : "/archive?page=\(page)"
        case .issue(let slug): "/issues/" + slug
        case .feed: "/feed.xml"
        case .archiveFolder: "/archive"
        }
    }

    /// The path of a root URL (`https://news.example.org/monthly` → `/monthly`; a bare host → ``).
    static func path(of root: String) -> String {
        let path = URLComponents(string: root)?.percentEncodedPath ?? ""
        return path.hasSuffix("/") ? String(path.dropLast()) : path
    }
}

/// The archive's pages and its Atom feed, the same for `serve` and for the
/// static export (only the links differ, by ``ArchiveLayout``). The pages go
/// into the list's page template; they carry the list's name, no token of
/// anyone's, and a link to `<root>/subscribe` when the list has a root.
struct ArchivePages {
    let list: MailingList
    let layout: ArchiveLayout

    /// Issues on one page of the archive's list.
    static let pageSize = 20

    static func pageCount(issues: Int) -> Int { max(1, (issues + pageSize - 1) / pageSize) }

    // MARK: The archive's list

    /// Page `number` (from 1) of `issues` (newest first); nil past the last page.
    /// - Parameter place: where the page is, when not at its own place (the export's `archive/index.html`).
    func index(_ issues: [PublicIssue], page number: Int, at place: ArchiveTarget? = nil) -> ServicePages.Page? {
        let pages = Self.pageCount(issues: issues.count)
        guard number >= 1, number <= pages else { return nil }
        let here = place ?? ArchiveTarget.index(page: number)
        let shown = issues.dropFirst((number - 1) * Self.pageSize).prefix(Self.pageSize)
        var content = "<header class=\"archive\">\n<h1>\(escape(list.name))</h1>\n"
        content += "<p class=\"note\">Every issue, whole. <a href=\"\(escape(layout.href(.feed, from: here)))\">Atom feed</a>"
        if let subscribe = subscribeURL { content += " · <a href=\"\(escape(subscribe))\">Subscribe</a>" }
        content += "</p>\n</header>\n"
        if issues.isEmpty {
            content += "<p>No issue has been published here yet.</p>\n"
        } else {
            content += "<ol class=\"issues\">\n"
            for issue in shown {
                content += "<li>\n<h2><a href=\"\(escape(layout.href(.issue(slug: issue.slug), from: here)))\">\(escape(Self.title(of: issue)))</a></h2>\n"
                content += "<p class=\"date\">\(Self.time(issue.publishedAt))</p>\n"
                if !issue.summary.isEmpty { content += "<p>\(escape(issue.summary))</p>\n" }
                content += "</li>\n"
            }
            content += "</ol>\n"
        }
        if pages > 1 {
            content += "<nav class=\"pages\" aria-label=\"More issues\">\n"
            if number > 1 { content += "<a rel=\"prev\" href=\"\(escape(layout.href(.index(page: number - 1), from: here)))\">← Newer issues</a>\n" }
            content += "<span>Page \(number) of \(pages)</span>\n"
            if number < pages { content += "<a rel=\"next\" href=\"\(escape(layout.href(.index(page: number + 1), from: here)))\">Older issues →</a>\n" }
            content += "</nav>\n"
        }
        let title = number == 1 ? "\(list.name): the archive" : "\(list.name): the archive, page \(number)"
        return ServicePages.Page(title: title, content: content, feedURL: layout.href(.feed, from: here))
    }

    // MARK: An issue's page

    /// An issue, whole: its title (the issue's own opening heading, else its subject), the date and the
    /// list's name, the content, the way back to the archive and a way to subscribe. No part navigation.
    func issue(_ issue: PublicIssue) -> ServicePages.Page {
        let here = ArchiveTarget.issue(slug: issue.slug)
        let archive = escape(layout.href(.index(page: 1), from: here))
        let dateLine = "<p class=\"date\">\(Self.time(issue.publishedAt)) · <a href=\"\(archive)\">\(escape(list.name))</a></p>\n"
        var content = "<article>\n"
        if issue.opensWithTitle, let end = issue.html.range(of: "</h1>") {
            content += issue.html[..<end.upperBound] + "\n" + dateLine + issue.html[end.upperBound...]
        } else {
            content += "<h1>\(escape(issue.subject))</h1>\n" + dateLine + issue.html
        }
        content += "\n</article>\n<footer class=\"archive\">\n<p><a href=\"\(archive)\">All issues of \(escape(list.name))</a>"
        if let subscribe = subscribeURL { content += " · <a href=\"\(escape(subscribe))\">Subscribe to \(escape(list.name))</a>" }
        content += "</p>\n</footer>\n"
        return ServicePages.Page(title: Self.title(of: issue), content: content, feedURL: layout.href(.feed, from: here))
    }

    // MARK: The feed

    /// The archive as Atom 1.0 (RFC 4287): one entry per public issue, newest first, each with its whole HTML.
    func feed(_ issues: [PublicIssue], updated: Date) -> String {
        let author = list.fromName.flatMap { $0.isEmpty ? nil : $0 } ?? list.name
        var xml = """
            <?xml version="1.0" encoding="utf-8"?>
            <feed xmlns="http://www.w3.org/2005/Atom">
            <id>\(xmlEscape(feedID))</id>
            <title>\(xmlEscape(list.name))</title>
            <updated>\(Self.rfc3339(updated))</updated>
            <author><name>\(xmlEscape(author))</name></author>
            <link rel="self" type="application/atom+xml" href="\(xmlEscape(layout.absolute(.feed)))"/>
            <link rel="alternate" type="text/html" href="\(xmlEscape(layout.absolute(.index(page: 1))))"/>
            <generator version="\(ListctlVersion.current)">listctl</generator>

            """
        for issue in issues {
            xml += """
                <entry>
                <id>\(xmlEscape(entryID(issue)))</id>
                <title>\(xmlEscape(Self.title(of: issue)))</title>
                <link rel="alternate" type="text/html" href="\(xmlEscape(layout.absolute(.issue(slug: issue.slug))))"/>
                <published>\(Self.rfc3339(issue.publishedAt))</published>
                <updated>\(Self.rfc3339(issue.publishedAt))</updated>

                """
            if !issue.summary.isEmpty { xml += "<summary>\(xmlEscape(issue.summary))</summary>\n" }
            xml += "<content type=\"html\">\(xmlEscape(issue.html))</content>\n</entry>\n"
        }
        return xml + "</feed>\n"
    }

    /// The feed's id: its own URL when the list has a root, else a name-based URN that stays the same.
    var feedID: String {
        layout.root != nil ? layout.absolute(.feed) : Self.urn("listctl-feed:" + list.slug)
    }

    func entryID(_ issue: PublicIssue) -> String {
        layout.root != nil ? layout.absolute(.issue(slug: issue.slug)) : Self.urn("listctl-issue:\(list.slug)/\(issue.slug)")
    }

    /// `urn:uuid:` of the SHA-256 of `name` (the layout of a version 5 UUID, with SHA-256 for SHA-1).
    static func urn(_ name: String) -> String {
        var bytes = Array(Digest.sha256(Array(name.utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x50
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = Digest.hex(bytes)
        let groups = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { range in
            String(hex[hex.index(hex.startIndex, offsetBy: range.lowerBound)..<hex.index(hex.startIndex, offsetBy: range.upperBound)])
        }
        return "urn:uuid:" + groups.joined(separator: "-")
    }

    // MARK: Pieces

    var subscribeURL: String? { layout.root.map { $0 + "/subscribe" } }

    /// An issue's title: its own opening heading's text when it has one, else its subject.
    static func title(of issue: PublicIssue) -> String {
        guard issue.opensWithTitle, let start = issue.html.range(of: ">"), let end = issue.html.range(of: "</h1>"),
              start.upperBound <= end.lowerBound
        else { return issue.subject }
        let heading = IssueExcerpt.text(ofSanitized: "<p>" + issue.html[start.upperBound..<end.lowerBound] + "</p>", limit: 200)
        return heading.isEmpty ? issue.subject : heading
    }

    static func time(_ date: Date) -> String {
        "<time datetime=\"\(rfc3339(date))\">\(date.formatted(dayFormat))</time>"
    }

    static func rfc3339(_ date: Date) -> String { date.formatted(.iso8601) }

    /// "4 December 2026", in UTC.
    static let dayFormat = Date.VerbatimFormatStyle(
        format: "\(day: .defaultDigits) \(month: .wide) \(year: .defaultDigits)",
        locale: Locale(identifier: "en_US_POSIX"), timeZone: .gmt, calendar: Calendar(identifier: .gregorian))

    func escape(_ text: String) -> String { HTMLEscaping.escape(text) }

    /// Text for XML 1.0: escaped, and without the characters XML cannot hold (C0 controls but tab and line breaks,
    /// U+FFFE, U+FFFF), which an old letter may carry.
    func xmlEscape(_ text: String) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
