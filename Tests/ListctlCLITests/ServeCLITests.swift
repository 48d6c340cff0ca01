import Foundation
import Postgres
import TestSupport
import Testing

/// `listctl serve` for real: the binary on a free loopback port, asked by
/// curl as a mail client, a mail scanner and Gmail's one-click POST would
/// ask, with the links taken from mail the same listctl sent to an outbox.
@Suite("listctl serve: one-click unsubscribe and /healthz")
struct ServeCLITests {
    typealias Fixture = DeliveryCLITests.Fixture

    /// A running `serve` and the port it printed.
    struct Server {
        let started: StartedCLI
        let port: Int

        func stop() throws -> (stdout: String, stderr: String) {
            if started.process.isRunning { kill(started.process.processIdentifier, SIGTERM) }
            started.process.waitUntilExit()
            return try started.output()
        }
    }

    static func serve(_ cli: CLI, _ arguments: [String] = ["--no-worker"]) async throws -> Server {
        let started = try cli.start(["serve", "--port", "0"] + arguments, logging: "serve")
        let port = try await onThread { () -> Int? in
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                let text = (try? String(contentsOf: started.stderr, encoding: .utf8)) ?? ""
                if let range = text.range(of: "listening on http://127.0.0.1:") {
                    return Int(text[range.upperBound...].prefix { $0.isNumber })
                }
                if !started.process.isRunning { return nil }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return nil
        }
        guard let port else {
            kill(started.process.processIdentifier, SIGKILL)
            throw ServeTestError("serve did not start: \(try started.output())")
        }
        return Server(started: started, port: port)
    }

    struct ServeTestError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// One HTTP exchange through curl.
    struct Exchange: Sendable {
        let status: Int
        let headers: String
        let body: String
    }

    static func request(
        _ server: Server, _ path: String, method: String = "GET", host: String = "news.example.org", curlArguments: [String] = []
    ) async throws -> Exchange {
        let folder = try makeTemporaryDirectory("curl")
        let headers = folder.appendingPathComponent("headers"), body = folder.appendingPathComponent("body")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "-X", method, "-H", "Host: \(host)", "-D", headers.path, "-o", body.path, "-w", "%{http_code}",
                             "--max-time", "30"] + curlArguments + ["http://127.0.0.1:\(server.port)\(path)"]
        let out = Pipe()
        process.standardOutput = out
        return try await onThread {
            try process.run()
            let code = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return Exchange(
                status: Int(String(decoding: code, as: UTF8.self)) ?? -1,
                headers: (try? String(contentsOf: headers, encoding: .utf8)) ?? "",
                body: (try? String(contentsOf: body, encoding: .utf8)) ?? "")
        }
    }

    /// Sends a one-part issue of list `slug` into an outbox and returns each recipient's unsubscribe path
    /// (`/SLUG/unsubscribe/TOKEN`, from the List-Unsubscribe header).
    static func sendAndReadLinks(
        _ fixture: Fixture, slug: String, name: String, base: String = "https://news.example.org"
    ) async throws -> [String: String] {
        let outbox = fixture.work.appendingPathComponent("outbox-\(name)")
        let (sent, _) = try await fixture.send(
            try fixture.shortIssue(name, subject: "Issue \(name)"), list: slug, env: ["LISTCTL_TRANSPORT": "outbox://\(outbox.path)"])
        #expect(sent.status == 0, "send: \(sent.stderr)")
        var links: [String: String] = [:]
        let folder = outbox.appendingPathComponent("new")
        for file in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            let head = text.components(separatedBy: "\r\n\r\n")[0]
                .replacingOccurrences(of: "\r\n ", with: " ").replacingOccurrences(of: "\r\n\t", with: " ")
            let lines = head.components(separatedBy: "\r\n")
            guard let to = lines.first(where: { $0.lowercased().hasPrefix("to:") }),
                  let unsubscribe = lines.first(where: { $0.lowercased().hasPrefix("list-unsubscribe:") }),
                  let range = unsubscribe.range(of: base)
            else { continue }
            let address = to.split(separator: "<").last.map { String($0.prefix { $0 != ">" }) } ?? to
            links[address] = String(unsubscribe[range.upperBound...].prefix { $0 != ">" })
        }
        return links
    }

    static func status(_ fixture: Fixture, _ email: String, list: String) async throws -> String? {
        try await withConnection(to: fixture.database) { connection in
            try await connection.query("""
                SELECT s.status FROM subscriptions s JOIN subscribers sub ON sub.id = s.subscriber_id JOIN lists l ON l.id = s.list_id
                WHERE sub.email_key = lower($1) AND l.slug = $2
                """, email, list).first?.decode(String.self, at: 0)
        }
    }

    static func events(_ fixture: Fixture, _ email: String) async throws -> [String] {
        try await withConnection(to: fixture.database) { connection in
            try await connection.query(
                "SELECT kind || ':' || coalesce(detail->>'source', '') FROM events WHERE email_key = lower($1) AND kind = 'unsubscribed' ORDER BY id",
                email
            ).map { try $0.decode(String.self, at: 0) }
        }
    }

    @Test("links from a real send: GET shows one button and changes nothing; One-Click POST (form and multipart) and the button unsubscribe, 200, no redirect; again is the same; the next send skips them; other lists stay")
    func unsubscribeLinks() async throws {
        try await DeliveryCLITests.withFixture { fixture in
            let people = DeliveryCLITests.people("ann", 4)
            try await fixture.makeList("monthly", people)
            try await fixture.makeList("weekly", people)
            let links = try await Self.sendAndReadLinks(fixture, slug: "monthly", name: "first")
            #expect(links.count == 4, "\(links)")
            let emails = people.map(\.email).sorted()
            let server = try await Self.serve(fixture.cli())

            // A mail scanner's GET: a page with one button, nothing changed.
            let link0 = try #require(links[emails[0]])
            let page = try await Self.request(server, link0)
            #expect(page.status == 200)
            #expect(page.body.contains("<form method=\"post\">") && page.body.contains("<button"), "\(page.body)")
            #expect(page.body.contains("The monthly letter"))
            #expect(page.headers.lowercased().contains("content-type: text/html; charset=utf-8"))
            #expect(try await Self.status(fixture, emails[0], list: "monthly") == "active", "a GET never unsubscribes")

            // Gmail's one-click POST, form-urlencoded: 200, a tiny body, no redirect; again: the same, one event.
            for _ in 0..<2 {
                let click = try await Self.request(server, link0, method: "POST", curlArguments: [
                    "-H", "Content-Type: application/x-www-form-urlencoded", "--data-raw", "List-Unsubscribe=One-Click"])
                #expect(click.status == 200, "\(click)")
                #expect(click.body == "unsubscribed\n")
                #expect(!click.headers.lowercased().contains("location:"), "no redirect")
            }
            #expect(try await Self.status(fixture, emails[0], list: "monthly") == "unsubscribed")
            #expect(try await Self.events(fixture, emails[0]) == ["unsubscribed:one-click"], "one event, however many POSTs")

            // As multipart/form-data, as some clients send it.
            let link1 = try #require(links[emails[1]])
            let multipart = try await Self.request(server, link1, method: "POST", curlArguments: ["-F", "List-Unsubscribe=One-Click"])
            #expect(multipart.status == 200 && multipart.body == "unsubscribed\n", "\(multipart)")
            #expect(try await Self.status(fixture, emails[1], list: "monthly") == "unsubscribed")

            // The page's button (a person in a browser): the HTML answer.
            let link2 = try #require(links[emails[2]])
            let button = try await Self.request(server, link2, method: "POST", curlArguments: ["--data-raw", "confirm=yes"])
            #expect(button.status == 200 && button.body.contains("You are unsubscribed"), "\(button)")
            #expect(try await Self.events(fixture, emails[2]) == ["unsubscribed:link"])

            // Leaving monthly is leaving monthly only.
            for email in emails { #expect(try await Self.status(fixture, email, list: "weekly") == "active") }
            let stopped = try server.stop()
            #expect(server.started.process.terminationStatus == 0, "\(stopped)")
            #expect(stopped.stderr.contains("serve: stopped"), "\(stopped)")

            // The next issue goes to the one who stayed.
            let next = try await Self.sendAndReadLinks(fixture, slug: "monthly", name: "second")
            #expect(Set(next.keys) == [emails[3]], "\(next.keys)")
        }
    }

    @Test("forged, truncated and altered tokens: 400 without a database lookup (the database is down); a token under another list's root or host: 404; /healthz 200, then 503 with the database down")
    func refusals() async throws {
        try await withThrowawayPostgres { postgres in
            try await DeliveryCLITests.withFixture { fixture in
                // serve runs against the fixture's database first, then against a throwaway cluster that is then stopped.
                let people = DeliveryCLITests.people("bea", 2)
                try await fixture.makeList("monthly", people)
                try await fixture.makeList("weekly", [])
                let links = try await Self.sendAndReadLinks(fixture, slug: "monthly", name: "first")
                let link = try #require(links[people[0].email])
                let token = String(link.split(separator: "/").last ?? "")
                let server = try await Self.serve(fixture.cli())
                let health = try await Self.request(server, "/healthz")
                #expect(health.status == 200 && health.body == "ok\n", "\(health)")

                var altered = Array(token)
                altered[altered.count / 2] = altered[altered.count / 2] == "A" ? "B" : "A"
                for bad in [String(token.dropLast(3)), String(altered), token + "AAAA", "not-a-token", String(repeating: "A", count: 200)] {
                    for method in ["GET", "POST"] {
                        let answer = try await Self.request(server, "/monthly/unsubscribe/\(bad)", method: method,
                                                            curlArguments: method == "POST" ? ["--data-raw", "List-Unsubscribe=One-Click"] : [])
                        #expect(answer.status == 400, "\(method) \(bad): \(answer.status)")
                        #expect(answer.body.contains("This link does not work"))
                    }
                }
                // A good token, but under weekly's root, at the top, or for another host: not here.
                for (path, host) in [("/weekly/unsubscribe/\(token)", "news.example.org"), ("/unsubscribe/\(token)", "news.example.org"),
                                     (link, "evil.example.net")] {
                    let answer = try await Self.request(server, path, method: "POST", host: host, curlArguments: ["--data-raw", "List-Unsubscribe=One-Click"])
                    #expect(answer.status == 404, "\(path) on \(host): \(answer.status)")
                }
                #expect(try await Self.status(fixture, people[0].email, list: "monthly") == "active", "nothing changed")
                _ = try server.stop()

                // Against a database that is down: refusals still 400 (no lookup was needed), a good token 503
                // with a page that names no database error, /healthz 503.
                let down = fixture.cli(["DATABASE_URL": postgres.url])
                let migrate = try await down.run("migrate")
                #expect(migrate.status == 0, "\(migrate.stderr)")
                let second = try await Self.serve(down)
                try await postgres.stop()
                let forged = try await Self.request(second, "/monthly/unsubscribe/\(String(altered))", method: "POST",
                                                    curlArguments: ["--data-raw", "List-Unsubscribe=One-Click"])
                #expect(forged.status == 400, "\(forged)")
                let good = try await Self.request(second, link, method: "POST", curlArguments: ["--data-raw", "List-Unsubscribe=One-Click"])
                #expect(good.status == 503, "\(good)")
                #expect(!good.body.lowercased().contains("postgres") && !good.body.contains("127.0.0.1"), "\(good.body)")
                let sick = try await Self.request(second, "/healthz")
                #expect(sick.status == 503, "\(sick)")
                let stopped = try second.stop()
                #expect(second.started.process.terminationStatus == 0, "\(stopped)")
            }
        }
    }

    @Test("the unsubscribe page in headless Chromium on a phone-sized window: one button, no script, fits the screen; the click unsubscribes; a forged link gets the refusal page; a screenshot of each")
    func unsubscribeInABrowser() async throws {
        // The links as mailed (https://news.example.org/…), followed over http: Chromium resolves news.example.org to
        // serve's loopback port (--host-resolver-rules), so the Host header is the list's, as behind a proxy.
        try await DeliveryCLITests.withFixture { fixture in
            let people = DeliveryCLITests.people("cy", 1)
            try await fixture.makeList("monthly", people)
            let links = try await Self.sendAndReadLinks(fixture, slug: "monthly", name: "first")
            let path = try #require(links[people[0].email], "\(links)")
            let server = try await Self.serve(fixture.cli())
            defer { _ = try? server.stop() }
            let base = "http://news.example.org"
            let token = String(path.split(separator: "/").last ?? "")
            let browser = try await BrowserPages.run(
                "unsubscribe", ["--url", base + path, "--bad-url", base + "/monthly/unsubscribe/" + String(token.dropLast(2))],
                port: server.port, work: fixture.work)
            let seen = browser.seen
            BrowserPages.expectPlainAndPhoneSized(seen, pages: ["form", "done", "bad"])
            for page in ["form", "done", "bad"] { #expect(seen[page]?["lang"] as? String == "en") }
            #expect((seen["form"]?["title"] as? String)?.contains("The monthly letter") == true)
            #expect((seen["done"]?["url"] as? String) == base + path, "no redirect after the POST")
            BrowserPages.expectScreenshots(browser.screenshots, ["unsubscribe.png", "unsubscribed.png", "invalid-link.png"])
            #expect(try await Self.status(fixture, people[0].email, list: "monthly") == "unsubscribed")
            #expect(try await Self.events(fixture, people[0].email) == ["unsubscribed:link"])
        }
    }
}
