import Foundation
import Postgres
import TestSupport
import Testing

/// Provider webhooks through `listctl serve` for real: an issue sent into an
/// outbox, then the bounce and complaint a provider would post about those
/// very messages (traced by their `X-Listctl-Trace` and `Message-ID`), signed
/// as the provider signs them, and forged.
@Suite("listctl serve: provider webhooks end to end")
struct WebhookServeCLITests {
    typealias Fixture = DeliveryCLITests.Fixture

    static let postmarkCredentials = "hooks:pm-0123456789abcdef"
    static let mailgunKey = "mg-signing-key-0123456789abcdef"

    /// The headers of each message in an outbox, by recipient: `x-listctl-trace` and `message-id` (bare).
    static func sentHeaders(_ outbox: URL) throws -> [String: [String: String]] {
        var found: [String: [String: String]] = [:]
        let folder = outbox.appendingPathComponent("new")
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            let head = text.components(separatedBy: "\r\n\r\n")[0]
                .replacingOccurrences(of: "\r\n ", with: " ").replacingOccurrences(of: "\r\n\t", with: " ")
            var fields: [String: String] = [:]
            for line in head.components(separatedBy: "\r\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            guard let to = fields["to"] else { continue }
            let address = to.split(separator: "<").last.map { String($0.prefix { $0 != ">" }) } ?? to
            fields["message-id"] = fields["message-id"].map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "<>")) }
            found[address] = fields
        }
        return found
    }

    /// A Postmark hard bounce of `email`, with the original's headers in `Content` as Postmark includes them.
    static func postmarkBounce(_ email: String, trace: String) throws -> String {
        let content = "Return-Path: <>\r\nSubject: Undelivered Mail\r\n\r\nFrom: Letters <news@example.org>\r\nTo: \(email)\r\n"
            + "X-Listctl-Trace: \(trace)\r\n\r\n"
        let object: [String: Any] = [
            "RecordType": "Bounce", "Type": "HardBounce", "TypeCode": 1, "Name": "Hard bounce", "Email": email,
            "MessageID": UUID().uuidString.lowercased(), "BouncedAt": ISO8601DateFormatter().string(from: Date()),
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.", "Content": content,
        ]
        return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    /// A Mailgun complaint of `email` about the message `messageID`, signed with `key` (by openssl, not by listctl's code).
    static func mailgunComplaint(_ email: String, messageID: String, key: String) async throws -> String {
        let timestamp = String(Int(Date().timeIntervalSince1970)), token = UUID().uuidString
        let mac = try await hmacHex(key: key, timestamp + token)
        let object: [String: Any] = [
            "signature": ["timestamp": timestamp, "token": token, "signature": mac],
            "event-data": [
                "event": "complained", "recipient": email, "timestamp": Date().timeIntervalSince1970,
                "message": ["headers": ["to": email, "message-id": messageID, "subject": "Issue first"]],
            ] as [String: Any],
        ]
        return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    static func hmacHex(key: String, _ text: String) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["dgst", "-sha256", "-hmac", key, "-r"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        return try await onThread {
            try process.run()
            input.fileHandleForWriting.write(Data(text.utf8))
            try input.fileHandleForWriting.close()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(String(decoding: data, as: UTF8.self).prefix { $0 != " " })
        }
    }

    static func post(_ server: ServeCLITests.Server, _ path: String, json: String, _ more: [String] = []) async throws
        -> ServeCLITests.Exchange
    {
        try await ServeCLITests.request(
            server, path, method: "POST", curlArguments: ["-H", "Content-Type: application/json", "--data-binary", json] + more)
    }

    /// Suppression reasons, subscription status on `monthly`, and bounced/complained events of `email`.
    static func state(_ fixture: Fixture, _ email: String) async throws -> (suppression: String?, status: String?, events: [String]) {
        try await withConnection(to: fixture.database) { connection in
            let suppression = try await connection.query("SELECT reason FROM suppressions WHERE email_key = lower($1)", email)
                .first?.decode(String.self, at: 0)
            let events = try await connection.query(
                "SELECT kind || ':' || coalesce(detail->>'source', '') FROM events WHERE email_key = lower($1) AND kind IN ('bounced', 'complained') ORDER BY id",
                email
            ).map { try $0.decode(String.self, at: 0) }
            return (suppression, try await ServeCLITests.status(fixture, email, list: "monthly"), events)
        }
    }

    static func metric(_ body: String, _ name: String, _ labels: [String]) -> String? {
        body.split(separator: "\n").map(String.init)
            .first { $0.hasPrefix(name + "{") && labels.allSatisfy($0.contains) }?.split(separator: " ").last.map(String.init)
    }

    @Test("a Postmark bounce and a Mailgun complaint about mail listctl sent: suppressed everywhere, the subscription bounced or complained, one event however often posted; forged ones 401 and change nothing; counted in /metrics; the next issue skips them")
    func providerBouncesThroughServe() async throws {
        try await DeliveryCLITests.withFixture { fixture in
            let people = DeliveryCLITests.people("hook", 3)
            try await fixture.makeList("monthly", people)
            let outbox = fixture.work.appendingPathComponent("outbox-first")
            let (sent, _) = try await fixture.send(
                try fixture.shortIssue("first", subject: "Issue first"), list: "monthly", env: ["LISTCTL_TRANSPORT": "outbox://\(outbox.path)"])
            #expect(sent.status == 0, "send: \(sent.stderr)")
            let headers = try Self.sentHeaders(outbox)
            let emails = people.map(\.email).sorted()
            #expect(headers.count == 3, "\(headers.keys)")
            let bounced = emails[0], complained = emails[1], stays = emails[2]
            let trace = try #require(headers[bounced]?["x-listctl-trace"], "\(headers[bounced] ?? [:])")
            let messageID = try #require(headers[complained]?["message-id"])

            let server = try await ServeCLITests.serve(fixture.cli([
                "LISTCTL_WEBHOOK_POSTMARK_SECRET": Self.postmarkCredentials, "LISTCTL_WEBHOOK_MAILGUN_SECRET": Self.mailgunKey,
            ]))
            let started = try String(contentsOf: server.started.stderr, encoding: .utf8)
            #expect(started.contains("/webhooks/postmark") && started.contains("/webhooks/mailgun"), "\(started)")
            #expect(!started.contains(Self.mailgunKey) && !started.contains("pm-0123456789abcdef"), "no secret in the log")

            // Forged: wrong basic credentials, none, a Mailgun body signed with another key. 401, nothing changed.
            let bounce = try Self.postmarkBounce(bounced, trace: trace)
            let wrong = try await Self.post(server, "/webhooks/postmark", json: bounce, ["-u", "hooks:guess"])
            #expect(wrong.status == 401, "\(wrong)")
            let none = try await Self.post(server, "/webhooks/postmark", json: bounce)
            #expect(none.status == 401)
            let forged = try await Self.post(
                server, "/webhooks/mailgun", json: try await Self.mailgunComplaint(complained, messageID: messageID, key: "not-the-key"))
            #expect(forged.status == 401, "\(forged)")
            for email in emails {
                let state = try await Self.state(fixture, email)
                #expect(state.suppression == nil && state.status == "active" && state.events.isEmpty, "\(email): \(state)")
            }

            // Postmark's hard bounce, posted twice as Postmark retries: suppressed, bounced, one event.
            for _ in 0..<2 {
                let answer = try await Self.post(server, "/webhooks/postmark", json: bounce, ["-u", Self.postmarkCredentials])
                #expect(answer.status == 200, "\(answer)")
                #expect(!answer.body.contains(bounced), "the answer names nobody")
            }
            let afterBounce = try await Self.state(fixture, bounced)
            #expect(afterBounce.suppression == "hard_bounce", "\(afterBounce)")
            #expect(afterBounce.status == "bounced", "\(afterBounce)")
            #expect(afterBounce.events == ["bounced:postmark"], "\(afterBounce)")

            // Mailgun's complaint, traced by the Message-ID it kept; the same request again is a replay: 401.
            let complaint = try await Self.mailgunComplaint(complained, messageID: messageID, key: Self.mailgunKey)
            let accepted = try await Self.post(server, "/webhooks/mailgun", json: complaint)
            #expect(accepted.status == 200, "\(accepted)")
            let replayed = try await Self.post(server, "/webhooks/mailgun", json: complaint)
            #expect(replayed.status == 401, "a replay: \(replayed)")
            let afterComplaint = try await Self.state(fixture, complained)
            #expect(afterComplaint.suppression == "complaint", "\(afterComplaint)")
            #expect(afterComplaint.status == "complained", "\(afterComplaint)")
            #expect(afterComplaint.events == ["complained:mailgun"], "\(afterComplaint)")
            let untouched = try await Self.state(fixture, stays)
            #expect(untouched.suppression == nil && untouched.status == "active", "\(untouched)")

            // Under a host that is not the base URL's, or a provider with no secret: not found.
            let elsewhere = try await ServeCLITests.request(
                server, "/webhooks/postmark", method: "POST", host: "evil.example.net",
                curlArguments: ["-u", Self.postmarkCredentials, "-H", "Content-Type: application/json", "--data-binary", bounce])
            #expect(elsewhere.status == 404, "\(elsewhere.status)")
            let unset = try await Self.post(server, "/webhooks/resend", json: "{}")
            #expect(unset.status == 404, "\(unset.status)")

            let scrape = try await ServeCLITests.request(server, "/metrics")
            #expect(Self.metric(scrape.body, "listctl_webhook_events_total", ["provider=\"postmark\"", "kind=\"hard_bounce\""]) == "2", "\(scrape.body)")
            #expect(Self.metric(scrape.body, "listctl_webhook_events_total", ["provider=\"postmark\"", "kind=\"refused\""]) == "2")
            #expect(Self.metric(scrape.body, "listctl_webhook_events_total", ["provider=\"mailgun\"", "kind=\"complaint\""]) == "1")
            #expect(Self.metric(scrape.body, "listctl_webhook_events_total", ["provider=\"mailgun\"", "kind=\"refused\""]) == "2")
            let stopped = try server.stop()
            #expect(!stopped.stderr.contains(Self.mailgunKey) && !stopped.stderr.contains(bounced), "no secret, no address in the log")

            // The next issue goes to the one left.
            let next = try await ServeCLITests.sendAndReadLinks(fixture, slug: "monthly", name: "second")
            #expect(Set(next.keys) == [stays], "\(next.keys)")
        }
    }
}
