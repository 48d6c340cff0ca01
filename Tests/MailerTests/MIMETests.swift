import Foundation
import PropertyBased
import Testing

@testable import Mailer

@Suite("MIME messages")
struct MIMETests {
    static func builder(_ markdown: String, budget: Int = IssueRenderer.defaultBudget) throws -> (RenderedIssue, MessageBuilder) {
        let issue = try MailerFixtures.render(markdown, budget: budget)
        return (issue, try MessageBuilder(identity: MailerFixtures.identity, issueID: "12", parts: issue.parts))
    }

    @Test("Python's email package reads every header and both alternatives back intact")
    func parsedBack() throws {
        let (_, issue) = try RenderingTests.realistic()
        let builder = try MessageBuilder(identity: MailerFixtures.identity, issueID: "12", parts: issue.parts)
        let message = try builder.message(for: MailerFixtures.recipient, part: 1, date: MailerFixtures.date)
        #expect(message.envelopeFrom == "letters@example.org")
        #expect(message.recipient == "reader@example.net")
        #expect(message.messageID == "listctl.12.42.1@example.org")
        let parsed = try MailerFixtures.parseMIME(message.data)
        #expect((parsed["problems"] as? [String]) == [], "\(parsed["problems"] ?? "")")
        #expect((parsed["defects"] as? [String]) == [])
        #expect(parsed["content_type"] as? String == "multipart/alternative")
        let headers = try #require(parsed["headers"] as? [String: [String]])
        #expect(headers["subject"] == ["The Long Letter #12: Ports, tables & footnotes"])
        #expect(headers["from"] == ["Ada Lovelace <letters@example.org>"])
        #expect(headers["reply-to"] == ["<ada@example.org>"] || headers["reply-to"] == ["ada@example.org"])
        #expect(headers["to"] == ["Zoë Müller-Ørsted <reader@example.net>"])
        #expect(headers["message-id"] == ["<listctl.12.42.1@example.org>"])
        #expect(headers["date"] == ["Fri, 27 Nov 2026 12:00:00 +0000"])
        #expect(headers["list-id"] == ["The Long Letter <long-letter.example.org>"])
        #expect(headers["list-unsubscribe"] == ["<https://letters.example.org/unsubscribe/tok_42-abcdef>, <mailto:unsubscribe@example.org?subject=unsubscribe>"])
        #expect(headers["list-unsubscribe-post"] == ["List-Unsubscribe=One-Click"])
        #expect(headers["mime-version"] == ["1.0"])
        let trace = try #require(headers["x-listctl-trace"]?.first)
        let parsedTrace = try #require(MessageBuilder.parseTrace(trace))
        #expect(parsedTrace.issue == "12" && parsedTrace.subscriber == "42" && parsedTrace.part == 1)

        let parts = try #require(parsed["parts"] as? [[String: Any]])
        #expect(parts.map { $0["content_type"] as? String } == ["text/plain", "text/html"])
        #expect(parts.allSatisfy { ($0["transfer_encoding"] as? String)?.lowercased() == "quoted-printable" && $0["charset"] as? String == "utf-8" })
        func normalised(_ s: String) -> String { s.replacingOccurrences(of: "\r\n", with: "\n") }
        #expect(normalised(parts[0]["body"] as? String ?? "") == issue.parts[0].text(for: MailerFixtures.recipient))
        #expect(normalised(parts[1]["body"] as? String ?? "") == issue.parts[0].html(for: MailerFixtures.recipient))
        // The HTML on the wire is within what the splitter counted.
        #expect((parts[1]["encoded_size"] as? Int ?? .max) <= issue.parts[0].encodedHTMLBytes)
    }

    @Test("every part of a split issue is a complete message; long and non-ASCII subjects fold and decode")
    func splitMessages() throws {
        var markdown = "---\nsubject: \"Ünïcödé ßubject that is long enough to need folding across several header lines, déjà vu\"\n---\n"
        for section in 1...40 {
            markdown += "## Section \(section)\n\n" + String(repeating: "Harbour cranes lift containers at dawn. ", count: 60) + "\n\n"
        }
        let (issue, builder) = try Self.builder(markdown, budget: 20_000)
        #expect(issue.parts.count > 3)
        for part in issue.parts {
            let message = try builder.message(for: MailerFixtures.recipient, part: part.number, date: MailerFixtures.date)
            let parsed = try MailerFixtures.parseMIME(message.data)
            #expect((parsed["problems"] as? [String]) == [], "\(parsed["problems"] ?? "")")
            #expect((parsed["defects"] as? [String]) == [])
            let headers = try #require(parsed["headers"] as? [String: [String]])
            #expect(headers["subject"] == [part.subject])
            #expect(part.subject.hasSuffix("(\(part.number)/\(part.total))"))
            // Header lines stay short: folded, never over 78 where a fold was possible.
            let head = String(decoding: message.data, as: UTF8.self).components(separatedBy: "\r\n\r\n")[0]
            #expect(head.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 78 })
            let parts = try #require(parsed["parts"] as? [[String: Any]])
            #expect((parts[1]["encoded_size"] as? Int ?? .max) <= 20_000)
        }
    }

    @Test("headers too long to fold at spaces are encoded, never over 78 characters a line")
    func longHeaders() throws {
        let subject = String(repeating: "Unbreakable", count: 120)
        let (issue, builder) = try Self.builder("---\nsubject: \(subject)\n---\nHello.\n")
        var recipient = MailerFixtures.recipient
        recipient.name = "A \"quoted\" name, " + String(repeating: "very long ", count: 30)
        let message = try builder.message(for: recipient, part: 1, date: MailerFixtures.date)
        let head = String(decoding: message.data, as: UTF8.self).components(separatedBy: "\r\n\r\n")[0]
        #expect(head.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 78 })
        let parsed = try MailerFixtures.parseMIME(message.data)
        #expect((parsed["defects"] as? [String]) == [])
        let headers = try #require(parsed["headers"] as? [String: [String]])
        #expect(headers["subject"] == [issue.parts[0].subject])
        #expect(headers["to"]?.first?.hasSuffix("<reader@example.net>") == true)
    }

    @Test("a line break in any header value is an error, never a new header")
    func headerInjection() throws {
        let (issue, builder) = try Self.builder("Hello.\n")
        var recipient = MailerFixtures.recipient
        recipient.name = "Eve\r\nBcc: victim@example.com"
        #expect(throws: MailerError.self) { try builder.message(for: recipient, part: 1) }
        recipient = MailerFixtures.recipient
        recipient.email = "eve@example.com\nBcc: x@example.com"
        #expect(throws: MailerError.self) { try builder.message(for: recipient, part: 1) }
        recipient = MailerFixtures.recipient
        recipient.unsubscribeURL = "https://x.example/u\r\nX-Evil: 1"
        #expect(throws: MailerError.self) { try builder.message(for: recipient, part: 1) }
        var parts = issue.parts
        parts[0].subject = "Hi\nBcc: victim@example.com"
        let error = try #require(throws: MailerError.self) { try MessageBuilder(identity: MailerFixtures.identity, issueID: "1", parts: parts) }
        #expect(error.code == .invalidHeader)
        var identity = MailerFixtures.identity
        identity.fromName = "Ada\rLovelace"
        #expect(throws: MailerError.self) { try MessageBuilder(identity: identity, issueID: "1", parts: issue.parts) }
    }

    @Test("a recipient field longer than the reserved room is refused, not silently over budget")
    func fieldTooLong() throws {
        let (_, builder) = try Self.builder("Hello.\n")
        var recipient = MailerFixtures.recipient
        recipient.unsubscribeURL = "https://letters.example.org/unsubscribe/" + String(repeating: "x", count: 400)
        let error = try #require(throws: MailerError.self) { try builder.message(for: recipient, part: 1) }
        #expect(error.code == .invalidRecipient)
        recipient = MailerFixtures.recipient
        recipient.unsubscribeURL = "http://letters.example.org/u/1"
        #expect(throws: MailerError.self) { try builder.message(for: recipient, part: 1) }
    }

    @Test("recipient fields are escaped for HTML and encoded safely in quoted-printable")
    func personalisation() throws {
        let (issue, builder) = try Self.builder("Hello.\n")
        let recipient = Recipient(
            email: "o'brien+news&more@example.com", name: "\"Quoted\" <script>alert(1)</script> = ünïcödé", subscriberID: "s_9",
            unsubscribeURL: "https://letters.example.org/unsubscribe/a=b&c=d")
        let message = try builder.message(for: recipient, part: 1, date: MailerFixtures.date)
        let parsed = try MailerFixtures.parseMIME(message.data)
        #expect((parsed["problems"] as? [String]) == [], "\(parsed["problems"] ?? "")")
        let parts = try #require(parsed["parts"] as? [[String: Any]])
        let html = (parts[1]["body"] as? String ?? "").replacingOccurrences(of: "\r\n", with: "\n")
        #expect(html == issue.parts[0].html(for: recipient))
        #expect(html.contains("o&#39;brien") || html.contains("o'brien+news&amp;more@example.com"))
        #expect(html.contains("href=\"https://letters.example.org/unsubscribe/a=b&amp;c=d\""))
        let headers = try #require(parsed["headers"] as? [String: [String]])
        #expect(headers["to"]?.first?.contains("o'brien+news&more@example.com") == true)
    }

    @Test("quoted-printable round-trips, keeps lines within 76, and its length function agrees")
    func quotedPrintable() async {
        let alphabet: [UInt8] = Array("ab =\t\n.é€\u{0}~".utf8) + [0xFF, 13]
        let bytes = Gen<UInt8?>.element(of: alphabet).array(of: 0...400).map { $0.compactMap { $0 } }
        await propertyCheck(count: 2000, input: bytes) { input in
            var encoded: [UInt8] = []
            QuotedPrintable.encode(input, into: &encoded)
            #expect(QuotedPrintable.encodedLength(input) == encoded.count)
            let lines = encoded.split(separator: 10, omittingEmptySubsequences: false)
            #expect(lines.allSatisfy { $0.count <= 77 })  // 76 + the CR
            #expect(!encoded.enumerated().contains { $0.element == 10 && ($0.offset == 0 || encoded[$0.offset - 1] != 13) })
            // Decoding gives the input with its line ends as CRLF.
            let normalised = IssueDocument.normaliseLineEnds(input)
            var expected: [UInt8] = []
            for byte in normalised { if byte == 10 { expected += [13, 10] } else { expected.append(byte) } }
            #expect(QuotedPrintable.decode(encoded) == expected || input.contains(13))
        }
    }

    @Test("RFC 5322 dates do not depend on locale or time zone")
    func dates() {
        #expect(MessageBuilder.rfc5322Date(Date(timeIntervalSince1970: 0)) == "Thu, 1 Jan 1970 00:00:00 +0000")
        #expect(MessageBuilder.rfc5322Date(Date(timeIntervalSince1970: 951_782_400)) == "Tue, 29 Feb 2000 00:00:00 +0000")
        #expect(MessageBuilder.rfc5322Date(MailerFixtures.date) == "Fri, 27 Nov 2026 12:00:00 +0000")
    }

    @Test("the tokenized form of a part reads back to the same holes")
    func tokenized() throws {
        let (_, issue) = try RenderingTests.realistic()
        let part = issue.parts[0]
        let restored = PersonalizedBytes(tokenized: part.html.tokenized)
        #expect(restored.fieldCounts == part.html.fieldCounts)
        let fill: (RecipientField) -> [UInt8] = { Array(MailerFixtures.recipient.value(of: $0).utf8) }
        #expect(restored.filled(fill) == part.html.filled(fill))
        #expect(String(decoding: part.text.tokenized, as: UTF8.self).contains("Unsubscribe: @@LISTCTL-UNSUBSCRIBE-URL@@"))
        #expect(String(decoding: part.text.tokenized, as: UTF8.self).contains("Preferences: @@LISTCTL-PREFERENCES-URL@@"))
        #expect(String(decoding: part.html.tokenized, as: UTF8.self).contains("href=\"@@LISTCTL-PREFERENCES-URL@@\""))
    }

    @Test("the trace header parses back and rejects junk")
    func trace() {
        #expect(MessageBuilder.parseTrace("12.42.3")! == ("12", "42", 3))
        #expect(MessageBuilder.parseTrace("12.42") == nil)
        #expect(MessageBuilder.parseTrace("a.b.c") == nil)
    }

    // MARK: Caller-chosen Message-ID and envelope sender

    @Test("a Message-ID and envelope sender chosen by the caller end up in the message and the OutgoingMessage")
    func callerMessageIDAndEnvelope() throws {
        let (_, builder) = try Self.builder("Hello.\n")
        let id = "d1.7f3a9c_b+x=y@letters.example.org"
        let message = try builder.message(
            for: MailerFixtures.recipient, part: 1, messageID: id, envelopeFrom: "bounces+AbC_12-xyz@example.org",
            date: MailerFixtures.date)
        #expect(message.messageID == id)
        #expect(message.envelopeFrom == "bounces+AbC_12-xyz@example.org")
        let parsed = try MailerFixtures.parseMIME(message.data)
        #expect((parsed["problems"] as? [String]) == [], "\(parsed["problems"] ?? "")")
        #expect((parsed["defects"] as? [String]) == [])
        let headers = try #require(parsed["headers"] as? [String: [String]])
        #expect(headers["message-id"] == ["<\(id)>"])
        // The trace header still names issue, subscriber and part.
        #expect(headers["x-listctl-trace"] == ["12.42.1"])
        // Without them, the defaults: what test copies rely on.
        let plain = try builder.message(for: MailerFixtures.recipient, part: 1, date: MailerFixtures.date)
        #expect(plain.messageID == "listctl.12.42.1@example.org" && plain.messageID == builder.defaultMessageID(subscriberID: "42", part: 1))
        #expect(plain.envelopeFrom == "letters@example.org")
        var identity = MailerFixtures.identity
        identity.envelopeFrom = "bounces@example.org"
        let withBounce = try MessageBuilder(identity: identity, issueID: "12", parts: try MailerFixtures.render("Hello.\n").parts)
        #expect(try withBounce.message(for: MailerFixtures.recipient, part: 1).envelopeFrom == "bounces@example.org")
        #expect(try withBounce.message(for: MailerFixtures.recipient, part: 1, envelopeFrom: "b+1@example.org").envelopeFrom == "b+1@example.org")
    }

    @Test("a malformed Message-ID or envelope sender is refused", arguments: [
        "", "no-at-sign", "a@b@c.org", "<a@example.org>", "a b@example.org", "a\"b@example.org", ".a@example.org",
        "a.@example.org", "a..b@example.org", "a@", "@example.org", "a@example..org", "a@[127.0.0.1]", "a(b)@example.org",
        "ü@example.org", "a@example.org\r\nBcc: x@example.com", String(repeating: "a", count: 189) + "@example.org",
    ])
    func badMessageID(id: String) throws {
        let (_, builder) = try Self.builder("Hello.\n")
        let error = try #require(throws: MailerError.self) { try builder.message(for: MailerFixtures.recipient, part: 1, messageID: id) }
        #expect(error.code == .invalidArgument)
    }

    @Test("well-formed Message-IDs up to 200 bytes are accepted; bad envelope senders are refused")
    func goodMessageIDs() throws {
        let (_, builder) = try Self.builder("Hello.\n")
        for id in ["a@b", "x.y+z=1@example.org", "!#$%&'*+-/=?^_`{|}~@x.y", String(repeating: "a", count: 188) + "@example.org"] {
            #expect(try builder.message(for: MailerFixtures.recipient, part: 1, messageID: id).messageID == id)
        }
        // RFC 5321 caps a local part at 64 bytes: "bounces+" leaves 56 for a VERP token.
        _ = try builder.message(for: MailerFixtures.recipient, part: 1, envelopeFrom: "bounces+\(Self.token(56))@example.org")
        for envelope in ["bounces+\(Self.token(57))@example.org", "", "bounces+tok@", "a b@example.org", "bounces@example.org\r\nBcc: x@example.com", "<b@example.org>"] {
            let error = try #require(throws: MailerError.self) {
                try builder.message(for: MailerFixtures.recipient, part: 1, envelopeFrom: envelope)
            }
            #expect(error.code == .invalidArgument)
        }
    }

    // MARK: Preferences link

    @Test("the preferences link is in both the HTML and the text part, next to the unsubscribe link")
    func preferencesLink() throws {
        let (issue, builder) = try Self.builder("Hello.\n")
        let recipient = MailerFixtures.recipient
        #expect(recipient.preferencesURL == "https://letters.example.org/preferences/tok_42-abcdef")
        let message = try builder.message(for: recipient, part: 1, date: MailerFixtures.date)
        let parsed = try MailerFixtures.parseMIME(message.data)
        #expect((parsed["problems"] as? [String]) == [], "\(parsed["problems"] ?? "")")
        let parts = try #require(parsed["parts"] as? [[String: Any]])
        let text = (parts[0]["body"] as? String ?? "").replacingOccurrences(of: "\r\n", with: "\n")
        let html = (parts[1]["body"] as? String ?? "").replacingOccurrences(of: "\r\n", with: "\n")
        #expect(text.contains("Unsubscribe: https://letters.example.org/unsubscribe/tok_42-abcdef\n"))
        #expect(text.contains("Preferences: https://letters.example.org/preferences/tok_42-abcdef\n"))
        #expect(html.contains("<a href=\"https://letters.example.org/unsubscribe/tok_42-abcdef\" style=\"color:#888888;text-decoration:underline;\">Unsubscribe</a>"))
        #expect(html.contains("<a href=\"https://letters.example.org/preferences/tok_42-abcdef\" style=\"color:#888888;text-decoration:underline;\">Manage your subscription</a>"))
        #expect(html == issue.parts[0].html(for: recipient) && text == issue.parts[0].text(for: recipient))
        // List-Unsubscribe stays the unsubscribe URL.
        let headers = try #require(parsed["headers"] as? [String: [String]])
        #expect(headers["list-unsubscribe"]?.first?.hasPrefix("<https://letters.example.org/unsubscribe/tok_42-abcdef>,") == true)

        // A preferences URL of its own; one without an /unsubscribe/ segment to derive from.
        let own = Recipient(
            email: "a@example.net", subscriberID: "7", unsubscribeURL: "https://letters.example.org/u/T",
            preferencesURL: "https://letters.example.org/p/T?x=1&y=2")
        let ownHTML = issue.parts[0].html(for: own)
        #expect(ownHTML.contains("href=\"https://letters.example.org/p/T?x=1&amp;y=2\""))
        #expect(issue.parts[0].text(for: own).contains("Preferences: https://letters.example.org/p/T?x=1&y=2\n"))
        #expect(Recipient(email: "a@b.org", subscriberID: "1", unsubscribeURL: "https://x.org/u/T").preferencesURL == "https://x.org/u/T")
        #expect(Recipient(email: "a@b.org", subscriberID: "1", unsubscribeURL: "https://x.org/unsubscribe/a/unsubscribe/T").preferencesURL
            == "https://x.org/unsubscribe/a/preferences/T")
        _ = try builder.message(for: own, part: 1)
    }

    @Test("the preferences URL is checked like the unsubscribe URL")
    func preferencesURLChecked() throws {
        let (_, builder) = try Self.builder("Hello.\n")
        for bad in [
            "http://letters.example.org/preferences/T", "https://x.org/p/a b", "https://x.org/p/\"x", "https://x.org/p/<x>",
            "https://x.org/p/T\r\nBcc: x@example.com", "javascript:alert(1)",
            "https://letters.example.org/preferences/" + String(repeating: "x", count: 400),
        ] {
            var recipient = MailerFixtures.recipient
            recipient.preferencesURL = bad
            let error = try #require(throws: MailerError.self, "\(bad.debugDescription) was accepted") { try builder.message(for: recipient, part: 1) }
            #expect(error.code == .invalidRecipient)
        }
        var local = MailerFixtures.recipient
        local.preferencesURL = "http://localhost:8080/preferences/T"
        _ = try builder.message(for: local, part: 1)
    }

    @Test("a template without preferences_url stays valid, and then any preferences URL length is fine")
    func templateWithoutPreferences() throws {
        let template = try EmailTemplate(
            string: "<html><body>{{{content}}}<p><a href=\"{{unsubscribe_url}}\">Leave</a></p></body></html>\n", name: "t.html")
        let document = try IssueDocument.parse(markdown: "Hello.\n", fileName: "t.md")
        let issue = try IssueRenderer(identity: MailerFixtures.identity, template: template).render(document)
        #expect(!issue.parts[0].html(for: MailerFixtures.recipient).contains("preferences"))
        // The text footer always carries it.
        #expect(issue.parts[0].text(for: MailerFixtures.recipient).contains("Preferences: https://letters.example.org/preferences/tok_42-abcdef"))
        let builder = try MessageBuilder(identity: MailerFixtures.identity, issueID: "1", parts: issue.parts)
        var recipient = MailerFixtures.recipient
        recipient.preferencesURL = "https://letters.example.org/preferences/" + String(repeating: "x", count: 400)
        _ = try builder.message(for: recipient, part: 1)
        _ = try EmailTemplate(string: "{{{content}}}", name: "bare.html")
    }

    // MARK: Exact reserve for the URLs

    static let tokenAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

    static func token(_ count: Int, seed: Int = 0) -> String {
        String((0..<count).map { tokenAlphabet[($0 &* 31 &+ seed &* 7) % tokenAlphabet.count] })
    }

    @Test("with maxTokenLength the reserve is exact: base + /unsubscribe/ + 70 fits, 71 is refused; the same for preferences")
    func exactReserve() throws {
        let identity = ListIdentity(
            name: "The Long Letter", slug: "long-letter", fromName: "Ada Lovelace", fromAddress: "letters@example.org",
            baseURL: "https://letters.example.org/", maxTokenLength: 70)
        let base = "https://letters.example.org"
        #expect(identity.maxUnsubscribeURLLength == base.utf8.count + "/unsubscribe/".utf8.count + 70)
        #expect(identity.maxPreferencesURLLength == base.utf8.count + "/preferences/".utf8.count + 70)
        // The defaults are unchanged.
        #expect(MailerFixtures.identity.maxUnsubscribeURLLength == base.utf8.count + 220)
        #expect(MailerFixtures.identity.maxPreferencesURLLength == base.utf8.count + 220)

        let issue = try MailerFixtures.render("Hello.\n", identity: identity)
        let builder = try MessageBuilder(identity: identity, issueID: "12", parts: issue.parts)
        let fits = Recipient(
            email: "reader@example.net", subscriberID: "42", unsubscribeURL: base + "/unsubscribe/" + Self.token(70))
        #expect(fits.preferencesURL == base + "/preferences/" + Self.token(70))
        let message = try builder.message(for: fits, part: 1, date: MailerFixtures.date)
        let parsed = try MailerFixtures.parseMIME(message.data)
        #expect((parsed["problems"] as? [String]) == [], "\(parsed["problems"] ?? "")")
        let parts = try #require(parsed["parts"] as? [[String: Any]])
        #expect((parts[1]["encoded_size"] as? Int ?? .max) <= issue.parts[0].encodedHTMLBytes)

        var long = fits
        long.unsubscribeURL = base + "/unsubscribe/" + Self.token(71)
        let error = try #require(throws: MailerError.self) { try builder.message(for: long, part: 1) }
        #expect(error.code == .invalidRecipient && error.message.contains("unsubscribe_url"))
        long = fits
        long.preferencesURL = base + "/preferences/" + Self.token(71)
        let preferencesError = try #require(throws: MailerError.self) { try builder.message(for: long, part: 1) }
        #expect(preferencesError.code == .invalidRecipient && preferencesError.message.contains("preferences_url"))

        // An explicit maxUnsubscribeURLLength still wins for the unsubscribe URL.
        let explicit = ListIdentity(name: "L", slug: "l", fromName: "L", fromAddress: "l@example.org", baseURL: base, maxUnsubscribeURLLength: 300, maxTokenLength: 70)
        #expect(explicit.maxUnsubscribeURLLength == 300 && explicit.maxPreferencesURLLength == base.utf8.count + 83)
    }

    @Test("with the exact reserve and the longest genuine fields, every part's HTML on the wire stays within budget")
    func exactReserveWithinBudget() async throws {
        let identity = ListIdentity(
            name: "The Long Letter", slug: "long-letter", fromName: "Ada Lovelace", fromAddress: "letters@example.org",
            baseURL: "https://letters.example.org", postalAddress: "1 Harbour Road, 3011 Rotterdam", maxTokenLength: 70)
        let marker = Array("Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n".utf8)
        await propertyCheck(count: 150, input: Gen<UInt64>.value(), Gen.int(in: 9_000...30_000)) { seed, budget in
            var generator = IssueGenerator(state: seed)
            let markdown = generator.document(maxBlocks: 12)
            let issue = try MailerFixtures.render(markdown, budget: budget, identity: identity)
            try MailerFixtures.expectSplitInvariants(issue, markdown: markdown, budget: budget, identity: identity)
            let builder = try MessageBuilder(identity: identity, issueID: "9", parts: issue.parts)
            let recipient = Recipient(
                email: String(repeating: "&", count: 64) + "@" + String(repeating: "a", count: 63) + "." + String(repeating: "b", count: 63) + ".example",
                name: String(repeating: "\"", count: Recipient.maxNameBytes), subscriberID: "s1",
                unsubscribeURL: "https://letters.example.org/unsubscribe/" + Self.token(70, seed: Int(seed % 64)),
                preferencesURL: "https://letters.example.org/preferences/" + Self.token(70, seed: Int(seed % 61)))
            for part in issue.parts {
                let data = try builder.message(for: recipient, part: part.number).data
                let start = try #require(MailerFixtures.occurrences(of: marker, in: data).first)
                let end = try #require(MailerFixtures.occurrences(of: Array("\r\n--=_listctl_".utf8), in: Array(data[start...])).first)
                let wire = end - "\r\n--=_listctl_".utf8.count
                #expect(wire <= budget, "part \(part.number): \(wire) encoded HTML bytes on the wire > \(budget)")
                #expect(wire <= part.encodedHTMLBytes)
            }
        }
    }

    // MARK: List-Unsubscribe mailto

    @Test("the recipient's mailto: goes into List-Unsubscribe; a malformed one is refused")
    func unsubscribeMailto() throws {
        let (_, builder) = try Self.builder("Hello.\n")
        var recipient = MailerFixtures.recipient
        recipient.unsubscribeMailto = "mailto:unsubscribe@example.org?subject=unsubscribe%20" + Self.token(70)
        let message = try builder.message(for: recipient, part: 1, date: MailerFixtures.date)
        let parsed = try MailerFixtures.parseMIME(message.data)
        #expect((parsed["defects"] as? [String]) == [])
        let headers = try #require(parsed["headers"] as? [String: [String]])
        #expect(headers["list-unsubscribe"] == [
            "<https://letters.example.org/unsubscribe/tok_42-abcdef>, <mailto:unsubscribe@example.org?subject=unsubscribe%20\(Self.token(70))>",
        ])
        for bad in [
            "mailto:unsubscribe@example.org?subject=unsubscribe TOKEN", "mailto:u@example.org>, <https://evil.example",
            "mailto:u@example.org?subject=\"x\"", "mailto:u@example.org\r\nBcc: x@example.com", "mailto:u@example.org\nX: 1",
            "https://example.org/unsubscribe", "mailto:", "",
        ] {
            recipient.unsubscribeMailto = bad
            #expect(throws: MailerError.self, "\(bad.debugDescription) was accepted") { try builder.message(for: recipient, part: 1) }
        }
    }
}
