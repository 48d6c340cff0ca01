import Foundation
import Postgres
import TestSupport
import Testing

/// `listctl bounces ingest` end to end: DSNs as Postfix, Exim, Gmail and
/// Microsoft write them and ARF complaints as Yahoo sends them, each built
/// around a message this listctl really sent (into an outbox, or through the
/// SMTP sink for the VERP envelope sender), in .eml files, an mbox and a
/// Maildir; mailto unsubscribes with a genuine and a forged token.
@Suite("Bounces through the command line: bounces ingest")
struct BouncesCLITests {
    typealias Fixture = DeliveryCLITests.Fixture

    /// One message as the outbox holds it.
    struct Sent {
        let to: String
        let messageID: String
        let trace: String
        let subject: String
        /// The whole message, CRLF.
        let text: String
        /// Its header block, CRLF, without the empty line.
        var headers: String { text.components(separatedBy: "\r\n\r\n")[0] }
        /// The token of the List-Unsubscribe mailto (`subject=unsubscribe%20TOKEN`).
        let mailtoToken: String?
    }

    /// Sends a one-part issue of `slug` into an outbox of its own; every message, by recipient.
    static func send(_ fixture: Fixture, _ slug: String, _ name: String) async throws -> [String: Sent] {
        let outbox = fixture.work.appendingPathComponent("outbox-\(name)")
        let (sent, status) = try await fixture.send(
            try fixture.shortIssue(name, subject: "Issue \(name)"), list: slug, env: ["LISTCTL_TRANSPORT": "outbox://\(outbox.path)"])
        #expect(sent.status == 0 && status?["state"] as? String == "sent", "send: \(sent.stderr)")
        var messages: [String: Sent] = [:]
        let folder = outbox.appendingPathComponent("new")
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            let fields = Self.fields(text.components(separatedBy: "\r\n\r\n")[0])
            let to = fields["to"].map { $0.split(separator: "<").last.map { String($0.prefix { $0 != ">" }) } ?? $0 } ?? ""
            let mailto = fields["list-unsubscribe"]?.range(of: "subject=unsubscribe%20").map {
                String(fields["list-unsubscribe"]![$0.upperBound...].prefix { $0 != ">" })
            }
            messages[to] = Sent(
                to: to, messageID: fields["message-id"] ?? "", trace: fields["x-listctl-trace"] ?? "", subject: fields["subject"] ?? "",
                text: text, mailtoToken: mailto)
        }
        return messages
    }

    /// Unfolded header fields by lower-cased name (the first of each).
    static func fields(_ head: String) -> [String: String] {
        var fields: [String: String] = [:]
        let unfolded = head.replacingOccurrences(of: "\r\n ", with: " ").replacingOccurrences(of: "\r\n\t", with: " ")
        for line in unfolded.components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            if fields[name] == nil { fields[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        return fields
    }

    // MARK: Reports as MTAs and providers write them

    /// Postfix's bounce (bounce(8) templates): the original returned whole as message/rfc822.
    static func postfix(_ original: Sent, status: String, diagnostic: String, to envelope: String = "news@example.org", returned: String? = nil)
        -> String
    {
        let boundary = "4F2C1A0.1764752401/mail.example.org"
        return crlf("""
            Return-Path: <>
            Delivered-To: \(envelope)
            Received: by mail.example.org (Postfix)
            \tid 4F2C1A0; Thu,  3 Dec 2026 09:00:01 +0000 (UTC)
            Date: Thu,  3 Dec 2026 09:00:01 +0000 (UTC)
            From: MAILER-DAEMON@mail.example.org (Mail Delivery System)
            Subject: Undelivered Mail Returned to Sender
            To: \(envelope)
            Auto-Submitted: auto-replied
            MIME-Version: 1.0
            Content-Type: multipart/report; report-type=delivery-status;
            \tboundary="\(boundary)"
            Content-Transfer-Encoding: 8bit
            Message-Id: <20261203090001.4F2C1A0@mail.example.org>

            This is a MIME-encapsulated message.

            --\(boundary)
            Content-Description: Notification
            Content-Type: text/plain; charset=us-ascii

            This is the mail system at host mail.example.org.

            I'm sorry to have to inform you that your message could not
            be delivered to one or more recipients. It's attached below.

                               The mail system

            <\(original.to)>: host mx.example.net[192.0.2.25] said: \(diagnostic) (in reply to RCPT TO command)

            --\(boundary)
            Content-Description: Delivery report
            Content-Type: message/delivery-status

            Reporting-MTA: dns; mail.example.org
            X-Postfix-Queue-ID: 4F2C1A0
            X-Postfix-Sender: rfc822; \(envelope)
            Arrival-Date: Thu,  3 Dec 2026 09:00:00 +0000 (UTC)

            Final-Recipient: rfc822; \(original.to)
            Original-Recipient: rfc822;\(original.to)
            Action: failed
            Status: \(status)
            Remote-MTA: dns; mx.example.net
            Diagnostic-Code: smtp; \(diagnostic)

            --\(boundary)
            Content-Description: \(returned == nil ? "Undelivered Message" : "Undelivered Message Headers")
            Content-Type: \(returned == nil ? "message/rfc822" : "text/rfc822-headers")
            Content-Transfer-Encoding: 8bit


            """) + (returned ?? original.text) + crlf("""

            --\(boundary)--

            """)
    }

    /// Exim 4's DSN for a delayed message: the original's headers as text/rfc822-headers.
    static func exim(_ original: Sent) -> String {
        let boundary = "1764752401-eximdsn-1804289383"
        return crlf("""
            Return-path: <>
            Envelope-to: news@example.org
            Delivery-date: Fri, 04 Dec 2026 09:00:00 +0000
            Received: from Debian-exim by mx.example.com with local (Exim 4.96)
            \tid 1tIyZk-000Abc-2F
            \tfor news@example.org;
            \tFri, 04 Dec 2026 09:00:00 +0000
            X-Failed-Recipients: \(original.to)
            Auto-Submitted: auto-replied
            From: Mail Delivery System <Mailer-Daemon@mx.example.com>
            To: news@example.org
            Content-Type: multipart/report; report-type=delivery-status; boundary=\(boundary)
            MIME-Version: 1.0
            Subject: Warning: message 1tIyZk-000Abc-2F delayed 24 hours
            Message-Id: <E1tIyZk-000Abc-2F@mx.example.com>
            Date: Fri, 04 Dec 2026 09:00:00 +0000

            --\(boundary)
            Content-type: text/plain; charset=us-ascii

            This message was created automatically by mail delivery software.
            A message that you sent has not yet been delivered to one or more of its
            recipients after more than 24 hours on the queue on mx.example.com.

              \(original.to)
                host mx.example.net [192.0.2.26]
                Delay reason: SMTP error from remote mail server after RCPT TO:<\(original.to)>:
                452 4.2.2 The email account that you tried to reach is over quota

            --\(boundary)
            Content-type: message/delivery-status

            Reporting-MTA: dns; mx.example.com

            Action: delayed
            Final-Recipient: rfc822;\(original.to)
            Status: 4.2.2
            Remote-MTA: dns; mx.example.net
            X-Remote-MTA-smtp-greeting: X-str; 220 mx.example.net ESMTP
            X-Exim-Diagnostic: X-str; SMTP error from remote mail server after RCPT TO:<\(original.to)>: 452 4.2.2 over quota
            Diagnostic-Code: smtp; 452 4.2.2 The email account that you tried to reach is over quota
            Will-Retry-Until: Sat, 05 Dec 2026 09:00:00 +0000

            --\(boundary)
            Content-type: text/rfc822-headers

            \(original.headers)

            --\(boundary)--

            """)
    }

    /// Gmail's "Delivery Status Notification (Failure)": the human part nested (related > alternative, an icon).
    static func gmail(_ original: Sent, status: String, diagnostic: String) -> String {
        crlf("""
            Delivered-To: news@example.org
            Return-Path: <>
            From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
            To: news@example.org
            Auto-Submitted: auto-replied
            Subject: Delivery Status Notification (Failure)
            References: \(original.messageID)
            In-Reply-To: \(original.messageID)
            X-Failed-Recipients: \(original.to)
            Message-ID: <67512b7c.050a0220.2f3b1.0a1bSMTPIN_ADDED_MISSING@mx.google.com>
            Date: Fri, 04 Dec 2026 01:00:05 -0800 (PST)
            MIME-Version: 1.0
            Content-Type: multipart/report; boundary="000000000000a1b2c3d4e5f6"; report-type=delivery-status

            --000000000000a1b2c3d4e5f6
            Content-Type: multipart/related; boundary="000000000000a1b2c3d4e5f7"

            --000000000000a1b2c3d4e5f7
            Content-Type: multipart/alternative; boundary="000000000000a1b2c3d4e5f8"

            --000000000000a1b2c3d4e5f8
            Content-Type: text/plain; charset="UTF-8"

            ** Message not delivered **

            Your message couldn't be delivered to \(original.to) because the remote server is misconfigured.

            --000000000000a1b2c3d4e5f8
            Content-Type: text/html; charset="UTF-8"

            <html><body><h2>Message not delivered</h2></body></html>

            --000000000000a1b2c3d4e5f8--
            --000000000000a1b2c3d4e5f7
            Content-Type: image/png; name="icon.png"
            Content-Disposition: attachment; filename="icon.png"
            Content-Transfer-Encoding: base64
            Content-ID: <icon.png>

            iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk
            YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==
            --000000000000a1b2c3d4e5f7--
            --000000000000a1b2c3d4e5f6
            Content-Type: message/delivery-status

            Reporting-MTA: dns; googlemail.com
            Received-From-MTA: dns; news@example.org
            Arrival-Date: Thu, 03 Dec 2026 01:00:02 -0800 (PST)
            X-Original-Message-ID: \(original.messageID)

            Final-Recipient: rfc822; \(original.to)
            Action: failed
            Status: \(status)
            Diagnostic-Code: smtp; \(diagnostic)
            Last-Attempt-Date: Fri, 04 Dec 2026 01:00:05 -0800 (PST)

            --000000000000a1b2c3d4e5f6
            Content-Type: message/rfc822


            """) + original.text + crlf("""

            --000000000000a1b2c3d4e5f6--

            """)
    }

    /// Exchange Online's NDR: a quoted-printable human part, the original's headers as text/rfc822-headers.
    static func microsoft(_ original: Sent) -> String {
        crlf("""
            From: postmaster@outlook.com
            To: news@example.org
            Date: Thu, 3 Dec 2026 09:00:04 +0000
            Content-Type: multipart/report; report-type=delivery-status;
            \tboundary="a8f1c2b3-d4e5-4f60-8a9b-0c1d2e3f4a5b"
            Content-Language: en-US
            Message-ID: <a3d5c1f2-9b8e-4c7d-a6f5-e4d3c2b1a0f9@DM6PR11MB1234.namprd11.prod.outlook.com>
            In-Reply-To: \(original.messageID)
            References: \(original.messageID)
            Subject: Undeliverable: \(original.subject)
            Auto-Submitted: auto-replied
            X-MS-Exchange-Message-Is-Ndr:
            MIME-Version: 1.0

            --a8f1c2b3-d4e5-4f60-8a9b-0c1d2e3f4a5b
            Content-Type: multipart/alternative; differences=Content-Type;
            \tboundary="b9e2d3c4-e5f6-4071-9bac-1d2e3f4a5b6c"

            --b9e2d3c4-e5f6-4071-9bac-1d2e3f4a5b6c
            Content-Type: text/plain; charset="us-ascii"
            Content-Transfer-Encoding: quoted-printable

            Your message to \(original.to) couldn't be delivered.=0D=0A=
            \(original.to.split(separator: "@")[0]) wasn't found at example.net.

            --b9e2d3c4-e5f6-4071-9bac-1d2e3f4a5b6c
            Content-Type: text/html; charset="us-ascii"
            Content-Transfer-Encoding: quoted-printable

            <html><body style=3D"font-family: Segoe UI">Recipient not found</body></html>

            --b9e2d3c4-e5f6-4071-9bac-1d2e3f4a5b6c--

            --a8f1c2b3-d4e5-4f60-8a9b-0c1d2e3f4a5b
            Content-Type: message/delivery-status

            Reporting-MTA: dns;DM6PR11MB1234.namprd11.prod.outlook.com
            Received-From-MTA: dns;mail.example.org
            Arrival-Date: Thu, 3 Dec 2026 09:00:03 +0000

            Final-Recipient: rfc822;\(original.to)
            Action: failed
            Status: 5.1.10
            Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup

            --a8f1c2b3-d4e5-4f60-8a9b-0c1d2e3f4a5b
            Content-Type: text/rfc822-headers

            \(original.headers)

            --a8f1c2b3-d4e5-4f60-8a9b-0c1d2e3f4a5b--

            """)
    }

    /// Yahoo's complaint feedback loop (ARF): the recipient redacted in the report and in the returned message.
    static func yahooARF(_ original: Sent) -> String {
        let redacted = original.text.replacingOccurrences(of: original.to, with: "redacted")
        return crlf("""
            From: Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.com>
            To: fbl@example.org
            Subject: FW: \(original.subject)
            Date: Thu, 3 Dec 2026 09:10:00 +0000
            MIME-Version: 1.0
            Content-Type: multipart/report; report-type=feedback-report; boundary="----=_Part_81231_1234567.1764753000"

            ------=_Part_81231_1234567.1764753000
            Content-Type: text/plain; charset=UTF-8

            This is an email abuse report for an email message received from IP 192.0.2.10 on Thu, 3 Dec 2026 09:00:04 +0000.
            For more information about this format please see http://www.mipassoc.org/arf/.

            ------=_Part_81231_1234567.1764753000
            Content-Type: message/feedback-report

            Feedback-Type: abuse
            User-Agent: Yahoo!-Mail-Feedback/2.0
            Version: 0.1
            Original-Mail-From: <news@example.org>
            Received-Date: Thu, 3 Dec 2026 09:00:04 +0000
            Reported-Domain: example.org
            Source-IP: 192.0.2.10

            ------=_Part_81231_1234567.1764753000
            Content-Type: message/rfc822
            Content-Disposition: inline


            """) + redacted + crlf("""

            ------=_Part_81231_1234567.1764753000--

            """)
    }

    /// What a mail client sends for the List-Unsubscribe mailto.
    static func mailto(token: String, from: String) -> String {
        crlf("""
            Return-Path: <\(from)>
            Delivered-To: unsubscribe@example.org
            From: \(from)
            To: unsubscribe@example.org
            Subject: unsubscribe \(token)
            Date: Thu, 3 Dec 2026 09:20:00 +0000
            Message-ID: <unsub-\(UUID().uuidString)@client.example.com>
            MIME-Version: 1.0
            Content-Type: text/plain; charset=utf-8

            """)
    }

    static func crlf(_ text: String) -> String { text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n") }

    /// An mbox (mboxrd) of `messages`.
    static func mbox(_ messages: [String]) -> String {
        messages.map { message in
            let lines = message.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n").map { line in
                line.drop(while: { $0 == ">" }).hasPrefix("From ") ? ">" + line : line
            }
            return "From MAILER-DAEMON Thu Dec  3 09:00:00 2026\n" + lines.joined(separator: "\n") + "\n"
        }.joined(separator: "\n")
    }

    func write(_ text: String, _ name: String, in fixture: Fixture) throws -> String {
        let url = fixture.work.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    // MARK: Reading back

    static func ingest(_ fixture: Fixture, _ paths: [String], env: [String: String?] = [:]) async throws
        -> (result: CLI.Result, entries: [[String: Any]])
    {
        let result = try await fixture.cli(env).run(["bounces", "ingest", "--json"] + paths)
        let object = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return (result, object?["entries"] as? [[String: Any]] ?? [])
    }

    static func status(_ fixture: Fixture, _ email: String, list: String) async throws -> String? {
        try await ServeCLITests.status(fixture, email, list: list)
    }

    static func suppression(_ fixture: Fixture, _ email: String) async throws -> String? {
        try await withConnection(to: fixture.database) { connection in
            try await connection.query("SELECT reason FROM suppressions WHERE email_key = lower($1)", email).first?.decode(String.self, at: 0)
        }
    }

    /// Suppressions, subscriptions, events and bounce reports, fingerprinted: equal means nothing changed.
    static func state(_ fixture: Fixture) async throws -> [String] {
        try await withConnection(to: fixture.database) { connection in
            var out: [String] = []
            for table in ["suppressions", "subscriptions", "events", "bounce_reports"] {
                out.append(try await connection.query(
                    "SELECT count(*)::text || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '-') FROM \(table) t"
                )[0].decode(String.self, at: 0))
            }
            return out
        }
    }

    // MARK: Tests

    @Test("Postfix hard bounce (5.1.1, the original returned whole): suppressed everywhere, that list's subscription bounced, one event; the same file again changes nothing; the next send to another list skips the address")
    func postfixHardBounce() async throws {
        try await DeliveryCLITests.withFixture { fixture in
            let people = DeliveryCLITests.people("reader", 3)
            try await fixture.makeList("weekly", people)
            try await fixture.makeList("monthly", people)
            let sent = try await Self.send(fixture, "weekly", "w1")
            let original = try #require(sent["reader1@example.net"])
            #expect(original.messageID.hasPrefix("<listctl.") && !original.trace.isEmpty)
            let file = try write(Self.postfix(
                original, status: "5.1.1",
                diagnostic: "550 5.1.1 <reader1@example.net>: Recipient address rejected: User unknown in virtual mailbox table"),
                "postfix-5.1.1.eml", in: fixture)

            let (result, entries) = try await Self.ingest(fixture, [file])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(entries.count == 1, "\(result.stdout)")
            let entry = try #require(entries.first)
            #expect(entry["outcome"] as? String == "suppressed" && entry["reason"] as? String == "hard_bounce", "\(entry)")
            #expect(entry["type"] as? String == "dsn" && entry["kind"] as? String == "hard_bounce")
            #expect(entry["email"] as? String == "reader1@example.net" && entry["list"] as? String == "weekly")
            // The Message-ID's MAC is checked first; the trace header agrees.
            #expect(entry["tracedBy"] as? String == "message-id", "\(entry)")
            #expect((entry["detail"] as? String)?.contains("550 5.1.1") == true)
            #expect(try await Self.suppression(fixture, "reader1@example.net") == "hard_bounce")
            #expect(try await Self.status(fixture, "reader1@example.net", list: "weekly") == "bounced")
            #expect(try await Self.status(fixture, "reader1@example.net", list: "monthly") == "active", "other lists: stopped by the suppression")
            #expect(try await Self.status(fixture, "reader2@example.net", list: "weekly") == "active")
            let events = try await withConnection(to: fixture.database) { connection in
                try await connection.query("SELECT kind, detail->>'traced_by' FROM events WHERE email_key = 'reader1@example.net' AND kind = 'bounced'")
                    .map { "\(try $0.decode(String.self, at: 0)):\(try $0.decode(String.self, at: 1))" }
            }
            #expect(events == ["bounced:message-id"])

            // The same DSN again, as text: already recorded, nothing changes.
            let before = try await Self.state(fixture)
            let again = try await fixture.run("bounces", "ingest", file)
            #expect(again.status == 0, "\(again.stderr)")
            #expect(again.stdout.contains("\(file): dsn hard_bounce reader1@example.net (weekly, issue "), "\(again.stdout)")
            #expect(again.stdout.contains(": already-recorded"), "\(again.stdout)")
            #expect(again.stdout.hasSuffix("1 message: 1 already-recorded\n"), "\(again.stdout)")
            #expect(try await Self.state(fixture) == before)

            // A new send, to the other list, through the sink: reader1 is not mailed.
            let (next, _) = try await fixture.send(try fixture.shortIssue("m1", subject: "Monthly one"), list: "monthly")
            #expect(next.status == 0, "\(next.stderr)")
            let mailed = Set(try fixture.accepted().map(\.rcpt))
            #expect(mailed == ["reader2@example.net", "reader3@example.net"], "\(mailed)")
        }
    }

    @Test("soft bounces with LISTCTL_SOFT_BOUNCE_LIMIT=2: Exim's delayed 4.2.2 counts 1, Gmail's failed 4.2.2 for another issue reaches the limit; Microsoft's 5.1.10 NDR (headers only) is hard")
    func softBouncesAndProviders() async throws {
        try await DeliveryCLITests.withFixture(environment: ["LISTCTL_SOFT_BOUNCE_LIMIT": "2"]) { fixture in
            try await fixture.makeList("weekly", DeliveryCLITests.people("reader", 3))
            let first = try await Self.send(fixture, "weekly", "w1")
            let second = try await Self.send(fixture, "weekly", "w2")
            let exim = try write(Self.exim(try #require(first["reader2@example.net"])), "exim-4.2.2.eml", in: fixture)
            let (one, entries) = try await Self.ingest(fixture, [exim])
            #expect(one.status == 0, "\(one.stderr)")
            #expect(entries.first?["outcome"] as? String == "counted" && entries.first?["kind"] as? String == "soft_bounce", "\(one.stdout)")
            #expect(entries.first?["reason"] as? String == "soft bounces on 1 of 2 issues")
            #expect(try await Self.suppression(fixture, "reader2@example.net") == nil)

            // The same issue again (Exim warns again later): still 1.
            let (_, repeated) = try await Self.ingest(fixture, [exim])
            #expect(repeated.first?["outcome"] as? String == "already-recorded")

            let gmail = try write(Self.gmail(
                try #require(second["reader2@example.net"]), status: "4.2.2",
                diagnostic: "452-4.2.2 The recipient's inbox is out of storage space. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp"),
                "gmail-4.2.2.eml", in: fixture)
            let microsoft = try write(Self.microsoft(try #require(first["reader3@example.net"])), "outlook-5.1.10.eml", in: fixture)
            let (two, both) = try await Self.ingest(fixture, [gmail, microsoft])
            #expect(two.status == 0, "\(two.stderr)")
            #expect(both.count == 2, "\(two.stdout)")
            #expect(both.first?["outcome"] as? String == "suppressed" && both.first?["reason"] as? String == "soft_bounce_limit", "\(both)")
            #expect(both.last?["outcome"] as? String == "suppressed" && both.last?["reason"] as? String == "hard_bounce", "\(both)")
            #expect(both.last?["tracedBy"] as? String == "message-id")
            #expect(try await Self.suppression(fixture, "reader2@example.net") == "soft_bounce_limit")
            #expect(try await Self.status(fixture, "reader2@example.net", list: "weekly") == "bounced")
            #expect(try await Self.suppression(fixture, "reader3@example.net") == "hard_bounce")
            #expect(try await Self.suppression(fixture, "reader1@example.net") == nil)
        }
    }

    @Test("an mbox: a Yahoo ARF complaint (recipient redacted; traced by Message-ID and trace), a DSN for an address never mailed (unknown), an out-of-office (unrecognised); numbered, nothing guessed")
    func mboxWithComplaint() async throws {
        try await DeliveryCLITests.withFixture { fixture in
            try await fixture.makeList("weekly", DeliveryCLITests.people("reader", 3))
            let sent = try await Self.send(fixture, "weekly", "w1")
            let original = try #require(sent["reader3@example.net"])
            let stranger = Sent(
                to: "stranger@example.com", messageID: "<listctl.1.1.AAAAAAAAAAAAAAAAAAAAAA@example.org>", trace: "1.999.1",
                subject: "Hello", text: Self.crlf("Message-ID: <listctl.1.1.AAAAAAAAAAAAAAAAAAAAAA@example.org>\nX-Listctl-Trace: 1.999.1\nSubject: Hello\n\nHi\n"),
                mailtoToken: nil)
            let outOfOffice = Self.crlf("From: reader2@example.net\nTo: news@example.org\nSubject: Out of office\nAuto-Submitted: auto-replied\n\nFrom Monday I am away.\n")
            let box = try write(Self.mbox([
                Self.yahooARF(original),
                Self.postfix(stranger, status: "5.1.1", diagnostic: "550 5.1.1 no such user"),
                outOfOffice,
            ]), "reports.mbox", in: fixture)
            let (result, entries) = try await Self.ingest(fixture, [box])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(entries.map { $0["message"] as? Int } == [1, 2, 3], "\(result.stdout)")
            #expect(entries.map { $0["outcome"] as? String } == ["suppressed", "unknown", "unrecognised"], "\(entries)")
            #expect(entries[0]["type"] as? String == "arf" && entries[0]["reason"] as? String == "complaint")
            #expect(entries[0]["email"] as? String == "reader3@example.net" && entries[0]["tracedBy"] as? String == "message-id")
            #expect((entries[1]["reason"] as? String)?.contains("Message-ID") == true, "\(entries[1])")
            #expect((entries[2]["reason"] as? String)?.contains("Out of office") == true, "\(entries[2])")
            #expect(try await Self.suppression(fixture, "reader3@example.net") == "complaint")
            #expect(try await Self.status(fixture, "reader3@example.net", list: "weekly") == "complained")
            #expect(try await Self.suppression(fixture, "stranger@example.com") == nil)
            #expect(try await Self.suppression(fixture, "reader2@example.net") == nil, "an auto-reply from an address is not a bounce")

            let text = try await fixture.run("bounces", "ingest", box)
            #expect(text.stdout.contains("\(box)#1: arf complaint reader3@example.net (weekly, issue "), "\(text.stdout)")
            #expect(text.stdout.contains("\(box)#3: unrecognised: unrecognised ("), "\(text.stdout)")
            #expect(text.stdout.hasSuffix("3 messages: 1 already-recorded, 1 unknown, 1 unrecognised\n"), "\(text.stdout)")
        }
    }

    @Test("a Maildir (new/ and cur/): DSNs traced by the VERP envelope sender alone (sent through the SMTP sink), one with a trace header naming another recipient's delivery (refused)")
    func maildirVERP() async throws {
        try await DeliveryCLITests.withFixture(environment: ["LISTCTL_BOUNCE_ADDRESS": "bounces@example.org", "LISTCTL_BOUNCE_VERP": "1"]) { fixture in
            try await fixture.makeList("weekly", DeliveryCLITests.people("reader", 3))
            let (sent, _) = try await fixture.send(try fixture.shortIssue("v1", subject: "VERP one"), list: "weekly")
            #expect(sent.status == 0, "\(sent.stderr)")
            let accepted = try fixture.accepted()
            let one = try #require(accepted.first { $0.rcpt == "reader1@example.net" })
            let two = try #require(accepted.first { $0.rcpt == "reader2@example.net" })
            #expect(one.mailFrom.hasPrefix("bounces+") && one.mailFrom.hasSuffix("@example.org"), "\(one.mailFrom)")
            // Returned headers without Message-ID or trace: only the envelope names the delivery.
            func headersOnly(_ copy: DeliverySink.Accepted) -> Sent {
                Sent(to: copy.rcpt, messageID: "", trace: "", subject: copy.subject,
                     text: Self.crlf("From: Letters <news@example.org>\nTo: \(copy.rcpt)\nSubject: \(copy.subject)\n"), mailtoToken: nil)
            }
            let maildir = fixture.work.appendingPathComponent("Maildir")
            _ = try write(Self.postfix(
                headersOnly(one), status: "5.1.1", diagnostic: "550 5.1.1 user unknown", to: one.mailFrom,
                returned: Self.crlf("From: Letters <news@example.org>\nTo: \(one.rcpt)\nSubject: \(one.subject)\n")),
                "Maildir/new/1764752401.M1P1Q1.mail", in: fixture)
            // reader1's trace header in a report about reader2: refused, and no VERP to fall back on.
            let forgedTrace = Self.crlf("Message-ID: <x@elsewhere.example>\nX-Listctl-Trace: \(one.trace ?? "")\nSubject: \(one.subject)\n")
            _ = try write(Self.postfix(
                headersOnly(two), status: "5.1.1", diagnostic: "550 5.1.1 user unknown", returned: forgedTrace),
                "Maildir/cur/1764752402.M2P1Q2.mail:2,S", in: fixture)
            try FileManager.default.createDirectory(at: maildir.appendingPathComponent("tmp"), withIntermediateDirectories: true)

            let (result, entries) = try await Self.ingest(fixture, [maildir.path])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(entries.count == 2, "\(result.stdout)")
            let verp = try #require(entries.first { ($0["file"] as? String)?.contains("/new/") == true })
            #expect(verp["outcome"] as? String == "suppressed" && verp["tracedBy"] as? String == "verp", "\(verp)")
            #expect(verp["email"] as? String == "reader1@example.net")
            let refused = try #require(entries.first { ($0["file"] as? String)?.contains("/cur/") == true })
            #expect(refused["outcome"] as? String == "unknown", "\(refused)")
            #expect((refused["reason"] as? String)?.contains("another address than the report's recipient (refused)") == true, "\(refused)")
            #expect(try await Self.suppression(fixture, "reader1@example.net") == "hard_bounce")
            #expect(try await Self.suppression(fixture, "reader2@example.net") == nil)
            #expect(try await Self.status(fixture, "reader2@example.net", list: "weekly") == "active")
        }
    }

    @Test("mailto unsubscribe: the genuine token unsubscribes the person it names (whatever the From); a forged token with a forged From changes nothing")
    func mailtoUnsubscribe() async throws {
        try await DeliveryCLITests.withFixture { fixture in
            try await fixture.makeList("weekly", DeliveryCLITests.people("reader", 3))
            try await fixture.makeList("monthly", DeliveryCLITests.people("reader", 3))
            let sent = try await Self.send(fixture, "weekly", "w1")
            let token = try #require(sent["reader1@example.net"]?.mailtoToken)
            #expect(token.count >= 34, "\(token)")
            // Sent from another address (a forwarding account): the token decides, not From.
            let genuine = try write(Self.mailto(token: token, from: "Someone Else <other@example.com>"), "unsub.eml", in: fixture)
            var forged = Array(try #require(sent["reader2@example.net"]?.mailtoToken))
            forged[forged.count - 2] = forged[forged.count - 2] == "A" ? "B" : "A"
            let fake = try write(Self.mailto(token: String(forged), from: "reader3@example.net"), "forged.eml", in: fixture)
            let before = try await Self.status(fixture, "reader3@example.net", list: "weekly")

            let (result, entries) = try await Self.ingest(fixture, [genuine, fake])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(entries.map { $0["outcome"] as? String } == ["unsubscribed", "refused"], "\(result.stdout)")
            #expect(entries[0]["email"] as? String == "reader1@example.net" && entries[0]["list"] as? String == "weekly")
            #expect((entries[1]["reason"] as? String)?.contains("not genuine") == true, "\(entries[1])")
            #expect(try await Self.status(fixture, "reader1@example.net", list: "weekly") == "unsubscribed")
            #expect(try await Self.status(fixture, "reader1@example.net", list: "monthly") == "active", "one list only")
            #expect(try await Self.suppression(fixture, "reader1@example.net") == nil)
            #expect(before == "active")
            #expect(try await Self.status(fixture, "reader2@example.net", list: "weekly") == "active")
            #expect(try await Self.status(fixture, "reader3@example.net", list: "weekly") == "active", "the forged From is never unsubscribed")
            let source = try await withConnection(to: fixture.database) { connection in
                try await connection.query("SELECT detail->>'source' FROM events WHERE kind = 'unsubscribed'").map { try $0.decode(String.self, at: 0) }
            }
            #expect(source == ["mailto"])

            let again = try await Self.ingest(fixture, [genuine])
            #expect(again.entries.first?["outcome"] as? String == "already-stopped")
        }
    }

    @Test("unreadable input: a missing path or a folder that is no Maildir stops the run before anything is recorded (exit 1, which and why); a truncated message is listed with its number, exit 1, the others recorded")
    func unreadableInput() async throws {
        try await DeliveryCLITests.withFixture { fixture in
            try await fixture.makeList("weekly", DeliveryCLITests.people("reader", 2))
            let sent = try await Self.send(fixture, "weekly", "w1")
            let good = try write(Self.postfix(
                try #require(sent["reader1@example.net"]), status: "5.1.1", diagnostic: "550 5.1.1 user unknown"), "good.eml", in: fixture)
            let before = try await Self.state(fixture)
            let missing = fixture.work.appendingPathComponent("nothing-here.mbox").path
            let plainFolder = fixture.work.appendingPathComponent("not-a-maildir")
            try FileManager.default.createDirectory(at: plainFolder, withIntermediateDirectories: true)
            for (path, why) in [(missing, "no such file or folder"), (plainFolder.path, "not a Maildir")] {
                let result = try await fixture.run("bounces", "ingest", good, path)
                #expect(result.status == 1, "\(path): \(result.status) \(result.stdout)")
                #expect(result.stderr.contains(path) && result.stderr.contains(why), "\(result.stderr)")
                #expect(try await Self.state(fixture) == before, "nothing recorded")
            }

            let report = Self.postfix(try #require(sent["reader2@example.net"]), status: "5.1.1", diagnostic: "550 5.1.1 user unknown")
            let cut = String(report.prefix(report.count - 200))
            let box = try write(Self.mbox([cut, try String(contentsOfFile: good, encoding: .utf8)]), "cut.mbox", in: fixture)
            let (result, entries) = try await Self.ingest(fixture, [box])
            #expect(result.status == 1)
            #expect(entries.map { $0["outcome"] as? String } == ["malformed", "suppressed"], "\(result.stdout)")
            #expect(result.stderr.contains("\(box)#1: cannot be read as a message:") && result.stderr.contains("cut short"), "\(result.stderr)")
            #expect(try await Self.suppression(fixture, "reader2@example.net") == nil)
            #expect(try await Self.suppression(fixture, "reader1@example.net") == "hard_bounce")
        }
    }
}
