import Foundation
import Testing

@testable import Mailer

/// The whole issue as a web page's content: unsplit, footnotes at the end with
/// their way back, nothing that runs code, nothing of a subscriber's.
@Suite("Web rendering of a whole issue (the archive page)")
struct WebIssueRendererTests {
    static let issue = """
        # The long letter

        A first paragraph, citing a note.[^one] Then ~~struck~~ text and https://example.org/auto.

        | a | b |
        |---|---|
        | 1 | 2 |

        - [x] done
        - [ ] not yet

        Raw <b>bold</b> and <script>alert(1)</script> inline, and [a bad link](javascript:alert(1)).

        A second citation.[^two]

        [^one]: The first note.
        [^two]: The second note, with a [link](https://example.org/note).
        """

    @Test("footnotes as a list at the end, each linking back to its citation; tables, strikethrough, autolinks; raw HTML and javascript: links left out")
    func markdown() throws {
        let html = WebIssueRenderer.html(markdown: Array(Self.issue.utf8))
        #expect(html.contains("<h1>The long letter</h1>"), "\(html)")
        #expect(html.contains("<del>struck</del>") && html.contains("<a href=\"https://example.org/auto\">"))
        #expect(html.contains("<table>") && html.contains("<td>1</td>"))
        #expect(html.contains("☑ done") && html.contains("☐ not yet"), "task boxes as text")
        // Footnotes: cited where they are, listed once at the very end, each with a back-link.
        let cite = try #require(html.range(of: "href=\"#fn-one\""))
        let notes = try #require(html.range(of: "<section class=\"footnotes\""))
        #expect(cite.lowerBound < notes.lowerBound, "cited before the list")
        #expect(html[notes.lowerBound...].contains("The first note.") && html[notes.lowerBound...].contains("The second note"))
        #expect(html.contains("href=\"#fnref-one\"") && html.contains("href=\"#fnref-two\""), "a way back from each note")
        #expect(!html[..<notes.lowerBound].contains("The first note."), "notes are not inline")
        #expect(html.trimmingCharacters(in: .whitespacesAndNewlines).hasSuffix("</section>"), "the notes end the page")
        // Safe mode.
        #expect(!html.contains("<script") && !html.contains("<b>bold</b>"), "raw HTML left out by default")
        #expect(!html.contains("javascript:"))
        #expect(!html.lowercased().contains("unsubscribe") && !html.contains("{{"), "nothing of a subscriber's")
        let audited = try HTMLSanitizerTests.audit([html])
        #expect(audited.status == 0, "\(audited.output)")
    }

    @Test("many renders at once on many threads give the same page (cmark-gfm's extension registry is set up once)")
    func concurrentRenders() async {
        let expected = WebIssueRenderer.html(markdown: Array(Self.issue.utf8))
        let pages = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    (0..<25).map { _ in WebIssueRenderer.html(markdown: Array(Self.issue.utf8), allowRawHTML: Bool.random()) }
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(pages.count == 200)
        #expect(pages.allSatisfy { $0 == expected || $0.contains("<b>bold</b>") }, "each page is one of the two renders")
    }

    @Test("a list that allows raw HTML: kept, then sanitised; an imported letter: sanitised")
    func rawAndImported() throws {
        let html = WebIssueRenderer.html(markdown: Array(Self.issue.utf8), allowRawHTML: true)
        #expect(html.contains("<b>bold</b>"), "\(html)")
        #expect(!html.contains("<script") && !html.contains("alert(1)</"), "\(html)")
        #expect(html.contains("href=\"#fnref-one\""), "footnote links survive the sanitiser")
        let letter = WebIssueRenderer.html(imported: "<html><body><p onclick=x>Hi <a href=\"https://a.example\">there</a></p><script>x()</script></body></html>")
        #expect(letter == "<p>Hi <a href=\"https://a.example\">there</a></p>", "\(letter)")
        let audited = try HTMLSanitizerTests.audit([html, letter])
        #expect(audited.status == 0, "\(audited.output)")
    }
}
