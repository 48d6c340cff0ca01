import Foundation
import TestSupport
import Testing

/// `listctl lists set SLUG --template FILE`: stored, and used by preview and
/// send --to alike, so that what a writer previews is what subscribers get.
@Suite("A list's own e-mail template")
struct ListTemplateCLITests {
    @Test("set, used by preview and send --to, shown in lists, refused when broken (nothing changed), cleared with \"\"")
    func listTemplate() async throws {
        try await withTemporaryDatabase { database in
            let work = try makeTemporaryDirectory("cli")
            let outbox = work.appendingPathComponent("outbox")
            let cli = CLI(databaseURL: database.url, home: work, extra: ["LISTCTL_TRANSPORT": "outbox://\(outbox.path)"])
            #expect(try await cli.run("migrate").status == 0)
            #expect(try await cli.run("lists", "create", "weekly", "--from", "Ann <ann@example.com>", "--base-url", "https://news.example.com").status == 0)

            // The built-in template with a marker added, as a writer would start.
            let builtIn = try await cli.run("preview", "--print-template", "x.md")
            #expect(builtIn.status == 0)
            let template = work.appendingPathComponent("weekly.mustache")
            let marked = builtIn.stdout.replacingOccurrences(of: "{{{content}}}", with: "<p>WEEKLY-FRAME-MARK</p>{{{content}}}")
            #expect(marked != builtIn.stdout, "the built-in template has a {{{content}}} to mark")
            try marked.write(to: template, atomically: true, encoding: .utf8)
            let set = try await cli.run("lists", "set", "weekly", "--template", template.path)
            #expect(set.status == 0, "\(set.stderr)")
            let shown = try await cli.run("lists", "--json")
            #expect(shown.stdout.contains("\"hasTemplate\":true"), "\(shown.stdout)")
            #expect(!shown.stdout.contains("WEEKLY-FRAME-MARK"), "lists --json does not dump the template")

            let issue = work.appendingPathComponent("issue.md")
            try "---\nsubject: Framed\n---\n\nHello.\n".write(to: issue, atomically: true, encoding: .utf8)
            let previewDir = work.appendingPathComponent("preview")
            let preview = try await cli.run("preview", issue.path, "--list", "weekly", "--out", previewDir.path)
            #expect(preview.status == 0, "\(preview.stderr)")
            let html = try String(contentsOf: previewDir.appendingPathComponent("part-1.html"), encoding: .utf8)
            #expect(html.contains("WEEKLY-FRAME-MARK"), "preview uses the list's template")
            let sent = try await cli.run("send", issue.path, "--list", "weekly", "--to", "me@example.com")
            #expect(sent.status == 0, "\(sent.stderr)")
            let files = try FileManager.default.contentsOfDirectory(atPath: outbox.appendingPathComponent("new").path)
            let message = try String(contentsOf: outbox.appendingPathComponent("new").appendingPathComponent(files[0]), encoding: .utf8)
            #expect(message.contains("WEEKLY-FRAME-MARK"), "the test copy uses the list's template")

            // A template that does not parse is refused with its file and line, and the stored one stays.
            let broken = work.appendingPathComponent("broken.mustache")
            try "<html>\n{{#open}}\n{{{content}}}\n</html>\n".write(to: broken, atomically: true, encoding: .utf8)
            let refused = try await cli.run("lists", "set", "weekly", "--template", broken.path)
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("broken.mustache"), "\(refused.stderr)")
            let noContent = work.appendingPathComponent("nocontent.mustache")
            try "<html>{{subject}}</html>\n".write(to: noContent, atomically: true, encoding: .utf8)
            let refused2 = try await cli.run("lists", "set", "weekly", "--template", noContent.path)
            #expect(refused2.status == 1)
            #expect(refused2.stderr.contains("{{{content}}}"), "\(refused2.stderr)")
            let missing = try await cli.run("lists", "set", "weekly", "--template", work.appendingPathComponent("nope.mustache").path)
            #expect(missing.status != 0)
            #expect(missing.stderr.contains("nope.mustache"))
            let again = try await cli.run("preview", issue.path, "--list", "weekly", "--out", previewDir.path)
            #expect(again.status == 0)
            #expect(try String(contentsOf: previewDir.appendingPathComponent("part-1.html"), encoding: .utf8).contains("WEEKLY-FRAME-MARK"))

            // "" returns to the built-in template.
            #expect(try await cli.run("lists", "set", "weekly", "--template", "").status == 0)
            #expect(try await cli.run("preview", issue.path, "--list", "weekly", "--out", previewDir.path).status == 0)
            #expect(!(try String(contentsOf: previewDir.appendingPathComponent("part-1.html"), encoding: .utf8).contains("WEEKLY-FRAME-MARK")))
            #expect(try await cli.run("lists", "--json").stdout.contains("\"hasTemplate\":false"))
        }
    }
}
