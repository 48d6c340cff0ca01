import Foundation
import TestSupport
import Testing

/// The public archive through `listctl serve` and `listctl archive export`
/// (docs/ARCHIVE.md): the archive's list, an issue's page, the Atom feed, HTTP
/// caching, the static export, and each read by something other than listctl
/// (Python's feedparser and html.parser, headless Chromium).
@Suite("listctl serve and archive export: the archive, the feed, the static files")
struct ArchivePagesCLITests {
    typealias Fixture = DeliveryCLITests.Fixture

    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")
    static let longIssueSubject = "The Long Letter, No. 12 — on clipping"

    /// Runs Tests/tools/archive_check.py and reads its JSON.
    static func check(_ arguments: [String]) async throws -> [String: Any] {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tools/archive_check.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let (data, errors) = try await onThread { () -> (Data, Data) in
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile(), errors = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (data, errors)
        }
        print("measured: archive_check \(arguments.first ?? ""): \(String(decoding: data.prefix(600), as: UTF8.self))")
        return try #require(try? JSONSerialization.jsonObject(with: data) as? [String: Any], "archive_check: \(String(decoding: errors, as: UTF8.self))")
    }

    /// A header's value in the raw headers curl wrote (the last response's), or nil.
    static func header(_ name: String, in headers: String) -> String? {
        headers.components(separatedBy: "\r\n").last { $0.lowercased().hasPrefix(name.lowercased() + ":") }
            .map { String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces) }
    }

    /// The text between the first `<open` and the `close` after it.
    static func element(_ html: String, open: String, close: String) -> String? {
        guard let start = html.range(of: open), let end = html.range(of: close, range: start.upperBound..<html.endIndex) else { return nil }
        return String(html[start.lowerBound..<end.upperBound])
    }

    /// The headers of each message in the outbox whose subject contains `subject`, unfolded.
    static func mailHeaders(_ outbox: URL, subject: String) throws -> [String] {
        let folder = outbox.appendingPathComponent("new")
        return try FileManager.default.contentsOfDirectory(atPath: folder.path).compactMap { file in
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            let head = text.components(separatedBy: "\r\n\r\n")[0].replacingOccurrences(of: "\r\n ", with: " ")
            return head.contains(subject) || head.contains("=?utf-8?") ? head : nil
        }
    }

    @Test("the archive lists sent and imported issues newest first with their dates, the issue page holds every word and each footnote once, the feed is valid Atom, 304 on a match, the export matches and reads from disk; Chromium on a phone and a desktop")
    func archiveFeedAndExport() async throws {
        try await DeliveryCLITests.withFixture { fixture in
            try await fixture.makeList("monthly", DeliveryCLITests.people("arch", 2))
            let outbox = fixture.work.appendingPathComponent("outbox")
            let transport: [String: String?] = ["LISTCTL_TRANSPORT": "outbox://\(outbox.path)"]

            // TinyLetter's letters, with where they will be visible.
            let letters = Self.examples.appendingPathComponent("tinyletter-letters.csv").path
            let imported = try await fixture.run("import", letters, "--list", "monthly")
            #expect(imported.status == 0, "\(imported.stderr)")
            #expect(imported.stdout.contains("letters: the issues are public at https://news.example.org/monthly/archive"), "\(imported.stdout)")

            // The long issue (split into parts) and one left out of the archive.
            let long = Self.examples.appendingPathComponent("long-issue.md")
            let (sent, _) = try await fixture.send(long.path, list: "monthly", env: transport)
            #expect(sent.status == 0, "\(sent.stderr)")
            let hidden = fixture.work.appendingPathComponent("hidden.md")
            try "---\nsubject: The hidden letter\narchive: false\n---\n\nNot for the web.\n".write(to: hidden, atomically: true, encoding: .utf8)
            #expect(try await fixture.send(hidden.path, list: "monthly", env: transport).result.status == 0)
            let mails = try await DoubleOptInCLITests.mails(outbox).filter { $0.subject.contains("No. 12") }
            #expect(mails.count >= 4, "two people, at least two parts each: \(mails.count)")
            let issuePath = try #require(mails.first?.path("issues"), "the parts link to the issue's page")
            #expect(mails.allSatisfy { $0.path("issues") == issuePath }, "every part of every mail links to the one page")
            for head in try Self.mailHeaders(outbox, subject: "No. 12") {
                #expect(head.contains("\r\nList-Archive: <https://news.example.org/monthly/archive>\r\n"), "List-Archive in every part: \(head)")
            }

            let server = try await ServeCLITests.serve(fixture.cli())

            // The archive's list.
            let index = try await ServeCLITests.request(server, "/monthly/archive")
            #expect(index.status == 200, "\(index.status) \(index.body)")
            let titles = ["The Long Letter, No. 12 — on clipping", "No. 4: Moving house", "No. 3: A table of small numbers",
                          "On reading slowly", "No. 1: Why a letter, and why a long one"]
            let positions = titles.map { index.body.range(of: ">" + $0.replacingOccurrences(of: "'", with: "&#39;") + "</a>")?.lowerBound }
            #expect(positions.allSatisfy { $0 != nil }, "every issue listed: \(index.body)")
            #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted(), "newest first")
            for date in ["14 March 2019", "11 April 2019", "9 May 2019", "20 January 2024"] {
                #expect(index.body.contains(date), "the letter's original date \(date)")
            }
            #expect(index.body.contains("A long issue, split so no mail client clips it."), "the preheader under the title")
            #expect(index.body.contains("Dear reader, This is the first of these letters."), "a letter's opening, for want of a preheader")
            #expect(!index.body.contains("The hidden letter") && !index.body.contains("<script"), "\(index.body)")
            #expect(index.body.contains("<link rel=\"alternate\" type=\"application/atom+xml\"") && index.body.contains("href=\"/monthly/feed.xml\""))

            // The root itself leads to the archive; a path that is no root is still 404.
            let front = try await ServeCLITests.request(server, "/monthly")
            #expect(front.status == 302 && Self.header("Location", in: front.headers) == "https://news.example.org/monthly/archive", "\(front.status) \(front.headers)")
            #expect(try await ServeCLITests.request(server, "/no-such-root").status == 404)

            // HTTP caching.
            let etag = try #require(Self.header("ETag", in: index.headers)), modified = try #require(Self.header("Last-Modified", in: index.headers))
            #expect(Self.header("Cache-Control", in: index.headers) == "public, max-age=300")
            #expect(modified.hasSuffix(" GMT") && modified.count == 29, "an IMF-fixdate: \(modified)")
            for (arguments, expected, why) in [
                (["-H", "If-None-Match: \(etag)"], 304, "its ETag"), (["-H", "If-None-Match: \"x\", W/\(etag)"], 304, "among others, weak"),
                (["-H", "If-Modified-Since: \(modified)"], 304, "not modified since"), (["-H", "If-None-Match: \"other\""], 200, "another ETag"),
                (["-H", "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT"], 200, "modified since"),
            ] {
                let answer = try await ServeCLITests.request(server, "/monthly/archive", curlArguments: arguments)
                #expect(answer.status == expected, "\(why): \(answer.status)")
                if expected == 304 { #expect(answer.body.isEmpty && Self.header("ETag", in: answer.headers) == etag, "\(why)") }
            }

            // An issue's page: every word of the issue in order, each footnote once.
            let page = try await ServeCLITests.request(server, issuePath)
            #expect(page.status == 200 && Self.header("ETag", in: page.headers) != nil, "\(page.status)")
            let pageFile = fixture.work.appendingPathComponent("issue.html")
            try page.body.write(to: pageFile, atomically: true, encoding: .utf8)
            let words = try await Self.check(["words", "--page", pageFile.path, "--markdown", long.path, "--title", Self.longIssueSubject])
            #expect(words["sameWords"] as? Bool == true, "\(words)")
            #expect(words["sameNotes"] as? Bool == true && words["notesInBody"] as? Int == 0, "\(words)")
            #expect((words["notes"] as? Int ?? 0) > 10 && words["notes"] as? Int == words["sourceNotes"] as? Int, "\(words)")
            #expect((words["pageWords"] as? Int ?? 0) > 5000, "\(words)")
            let repeated = try await ServeCLITests.request(server, issuePath, curlArguments: ["-H", "If-None-Match: \(Self.header("ETag", in: page.headers) ?? "")"])
            #expect(repeated.status == 304)

            // The feed.
            let feed = try await ServeCLITests.request(server, "/monthly/feed.xml")
            #expect(feed.status == 200 && Self.header("Content-Type", in: feed.headers)?.hasPrefix("application/atom+xml") == true, "\(feed.headers)")
            let feedFile = fixture.work.appendingPathComponent("feed.xml")
            try feed.body.write(to: feedFile, atomically: true, encoding: .utf8)
            let parsed = try await Self.check(["feed", feedFile.path])
            #expect(parsed["bozo"] as? Bool == false && parsed["version"] as? String == "atom10", "\(parsed["bozoException"] ?? "")")
            #expect(parsed["id"] as? String == "https://news.example.org/monthly/feed.xml" && parsed["author"] as? String != nil)
            let entries = parsed["entries"] as? [[String: Any]] ?? []
            #expect(entries.map { $0["title"] as? String ?? "" } == titles, "\(entries.map { $0["title"] ?? "" })")
            #expect(Set(entries.compactMap { $0["id"] as? String }).count == 5)
            #expect(entries.allSatisfy { ($0["id"] as? String)?.hasPrefix("https://news.example.org/monthly/issues/") == true && $0["contentType"] as? String == "text/html" })
            #expect(entries.last?["published"] as? String == "2019-03-14T09:12:00Z", "\(entries.last ?? [:])")
            #expect(entries.allSatisfy { !($0["content"] as? String ?? "<script").contains("<script") && !($0["content"] as? String ?? "").isEmpty })
            #expect((entries.first?["content"] as? String)?.contains("class=\"footnotes\"") == true, "the long issue whole, notes and all")
            // The letter that carried a script, an onclick and a javascript: link: its words stay, none of those.
            let tableLetter = try #require(entries.first { $0["title"] as? String == "No. 3: A table of small numbers" }?["link"] as? String)
            let letter = try await ServeCLITests.request(server, String(tableLetter.dropFirst("https://news.example.org".count)))
            #expect(letter.status == 200 && letter.body.contains("Thank you for every one of them.") && letter.body.contains("<td>31</td>"), "\(letter.status)")
            for banned in ["<script", "onclick", "javascript:", "tracker.example.net"] {
                #expect(!letter.body.lowercased().contains(banned), "\(banned) left out of the imported letter")
            }
            #expect(letter.body.contains("14 March 2019") == false && letter.body.contains("9 May 2019"), "its own original date")
            let feedAgain = try await ServeCLITests.request(server, "/monthly/feed.xml", curlArguments: ["-H", "If-None-Match: \(Self.header("ETag", in: feed.headers) ?? "")"])
            #expect(feedAgain.status == 304)

            // The static export: the same pages, relative links that resolve, the same feed.
            let folder = fixture.work.appendingPathComponent("site")
            let export = try await fixture.run("archive", "export", "--list", "monthly", "--out", folder.path)
            #expect(export.status == 0 && export.stdout.contains("5 issues"), "\(export.stdout) \(export.stderr)")
            let slug = String(issuePath.split(separator: "/").last ?? "")
            let exportedPage = try String(contentsOf: folder.appendingPathComponent("issues/\(slug)/index.html"), encoding: .utf8)
            let servedArticle = Self.element(page.body, open: "<article>", close: "</article>")?
                .replacingOccurrences(of: "\"/monthly/archive\"", with: "\"ARCHIVE\"")
            let exportedArticle = Self.element(exportedPage, open: "<article>", close: "</article>")?
                .replacingOccurrences(of: "\"../../index.html\"", with: "\"ARCHIVE\"")
            #expect(servedArticle != nil && servedArticle == exportedArticle, "the exported page is the served one")
            let exportedIndex = try String(contentsOf: folder.appendingPathComponent("index.html"), encoding: .utf8)
            let servedList = Self.element(index.body, open: "<ol class=\"issues\">", close: "</ol>")?
                .replacingOccurrences(of: "\"/monthly/issues/", with: "\"ISSUE/")
            let exportedList = Self.element(exportedIndex, open: "<ol class=\"issues\">", close: "</ol>")?
                .replacingOccurrences(of: "\"issues/", with: "\"ISSUE/").replacingOccurrences(of: "/index.html\"", with: "\"")
            #expect(servedList != nil && servedList == exportedList, "the exported archive lists what serve lists")
            for file in ["index.html", "archive/index.html", "issues/\(slug)/index.html"] {
                let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
                for match in text.matches(of: /href="([^"#:]+)"/) {
                    let target = folder.appendingPathComponent(file).deletingLastPathComponent().appendingPathComponent(String(match.1)).standardizedFileURL
                    #expect(FileManager.default.fileExists(atPath: target.path), "\(file) links to \(match.1), which exists")
                }
            }
            let exportedFeed = try await Self.check(["feed", folder.appendingPathComponent("feed.xml").path])
            #expect(exportedFeed["bozo"] as? Bool == false)
            #expect((exportedFeed["entries"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == entries.compactMap { $0["id"] as? String })
            let again = try await fixture.run("archive", "export", "--list", "monthly", "--out", folder.path)
            #expect(again.status == 0, "an earlier export is replaced: \(again.stderr)")

            // Read as a person reads it: Chromium at 390 and 1280 pixels, then the export from disk.
            let browser = try await BrowserPages.run(
                "archive", ["--url", "http://news.example.org/monthly/archive", "--open", Self.longIssueSubject,
                            "--static-url", "file://" + folder.appendingPathComponent("index.html").path],
                port: server.port, work: fixture.work)
            BrowserPages.expectPlainAndPhoneSized(browser.seen, pages: ["archive-phone", "issue-phone"])
            #expect((browser.seen["archive-phone"]?["issues"] as? [String]) == titles, "\(browser.seen["archive-phone"] ?? [:])")
            for size in ["phone", "desktop"] {
                let issue = browser.seen["issue-\(size)"] ?? [:]
                #expect((issue["url"] as? String)?.hasSuffix(issuePath) == true, "\(size): \(issue)")
                #expect((issue["note"] as? String)?.contains("#fn-") == true && (issue["back"] as? String)?.contains("#fnref-") == true, "\(size): \(issue)")
                #expect((issue["backToArchive"] as? String)?.hasSuffix("/monthly/archive") == true, "\(size): \(issue)")
            }
            let desktop = browser.seen["issue-desktop"]?["column"] as? [String: Int] ?? [:]
            #expect((desktop["width"] ?? 0) >= 480 && (desktop["width"] ?? 9999) <= 720, "a reading column on a desktop: \(desktop)")
            #expect((desktop["left"] ?? 0) > 200 && (desktop["scrollWidth"] ?? 9999) <= (desktop["window"] ?? 0), "centred, nothing wider than the window: \(desktop)")
            let exported = browser.seen["export"] ?? [:]
            #expect((exported["issues"] as? [String]) == titles, "\(exported)")
            #expect(((exported["issue"] as? [String: Any])?["url"] as? String)?.hasSuffix("issues/\(slug)/index.html") == true, "\(exported)")
            #expect((exported["backToArchive"] as? String)?.hasSuffix("/site/index.html") == true, "\(exported)")
            BrowserPages.expectScreenshots(browser.screenshots, ["archive-phone.png", "archive-desktop.png", "issue-phone.png", "issue-desktop.png", "export-issue.png"])

            // A new letter shows at once: a new answer and ETag, and the old ETag gets the new page.
            let late = fixture.work.appendingPathComponent("late.csv")
            try "Subject,Content,Created_At\r\nNo. 5: A late letter,<p>Found in a drawer.</p>,2025-06-01 10:00:00 UTC\r\n"
                .write(to: late, atomically: true, encoding: .utf8)
            #expect(try await fixture.run("import", late.path, "--list", "monthly").status == 0)
            let changed = try await ServeCLITests.request(server, "/monthly/archive", curlArguments: ["-H", "If-None-Match: \(etag)"])
            #expect(changed.status == 200 && changed.body.contains(">No. 5: A late letter</a>") && Self.header("ETag", in: changed.headers) != etag,
                    "\(changed.status) \(changed.headers)")
            let newFeed = try await ServeCLITests.request(server, "/monthly/feed.xml")
            #expect(newFeed.body.contains("No. 5: A late letter") && newFeed.body.components(separatedBy: "<entry>").count == 7)

            // Private: no page, no feed, no export.
            #expect(try await fixture.run("lists", "set", "monthly", "--archive", "private").status == 0)
            for path in ["/monthly/archive", "/monthly/feed.xml", issuePath] {
                let closed = try await ServeCLITests.request(server, path)
                #expect(closed.status == 404 && !closed.body.contains("No. 4"), "\(path): \(closed.status)")
            }
            let refused = try await fixture.run("archive", "export", "--list", "monthly", "--out", fixture.work.appendingPathComponent("other").path)
            #expect(refused.status != 0 && refused.stderr.contains("private"), "\(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: fixture.work.appendingPathComponent("other").path))
            _ = try server.stop()
        }
    }

    @Test("archive export refuses a folder that is not an earlier export, and a file, touching neither; the list's page template frames the archive; a private list's mail has no List-Archive and its letters import says so")
    func exportRefusalsAndPrivateList() async throws {
        try await DeliveryCLITests.withFixture { fixture in
            try await fixture.makeList("weekly", DeliveryCLITests.people("weekly", 1))
            let letters = fixture.work.appendingPathComponent("letters.csv")
            try "Subject,Content,Created_At\r\nOld one,<p>An old letter.</p>,2020-02-02 10:00:00 UTC\r\n".write(to: letters, atomically: true, encoding: .utf8)
            #expect(try await fixture.run("import", letters.path, "--list", "weekly").status == 0)

            let foreign = fixture.work.appendingPathComponent("photos")
            try FileManager.default.createDirectory(at: foreign, withIntermediateDirectories: true)
            try "keep me".write(to: foreign.appendingPathComponent("holiday.txt"), atomically: true, encoding: .utf8)
            let refused = try await fixture.run("archive", "export", "--list", "weekly", "--out", foreign.path)
            #expect(refused.status != 0 && refused.stderr.contains("not an archive export"), "\(refused.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: foreign.path) == ["holiday.txt"], "nothing there touched")
            let file = foreign.appendingPathComponent("holiday.txt")
            let onFile = try await fixture.run("archive", "export", "--list", "weekly", "--out", file.path)
            #expect(onFile.status != 0 && onFile.stderr.contains("is a file"), "\(onFile.stderr)")
            #expect(try String(contentsOf: file, encoding: .utf8) == "keep me")
            let unknown = try await fixture.run("archive", "export", "--list", "nope", "--out", fixture.work.appendingPathComponent("x").path)
            #expect(unknown.status != 0 && unknown.stderr.contains("nope"), "\(unknown.stderr)")
            let parentless = try await fixture.run("archive", "export", "--list", "weekly", "--out", "/proc/listctl-archive")
            #expect(parentless.status != 0 && parentless.stderr.contains("cannot write"), "\(parentless.stderr)")

            // The list's own page template frames the archive too, with the feed's link.
            let template = fixture.work.appendingPathComponent("frame.html")
            try "<!DOCTYPE html><html><head><title>{{title}}</title></head><body class=\"mine\">{{list_name}}<main>{{{content}}}</main><a href=\"{{feed_url}}\">feed</a></body></html>"
                .write(to: template, atomically: true, encoding: .utf8)
            #expect(try await fixture.run("lists", "set", "weekly", "--page-template", template.path).status == 0)
            let site = fixture.work.appendingPathComponent("site")
            #expect(try await fixture.run("archive", "export", "--list", "weekly", "--out", site.path).status == 0)
            let framed = try String(contentsOf: site.appendingPathComponent("index.html"), encoding: .utf8)
            #expect(framed.contains("<body class=\"mine\">The weekly letter<main>") && framed.contains("<a href=\"feed.xml\">feed</a>"), "\(framed)")
            #expect(framed.contains(">Old one</a>") && framed.contains("2 February 2020"), "\(framed)")

            #expect(try await fixture.run("lists", "set", "weekly", "--archive", "private").status == 0)
            let more = fixture.work.appendingPathComponent("more.csv")
            try "Subject,Content,Created_At\r\nOlder one,<p>Older.</p>,2019-02-02 10:00:00 UTC\r\n".write(to: more, atomically: true, encoding: .utf8)
            let imported = try await fixture.run("import", more.path, "--list", "weekly")
            #expect(imported.stdout.contains("letters: the archive of list weekly is private"), "\(imported.stdout)")
            let outbox = fixture.work.appendingPathComponent("outbox")
            let (sent, _) = try await fixture.send(try fixture.shortIssue("private", subject: "A private issue"), list: "weekly",
                                                   env: ["LISTCTL_TRANSPORT": "outbox://\(outbox.path)"])
            #expect(sent.status == 0, "\(sent.stderr)")
            let heads = try Self.mailHeaders(outbox, subject: "A private issue")
            #expect(heads.count == 1 && heads.allSatisfy { !$0.contains("List-Archive") && $0.contains("List-Unsubscribe") }, "\(heads)")
        }
    }
}
