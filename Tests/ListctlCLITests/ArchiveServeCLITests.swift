import Foundation
import Postgres
import TestSupport
import Testing

/// `GET <root>/issues/{slug}` through `listctl serve`: the page that the
/// "View in browser" link of every mailed part opens.
@Suite("listctl serve: an issue's page in the archive")
struct ArchiveServeCLITests {
    typealias Fixture = DeliveryCLITests.Fixture

    /// The issue-page path (under https://news.example.org) in the mail `subject` sent into `outbox`.
    static func issuePath(_ outbox: URL, subject: String) async throws -> String? {
        let mails = try await DoubleOptInCLITests.mails(outbox).filter { $0.subject.contains(subject) }
        return mails.first?.path("issues")
    }

    @Test("the link in the mail opens the whole issue: 200, its text and footnotes (followed both ways in headless Chromium, a screenshot), no token, scripts forbidden, a way to subscribe; archive: false, a private list, an unknown slug or another host: 404")
    func issuePage() async throws {
        try await DeliveryCLITests.withFixture { fixture in
            try await fixture.makeList("monthly", DeliveryCLITests.people("page", 2))
            let outbox = fixture.work.appendingPathComponent("outbox")
            let transport: [String: String?] = ["LISTCTL_TRANSPORT": "outbox://\(outbox.path)"]
            let shown = fixture.work.appendingPathComponent("shown.md")
            try """
                ---
                subject: The shown letter
                ---

                # The shown letter

                A paragraph that cites a note.[^n] And <script>alert(1)</script> raw.

                [^n]: The note itself.
                """.write(to: shown, atomically: true, encoding: .utf8)
            let hidden = fixture.work.appendingPathComponent("hidden.md")
            try "---\nsubject: The hidden letter\narchive: false\n---\n\nNot for the web.\n".write(to: hidden, atomically: true, encoding: .utf8)
            for file in [shown, hidden] {
                let (sent, _) = try await fixture.send(file.path, list: "monthly", env: transport)
                #expect(sent.status == 0, "\(sent.stderr)")
            }
            let shownPath = try #require(try await Self.issuePath(outbox, subject: "The shown letter"), "the mail links to its page")
            let hiddenPath = try #require(try await Self.issuePath(outbox, subject: "The hidden letter"))
            #expect(shownPath.hasPrefix("/monthly/issues/"), "\(shownPath)")

            let server = try await ServeCLITests.serve(fixture.cli())
            let page = try await ServeCLITests.request(server, shownPath)
            #expect(page.status == 200, "\(page.status) \(page.body)")
            #expect(page.body.contains("<title>The shown letter") && page.body.contains("A paragraph that cites a note."), "\(page.body)")
            #expect(page.body.contains("The note itself.") && page.body.contains("href=\"#fnref-n\""), "the note, with its way back")
            #expect(!page.body.contains("<script"), "raw HTML left out (the words between the tags stay, as text)")
            #expect(!page.body.contains("/unsubscribe/") && !page.body.contains("/preferences/"), "nobody's token")
            #expect(page.body.contains("href=\"https://news.example.org/monthly/subscribe\""), "a way to subscribe")
            #expect(page.body.components(separatedBy: "<h1").count == 2, "one title")
            let headers = page.headers.lowercased()
            #expect(headers.contains("content-security-policy: default-src 'none'") && !headers.contains("script-src"), "\(page.headers)")

            // As a person reads it, in Chromium on a phone-sized window: a note and the way back.
            let browser = try await BrowserPages.run("issue", ["--url", "http://news.example.org" + shownPath], port: server.port, work: fixture.work)
            BrowserPages.expectPlainAndPhoneSized(browser.seen, pages: ["issue"])
            #expect((browser.seen["issue"]?["title"] as? String)?.contains("The shown letter") == true)
            #expect((browser.seen["note"]?["url"] as? String)?.hasSuffix("#fn-n") == true, "\(browser.seen)")
            #expect((browser.seen["back"]?["url"] as? String)?.hasSuffix("#fnref-n") == true, "\(browser.seen)")
            BrowserPages.expectScreenshots(browser.screenshots, ["issue.png"])

            for (path, host, why) in [(hiddenPath, "news.example.org", "archive: false"), ("/monthly/issues/no-such-issue", "news.example.org", "unknown"),
                                      (shownPath, "evil.example.net", "another host")] {
                let missing = try await ServeCLITests.request(server, path, host: host)
                #expect(missing.status == 404, "\(why): \(missing.status)")
                #expect(!missing.body.contains("Not for the web") && !missing.body.contains("cites a note"), "\(why)")
            }
            let privately = try await fixture.run("lists", "set", "monthly", "--archive", "private")
            #expect(privately.status == 0, "\(privately.stderr)")
            let closed = try await ServeCLITests.request(server, shownPath)
            #expect(closed.status == 404 && !closed.body.contains("cites a note"), "a private list's issue: \(closed.status)")
            _ = try server.stop()
        }
    }
}
