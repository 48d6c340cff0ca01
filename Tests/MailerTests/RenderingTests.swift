import Foundation
import Testing

@testable import Mailer

@Suite("Rendering")
struct RenderingTests {
    static func realistic() throws -> (IssueDocument, RenderedIssue) {
        let data = try #require(FileManager.default.contents(atPath: MailerFixtures.golden("realistic-issue.md").path))
        let document = try IssueDocument.parse(bytes: Array(data), fileName: "realistic-issue.md")
        let issue = try IssueRenderer(identity: MailerFixtures.identity).render(
            document, viewInBrowserURL: "https://letters.example.org/issues/12")
        return (document, issue)
    }

    @Test("a realistic issue renders to the golden HTML, text and MIME")
    func golden() throws {
        let (document, issue) = try Self.realistic()
        #expect(document.subject == "The Long Letter #12: Ports, tables & footnotes")
        #expect(document.preheader == "A short tour of what changed this month")
        #expect(document.list == "long-letter")
        #expect(issue.parts.count == 1)
        let part = try #require(issue.parts.first)
        #expect(part.subject == "The Long Letter #12: Ports, tables & footnotes")
        try MailerFixtures.expectGolden(Array(part.html(for: MailerFixtures.recipient).utf8), "realistic-issue.html")
        try MailerFixtures.expectGolden(Array(part.text(for: MailerFixtures.recipient).utf8), "realistic-issue.txt")
        let builder = try MessageBuilder(identity: MailerFixtures.identity, issueID: "12", parts: issue.parts)
        let message = try builder.message(for: MailerFixtures.recipient, part: 1, date: MailerFixtures.date)
        try MailerFixtures.expectGolden(message.data, "realistic-issue.eml")
        try MailerFixtures.expectValidHTML([part.html(for: MailerFixtures.recipient)])
    }

    @Test("the same input gives byte-identical parts")
    func deterministic() throws {
        let markdown = try String(contentsOf: MailerFixtures.golden("realistic-issue.md"), encoding: .utf8)
        let a = try MailerFixtures.render(markdown + String(repeating: "\nMore text here. And more.\n", count: 3000), budget: 20_000)
        let b = try MailerFixtures.render(markdown + String(repeating: "\nMore text here. And more.\n", count: 3000), budget: 20_000)
        #expect(a.parts.count > 2)
        #expect(a.parts.map(\.encodedHTML) == b.parts.map(\.encodedHTML))
        #expect(a.parts.map(\.encodedText) == b.parts.map(\.encodedText))
    }

    @Test("the HTML uses the email features: inline styles, tables, hidden preheader, footer")
    func emailFeatures() throws {
        let (_, issue) = try Self.realistic()
        let html = issue.parts[0].html(for: MailerFixtures.recipient)
        #expect(!html.contains("<style"))
        #expect(html.contains("role=\"presentation\""))
        #expect(html.contains("display:none") && html.contains("A short tour of what changed this month"))
        #expect(html.contains("View in browser") && html.contains("https://letters.example.org/issues/12"))
        #expect(html.contains("1 Harbour Road, 3011 Rotterdam"))
        #expect(html.contains("href=\"https://letters.example.org/unsubscribe/tok_42-abcdef\""))
        #expect(html.contains("<del>bad</del>"))
        #expect(html.contains("&#9745; Moved the list"))
        #expect(html.contains("text-align:right;\">1200</td>"))
        #expect(!html.contains("Raw HTML is dropped"), "raw HTML must be dropped by default")
        #expect(!html.contains("Part 1 of"), "a single part has no navigation")
        let text = issue.parts[0].text(for: MailerFixtures.recipient)
        #expect(text.contains("archive page <https://example.org/archive>"))
        #expect(text.contains("| Rotterdam | 1200  | 41%   |"))
        #expect(text.contains("[1] Figures are rounded"))
        #expect(text.contains("Unsubscribe: https://letters.example.org/unsubscribe/tok_42-abcdef"))
    }

    @Test("raw HTML passes through only when the list allows it; dangerous links never do")
    func rawHTML() throws {
        let markdown = "<div class=\"x\">kept?</div>\n\nA <b>bold</b> [link](javascript:alert(1)) and ![i](data:image/png;base64,AAAA)\n"
        let dropped = try MailerFixtures.render(markdown).parts[0].html(for: MailerFixtures.recipient)
        #expect(!dropped.contains("kept?") && !dropped.contains("<b>"))
        #expect(!dropped.contains("javascript:"))
        #expect(dropped.contains("src=\"data:image/png;base64,AAAA\""))
        var identity = MailerFixtures.identity
        identity.allowRawHTML = true
        let kept = try MailerFixtures.render(markdown, identity: identity).parts[0].html(for: MailerFixtures.recipient)
        #expect(kept.contains("<div class=\"x\">kept?</div>") && kept.contains("<b>bold</b>"))
        #expect(!kept.contains("javascript:"))
    }

    @Test("bad front matter is an error naming the line", arguments: [
        ("---\nsubject: Hi\nauthor: me\n---\nbody\n", 3, "unknown front matter key"),
        ("---\nsubject: Hi\njust words\n---\nbody\n", 3, "not `key: value`"),
        ("---\nsubject: Hi\n\nbody without end\n", 1, "never closed"),
        ("---\nsubject: \"unterminated\n---\n", 2, "unterminated"),
    ])
    func badFrontMatter(markdown: String, line: Int, message: String) throws {
        let error = try #require(throws: MailerError.self) { try IssueDocument.parse(markdown: markdown, fileName: "bad.md") }
        #expect(error.code == .frontMatter)
        #expect(error.line == line)
        #expect(error.file == "bad.md")
        #expect(error.message.contains(message))
        #expect(error.description.hasPrefix("bad.md:\(line): "))
    }

    @Test("front matter is optional; the subject falls back to the first heading")
    func noFrontMatter() throws {
        let document = try IssueDocument.parse(markdown: "Intro\r\n\r\n# A *fine* title\r\n\r\nText.\r\n", fileName: "x.md")
        #expect(document.subject == nil && document.bodyLineOffset == 0)
        #expect(!document.body.contains(13))
        let issue = try IssueRenderer(identity: MailerFixtures.identity).render(document)
        #expect(issue.subject == "A fine title")
    }

    @Test("a user template replaces the built-in one; one without {{{content}}} is refused")
    func userTemplate() throws {
        let template = try EmailTemplate(
            string: "<html><head><title>{{subject}}</title></head><body>{{#is_split}}<p>Part {{part_number}} of {{part_total}}</p>{{/is_split}}\n{{{content}}}\n<p>{{#is_split}}Part {{part_number}} of {{part_total}}{{/is_split}} <a href=\"{{unsubscribe_url}}\">Leave</a> {{email}}</p></body></html>\n",
            name: "mine.mustache")
        let document = try IssueDocument.parse(markdown: String(repeating: "Words and more words. ", count: 4000), fileName: "t.md")
        let issue = try IssueRenderer(identity: MailerFixtures.identity, template: template, budget: 30_000).render(document)
        #expect(issue.parts.count > 1)
        for part in issue.parts {
            #expect(part.encodedHTMLBytes <= 30_000)
            #expect(part.html(for: MailerFixtures.recipient).contains("<a href=\"https://letters.example.org/unsubscribe/tok_42-abcdef\">Leave</a>"))
        }
        try MailerFixtures.expectValidHTML(issue.parts.map { $0.html(for: MailerFixtures.recipient) })
        let error = try #require(throws: MailerError.self) { try EmailTemplate(string: "<p>{{subject}}</p>", name: "broken.mustache") }
        #expect(error.code == .template)
        let syntax = try #require(throws: MailerError.self) { try EmailTemplate(string: "{{{content}}}\n{{#a}}\n", name: "open.mustache") }
        #expect(syntax.code == .template)
    }
}
