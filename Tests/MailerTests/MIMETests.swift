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
    }

    @Test("the trace header parses back and rejects junk")
    func trace() {
        #expect(MessageBuilder.parseTrace("12.42.3")! == ("12", "42", 3))
        #expect(MessageBuilder.parseTrace("12.42") == nil)
        #expect(MessageBuilder.parseTrace("a.b.c") == nil)
    }
}
