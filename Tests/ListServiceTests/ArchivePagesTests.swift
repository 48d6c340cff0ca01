import Foundation
import HTTPTypes
import Testing

@testable import ListService

/// The archive's pieces that need no server: the conditional-request rule,
/// HTTP dates, the excerpt under a title, the feed's name-based ids, and the
/// links of the served and the exported layout.
@Suite("Archive pages: caching rules, excerpts, links")
struct ArchivePagesTests {
    static let etag = "\"0123abcd\""
    static let modified = Date(timeIntervalSince1970: 1_733_300_000)

    @Test("304 only for a matching ETag (strong or weak, in a list, or *), else for an If-Modified-Since not before the change; If-None-Match wins")
    func conditionalRequests() {
        func answer(_ fields: [(HTTPField.Name, String)]) -> Bool {
            var headers = HTTPFields()
            for (name, value) in fields { headers.append(HTTPField(name: name, value: value)) }
            return ConditionalRequest.isNotModified(headers, etag: Self.etag, lastModified: Self.modified)
        }
        let date = HTTPDate.format(Self.modified)
        #expect(answer([(.ifNoneMatch, Self.etag)]))
        #expect(answer([(.ifNoneMatch, "\"zz\", W/\(Self.etag)")]))
        #expect(answer([(.ifNoneMatch, "*")]))
        #expect(!answer([(.ifNoneMatch, "\"zz\"")]))
        #expect(!answer([(.ifNoneMatch, "\"0123abc\"")]), "a prefix is not a match")
        #expect(answer([(.ifModifiedSince, date)]))
        #expect(answer([(.ifModifiedSince, HTTPDate.format(Self.modified.addingTimeInterval(60)))]))
        #expect(!answer([(.ifModifiedSince, HTTPDate.format(Self.modified.addingTimeInterval(-1)))]))
        #expect(!answer([(.ifModifiedSince, "yesterday")]), "an unreadable date is no match")
        #expect(!answer([(.ifNoneMatch, "\"zz\""), (.ifModifiedSince, date)]), "If-None-Match wins")
        #expect(!answer([]))
    }

    @Test("HTTP dates: the IMF-fixdate, read back")
    func httpDates() {
        #expect(HTTPDate.format(Date(timeIntervalSince1970: 784_111_777)) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == Date(timeIntervalSince1970: 784_111_777))
        #expect(HTTPDate.parse("06/11/1994") == nil)
    }

    @Test("the excerpt: paragraph text without headings, code, tables or notes, entities decoded, cut at a word")
    func excerpts() {
        let html = """
            <h1>Title</h1><p>Caf&eacute; is not decoded, but &amp; &lt;b&gt; &#233; &#x2014; are.</p>\
            <pre><code>let x = 1</code></pre><table><tr><td>cell</td></tr></table><p>Second<br>line, <a href="x">a link</a>; <em>em</em>phasis.</p>\
            <section class="footnotes"><ol><li>a note</li></ol></section>
            """
        #expect(IssueExcerpt.text(ofSanitized: html) == "Caf&eacute; is not decoded, but & <b> é — are. Second line, a link; emphasis.")
        let long = "<p>" + String(repeating: "word ", count: 100) + "</p>"
        let cut = IssueExcerpt.text(ofSanitized: long, limit: 50)
        #expect(cut == String(repeating: "word ", count: 9) + "word…", "\(cut)")
    }

    @Test("name-based feed ids are stable UUIDs of version 5 layout")
    func urns() {
        let id = ArchivePages.urn("listctl-feed:monthly")
        #expect(id == ArchivePages.urn("listctl-feed:monthly") && id != ArchivePages.urn("listctl-feed:weekly"))
        #expect(id.wholeMatch(of: /urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/) != nil, "\(id)")
    }

    @Test("links: served pages use the public root; exported ones are relative from where each file lies")
    func links() {
        let served = ArchiveLayout.served(root: "https://news.example.org/monthly")
        #expect(served.href(.issue(slug: "a-b"), from: .index(page: 1)) == "/monthly/issues/a-b")
        #expect(served.href(.index(page: 2), from: .feed) == "/monthly/archive?page=2")
        #expect(ArchiveLayout.served(root: "https://news.example.org").href(.feed, from: .index(page: 1)) == "/feed.xml")
        #expect(served.absolute(.issue(slug: "a-b")) == "https://news.example.org/monthly/issues/a-b")
        let exported = ArchiveLayout.exported(root: nil)
        #expect(exported.href(.issue(slug: "a-b"), from: .index(page: 1)) == "issues/a-b/index.html")
        #expect(exported.href(.index(page: 1), from: .issue(slug: "a-b")) == "../../index.html")
        #expect(exported.href(.index(page: 3), from: .index(page: 2)) == "../../page/3/index.html")
        #expect(exported.href(.issue(slug: "x"), from: .archiveFolder) == "../issues/x/index.html")
        #expect(exported.absolute(.feed) == "feed.xml")
        #expect(ArchiveLayout.exported(root: "https://n.example/m").absolute(.issue(slug: "x")) == "https://n.example/m/issues/x")
    }
}
