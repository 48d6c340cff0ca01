import Foundation
import TestSupport
import Testing

/// `send` and `preview` with `--budget-scope`, `LISTCTL_BUDGET` and
/// `LISTCTL_BUDGET_SCOPE`, and their warnings for raw HTML left out: the real
/// binary, a fresh database, messages read back from an outbox.
@Suite("Budget scope and raw HTML warnings through send and preview")
struct BudgetScopeCLITests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let longIssue = root.appendingPathComponent("examples/long-issue.md").path
    static let parseMIME = root.appendingPathComponent("Tests/MailerTests/Golden/tools/parse_mime.py").path

    /// A migrated database, a work folder with a DKIM key, and `listctl` writing to outboxes under it.
    struct Fixture {
        let database: TestDatabase
        let work: URL
        let environment: [String: String]

        func cli(_ extra: [String: String] = [:], outbox: String = "outbox") -> CLI {
            var environment = environment
            environment["LISTCTL_TRANSPORT"] = "outbox://\(work.appendingPathComponent(outbox).path)"
            for (key, value) in extra { environment[key] = value }
            return CLI(databaseURL: database.url, home: work, extra: environment)
        }

        func run(_ arguments: String..., env: [String: String] = [:], outbox: String = "outbox") async throws -> CLI.Result {
            try await cli(env, outbox: outbox).run(arguments)
        }

        /// `lists create SLUG` with two subscribers.
        func makeList(_ slug: String) async throws {
            let create = try await run("lists", "create", slug, "--name", "The \(slug) letter")
            #expect(create.status == 0, "lists create: \(create.stderr)")
            let csv = work.appendingPathComponent("\(slug).csv")
            try "Email,Name,Created_At\r\nann@example.net,Ann Example,2024-01-02 03:04:05 UTC\r\nbob@example.net,Bob,2024-01-02 03:04:05 UTC\r\n"
                .write(to: csv, atomically: true, encoding: .utf8)
            let imported = try await run("import", csv.path, "--list", slug)
            #expect(imported.status == 0, "import: \(imported.stderr)")
        }

        /// The messages an outbox holds, whole, as written.
        func messages(_ outbox: String) throws -> [Data] {
            let folder = work.appendingPathComponent(outbox).appendingPathComponent("new")
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
            return try names.sorted().map { try Data(contentsOf: folder.appendingPathComponent($0)) }
        }

        func issueCount() async throws -> Int {
            let result = try await run("issues", "--json")
            #expect(result.status == 0, "issues: \(result.stderr)")
            return ((try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [Any])?.count ?? -1
        }
    }

    static func withFixture<T>(isolation: isolated (any Actor)? = #isolation, _ body: (Fixture) async throws -> T) async throws -> T {
        try await withTemporaryDatabase { database in
            let work = try makeTemporaryDirectory("cli-budget")
            var environment = [
                "LISTCTL_SECRET": DeliveryCLITests.secret,
                "LISTCTL_FROM": "Letters <news@example.org>",
                "LISTCTL_BASE_URL": "https://news.example.org",
            ]
            let keygen = try await CLI(databaseURL: database.url, home: work).run(
                ["dkim", "keygen", "--selector", "s2026", "--domain", "example.org", "--out", work.path])
            #expect(keygen.status == 0, "dkim keygen: \(keygen.stderr)")
            environment["LISTCTL_DKIM_DOMAIN"] = "example.org"
            environment["LISTCTL_DKIM_SELECTOR"] = "s2026"
            environment["LISTCTL_DKIM_KEY_FILE"] = work.appendingPathComponent("s2026._domainkey.example.org.pem").path
            let fixture = Fixture(database: database, work: work, environment: environment)
            let migrate = try await fixture.run("migrate")
            #expect(migrate.status == 0, "migrate: \(migrate.stderr)")
            return try await body(fixture)
        }
    }

    /// Python's email package on one message: its parts' content types and encoded sizes, and any defects.
    static func parse(_ message: Data, in folder: URL) throws -> (types: [String], encodedSizes: [Int], defects: [String]) {
        let file = folder.appendingPathComponent("parse-\(UUID().uuidString.prefix(8)).eml")
        try message.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", parseMIME, file.path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "parse_mime.py: \(String(decoding: data, as: UTF8.self))")
        let parts = (object["parts"] as? [[String: Any]]) ?? []
        return (
            parts.compactMap { $0["content_type"] as? String }, parts.compactMap { $0["encoded_size"] as? Int },
            ((object["defects"] as? [String]) ?? []) + ((object["problems"] as? [String]) ?? [])
        )
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
    }

    @Test("the long issue sent with --budget-scope message: every .eml, headers and DKIM signature included, is within budget; html scope bounds the HTML only, with fewer parts")
    func wholeMessagesWithinBudget() async throws {
        try await Self.withFixture { fixture in
            try await fixture.makeList("html")
            try await fixture.makeList("whole")
            let budget = 60_000
            let html = try await fixture.run(
                "send", Self.longIssue, "--list", "html", "--yes", "--json", "--budget", String(budget), outbox: "html")
            #expect(html.status == 0, "send, html scope: \(html.stderr)")
            let dry = try await fixture.run(
                "send", Self.longIssue, "--list", "whole", "--dry-run", "--budget", String(budget), "--budget-scope", "message")
            #expect(dry.stdout.contains("whole messages"), "the dry run names what the sizes are: \(dry.stdout)")
            // The scope from the setting, the budget from the flag over the setting.
            let whole = try await fixture.run(
                "send", Self.longIssue, "--list", "whole", "--yes", "--json", "--budget", String(budget),
                env: ["LISTCTL_BUDGET_SCOPE": "message", "LISTCTL_BUDGET": "95000"], outbox: "whole")
            #expect(whole.status == 0, "send, message scope: \(whole.stderr)")
            let htmlParts = try #require(DeliveryCLITests.int(try Self.json(html.stdout)["parts"]))
            let wholeParts = try #require(DeliveryCLITests.int(try Self.json(whole.stdout)["parts"]))
            #expect(wholeParts > htmlParts, "message scope \(wholeParts) parts, html scope \(htmlParts)")

            let wholeMessages = try fixture.messages("whole")
            #expect(wholeMessages.count == 2 * wholeParts)
            for message in wholeMessages {
                #expect(message.count <= budget, "a whole message of \(message.count) bytes > \(budget)")
                #expect(String(decoding: message.prefix(16), as: UTF8.self) == "DKIM-Signature: ", "signed as sent")
                let parsed = try Self.parse(message, in: fixture.work)
                #expect(parsed.defects.isEmpty, "\(parsed.defects)")
                #expect(parsed.types == ["text/plain", "text/html"])
            }
            let htmlMessages = try fixture.messages("html")
            #expect(htmlMessages.count == 2 * htmlParts)
            var over = 0
            for message in htmlMessages {
                let parsed = try Self.parse(message, in: fixture.work)
                #expect(parsed.defects.isEmpty, "\(parsed.defects)")
                #expect(parsed.types == ["text/plain", "text/html"])
                #expect((parsed.encodedSizes.last ?? .max) <= budget, "HTML alternative of \(parsed.encodedSizes.last ?? -1) bytes > \(budget)")
                if message.count > budget { over += 1 }
            }
            #expect(over > 0, "with html scope some whole message is over the budget (the text and headers are not counted)")
        }
    }

    @Test("preview shows the scope; a flag beats LISTCTL_BUDGET and LISTCTL_BUDGET_SCOPE; message scope gives at least as many parts")
    func previewSettings() async throws {
        let cli = CLI(databaseURL: nil, home: try makeTemporaryDirectory("cli-budget"))
        func preview(_ arguments: [String], env: [String: String] = [:]) async throws -> [String: Any] {
            let result = try await CLI(databaseURL: nil, home: try makeTemporaryDirectory("cli-budget"), extra: env)
                .run(["preview", Self.longIssue, "--json"] + arguments)
            #expect(result.status == 0, "preview \(arguments) \(env): \(result.stderr)")
            return try Self.json(result.stdout)
        }
        let plain = try await preview([])
        #expect(DeliveryCLITests.int(plain["budget"]) == 90_000 && plain["budgetScope"] as? String == "html")
        let fromSettings = try await preview([], env: ["LISTCTL_BUDGET": "50000", "LISTCTL_BUDGET_SCOPE": "message"])
        #expect(DeliveryCLITests.int(fromSettings["budget"]) == 50_000 && fromSettings["budgetScope"] as? String == "message")
        let flags = try await preview(["--budget", "50000", "--budget-scope", "html"], env: ["LISTCTL_BUDGET": "70000", "LISTCTL_BUDGET_SCOPE": "message"])
        #expect(DeliveryCLITests.int(flags["budget"]) == 50_000 && flags["budgetScope"] as? String == "html")
        let htmlParts = (flags["parts"] as? [[String: Any]]) ?? []
        let messageParts = (fromSettings["parts"] as? [[String: Any]]) ?? []
        #expect(messageParts.count >= htmlParts.count && !htmlParts.isEmpty)
        for part in messageParts { #expect((DeliveryCLITests.int(part["encodedMessageBytes"]) ?? .max) <= 50_000) }
        for part in htmlParts { #expect((DeliveryCLITests.int(part["encodedHTMLBytes"]) ?? .max) <= 50_000) }
        #expect(htmlParts.contains { (DeliveryCLITests.int($0["encodedMessageBytes"]) ?? 0) > 50_000 })

        let table = try await cli.run("preview", Self.longIssue, "--budget-scope", "message")
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("budget 90000 bytes per whole message (--budget-scope message"), "\(table.stdout)")
    }

    @Test("bad budget settings and flags: usage errors (exit 2) naming the value and what to do; nothing stored")
    func badValues() async throws {
        try await Self.withFixture { fixture in
            try await fixture.makeList("weekly")
            let cases: [(arguments: [String], env: [String: String], says: String)] = [
                (["--budget-scope", "foo"], [:], "--budget-scope foo: must be html"),
                ([], ["LISTCTL_BUDGET_SCOPE": "whole"], "LISTCTL_BUDGET_SCOPE=whole: must be html"),
                ([], ["LISTCTL_BUDGET": "abc"], "LISTCTL_BUDGET=abc: must be a whole number of bytes"),
                ([], ["LISTCTL_BUDGET": "0"], "LISTCTL_BUDGET=0: must be at least 10000 bytes"),
                ([], ["LISTCTL_BUDGET": "-90000"], "LISTCTL_BUDGET=-90000: must be at least 10000 bytes"),
                (["--budget=-5"], [:], "--budget -5: must be at least 10000 bytes"),
                (["--budget", "9999"], [:], "--budget 9999: must be at least 10000 bytes"),
            ]
            for (arguments, env, says) in cases {
                for command in ["send", "preview"] {
                    let more = command == "send" ? ["--list", "weekly", "--yes"] : []
                    let result = try await fixture.cli(env).run([command, Self.longIssue] + more + arguments)
                    #expect(result.status == 2, "\(command) \(arguments) \(env): \(result.status) \(result.stderr)")
                    #expect(result.stderr.contains(says), "\(command) \(arguments) \(env): \(result.stderr)")
                }
            }
            // A template so large that, with the headers and the text, nothing fits in 10000 bytes.
            let template = fixture.work.appendingPathComponent("big.mustache")
            let builtIn = try await fixture.run("preview", "--print-template", Self.longIssue)
            try builtIn.stdout.replacingOccurrences(of: "{{{content}}}", with: "<!--" + String(repeating: "x", count: 3_500) + "-->{{{content}}}")
                .write(to: template, atomically: true, encoding: .utf8)
            let small = fixture.work.appendingPathComponent("small.md")
            try "Hello.\n".write(to: small, atomically: true, encoding: .utf8)
            let tooSmall = try await fixture.run("preview", small.path, "--template", template.path, "--budget", "10000", "--budget-scope", "message")
            #expect(tooSmall.status == 2, "\(tooSmall.stderr)")
            #expect(tooSmall.stderr.contains("leaves no room for content") && tooSmall.stderr.contains("raise --budget"), "\(tooSmall.stderr)")
            let htmlFits = try await fixture.run("preview", small.path, "--template", template.path, "--budget", "10000")
            #expect(htmlFits.status == 0, "\(htmlFits.stderr)")

            #expect(try await fixture.issueCount() == 0, "nothing stored")
            #expect(try fixture.messages("outbox").isEmpty, "nothing sent")
        }
    }

    /// Front matter of 3 lines; block HTML at line 8, inline HTML at 11 (twice) and 14.
    static let withHTML = """
        ---
        subject: With HTML
        ---
        # With HTML

        An image follows.

        <div class="hero"><img src="a.png" srcset="b.png 2x"></div>

        Text with
        a <span class="x">tag</span> inside.

        - item one
        - item two with <srcset>

        The end.

        """

    static let expectedWarnings = [
        ":8: warning: raw HTML left out (block): <div class=\"hero\"><img src=\"a.png\" srcset=\"b.png 2x\"></div> (",
        ":11: warning: raw HTML left out (inline): <span class=\"x\"> (",
        ":11: warning: raw HTML left out (inline): </span> (",
        ":14: warning: raw HTML left out (inline): <srcset> (",
    ]

    static func warnings(_ stderr: String) -> [String] {
        stderr.split(separator: "\n").map(String.init).filter { $0.contains("warning: raw HTML left out") }
    }

    @Test("raw HTML left out: preview and send warn once per fragment with file:line; send still sends; a list allowing raw HTML gets none")
    func rawHTMLWarnings() async throws {
        try await Self.withFixture { fixture in
            try await fixture.makeList("weekly")
            let file = fixture.work.appendingPathComponent("with-html.md")
            try Self.withHTML.write(to: file, atomically: true, encoding: .utf8)
            func expectWarnings(_ result: CLI.Result, _ what: String) {
                let found = Self.warnings(result.stderr)
                #expect(found.count == Self.expectedWarnings.count, "\(what): \(result.stderr)")
                for (line, expected) in zip(found, Self.expectedWarnings) {
                    #expect(line.hasPrefix(file.path + expected), "\(what): \(line)")
                }
            }
            let alone = try await fixture.run("preview", file.path)
            #expect(alone.status == 0, "\(alone.stderr)")
            expectWarnings(alone, "preview")
            let preview = try await fixture.run("preview", file.path, "--list", "weekly")
            #expect(preview.status == 0, "\(preview.stderr)")
            expectWarnings(preview, "preview --list")
            let sent = try await fixture.run("send", file.path, "--list", "weekly", "--yes")
            #expect(sent.status == 0, "\(sent.stderr)")
            expectWarnings(sent, "send")
            let messages = try fixture.messages("outbox")
            #expect(messages.count == 2, "sent anyway, to both subscribers")
            let copy = try await fixture.run("send", file.path, "--list", "weekly", "--to", "me@example.org", outbox: "copy")
            #expect(copy.status == 0, "\(copy.stderr)")
            expectWarnings(copy, "send --to")
            #expect(try fixture.messages("copy").count == 1)
            for message in messages {
                #expect(!String(decoding: message, as: UTF8.self).contains("srcset"), "the fragment is not in the mail")
            }

            #expect(try await fixture.run("lists", "set", "weekly", "--allow-raw-html", "true").status == 0)
            let allowed = try await fixture.run("preview", file.path, "--list", "weekly")
            #expect(allowed.status == 0 && Self.warnings(allowed.stderr).isEmpty, "\(allowed.stderr)")
            try (Self.withHTML + "Another issue.\n").write(to: file, atomically: true, encoding: .utf8)
            let sentAllowed = try await fixture.run("send", file.path, "--list", "weekly", "--yes")
            #expect(sentAllowed.status == 0 && Self.warnings(sentAllowed.stderr).isEmpty, "\(sentAllowed.stderr)")
            #expect(try fixture.messages("outbox").count == 4)
        }
    }
}
