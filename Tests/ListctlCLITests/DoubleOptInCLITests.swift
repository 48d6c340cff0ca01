import Foundation
import Postgres
import TestSupport
import Testing

/// Joining a list through `listctl serve` for real: the form and the JSON
/// endpoint over HTTP (curl), the confirmation and welcome mail delivered by
/// the worker in the same process into an outbox and read back with Python's
/// own email parser, the confirm link followed, the database checked.
@Suite("Double opt-in: subscribe, confirmation mail, confirm, welcome, preferences")
struct DoubleOptInCLITests {
    typealias Fixture = DeliveryCLITests.Fixture
    typealias Server = ServeCLITests.Server

    /// One delivered message, as Tests/tools/mail_links.py reads it.
    struct Mail: Sendable {
        var to: String
        var subject: String
        var messageID: String
        var textLinks: [String]
        var htmlLinks: [String]

        /// The path (under https://news.example.org) of the first link with `/segment/` in both parts; nil unless
        /// the text and the HTML part carry the same one.
        func path(_ segment: String) -> String? {
            let base = "https://news.example.org"
            let text = textLinks.first { $0.contains("/\(segment)/") }
            let html = htmlLinks.first { $0.contains("/\(segment)/") }
            guard let text, text == html, text.hasPrefix(base) else { return nil }
            return String(text.dropFirst(base.count))
        }
    }

    static func mails(_ outbox: URL) async throws -> [Mail] {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tools/mail_links.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, outbox.path]
        let out = Pipe()
        process.standardOutput = out
        let data = try await onThread { () -> Data in
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return data
        }
        let list = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] ?? []
        return list.map {
            Mail(to: $0["to"] as? String ?? "", subject: $0["subject"] as? String ?? "", messageID: $0["messageID"] as? String ?? "",
                 textLinks: $0["textLinks"] as? [String] ?? [], htmlLinks: $0["htmlLinks"] as? [String] ?? [])
        }
    }

    /// Waits (up to 30 s) until the outbox holds `count` messages to `email` whose subject contains `subject`.
    static func waitForMails(_ outbox: URL, to email: String, subject: String, count: Int = 1) async throws -> [Mail] {
        let deadline = Date().addingTimeInterval(30)
        var found: [Mail] = []
        while Date() < deadline {
            found = try await mails(outbox).filter { $0.to.contains(email) && $0.subject.contains(subject) }
            if found.count >= count { return found }
            try await Task.sleep(for: .milliseconds(200))
        }
        return found
    }

    static func form(_ fields: [String: String]) -> [String] {
        var arguments: [String] = []
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) { arguments += ["--data-urlencode", "\(name)=\(value)"] }
        return arguments
    }

    static func query<T: PostgresDecodable & Sendable>(_ fixture: Fixture, _ sql: String, _ bindings: String...) async throws -> [T] {
        let values = bindings
        return try await withConnection(to: fixture.database) { connection in
            let rows: PostgresRows
            switch values.count {
            case 0: rows = try await connection.query(sql)
            case 1: rows = try await connection.query(sql, values[0])
            default: rows = try await connection.query(sql, values[0], values[1])
            }
            return try rows.map { try $0.decode(T.self, at: 0) }
        }
    }

    /// A list, a serve with its worker delivering into `outbox`, and the test.
    static func withService(
        _ env: [String: String?] = [:], _ body: @Sendable (Fixture, Server, URL) async throws -> Void
    ) async throws {
        try await DeliveryCLITests.withFixture { fixture in
            try await fixture.makeList("monthly", DeliveryCLITests.people("old", 1))
            let outbox = fixture.work.appendingPathComponent("outbox")
            var environment = env
            environment["LISTCTL_TRANSPORT"] = "outbox://\(outbox.path)"
            let server = try await ServeCLITests.serve(fixture.cli(environment), [])
            do {
                try await body(fixture, server, outbox)
            } catch {
                _ = try? server.stop()
                throw error
            }
            let stopped = try server.stop()
            #expect(server.started.process.terminationStatus == 0, "\(stopped)")
        }
    }

    @Test("form → confirmation mail (link in text and HTML) → GET changes nothing → POST confirms with proof kept → welcome once; a replay after leaving changes nothing; joining again mails a new link with a new Message-ID")
    func subscribeConfirmWelcome() async throws {
        try await Self.withService { fixture, server, outbox in
            let welcome = fixture.work.appendingPathComponent("welcome.md")
            try "---\nsubject: Welcome aboard\n---\n\nGlad you are here.\n".write(to: welcome, atomically: true, encoding: .utf8)
            let set = try await fixture.run("lists", "set", "monthly", "--welcome", welcome.path)
            #expect(set.status == 0 && set.stdout.contains("welcome issue of monthly"), "\(set.stderr)")

            let page = try await ServeCLITests.request(server, "/monthly/subscribe")
            #expect(page.status == 200 && page.body.contains("name=\"email\"") && page.body.contains("Subscribe to The monthly letter"), "\(page)")
            #expect(page.body.contains("name=\"website\""), "the honeypot field is there")

            let email = "New.Reader@Example.org"
            let posted = try await ServeCLITests.request(server, "/monthly/subscribe", method: "POST",
                                                         curlArguments: Self.form(["email": email, "name": "New Reader"]) + ["-A", "TestBrowser/1.0"])
            #expect(posted.status == 200 && posted.body.contains("Check your inbox"), "\(posted)")
            #expect(try await ServeCLITests.status(fixture, email, list: "monthly") == "pending")
            let proof: [String] = try await Self.query(fixture, """
                SELECT r.source || ' ' || r.client_address || ' ' || r.user_agent FROM consent_requests r
                JOIN subscribers s ON s.id = r.subscriber_id WHERE s.email_key = lower($1)
                """, email)
            #expect(proof == ["form 127.0.0.1 TestBrowser/1.0"], "proof of consent: \(proof)")

            let confirmations = try await Self.waitForMails(outbox, to: "New.Reader@example.org", subject: "Confirm your subscription")
            #expect(confirmations.count == 1, "one confirmation mail")
            let first = try #require(confirmations.first)
            let link = try #require(first.path("confirm"), "the confirm link in both parts: \(first)")
            #expect(link.hasPrefix("/monthly/confirm/"))

            let shown = try await ServeCLITests.request(server, link)
            #expect(shown.status == 200 && shown.body.contains("Yes, subscribe me"), "\(shown)")
            #expect(try await ServeCLITests.status(fixture, email, list: "monthly") == "pending", "a GET confirms nothing")

            let confirmed = try await ServeCLITests.request(server, link, method: "POST", curlArguments: ["--data-raw", "confirm=yes", "-A", "TestBrowser/2.0"])
            #expect(confirmed.status == 200 && confirmed.body.contains("You are subscribed"), "\(confirmed)")
            #expect(confirmed.body.contains("A welcome message is on its way"))
            #expect(try await ServeCLITests.status(fixture, email, list: "monthly") == "active")
            let confirmedProof: [String] = try await Self.query(fixture, """
                SELECT r.confirmed_address || ' ' || r.confirmed_user_agent FROM consent_requests r
                JOIN subscribers s ON s.id = r.subscriber_id WHERE s.email_key = lower($1) AND r.confirmed_at IS NOT NULL
                """, email)
            #expect(confirmedProof == ["127.0.0.1 TestBrowser/2.0"])
            let exported = try await fixture.run("subscribers", "export-person", email)
            let person = (try? JSONSerialization.jsonObject(with: Data(exported.stdout.utf8))) as? [String: Any]
            let consents = (person?["subscriber"] as? [String: Any])?["consents"] as? [[String: Any]] ?? []
            #expect(consents.count == 1 && consents.first?["userAgent"] as? String == "TestBrowser/1.0"
                    && consents.first?["confirmedUserAgent"] as? String == "TestBrowser/2.0", "export-person has the proof: \(exported.stdout)")
            let shownRecord = try await fixture.run("subscribers", "show", email)
            #expect(shownRecord.stdout.contains("requests to join") && shownRecord.stdout.contains("127.0.0.1"), "\(shownRecord.stdout)")

            let welcomes = try await Self.waitForMails(outbox, to: "New.Reader@example.org", subject: "Welcome aboard")
            #expect(welcomes.count == 1)
            let again = try await ServeCLITests.request(server, link, method: "POST", curlArguments: ["--data-raw", "confirm=yes"])
            #expect(again.status == 200 && again.body.contains("You are subscribed") && !again.body.contains("welcome"), "\(again)")

            // Leave with the welcome mail's own unsubscribe link; the old confirm link then changes nothing.
            let unsubscribe = try #require(welcomes.first?.path("unsubscribe"), "\(String(describing: welcomes.first))")
            let left = try await ServeCLITests.request(server, unsubscribe, method: "POST", curlArguments: ["--data-raw", "List-Unsubscribe=One-Click"])
            #expect(left.status == 200)
            let replay = try await ServeCLITests.request(server, link, method: "POST", curlArguments: ["--data-raw", "confirm=yes"])
            #expect(replay.status == 410, "a used link never resubscribes: \(replay.status)")
            #expect(try await ServeCLITests.status(fixture, email, list: "monthly") == "unsubscribed")

            // Their own new request: a new link, a new Message-ID (not a duplicate a mailbox would drop).
            let rejoin = try await ServeCLITests.request(server, "/monthly/subscribe", method: "POST", curlArguments: Self.form(["email": email]))
            #expect(rejoin.status == 200)
            let second = try await Self.waitForMails(outbox, to: "New.Reader@example.org", subject: "Confirm your subscription", count: 2)
            #expect(second.count == 2)
            let newer = try #require(second.first { $0.messageID != first.messageID }, "a second Message-ID: \(second.map(\.messageID))")
            let newLink = try #require(newer.path("confirm"))
            #expect(newLink != link)
            #expect(try await ServeCLITests.status(fixture, email, list: "monthly") == "unsubscribed", "left stays left until confirmed")
            let back = try await ServeCLITests.request(server, newLink, method: "POST", curlArguments: ["--data-raw", "confirm=yes"])
            #expect(back.status == 200 && back.body.contains("You are subscribed"), "\(back)")
            #expect(try await ServeCLITests.status(fixture, email, list: "monthly") == "active")
            try await Task.sleep(for: .seconds(2))
            #expect(try await Self.mails(outbox).filter { $0.subject.contains("Welcome aboard") }.count == 1, "the welcome issue goes once per person")
            let events: [String] = try await Self.query(fixture, """
                SELECT kind FROM events WHERE email_key = lower($1) AND kind IN ('confirmed', 'unsubscribed') ORDER BY id
                """, email)
            #expect(events == ["confirmed", "unsubscribed", "confirmed"], "\(events)")
        }
    }

    @Test("the form cannot probe the list: a member, a stranger and a bot (honeypot) get the same answer, the member and the bot no mail; JSON answers 202; bad input 400 with nothing stored; per-address mails capped at 3 a day; per-client limit 429")
    func probingAndLimits() async throws {
        try await Self.withService(["LISTCTL_SUBSCRIBE_LIMIT": "12"]) { fixture, server, outbox in
            let member = DeliveryCLITests.people("old", 1)[0].email
            let stranger = "stranger@example.org"
            let memberAnswer = try await ServeCLITests.request(server, "/monthly/subscribe", method: "POST", curlArguments: Self.form(["email": member]))
            let strangerAnswer = try await ServeCLITests.request(server, "/monthly/subscribe", method: "POST", curlArguments: Self.form(["email": stranger]))
            let botAnswer = try await ServeCLITests.request(server, "/monthly/subscribe", method: "POST",
                                                            curlArguments: Self.form(["email": "bot@example.org", "website": "http://spam.example"]))
            #expect(memberAnswer.status == 200 && memberAnswer.body == strangerAnswer.body && botAnswer.body == strangerAnswer.body,
                    "the same page for all three")
            let bots: [Int64] = try await Self.query(fixture, "SELECT count(*) FROM subscribers WHERE email_key = 'bot@example.org'")
            #expect(bots == [0], "the honeypot stores nothing")

            let json = try await ServeCLITests.request(server, "/monthly/subscribe", method: "POST", curlArguments: [
                "-H", "Content-Type: application/json", "--data-raw", "{\"email\": \"api@example.org\"}"])
            #expect(json.status == 202 && json.body.contains("\"status\":\"pending\""), "\(json)")
            #expect(try await ServeCLITests.status(fixture, "api@example.org", list: "monthly") == "pending")

            for (arguments, expected) in [
                (Self.form(["email": "not an address"]), "is not an email address"),
                (Self.form(["email": ""]), "Please give your email address"),
                (Self.form(["email": "x@example.org", "list": "weekly"]), "There is no list"),
                (["-H", "Content-Type: application/json", "--data-raw", "[1, 2]"], "not a JSON object"),
                (["-H", "Content-Type: application/json", "--data-raw", "{\"email\": 5}"], "not a JSON object"),
            ] {
                let bad = try await ServeCLITests.request(server, "/monthly/subscribe", method: "POST", curlArguments: arguments)
                #expect(bad.status == 400 && bad.body.contains(expected), "\(arguments): \(bad.status) \(bad.body)")
            }
            let stored: [Int64] = try await Self.query(fixture, "SELECT count(*) FROM subscribers WHERE email_key IN ('not an address', 'x@example.org')")
            #expect(stored == [0])

            // The same address four times: three confirmation mails' worth of requests, the fourth kept but not mailed.
            for _ in 0..<3 {
                let again = try await ServeCLITests.request(server, "/monthly/subscribe", method: "POST", curlArguments: Self.form(["email": stranger]))
                #expect(again.body == strangerAnswer.body)
            }
            let mailed: [Int64] = try await Self.query(fixture, """
                SELECT count(*) FILTER (WHERE detail @> '{"mailed": true}') * 10 + count(*) FILTER (WHERE detail @> '{"mailed": false}')
                FROM events WHERE email_key = $1 AND kind = 'subscribed'
                """, stranger)
            #expect(mailed == [31], "3 mailed, 1 not: \(mailed)")
            _ = try await Self.waitForMails(outbox, to: stranger, subject: "Confirm", count: 1)
            try await Task.sleep(for: .seconds(1))
            let strangerMails = try await Self.mails(outbox).filter { $0.to.contains(stranger) }.count
            #expect((1...3).contains(strangerMails), "at most 3 confirmation mails: \(strangerMails)")
            #expect(try await Self.mails(outbox).filter { $0.to.contains(member) }.isEmpty, "an active member gets no mail")

            // Requests so far from 127.0.0.1: 3 + 1 + 5 + 3 = 12, the limit: the 13th is answered 429.
            let limited = try await ServeCLITests.request(server, "/monthly/subscribe", method: "POST", curlArguments: Self.form(["email": "late@example.org"]))
            #expect(limited.status == 429 && limited.body.contains("Too many"), "\(limited.status)")
            // X-Forwarded-For from an untrusted peer is not believed: still limited.
            let forged = try await ServeCLITests.request(server, "/monthly/subscribe", method: "POST",
                                                         curlArguments: Self.form(["email": "late@example.org"]) + ["-H", "X-Forwarded-For: 203.0.113.9"])
            #expect(forged.status == 429)
        }
    }

    @Test("behind a trusted proxy X-Forwarded-For names the client (kept as proof, limited per client); a suppressed address joins by its own confirmation only; expired and wrong-purpose links refused; never-confirmed requests purged after 30 days with their person")
    func proxiesSuppressionExpiryPurge() async throws {
        try await Self.withService(["LISTCTL_TRUSTED_PROXIES": "127.0.0.1, ::1", "LISTCTL_SUBSCRIBE_LIMIT": "2"]) { fixture, server, outbox in
            for (client, email, expected) in [("203.0.113.9", "a@example.org", 200), ("203.0.113.9", "b@example.org", 200),
                                              ("203.0.113.9", "c@example.org", 429), ("198.51.100.7", "c@example.org", 200)] {
                let answer = try await ServeCLITests.request(server, "/monthly/subscribe", method: "POST",
                                                             curlArguments: Self.form(["email": email]) + ["-H", "X-Forwarded-For: 192.0.2.1, \(client)"])
                #expect(answer.status == expected, "\(client) \(email): \(answer.status)")
            }
            let clients: [String] = try await Self.query(fixture, "SELECT client_address FROM consent_requests ORDER BY id")
            #expect(clients == ["203.0.113.9", "203.0.113.9", "198.51.100.7"], "\(clients)")

            // A suppressed address: its own request is mailed (once a day), and its confirmation lifts the suppression.
            let suppressed = DeliveryCLITests.people("old", 1)[0].email
            let add = try await fixture.run("suppressions", "add", suppressed, "--reason", "manual")
            #expect(add.status == 0, "\(add.stderr)")
            _ = try await fixture.run("subscribers", "unsubscribe", suppressed, "--list", "monthly")
            let asked = try await ServeCLITests.request(server, "/monthly/subscribe", method: "POST",
                                                        curlArguments: Self.form(["email": suppressed]) + ["-H", "X-Forwarded-For: 198.51.100.8"])
            #expect(asked.status == 200)
            let mail = try #require(try await Self.waitForMails(outbox, to: suppressed, subject: "Confirm").first)
            let link = try #require(mail.path("confirm"))
            let token = String(link.split(separator: "/").last ?? "")
            // The same token under /unsubscribe/ and /preferences/: wrong purpose, 400, nothing changed.
            for path in ["/monthly/unsubscribe/\(token)", "/monthly/preferences/\(token)"] {
                let wrong = try await ServeCLITests.request(server, path, method: "POST", curlArguments: ["--data-raw", "List-Unsubscribe=One-Click"])
                #expect(wrong.status == 400, "\(path): \(wrong.status)")
            }
            let ok = try await ServeCLITests.request(server, link, method: "POST", curlArguments: ["--data-raw", "confirm=yes"])
            #expect(ok.status == 200 && ok.body.contains("You are subscribed"), "\(ok)")
            let left: [Int64] = try await Self.query(fixture, "SELECT count(*) FROM suppressions WHERE email_key = lower($1)", suppressed)
            #expect(left == [0], "their own confirmation lifts the suppression")
            let lifted: [String] = try await Self.query(fixture, "SELECT detail->>'lifted_suppression' FROM events WHERE kind = 'confirmed' AND email_key = lower($1)", suppressed)
            #expect(lifted == ["manual"])

            // An expired link: 410, still pending; its mail, if not yet sent, is skipped.
            let aMail = try #require(try await Self.waitForMails(outbox, to: "a@example.org", subject: "Confirm").first)
            _ = try await Self.query(fixture, "UPDATE consent_requests SET requested_at = now() - interval '8 days' FROM subscribers s WHERE s.id = subscriber_id AND s.email_key = 'a@example.org' RETURNING 1") as [Int32]
            let expired = try await ServeCLITests.request(server, try #require(aMail.path("confirm")), method: "POST", curlArguments: ["--data-raw", "confirm=yes"])
            #expect(expired.status == 410 && expired.body.contains("expired"), "\(expired.status)")
            #expect(try await ServeCLITests.status(fixture, "a@example.org", list: "monthly") == "pending")

            // 31 days unconfirmed: purged when serve starts (and hourly) — the person and their events go.
            _ = try await Self.query(fixture, "UPDATE consent_requests SET requested_at = now() - interval '31 days' FROM subscribers s WHERE s.id = subscriber_id AND s.email_key = 'a@example.org' RETURNING 1") as [Int32]
            _ = try server.stop()
            let restarted = try await ServeCLITests.serve(fixture.cli(["LISTCTL_TRANSPORT": "outbox://\(outbox.path)"]), ["--no-worker"])
            let deadline = Date().addingTimeInterval(20)
            var remaining: [Int64] = [1]
            while Date() < deadline, remaining != [0] {
                remaining = try await Self.query(fixture, "SELECT count(*) FROM subscribers WHERE email_key = 'a@example.org'")
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(remaining == [0], "purged")
            let traces: [Int64] = try await Self.query(fixture, "SELECT count(*) FROM events WHERE email_key = 'a@example.org'")
            #expect(traces == [0], "no event keeps the address")
            #expect(try await ServeCLITests.status(fixture, "b@example.org", list: "monthly") == "pending", "a recent request stays")
            _ = try restarted.stop()
        }
    }
}

extension DoubleOptInCLITests {
    @Test("preferences from a mail's footer link: the person's lists with toggles; unticking leaves that list only; ticking a left list mails a confirmation and changes nothing until confirmed; unsubscribe from all suppresses; a forged token 400")
    func preferencePage() async throws {
        try await Self.withService { fixture, server, outbox in
            let email = DeliveryCLITests.people("old", 1)[0].email
            try await fixture.makeList("weekly", DeliveryCLITests.people("old", 1))
            _ = try await fixture.run("subscribers", "unsubscribe", email, "--list", "weekly")
            try await fixture.makeList("other", DeliveryCLITests.people("someone", 1))
            let sent = try await fixture.send(try fixture.shortIssue("p1", subject: "Issue p1"), list: "monthly",
                                              env: ["LISTCTL_TRANSPORT": "outbox://\(outbox.path)"])
            #expect(sent.0.status == 0, "\(sent.0.stderr)")
            let mail = try #require(try await Self.waitForMails(outbox, to: email, subject: "Issue p1").first)
            let link = try #require(mail.path("preferences"), "the footer's preferences link in both parts: \(mail)")

            let page = try await ServeCLITests.request(server, link)
            #expect(page.status == 200 && page.body.contains("Your subscriptions") && page.body.contains(email), "\(page)")
            #expect(page.body.contains("value=\"monthly\" checked") && page.body.contains("value=\"weekly\">"), "monthly ticked, weekly not")
            #expect(!page.body.contains("value=\"other\""), "only their own lists")

            // Untick monthly, tick weekly (which they had left).
            let saved = try await ServeCLITests.request(server, link, method: "POST", curlArguments: ["--data-raw", "list=weekly&action=save"])
            #expect(saved.status == 200 && saved.body.contains("You left The monthly letter"), "\(saved.body)")
            #expect(saved.body.contains("To join The weekly letter again"))
            #expect(try await ServeCLITests.status(fixture, email, list: "monthly") == "unsubscribed")
            #expect(try await ServeCLITests.status(fixture, email, list: "weekly") == "unsubscribed", "not until they confirm")
            let confirmation = try #require(try await Self.waitForMails(outbox, to: email, subject: "Confirm your subscription to The weekly letter").first)
            let confirm = try #require(confirmation.path("confirm"))
            #expect(confirm.hasPrefix("/weekly/confirm/"))
            let joined = try await ServeCLITests.request(server, confirm, method: "POST", curlArguments: ["--data-raw", "confirm=yes"])
            #expect(joined.status == 200)
            #expect(try await ServeCLITests.status(fixture, email, list: "weekly") == "active")
            let sources: [String] = try await Self.query(fixture, "SELECT source FROM consent_requests r JOIN subscribers s ON s.id = r.subscriber_id WHERE s.email_key = lower($1)", email)
            #expect(sources == ["preferences"])

            let all = try await ServeCLITests.request(server, link, method: "POST", curlArguments: ["--data-raw", "list=weekly&action=all"])
            #expect(all.status == 200 && all.body.contains("unsubscribed from every list"), "\(all.body)")
            #expect(try await ServeCLITests.status(fixture, email, list: "weekly") == "unsubscribed")
            let suppressed: [String] = try await Self.query(fixture, "SELECT reason FROM suppressions WHERE email_key = lower($1)", email)
            #expect(suppressed == ["unsubscribed"])

            let token = String(link.split(separator: "/").last ?? "")
            var altered = Array(token)
            altered[5] = altered[5] == "A" ? "B" : "A"
            let forged = try await ServeCLITests.request(server, "/monthly/preferences/\(String(altered))", method: "POST",
                                                         curlArguments: ["--data-raw", "list=monthly&action=save"])
            #expect(forged.status == 400)
        }
    }

    @Test("subscribers add --pending mails a confirmation (source cli) and never activates; lists set --welcome none removes the welcome; --page-template changes the pages, a bad one is refused with nothing stored")
    func adminCommands() async throws {
        try await Self.withService { fixture, server, outbox in
            let added = try await fixture.run("subscribers", "add", "later@example.org", "--list", "monthly", "--pending")
            #expect(added.status == 0 && added.stdout.contains("pending on monthly"), "\(added.stdout) \(added.stderr)")
            #expect(try await ServeCLITests.status(fixture, "later@example.org", list: "monthly") == "pending")
            let mail = try #require(try await Self.waitForMails(outbox, to: "later@example.org", subject: "Confirm").first)
            #expect(mail.path("confirm") != nil)
            let sources: [String] = try await Self.query(fixture, "SELECT source FROM consent_requests")
            #expect(sources == ["cli"])

            let welcome = fixture.work.appendingPathComponent("w.md")
            try "# Hello\n\nWelcome.\n".write(to: welcome, atomically: true, encoding: .utf8)
            let set = try await fixture.run("lists", "set", "monthly", "--welcome", welcome.path)
            #expect(set.status == 0, "\(set.stderr)")
            let same = try await fixture.run("lists", "set", "monthly", "--welcome", welcome.path)
            #expect(same.stdout.contains("unchanged"), "\(same.stdout)")
            let removed = try await fixture.run("lists", "set", "monthly", "--welcome", "none")
            #expect(removed.status == 0 && removed.stdout.contains("no welcome issue"), "\(removed.stdout)")
            let missing = try await fixture.run("lists", "set", "monthly", "--welcome", "/nonexistent/w.md")
            #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/w.md"), "\(missing.stderr)")
            let listed = try await fixture.run("issues", "--json")
            #expect(!listed.stdout.contains("Confirm your subscription") && !listed.stdout.contains("Hello"), "standing issues are not in `issues`: \(listed.stdout)")

            let template = fixture.work.appendingPathComponent("page.mustache")
            try "<!DOCTYPE html><html lang=\"en\"><head><title>{{title}} · {{list_name}}</title></head><body><header>MONTHLY HOUSE STYLE</header>{{{content}}}</body></html>"
                .write(to: template, atomically: true, encoding: .utf8)
            let styled = try await fixture.run("lists", "set", "monthly", "--page-template", template.path)
            #expect(styled.status == 0, "\(styled.stderr)")
            let page = try await ServeCLITests.request(server, "/monthly/subscribe")
            #expect(page.body.contains("MONTHLY HOUSE STYLE") && page.body.contains("<title>Subscribe to The monthly letter · The monthly letter</title>"), "\(page.body)")
            let broken = fixture.work.appendingPathComponent("broken.mustache")
            try "<html>{{#open}}no content</html>".write(to: broken, atomically: true, encoding: .utf8)
            let refused = try await fixture.run("lists", "set", "monthly", "--page-template", broken.path, "--name", "Renamed")
            #expect(refused.status != 0 && refused.stderr.contains("broken.mustache"), "\(refused.stderr)")
            let still = try await ServeCLITests.request(server, "/monthly/subscribe")
            #expect(still.body.contains("MONTHLY HOUSE STYLE") && still.body.contains("The monthly letter"), "nothing changed, the name neither")
        }
    }
}

extension DoubleOptInCLITests {
    @Test("a person in headless Chromium on a phone-sized window: subscribe form → confirmation mail → confirm → welcome mail's preference page → unsubscribe → preferences to join back; no script, each page fits the screen, a screenshot of each")
    func journeyInABrowser() async throws {
        try await Self.withService { fixture, server, outbox in
            let welcome = fixture.work.appendingPathComponent("welcome.md")
            try "---\nsubject: Welcome to the monthly letter\n---\n\nGlad you are here.\n".write(to: welcome, atomically: true, encoding: .utf8)
            let set = try await fixture.run("lists", "set", "monthly", "--welcome", welcome.path)
            #expect(set.status == 0, "\(set.stderr)")
            let email = "browser.person@example.org"
            let browser = try await BrowserPages.run(
                "journey", ["--url", "http://news.example.org/monthly/subscribe", "--outbox", outbox.path, "--email", email],
                port: server.port, work: fixture.work)
            let seen = browser.seen
            BrowserPages.expectPlainAndPhoneSized(seen, pages: ["subscribe", "checkInbox", "confirm", "confirmed", "preferences", "unsubscribed", "saved"])
            BrowserPages.expectScreenshots(
                browser.screenshots, ["subscribe.png", "check-inbox.png", "confirm.png", "confirmed.png", "preferences.png", "preferences-saved.png"])
            // What the person did is what the database says: left, with a new request waiting for their confirmation.
            #expect(try await ServeCLITests.status(fixture, email, list: "monthly") == "unsubscribed")
            let requests: [String] = try await Self.query(fixture, """
                SELECT r.source || ':' || (r.confirmed_at IS NOT NULL) FROM consent_requests r JOIN subscribers s ON s.id = r.subscriber_id
                WHERE s.email_key = $1 ORDER BY r.id
                """, email)
            #expect(requests == ["form:true", "preferences:false"], "\(requests)")
        }
    }
}

extension DoubleOptInCLITests {
    @Test("/metrics: Prometheus text for loopback clients (requests by route and status, unsubscribes, subscribe outcomes, ledger rows by state), never a token; 403 through a proxy or with a wrong bearer token; 200 with the right one")
    func metrics() async throws {
        let bearer = "metrics-token-0123456789abcdef"
        try await Self.withService(["LISTCTL_METRICS_TOKEN": bearer]) { fixture, server, outbox in
            // Sent into the serve worker's own outbox: either may deliver it (both claim from the same ledger).
            let (sent, _) = try await fixture.send(try fixture.shortIssue("m1", subject: "Issue m1"), list: "monthly",
                                                   env: ["LISTCTL_TRANSPORT": "outbox://\(outbox.path)"])
            #expect(sent.status == 0, "\(sent.stderr)")
            let mail = try #require(try await Self.waitForMails(outbox, to: "@", subject: "Issue m1").first)
            let link = try #require(mail.path("unsubscribe"))
            let token = String(link.split(separator: "/").last ?? "")
            _ = try await ServeCLITests.request(server, "/monthly/unsubscribe/\(token)x", method: "POST")
            _ = try await ServeCLITests.request(server, link, method: "POST", curlArguments: ["--data-raw", "List-Unsubscribe=One-Click"])
            _ = try await ServeCLITests.request(server, "/monthly/subscribe", method: "POST", curlArguments: Self.form(["email": "m@example.org"]))
            // The worker may or may not have sent the confirmation mail yet: the issue's row, and perhaps the confirmation's.
            let scrape = try await ServeCLITests.request(server, "/metrics")
            let lines = scrape.body.split(separator: "\n").map(String.init)
            func value(_ name: String, _ labels: [String]) -> String? {
                lines.first { $0.hasPrefix(name + "{") && labels.allSatisfy($0.contains) }?.split(separator: " ").last.map(String.init)
            }
            #expect(scrape.status == 200, "\(scrape)")
            #expect(value("listctl_http_requests_total", ["route=\"unsubscribe\"", "status=\"400\""]) == "1", "\(scrape.body)")
            #expect(value("listctl_http_requests_total", ["route=\"unsubscribe\"", "status=\"200\""]) == "1")
            #expect(value("listctl_unsubscribes_total", ["source=\"one-click\""]) == "1")
            #expect(value("listctl_subscribe_requests_total", ["outcome=\"queued\""]) == "1")
            #expect([1, 2].contains(value("listctl_deliveries", ["state=\"sent\""]).flatMap(Double.init) ?? 0), "the ledger's sent rows: \(scrape.body)")
            #expect(!scrape.body.contains(token) && !scrape.body.contains("@"), "no token, no address")

            let proxied = try await ServeCLITests.request(server, "/metrics", curlArguments: ["-H", "X-Forwarded-For: 198.51.100.1"])
            #expect(proxied.status == 403, "through a proxy: \(proxied.status)")
            let wrong = try await ServeCLITests.request(server, "/metrics", curlArguments: ["-H", "X-Forwarded-For: 198.51.100.1", "-H", "Authorization: Bearer nope-nope-nope-nope"])
            #expect(wrong.status == 403)
            let right = try await ServeCLITests.request(server, "/metrics", curlArguments: ["-H", "X-Forwarded-For: 198.51.100.1", "-H", "Authorization: Bearer \(bearer)"])
            #expect(right.status == 200 && right.body.contains("listctl_http_requests_total"), "\(right.status)")
        }
    }
}

extension DoubleOptInCLITests {
    @Test("a forgotten person comes back by their own confirmation only: the form mails them while the hash stays; confirming makes them active, removes the hash and says so in the event")
    func forgottenComesBack() async throws {
        let key = "Fk2Lm9Qx4Rt7Vb1Nc6Hd3Jg8Ks5Pw0ZeYaUoXiTqWuE"
        try await Self.withService(["LISTCTL_FORGET_KEY": key]) { fixture, server, outbox in
            let email = DeliveryCLITests.people("old", 1)[0].email
            let forgot = try await fixture.run("subscribers", "forget", email, "--yes", env: ["LISTCTL_FORGET_KEY": key])
            #expect(forgot.status == 0, "\(forgot.stderr)")
            let hashes: [Int64] = try await Self.query(fixture, "SELECT count(*) FROM forgotten_addresses")
            #expect(hashes == [1])

            let asked = try await ServeCLITests.request(server, "/monthly/subscribe", method: "POST", curlArguments: Self.form(["email": email]))
            #expect(asked.status == 200, "\(asked)")
            let mail = try #require(try await Self.waitForMails(outbox, to: email, subject: "Confirm").first, "the person's own request is mailed")
            let link = try #require(mail.path("confirm"))
            let waiting: [Int64] = try await Self.query(fixture, "SELECT count(*) FROM forgotten_addresses")
            #expect(waiting == [1], "asking is not confirming: the hash stays")
            #expect(try await ServeCLITests.status(fixture, email, list: "monthly") == "pending")

            let ok = try await ServeCLITests.request(server, link, method: "POST", curlArguments: ["--data-raw", "confirm=yes"])
            #expect(ok.status == 200 && ok.body.contains("You are subscribed"), "\(ok)")
            #expect(try await ServeCLITests.status(fixture, email, list: "monthly") == "active")
            let after: [Int64] = try await Self.query(fixture, "SELECT count(*) FROM forgotten_addresses")
            #expect(after == [0], "their own confirmation removes the hash")
            let said: [String] = try await Self.query(
                fixture, "SELECT coalesce(detail->>'was_forgotten', 'null') FROM events WHERE kind = 'confirmed' AND email_key = lower($1)", email)
            #expect(said == ["true"], "\(said)")
        }
    }
}
