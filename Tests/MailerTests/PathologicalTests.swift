import Foundation
import Testing

@testable import Mailer

@Suite("Pathological issues")
struct PathologicalTests {
    static func check(_ markdown: String, budget: Int = IssueRenderer.defaultBudget, minParts: Int = 2) throws -> RenderedIssue {
        let issue = try MailerFixtures.render(markdown, budget: budget)
        #expect(issue.parts.count >= minParts)
        try MailerFixtures.expectSplitInvariants(issue, markdown: markdown, budget: budget)
        try MailerFixtures.expectValidHTML(issue.parts.map { $0.html(for: MailerFixtures.recipient) })
        return issue
    }

    @Test("one 200 KB paragraph is cut between sentences")
    func hugeParagraph() throws {
        var sentences: [String] = []
        var size = 0
        var i = 0
        while size < 200_000 {
            let s = "Sentence \(i) talks about harbour cranes & ships, at some length."
            sentences.append(s)
            size += s.utf8.count + 1
            i += 1
        }
        let issue = try Self.check(sentences.joined(separator: " ") + "\n")
        // Each part but the last ends at a sentence end.
        for part in issue.parts.dropLast() { #expect(part.bodyText.hasSuffix(". ")) }
    }

    @Test("one 200 KB paragraph without any full stop is cut between words")
    func hugeParagraphNoSentences() throws {
        _ = try Self.check(String(repeating: "word ", count: 40_000) + "end\n")
    }

    @Test("a 2,000-row table is cut between rows and repeats its header")
    func hugeTable() throws {
        var markdown = "# Ports\n\n| Port | Ships | Share |\n|:--|--:|:-:|\n"
        for row in 0..<2_000 { markdown += "| Port number \(row) | \(row * 7) | \(row % 100)% |\n" }
        let issue = try Self.check(markdown)
        for part in issue.parts {
            let html = part.html(for: MailerFixtures.recipient)
            #expect(html.components(separatedBy: "<thead>").count == 2, "part \(part.number) lacks the header row")
            #expect(html.contains(">Port</th>"))
            if part.number > 1 { #expect(part.text(for: MailerFixtures.recipient).contains("| Port ")) }
        }
    }

    @Test("a 3,000-line code block is cut between lines")
    func hugeCode() throws {
        var markdown = "```swift\n"
        for line in 0..<3_000 { markdown += "let line\(line) = \"<value \(line)>\" // & more\n" }
        markdown += "```\n"
        let issue = try Self.check(markdown)
        for part in issue.parts { #expect(part.html(for: MailerFixtures.recipient).contains("<pre ")) }
    }

    @Test("a 2,000-item list is cut between items and numbering continues")
    func hugeList() throws {
        var markdown = ""
        for item in 1...2_000 { markdown += "\(item). Item number \(item) with [a link](https://example.org/\(item)) and more words to make it longer\n" }
        let issue = try Self.check(markdown)
        let second = issue.parts[1].html(for: MailerFixtures.recipient)
        #expect(second.contains("<ol start=\""))
    }

    @Test("deep nesting renders and splits without overflowing the stack")
    func deepNesting() throws {
        let quotes = String(repeating: "> ", count: 500) + "deep\n\n"
        var lists = ""
        for level in 0..<300 { lists += String(repeating: "  ", count: level) + "- level \(level)\n" }
        let emphasis = String(repeating: "*a ", count: 2_000) + "x" + String(repeating: " a*", count: 2_000) + "\n\n"
        let markdown = quotes + lists + "\n" + emphasis + String(repeating: "Filler paragraph with words. ", count: 5_000) + "\n"
        _ = try Self.check(markdown, budget: 60_000)
    }

    @Test("a document of only headings splits, ending parts on headings only where unavoidable")
    func onlyHeadings() throws {
        var markdown = ""
        for heading in 0..<4_000 { markdown += "## Heading number \(heading)\n" }
        let issue = try MailerFixtures.render(markdown)
        #expect(issue.parts.count >= 2)
        for part in issue.parts { #expect(part.encodedHTMLBytes <= IssueRenderer.defaultBudget) }
        #expect(issue.parts.map(\.bodyText).joined() == (try MailerFixtures.render(markdown, budget: 1 << 40)).text)
        try MailerFixtures.expectValidHTML(issue.parts.map { $0.html(for: MailerFixtures.recipient) })
    }

    @Test("a single block that cannot be cut and is over budget is an error naming its line")
    func unsplittable() throws {
        let image = "---\nsubject: x\n---\nIntro.\n\n![huge](data:image/png;base64,\(String(repeating: "A", count: 120_000)))\n"
        let error = try #require(throws: MailerError.self) { try MailerFixtures.render(image) }
        #expect(error.code == .blockTooLarge)
        #expect(error.line == 6)
        #expect(error.file == "test.md")
        var identity = MailerFixtures.identity
        identity.allowRawHTML = true
        let raw = "Intro.\n\n<div>\n" + String(repeating: "<span>raw</span>", count: 8_000) + "\n</div>\n"
        let rawError = try #require(throws: MailerError.self) { try MailerFixtures.render(raw, identity: identity) }
        #expect(rawError.code == .blockTooLarge && rawError.line == 3)
        #expect(rawError.message.contains("raw HTML block"))
    }

    @Test("an issue that fits is one message with no part marks")
    func fits() throws {
        let issue = try MailerFixtures.render("# Hi\n\nShort.\n")
        #expect(issue.parts.count == 1)
        #expect(issue.parts[0].subject == "Hi")
        #expect(!issue.parts[0].html(for: MailerFixtures.recipient).contains("Part 1 of"))
        #expect(!issue.parts[0].text(for: MailerFixtures.recipient).contains("Part 1 of"))
    }

    @Test("parts prefer to start at headings")
    func headingsPreferred() throws {
        var markdown = ""
        for section in 1...12 {
            markdown += "## Section \(section)\n\n"
            for _ in 0..<12 { markdown += String(repeating: "Words about the sea and ships. ", count: 12) + "\n\n" }
        }
        let issue = try Self.check(markdown, budget: 40_000)
        let atHeadings = issue.parts.dropFirst().filter { $0.bodyText.hasPrefix("Section ") }.count
        #expect(atHeadings == issue.parts.count - 1, "\(atHeadings) of \(issue.parts.count - 1) parts start at a heading")
    }
}
