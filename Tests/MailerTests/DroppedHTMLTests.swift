import Foundation
import Testing

@testable import Mailer

/// Raw HTML the list does not allow is left out, and the renderer says where.
@Suite("Raw HTML left out: one warning per fragment, at its line in the file")
struct DroppedHTMLTests {
    /// Front matter of three lines, then block HTML at line 6 and inline HTML at 9, 12 and 14.
    static let markdown = """
        ---
        subject: Pictures
        ---
        # Pictures

        <div class="hero"><img src="a.png" srcset="a.webp 2x"></div>

        A first paragraph,
        then a line with <srcset>inline</srcset> tags.

        - an item
        - another <span style="color:red">red</span> one
          spanning a second line <br>

        Footnote.[^1]

        [^1]: A note <b>bold</b>.
        """

    @Test("block and inline HTML get warnings with their file lines and excerpts; an allowing list gets none")
    func lines() throws {
        let document = try IssueDocument.parse(markdown: Self.markdown, fileName: "pictures.md")
        let issue = try IssueRenderer(identity: MailerFixtures.identity).render(document)
        let found = issue.droppedHTML.map { "\($0.line) \($0.isBlock ? "block" : "inline") \($0.excerpt)" }
        #expect(found == [
            "6 block <div class=\"hero\"><img src=\"a.png\" srcset=\"a.webp 2x\"></div>",
            "9 inline <srcset>", "9 inline </srcset>",
            "12 inline <span style=\"color:red\">", "12 inline </span>",
            "13 inline <br>",
            "17 inline <b>", "17 inline </b>",
        ])
        #expect(issue.droppedHTML.allSatisfy { $0.file == "pictures.md" })
        #expect(issue.droppedHTML[0].description.hasPrefix("pictures.md:6: warning: raw HTML left out (block): <div class="))
        // What the warnings name is indeed gone from the mail.
        let html = issue.parts[0].html(for: MailerFixtures.recipient)
        #expect(!html.contains("srcset") && !html.contains("hero"))

        var allowing = MailerFixtures.identity
        allowing.allowRawHTML = true
        let kept = try IssueRenderer(identity: allowing).render(document)
        #expect(kept.droppedHTML.isEmpty)
        #expect(kept.parts[0].html(for: MailerFixtures.recipient).contains("srcset=\"a.webp 2x\""))
    }

    @Test("a long fragment is cut to a short excerpt, whitespace folded")
    func excerpt() throws {
        let long = "<div class=\"x\">\n" + String(repeating: "word ", count: 40) + "\n</div>\n"
        let document = try IssueDocument.parse(markdown: "Intro.\n\n" + long, fileName: "a.md")
        let issue = try IssueRenderer(identity: MailerFixtures.identity).render(document)
        let only = try #require(issue.droppedHTML.first)
        #expect(issue.droppedHTML.count == 1 && only.line == 3 && only.isBlock)
        #expect(only.excerpt.count == DroppedHTML.excerptLength && only.excerpt.hasSuffix("…") && !only.excerpt.contains("\n"))
    }
}
