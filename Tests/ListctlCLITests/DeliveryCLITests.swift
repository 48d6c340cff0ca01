import Foundation
import Postgres
import TestSupport
import Testing

/// `listctl send`, `deliver`, `status ISSUE`, `cancel`, `pause`, `resume`,
/// `retry` and `reschedule` end to end: the real binary against a fresh
/// database and an SMTP sink of each test's own (Tests/tools/delivery_sink.py)
/// that counts every copy and makes the faults the engine must survive.
@Suite("Delivery through the command line: send, deliver, status and an issue's course")
struct DeliveryCLITests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("examples")
    /// 43 characters, many distinct: a fixed secret for every test.
    static let secret = "qT7vK2mXz9LpR4wYcN8bHd3Fj6Gs1AeUoVi5ZkWxCtB"
    static let rotatedSecret = "Zp3Wm8Qx1Lk6Rt9Vb2Nc5Hd7Fj4Gs0AeUoYiTkWxCqE"

    // MARK: Fixture

    /// One test's database, work folder and sink, and listctl set up to send through it.
    struct Fixture: Sendable {
        let database: TestDatabase
        let work: URL
        let sink: DeliverySink
        let environment: [String: String]

        func cli(_ extra: [String: String?] = [:]) -> CLI {
            // A nil value leaves the variable out (CLI starts from this process's
            // environment, which `make test` gives no LISTCTL_SECRET).
            var environment = environment
            for (key, value) in extra { environment[key] = value }
            return CLI(databaseURL: database.url, home: work, extra: environment)
        }

        func run(_ arguments: String..., env extra: [String: String?] = [:]) async throws -> CLI.Result {
            try await cli(extra).run(arguments)
        }

        /// `migrate`, `lists create SLUG`, then `import` of `emails` (each `email` or `email,status`).
        func makeList(_ slug: String, _ rows: [(email: String, status: String)]) async throws {
            if !FileManager.default.fileExists(atPath: work.appendingPathComponent(".migrated").path) {
                let migrate = try await run("migrate")
                #expect(migrate.status == 0, "migrate: \(migrate.stderr)")
                FileManager.default.createFile(atPath: work.appendingPathComponent(".migrated").path, contents: nil)
            }
            let create = try await run("lists", "create", slug, "--name", "The \(slug) letter")
            #expect(create.status == 0, "lists create: \(create.stderr)")
            guard !rows.isEmpty else { return }
            let csv = work.appendingPathComponent("\(slug)-subscribers.csv")
            var text = "Email,Name,Created_At,Status\r\n"
            for row in rows { text += "\(row.email),Reader \(row.email.prefix(while: { $0 != "@" })),2024-01-02 03:04:05 UTC,\(row.status)\r\n" }
            try text.write(to: csv, atomically: true, encoding: .utf8)
            let imported = try await run("import", csv.path, "--list", slug, "--json")
            #expect(imported.status == 0, "import: \(imported.stderr)")
        }

        /// A one-part issue with a subject of its own.
        func shortIssue(_ name: String, subject: String) throws -> String {
            let file = work.appendingPathComponent("\(name).md")
            try "---\nsubject: \(subject)\n---\n\n# \(subject)\n\nA short paragraph for \(name).\n"
                .write(to: file, atomically: true, encoding: .utf8)
            return file.path
        }

        /// `send ... --yes --json`, its status JSON (nil if it printed none).
        func send(_ file: String, list: String, _ more: [String] = [], env extra: [String: String?] = [:]) async throws
            -> (result: CLI.Result, status: [String: Any]?)
        {
            let result = try await cli(extra).run(["send", file, "--list", list, "--yes", "--json"] + more)
            return (result, try? DeliveryCLITests.object(result.stdout))
        }

        func status(_ issue: Int) async throws -> [String: Any] {
            let result = try await run("status", String(issue), "--json")
            #expect(result.status == 0, "status \(issue): \(result.stderr)")
            return try DeliveryCLITests.object(result.stdout)
        }

        func pending(_ issue: Int) async throws -> Int { DeliveryCLITests.int(try await status(issue)["pending"]) ?? 0 }

        func recipients(_ issue: Int, _ state: String) async throws -> [[String: Any]] {
            let result = try await run("status", String(issue), "--recipients", state, "--json")
            #expect(result.status == 0, "status \(issue) --recipients \(state): \(result.stderr)")
            return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]], "\(result.stdout)")
        }

        /// `deliver --json`: its counters.
        func deliver(env extra: [String: String?] = [:]) async throws -> [String: Any] {
            let result = try await cli(extra).run(["deliver", "--json"])
            #expect(result.status == 0, "deliver: \(result.stderr)")
            return try DeliveryCLITests.object(result.stdout)
        }

        func accepted() throws -> [DeliverySink.Accepted] { try sink.accepted() }

        /// Issues in `listctl issues --json`.
        func issues() async throws -> [[String: Any]] {
            let result = try await run("issues", "--json")
            #expect(result.status == 0, "issues: \(result.stderr)")
            return (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]) ?? []
        }
    }

    /// A fresh database and a sink with `options`, both gone afterwards however `body` ends.
    static func withFixture<T>(
        _ options: DeliverySink.Options = .init(), environment extra: [String: String] = [:],
        isolation: isolated (any Actor)? = #isolation, _ body: (Fixture) async throws -> T
    ) async throws -> T {
        try await withTemporaryDatabase { database in
            let sink = try await onThread { try DeliverySink.start(options) }
            var environment = [
                "LISTCTL_SECRET": secret,
                "LISTCTL_FROM": "Letters <news@example.org>",
                "LISTCTL_BASE_URL": "https://news.example.org",
                "LISTCTL_TRANSPORT": sink.transportURL,
                "LISTCTL_RETRY_BASE": "0.2",
                "LISTCTL_LEASE_SECONDS": "3",
            ]
            for (key, value) in extra { environment[key] = value }
            let fixture = Fixture(database: database, work: try makeTemporaryDirectory("cli-delivery"), sink: sink, environment: environment)
            do {
                let value = try await body(fixture)
                try await onThread { sink.stop() }
                return value
            } catch {
                _ = try? await onThread { sink.stop() }
                throw error
            }
        }
    }

    static func object(_ text: String) throws -> [String: Any] {
        try #require(try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
    }

    static func int(_ value: Any?) -> Int? { (value as? NSNumber)?.intValue }

    /// `--at` text for `seconds` from now, on a whole second.
    static func at(_ seconds: Double) -> (text: String, date: Date) {
        let date = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + seconds).rounded(.up))
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return (formatter.string(from: date), date)
    }

    static func sleep(until date: Date) async throws {
        let wait = date.timeIntervalSinceNow
        if wait > 0 { try await Task.sleep(for: .milliseconds(Int(wait * 1000) + 50)) }
    }

    static func sleep(_ seconds: Double) async throws { try await Task.sleep(for: .milliseconds(Int(seconds * 1000))) }

    /// Copies per recipient.
    static func copies(_ accepted: [DeliverySink.Accepted]) -> [String: Int] {
        accepted.reduce(into: [:]) { $0[$1.rcpt, default: 0] += 1 }
    }

    static func people(_ prefix: String, _ count: Int, status: String = "active") -> [(email: String, status: String)] {
        (1...count).map { ("\(prefix)\($0)@example.net", status) }
    }

    // MARK: 1, 2: a whole send, and the same file again

    @Test("send --yes --json: every active subscriber gets each part once, nobody else; status adds up; same file again mails nobody")
    func sendToList() async throws {
        try await Self.withFixture { fixture in
            let active = Self.people("reader", 26)
            let stopped = Self.people("gone", 2, status: "unsubscribed") + Self.people("dead", 2, status: "bounced")
            try await fixture.makeList("weekly", active + stopped)
            let issueFile = Self.examples.appendingPathComponent("long-issue.md").path

            let (sent, status) = try await fixture.send(issueFile, list: "weekly")
            #expect(sent.status == 0, "send: \(sent.stderr)")
            let st = try #require(status, "send --json printed no status: \(sent.stdout)")
            let issue = try #require(Self.int(st["issue"]))
            #expect(st["state"] as? String == "sent")
            #expect(Self.int(st["parts"]) == 2, "examples/long-issue.md is two parts")
            #expect(Self.int(st["recipients"]) == 26)
            #expect(Self.int(st["sent"]) == Self.int(st["recipients"]))
            #expect(Self.int(st["messagesSent"]) == 26 * 2)
            #expect(Self.int(st["pending"]) == 0 && Self.int(st["failed"]) == 0)
            #expect(st["finishedAt"] != nil && !(st["finishedAt"] is NSNull))

            let accepted = try fixture.accepted()
            #expect(accepted.count == 52, "\(accepted.count) copies")
            let perRecipient = Self.copies(accepted)
            for person in active { #expect(perRecipient[person.email] == 2, "\(person.email): \(perRecipient[person.email] ?? 0) copies") }
            for person in stopped { #expect(perRecipient[person.email] == nil, "\(person.email) (\(person.status)) was mailed") }
            // Each part once per recipient: by (recipient, subject) and by Message-ID.
            let bySubject = accepted.reduce(into: [String: Int]()) { $0["\($1.rcpt)|\($1.subject)", default: 0] += 1 }
            #expect(bySubject.values.allSatisfy { $0 == 1 }, "a part twice (or both parts with one subject): \(bySubject.filter { $0.value != 1 })")
            #expect(Set(accepted.map(\.messageID)).count == 52, "every copy has a Message-ID of its own")
            // listctl.<issue>.<part>.<mac>@example.org; one recipient's two parts differ.
            for copy in accepted {
                let fields = copy.messageID.split(separator: ".", maxSplits: 3).map(String.init)
                #expect(fields.count == 4 && fields[0] == "listctl" && fields[1] == String(issue), "\(copy.messageID)")
                #expect(["1", "2"].contains(fields.count > 2 ? fields[2] : ""), "\(copy.messageID)")
                #expect(copy.messageID.hasSuffix("@example.org"), "\(copy.messageID)")
            }
            for person in active.prefix(3) {
                let ids = accepted.filter { $0.rcpt == person.email }.map(\.messageID)
                #expect(Set(ids).count == 2, "\(person.email): \(ids)")
                #expect(Set(ids.map { $0.split(separator: ".")[2] }) == ["1", "2"], "\(ids)")
            }

            // 2: the same file again.
            let again = try await fixture.run("send", issueFile, "--list", "weekly", "--yes")
            #expect(again.status == 0, "\(again.stderr)")
            #expect(again.stdout.contains("already went to"), "\(again.stdout) \(again.stderr)")
            #expect(try fixture.accepted().count == 52, "nobody was mailed again")
            let againJSON = try await fixture.run("send", issueFile, "--list", "weekly", "--yes", "--json")
            #expect(againJSON.status == 0)
            let already = try Self.object(againJSON.stdout)
            #expect(already["alreadySent"] as? Bool == true && Self.int(already["issue"]) == issue)
            #expect(try fixture.accepted().count == 52)
            #expect(try await fixture.issues().count == 1, "one issue stored")
        }
    }

    @Test("each message has List-Unsubscribe with https://news.example.org/SLUG/unsubscribe/… (read from an outbox)")
    func listUnsubscribeHeader() async throws {
        // The sink logs no List-Unsubscribe: the same engine writes .eml files to an outbox instead.
        try await Self.withFixture { fixture in
            let outbox = fixture.work.appendingPathComponent("outbox")
            try await fixture.makeList("monthly", Self.people("ann", 3))
            let (sent, status) = try await fixture.send(
                Self.examples.appendingPathComponent("long-issue.md").path, list: "monthly",
                env: ["LISTCTL_TRANSPORT": "outbox://\(outbox.path)"])
            #expect(sent.status == 0, "send: \(sent.stderr)")
            #expect(status?["state"] as? String == "sent")
            let folder = outbox.appendingPathComponent("new")
            let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            #expect(files.count == 6, "3 recipients × 2 parts: \(files)")
            var urls: [String: Set<String>] = [:]
            for file in files {
                let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
                let head = text.components(separatedBy: "\r\n\r\n")[0]
                    .replacingOccurrences(of: "\r\n ", with: " ").replacingOccurrences(of: "\r\n\t", with: " ")
                let lines = head.components(separatedBy: "\r\n")
                let unsubscribe = lines.first { $0.lowercased().hasPrefix("list-unsubscribe:") }
                let to = lines.first { $0.lowercased().hasPrefix("to:") } ?? "?"
                #expect(unsubscribe?.contains("<https://news.example.org/monthly/unsubscribe/") == true, "\(file): \(unsubscribe ?? "no List-Unsubscribe")")
                #expect(lines.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), "\(file)")
                #expect(lines.contains { $0.hasPrefix("Message-ID: <listctl.") && $0.hasSuffix("@example.org>") }, "\(file)")
                if let unsubscribe, let range = unsubscribe.range(of: "https://news.example.org/monthly/unsubscribe/") {
                    urls[to, default: []].insert(String(unsubscribe[range.upperBound...].prefix { $0 != ">" }))
                }
            }
            #expect(Set(urls.values.flatMap { $0 }).count == 3, "one token per recipient: \(urls)")
        }
    }

    // MARK: 3: bad inputs store nothing

    @Test("unknown list, empty list, bad --at, --rate 0, no --yes without a terminal, no secret: non-zero, a clear message, nothing stored")
    func badInputs() async throws {
        try await Self.withFixture { fixture in
            try await fixture.makeList("weekly", Self.people("reader", 3))
            try await fixture.makeList("empty", [])
            let file = try fixture.shortIssue("hello", subject: "Hello")

            let unknown = try await fixture.run("send", file, "--list", "nosuch", "--yes")
            #expect(unknown.status == 1, "\(unknown.stderr)")
            #expect(unknown.stderr.contains("no list named \"nosuch\""), "\(unknown.stderr)")

            let empty = try await fixture.run("send", file, "--list", "empty", "--yes")
            #expect(empty.status == 1, "\(empty.stderr)")
            #expect(empty.stderr.contains("no active subscribers"), "\(empty.stderr)")

            let badTime = try await fixture.run("send", file, "--list", "weekly", "--at", "tomorrow-ish", "--yes")
            #expect(badTime.status != 0)
            #expect(badTime.stderr.contains("--at") && badTime.stderr.contains("tomorrow-ish") && badTime.stderr.contains("is not a time"), "\(badTime.stderr)")

            let rate = try await fixture.run("send", file, "--list", "weekly", "--rate", "0", "--yes")
            #expect(rate.status == 2, "\(rate.status): \(rate.stderr)")
            #expect(rate.stderr.contains("--rate"), "\(rate.stderr)")

            // The test runs listctl with stdin from /dev/null: no terminal.
            let noYes = try await fixture.run("send", file, "--list", "weekly")
            #expect(noYes.status == 2, "\(noYes.status): \(noYes.stderr)")
            #expect(noYes.stderr.contains("no terminal to confirm on: add --yes"), "\(noYes.stderr)")

            #expect(ProcessInfo.processInfo.environment["LISTCTL_SECRET"] == nil && ProcessInfo.processInfo.environment["LISTCTL_SECRET_FILE"] == nil,
                    "the test process itself has a token secret: this check cannot take it away")
            let noSecret = try await fixture.run("send", file, "--list", "weekly", "--yes", env: ["LISTCTL_SECRET": nil, "LISTCTL_SECRET_FILE": nil])
            #expect(noSecret.status != 0)
            #expect(noSecret.stderr.contains("LISTCTL_SECRET"), "\(noSecret.stderr)")

            let dry = try await fixture.run("send", file, "--list", "weekly", "--dry-run")
            #expect(dry.status == 0, "\(dry.stderr)")
            #expect(dry.stdout.contains("nothing stored"), "\(dry.stdout)")

            let stored = try await fixture.issues()
            #expect(stored.isEmpty, "an issue was stored: \(stored)")
            #expect(try fixture.accepted().isEmpty, "a message went out")
            // The refusals left no part or delivery behind either.
            try await withConnection(to: fixture.database) { connection in
                for table in ["issues", "issue_parts", "deliveries"] {
                    let count = try await connection.query("SELECT count(*) FROM \(table)")[0].decode(Int.self, at: 0)
                    #expect(count == 0, "\(table): \(count) rows")
                }
            }
        }
    }

    // MARK: 4, 5, 6: a time to send, and an issue's course

    @Test("--at a few seconds ahead: scheduled, deliver sends nothing, then all once due; --at in the past sends now with a notice")
    func scheduled() async throws {
        try await Self.withFixture { fixture in
            try await fixture.makeList("weekly", Self.people("reader", 5))
            // 3 s rather than 2: on a shared 2-core machine a send plus a deliver can take longer than 2 s.
            let when = Self.at(3)
            let (sent, status) = try await fixture.send(try fixture.shortIssue("later", subject: "Later"), list: "weekly", ["--at", when.text])
            #expect(sent.status == 0, "\(sent.stderr)")
            let issue = try #require(Self.int(status?["issue"]), "\(sent.stdout)")
            #expect(status?["state"] as? String == "scheduled")
            #expect(try fixture.accepted().isEmpty)

            let early = try await fixture.deliver()
            if Date() < when.date {
                #expect(Self.int(early["messagesSent"]) == 0, "\(early)")
                #expect(try fixture.accepted().isEmpty)
                #expect(try await fixture.status(issue)["state"] as? String == "scheduled")
            }
            try await Self.sleep(until: when.date.addingTimeInterval(0.5))
            let due = try await fixture.deliver()
            #expect(Self.int(due["messagesSent"]) == 5 || Self.int(early["messagesSent"]) == 5, "\(early) \(due)")
            let after = try await fixture.status(issue)
            #expect(after["state"] as? String == "sent" && Self.int(after["sent"]) == 5, "\(after)")
            #expect(Self.copies(try fixture.accepted()) == Dictionary(uniqueKeysWithValues: Self.people("reader", 5).map { ($0.email, 1) }))

            let past = try await fixture.send(try fixture.shortIssue("past", subject: "Past"), list: "weekly", ["--at", "2020-01-01T09:00:00Z"])
            #expect(past.result.status == 0, "\(past.result.stderr)")
            #expect(past.result.stderr.contains("is in the past: sending now"), "\(past.result.stderr)")
            #expect(past.status?["state"] as? String == "sent", "\(past.result.stdout)")
            #expect(try fixture.accepted().filter { $0.subject == "Past" }.count == 5)
        }
    }

    @Test("reschedule +1 hour to +1 s: sent; cancel a scheduled issue: nothing sent, cancelled; cancel again: refused")
    func rescheduleAndCancel() async throws {
        try await Self.withFixture { fixture in
            try await fixture.makeList("weekly", Self.people("reader", 4))
            let first = try await fixture.send(try fixture.shortIssue("moved", subject: "Moved"), list: "weekly", ["--at", Self.at(3600).text])
            let moved = try #require(Self.int(first.status?["issue"]), "\(first.result.stdout) \(first.result.stderr)")
            #expect(first.status?["state"] as? String == "scheduled")
            let soon = Self.at(1)
            let reschedule = try await fixture.run("reschedule", String(moved), "--at", soon.text)
            #expect(reschedule.status == 0, "\(reschedule.stderr)")
            try await Self.sleep(until: soon.date.addingTimeInterval(0.3))
            let delivered = try await fixture.deliver()
            #expect(Self.int(delivered["messagesSent"]) == 4, "\(delivered)")
            #expect(try await fixture.status(moved)["state"] as? String == "sent")
            let rescheduleSent = try await fixture.run("reschedule", String(moved), "--at", Self.at(60).text)
            #expect(rescheduleSent.status == 1 && rescheduleSent.stderr.contains("cannot reschedule"), "\(rescheduleSent.stderr)")

            let second = try await fixture.send(try fixture.shortIssue("dropped", subject: "Dropped"), list: "weekly", ["--at", Self.at(3600).text])
            let dropped = try #require(Self.int(second.status?["issue"]), "\(second.result.stdout)")
            let cancel = try await fixture.run("cancel", String(dropped))
            #expect(cancel.status == 0, "\(cancel.stderr)")
            let nothing = try await fixture.deliver()
            #expect(Self.int(nothing["messagesSent"]) == 0, "\(nothing)")
            #expect(try await fixture.status(dropped)["state"] as? String == "cancelled")
            #expect(try fixture.accepted().filter { $0.subject == "Dropped" }.isEmpty)
            let again = try await fixture.run("cancel", String(dropped))
            #expect(again.status == 1, "\(again.status): \(again.stdout)")
            #expect(again.stderr.contains("is cancelled: cannot cancel"), "\(again.stderr)")
            let none = try await fixture.run("cancel", "999999")
            #expect(none.status == 1 && none.stderr.contains("no issue 999999"), "\(none.stderr)")
            #expect(try fixture.accepted().count == 4)
        }
    }

    @Test("pause a scheduled issue: nothing goes out when due; resume: everyone once")
    func pauseResume() async throws {
        try await Self.withFixture { fixture in
            try await fixture.makeList("weekly", Self.people("reader", 6))
            // 3 s ahead: a loaded machine can take a second to start the command, and a time in the past means now.
            let when = Self.at(3)
            let (sent, status) = try await fixture.send(try fixture.shortIssue("held", subject: "Held"), list: "weekly", ["--at", when.text])
            let issue = try #require(Self.int(status?["issue"]), "\(sent.stdout) \(sent.stderr)")
            let pause = try await fixture.run("pause", String(issue))
            #expect(pause.status == 0, "\(pause.stderr)")
            #expect(try await fixture.status(issue)["state"] as? String == "paused")
            try await Self.sleep(until: when.date.addingTimeInterval(0.5))
            let held = try await fixture.deliver()
            #expect(Self.int(held["messagesSent"]) == 0, "\(held)")
            #expect(try fixture.accepted().isEmpty)
            #expect(try await fixture.status(issue)["state"] as? String == "paused")

            let resume = try await fixture.run("resume", String(issue))
            #expect(resume.status == 0, "\(resume.stderr)")
            let resumeAgain = try await fixture.run("resume", String(issue))
            #expect(resumeAgain.status == 1, "resume of an issue that is not paused: \(resumeAgain.stderr)")
            let delivered = try await fixture.deliver()
            #expect(Self.int(delivered["messagesSent"]) == 6, "\(delivered)")
            let again = try await fixture.deliver()
            #expect(Self.int(again["messagesSent"]) == 0, "\(again)")
            let after = try await fixture.status(issue)
            #expect(after["state"] as? String == "sent" && Self.int(after["sent"]) == 6, "\(after)")
            #expect(Self.copies(try fixture.accepted()) == Dictionary(uniqueKeysWithValues: Self.people("reader", 6).map { ($0.email, 1) }))
        }
    }

    // MARK: 7: refusals, temporary failures, attempts running out

    @Test("550 at RCPT: bounced, listed with the 550, address suppressed, the others sent")
    func bounces() async throws {
        try await Self.withFixture(.init(rejectPrefix: "bounce")) { fixture in
            let good = Self.people("reader", 5)
            let bad = Self.people("bounce-", 3)
            try await fixture.makeList("weekly", good + bad)
            let (sent, status) = try await fixture.send(try fixture.shortIssue("b", subject: "Bouncy"), list: "weekly")
            #expect(sent.status == 0, "\(sent.stderr)")
            let issue = try #require(Self.int(status?["issue"]), "\(sent.stdout)")
            #expect(Self.int(status?["bounced"]) == 3 && Self.int(status?["sent"]) == 5, "\(status ?? [:])")
            #expect(status?["state"] as? String == "sent", "every delivery ended")
            let bounced = try await fixture.recipients(issue, "bounced")
            #expect(Set(bounced.compactMap { $0["email"] as? String }) == Set(bad.map(\.email)))
            for person in bounced {
                #expect((person["lastError"] as? String)?.contains("550") == true, "\(person)")
                #expect(person["state"] as? String == "bounced")
            }
            #expect(Set(try fixture.accepted().map(\.rcpt)) == Set(good.map(\.email)))
            try await withConnection(to: fixture.database) { connection in
                let suppressed = try await connection.query("SELECT email_key, reason FROM suppressions ORDER BY 1")
                    .map { "\(try $0.decode(String.self, at: 0)) \(try $0.decode(String.self, at: 1))" }
                #expect(suppressed == bad.map { "\($0.email) hard_bounce" }.sorted(), "\(suppressed)")
                let statuses = try await connection.query(
                    "SELECT DISTINCT s.status FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id WHERE p.email LIKE 'bounce-%'"
                ).map { try $0.decode(String.self, at: 0) }
                #expect(statuses == ["bounced"], "\(statuses)")
            }
            // And the next issue does not go to them.
            let next = try await fixture.send(try fixture.shortIssue("n", subject: "Next"), list: "weekly")
            #expect(Self.int(next.status?["recipients"]) == 5, "\(next.result.stdout) \(next.result.stderr)")
        }
    }

    @Test("the envelope sender: the list's --bounce-address, else LISTCTL_BOUNCE_ADDRESS; VERP tokens on either with LISTCTL_BOUNCE_VERP")
    func bounceAddress() async throws {
        try await Self.withFixture(environment: ["LISTCTL_BOUNCE_ADDRESS": "bounces@mail.example.org", "LISTCTL_BOUNCE_VERP": "true"]) { fixture in
            try await fixture.makeList("weekly", Self.people("reader", 3))
            let first = try await fixture.send(try fixture.shortIssue("v", subject: "Verp"), list: "weekly")
            #expect(first.result.status == 0, "\(first.result.stderr)")
            let verp = try fixture.accepted().map(\.mailFrom)
            #expect(verp.count == 3)
            #expect(Set(verp).count == 3, "one token per delivery: \(verp)")
            for address in verp {
                #expect(address.hasPrefix("bounces+") && address.hasSuffix("@mail.example.org"), "\(address)")
            }
            let set = try await fixture.run("lists", "set", "weekly", "--bounce-address", "Returns@Lists.Example.org")
            #expect(set.status == 0, "\(set.stderr)")
            let bad = try await fixture.run("lists", "set", "weekly", "--bounce-address", "not an address")
            #expect(bad.status != 0 && bad.stderr.contains("--bounce-address"), "\(bad.stderr)")
            let second = try await fixture.send(try fixture.shortIssue("w", subject: "Own"), list: "weekly")
            #expect(second.result.status == 0, "\(second.result.stderr)")
            let own = try fixture.accepted().map(\.mailFrom).dropFirst(3)
            #expect(own.count == 3)
            #expect(own.allSatisfy { $0.hasPrefix("Returns+") && $0.hasSuffix("@lists.example.org") }, "\(Array(own))")
        }
        // LISTCTL_BOUNCE_VERP alone applies to a list's own bounce address; without it the address is plain.
        try await Self.withFixture(environment: ["LISTCTL_BOUNCE_VERP": "true"]) { fixture in
            try await fixture.makeList("weekly", Self.people("reader", 2))
            #expect(try await fixture.run("lists", "set", "weekly", "--bounce-address", "returns@lists.example.org").status == 0)
            let sent = try await fixture.send(try fixture.shortIssue("x", subject: "Own VERP"), list: "weekly")
            #expect(sent.result.status == 0, "\(sent.result.stderr)")
            let verp = try fixture.accepted().map(\.mailFrom)
            #expect(verp.count == 2 && Set(verp).count == 2, "\(verp)")
            #expect(verp.allSatisfy { $0.hasPrefix("returns+") && $0.hasSuffix("@lists.example.org") }, "\(verp)")
            let plain = try await fixture.send(
                try fixture.shortIssue("y", subject: "Plain"), list: "weekly", env: ["LISTCTL_BOUNCE_VERP": nil])
            #expect(plain.result.status == 0, "\(plain.result.stderr)")
            #expect(Array(try fixture.accepted().map(\.mailFrom).dropFirst(2)) == ["returns@lists.example.org", "returns@lists.example.org"])
        }
    }

    @Test("451 at RCPT once: pending after the send, delivered by a later deliver, one copy each")
    func temporaryFailure() async throws {
        try await Self.withFixture(.init(tempfailPrefix: "tf", tempfailTimes: 1)) { fixture in
            let good = Self.people("reader", 5)
            let flaky = Self.people("tf", 3)
            try await fixture.makeList("weekly", good + flaky)
            // A backoff of 3 to 6 s (rather than 0.2): the send surely ends, and a deliver
            // right after it runs, before the retries fall due, even on a loaded machine.
            let started = Date()
            let (sent, status) = try await fixture.send(
                try fixture.shortIssue("t", subject: "Flaky"), list: "weekly", env: ["LISTCTL_RETRY_BASE": "6"])
            let returned = Date()
            #expect(sent.status == 0, "\(sent.stderr)")
            let issue = try #require(Self.int(status?["issue"]), "\(sent.stdout)")
            #expect(Self.int(status?["pending"]) == 3 && Self.int(status?["sent"]) == 5, "\(status ?? [:])")
            #expect(status?["state"] as? String == "sending")
            let tooEarly = try await fixture.deliver()
            // The 451s came after `started`: within 3 s of it no backoff can have passed.
            if Date().timeIntervalSince(started) < 3 {
                #expect(Self.int(tooEarly["messagesSent"]) == 0, "the backoff has not passed: \(tooEarly)")
            }
            let pending = try await fixture.recipients(issue, "pending")
            if Self.int(tooEarly["messagesSent"]) == 0 {
                #expect(Set(pending.compactMap { $0["email"] as? String }) == Set(flaky.map(\.email)))
                #expect(pending.allSatisfy { Self.int($0["attempts"]) == 1 && ($0["lastError"] as? String)?.contains("451") == true }, "\(pending)")
            }

            // The 451s came before the send returned: 6 s after that, every backoff has passed.
            try await Self.sleep(until: returned.addingTimeInterval(6.3))
            let retried = try await fixture.deliver()
            #expect(Self.int(retried["messagesSent"]).map { $0 + (Self.int(tooEarly["messagesSent"]) ?? 0) } == 3, "\(tooEarly) \(retried)")
            let after = try await fixture.status(issue)
            #expect(after["state"] as? String == "sent" && Self.int(after["sent"]) == 8, "\(after)")
            let copies = Self.copies(try fixture.accepted())
            #expect(copies == Dictionary(uniqueKeysWithValues: (good + flaky).map { ($0.email, 1) }), "\(copies)")
        }
    }

    @Test("LISTCTL_RETRY_MAX_ATTEMPTS=2 and a 451 five times: failed after two attempts; retry requeues them, back to sending")
    func attemptsRunOut() async throws {
        try await Self.withFixture(.init(tempfailPrefix: "tf", tempfailTimes: 5), environment: ["LISTCTL_RETRY_MAX_ATTEMPTS": "2"]) { fixture in
            let flaky = Self.people("tf", 3)
            try await fixture.makeList("weekly", Self.people("reader", 3) + flaky)
            let (sent, status) = try await fixture.send(try fixture.shortIssue("t", subject: "Stuck"), list: "weekly")
            #expect(sent.status == 0, "\(sent.stderr)")
            let issue = try #require(Self.int(status?["issue"]), "\(sent.stdout)")
            var rounds = 0
            while try await fixture.pending(issue) > 0 && rounds < 10 {
                try await Self.sleep(0.5)
                _ = try await fixture.deliver()
                rounds += 1
            }
            let after = try await fixture.status(issue)
            #expect(Self.int(after["failed"]) == 3 && Self.int(after["sent"]) == 3 && Self.int(after["pending"]) == 0, "\(after)")
            #expect(after["state"] as? String == "sent", "every delivery ended: \(after)")
            let failed = try await fixture.recipients(issue, "failed")
            #expect(Set(failed.compactMap { $0["email"] as? String }) == Set(flaky.map(\.email)))
            #expect(failed.allSatisfy { Self.int($0["attempts"]) == 2 }, "two attempts each: \(failed)")
            #expect(failed.allSatisfy { ($0["lastError"] as? String)?.contains("451") == true }, "\(failed)")
            #expect(try fixture.accepted().allSatisfy { !$0.rcpt.hasPrefix("tf") })

            let retry = try await fixture.run("retry", String(issue))
            #expect(retry.status == 0, "\(retry.stderr)")
            #expect(retry.stdout.contains("3 failed delivery(ies) queued again"), "\(retry.stdout)")
            let requeued = try await fixture.status(issue)
            #expect(requeued["state"] as? String == "sending" && Self.int(requeued["pending"]) == 3 && Self.int(requeued["failed"]) == 0, "\(requeued)")
            let pending = try await fixture.recipients(issue, "pending")
            #expect(pending.allSatisfy { Self.int($0["attempts"]) == 0 }, "\(pending)")
            #expect(try await fixture.recipients(issue, "failed").isEmpty)
        }
    }

    // MARK: 8: an outcome nobody knows

    @Test("connection dropped after DATA once: pending as unknown, retried with the same Message-ID; five times: failed, outcome unknown")
    func unknownOutcome() async throws {
        try await Self.withFixture(.init(dropPrefix: "drop", dropTimes: 1)) { fixture in
            let dropped = Self.people("drop", 2)
            try await fixture.makeList("weekly", Self.people("reader", 3) + dropped)
            // The unknown outcome is retried after LISTCTL_RETRY_BASE: 4 s here, so the send surely ends first.
            let started = Date()
            let (sent, status) = try await fixture.send(
                try fixture.shortIssue("d", subject: "Dropped"), list: "weekly", env: ["LISTCTL_RETRY_BASE": "4"])
            let returned = Date()
            #expect(sent.status == 0, "\(sent.stderr)")
            let issue = try #require(Self.int(status?["issue"]), "\(sent.stdout)")
            // A send of 4 s or more could have reached the retries itself (a machine under heavy load).
            let sendWasQuick = returned.timeIntervalSince(started) < 4
            if sendWasQuick {
                #expect(Self.int(status?["pending"]) == 2 && Self.int(status?["sent"]) == 3, "\(status ?? [:])")
                let pending = try await fixture.recipients(issue, "pending")
                #expect(Set(pending.compactMap { $0["email"] as? String }) == Set(dropped.map(\.email)))
                #expect(pending.allSatisfy { ($0["lastError"] as? String)?.hasPrefix("unknown: ") == true }, "\(pending)")
            }

            // Retried exactly RETRY_BASE after the drop, which came before the send returned,
            // and after a secret rotation: the Message-ID's key is the issue's own (schema 0005).
            try await Self.sleep(until: returned.addingTimeInterval(4.3))
            let rotated = fixture.work.appendingPathComponent("secrets")
            try "\(Self.rotatedSecret)\n\(Self.secret)\n".write(to: rotated, atomically: true, encoding: .utf8)
            let retried = try await fixture.deliver(env: ["LISTCTL_SECRET": nil, "LISTCTL_SECRET_FILE": rotated.path])
            if sendWasQuick { #expect(Self.int(retried["messagesSent"]) == 2, "\(retried)") }
            #expect(try await fixture.status(issue)["state"] as? String == "sent")
            let accepted = try fixture.accepted()
            for person in dropped {
                let copies = accepted.filter { $0.rcpt == person.email }
                #expect(copies.count == 2, "\(person.email): \(copies.map { ($0.messageID, $0.dropped) })")
                #expect(Set(copies.map(\.messageID)).count == 1, "the retry keeps the Message-ID: \(copies.map(\.messageID))")
                #expect(copies.map(\.dropped).sorted { !$0 && $1 } == [false, true], "one dropped, one not: \(copies.map(\.dropped))")
            }
        }
        try await Self.withFixture(.init(dropPrefix: "drop", dropTimes: 5)) { fixture in
            try await fixture.makeList("weekly", Self.people("reader", 2) + Self.people("drop", 2))
            let (sent, status) = try await fixture.send(try fixture.shortIssue("d", subject: "Lost"), list: "weekly")
            #expect(sent.status == 0, "\(sent.stderr)")
            let issue = try #require(Self.int(status?["issue"]), "\(sent.stdout)")
            var rounds = 0
            while try await fixture.pending(issue) > 0 && rounds < 10 {
                try await Self.sleep(0.4)
                _ = try await fixture.deliver()
                rounds += 1
            }
            let after = try await fixture.status(issue)
            #expect(Self.int(after["failed"]) == 2 && Self.int(after["failedUnknown"]) == 2, "\(after)")
            let failed = try await fixture.recipients(issue, "failed")
            #expect(failed.allSatisfy { ($0["lastError"] as? String)?.hasPrefix("failed-unknown: ") == true }, "\(failed)")
            // Two tries each, no more: an unknown outcome is retried once.
            let drops = try fixture.accepted().filter { $0.rcpt.hasPrefix("drop") }
            #expect(drops.count == 4 && drops.allSatisfy(\.dropped), "\(drops.map { ($0.rcpt, $0.dropped) })")
        }
    }

    // MARK: 9: the transport is down

    @Test("every MAIL FROM answered 451: the send pauses after LISTCTL_PAUSE_AFTER_FAILURES, exits non-zero, few attempts made")
    func circuitBreaker() async throws {
        try await Self.withFixture(.init(failAll: 451), environment: ["LISTCTL_PAUSE_AFTER_FAILURES": "5"]) { fixture in
            try await fixture.makeList("weekly", Self.people("reader", 30))
            let (sent, status) = try await fixture.send(try fixture.shortIssue("down", subject: "Down"), list: "weekly")
            #expect(sent.status == 1, "\(sent.status): \(sent.stdout) \(sent.stderr)")
            let issue = try #require(Self.int(status?["issue"]), "send --json still prints the status: \(sent.stdout)")
            let after = try await fixture.status(issue)
            #expect(after["state"] as? String == "paused", "\(after)")
            #expect((after["pausedReason"] as? String)?.contains("transport down") == true, "\(after)")
            #expect(Self.int(after["pending"]) == 30 && Self.int(after["sent"]) == 0, "\(after)")
            let pending = try await fixture.recipients(issue, "pending")
            let attempts = pending.compactMap { Self.int($0["attempts"]) }.reduce(0, +)
            let untouched = pending.filter { Self.int($0["attempts"]) == 0 }.count
            #expect(attempts < 20, "far fewer than 30 attempts: \(attempts)")
            #expect(untouched >= 10, "\(untouched) never tried")
            #expect(try fixture.accepted().isEmpty)
            // Paused: deliver leaves it alone.
            let deliver = try await fixture.deliver()
            #expect(Self.int(deliver["messagesSent"]) == 0, "\(deliver)")
            #expect(try await fixture.status(issue)["state"] as? String == "paused")
        }
    }
}
