import Foundation
import PropertyBased
import Testing

@testable import Mailer

/// `--budget-scope`: the budget on the HTML alternative (Gmail's clipping
/// point as measured) or on the whole message as sent, headers included.
@Suite("Budget scope: the HTML alternative or the whole message")
struct BudgetScopeTests {
    static let longIssue = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/long-issue.md")

    /// A list whose links reserve exactly a 70-byte token, as a real list's do.
    static let identity = ListIdentity(
        name: "The Long Letter", slug: "long-letter", fromName: "Ada Lovelace", fromAddress: "letters@example.org",
        replyTo: "ada@example.org", baseURL: "https://letters.example.org", postalAddress: "1 Harbour Road, 3011 Rotterdam",
        maxTokenLength: 70)

    /// The longest fields a real recipient can have: 254-byte address of the
    /// characters that cost most, a 128-byte name, tokens at their longest.
    static func longestRecipient(_ n: Int = 0) -> Recipient {
        let token = String(repeating: "T", count: 70)
        return Recipient(
            email: String(repeating: "&", count: 32) + String(repeating: "=", count: 32) + "@" + String(repeating: "a", count: 63) + "."
                + String(repeating: "b", count: 63) + "." + String(repeating: "c", count: 53) + ".example",
            name: String(repeating: "é", count: Recipient.maxNameBytes / 2), subscriberID: String(repeating: "9", count: 19),
            unsubscribeURL: "https://letters.example.org/unsubscribe/" + token,
            unsubscribeMailto: "mailto:unsubscribe@example.org?subject=unsubscribe%20" + token)
    }

    /// Every part built for the longest recipient, DKIM-signed with a 4096-bit key: the bytes an outbox would hold.
    static func signedMessages(_ issue: RenderedIssue, signer: DKIMSigner) throws -> [[UInt8]] {
        let builder = try MessageBuilder(identity: identity, issueID: String(repeating: "7", count: 19), parts: issue.parts)
        return try issue.parts.map { part in
            let message = try builder.message(
                for: longestRecipient(), part: part.number,
                messageID: "listctl.1234567890123456789.\(part.number).\(String(repeating: "M", count: 22))@example.org")
            return try signer.sign(message.data)
        }
    }

    static let signer: DKIMSigner = {
        let key = try! DKIMKey.generate(.rsaSHA256, rsaBits: 4096)
        return DKIMSigner(domain: String(repeating: "d", count: 60) + ".example.org", selector: "listctl2026", key: key)
    }()

    static func render(_ markdown: String, budget: Int, scope: BudgetScope) throws -> RenderedIssue {
        let document = try IssueDocument.parse(markdown: markdown, fileName: "long-issue.md")
        return try IssueRenderer(identity: identity, budget: budget, scope: scope)
            .render(document, viewInBrowserURL: "https://letters.example.org/issues/long-issue")
    }

    @Test("the long example issue: with message scope every whole signed message is within budget; html scope bounds only the HTML and takes fewer parts")
    func longIssue() throws {
        let markdown = try String(contentsOf: Self.longIssue, encoding: .utf8)
        for budget in [IssueRenderer.defaultBudget, 40_000, 20_000] {
            let html = try Self.render(markdown, budget: budget, scope: .html)
            let message = try Self.render(markdown, budget: budget, scope: .message)
            #expect(html.scope == .html && message.scope == .message)
            #expect(message.parts.count >= html.parts.count, "budget \(budget): \(message.parts.count) < \(html.parts.count)")
            try MailerFixtures.expectSplitInvariants(message, markdown: markdown, budget: budget, identity: Self.identity)

            for (index, data) in try Self.signedMessages(message, signer: Self.signer).enumerated() {
                #expect(data.count <= budget, "budget \(budget), message scope, part \(index + 1): \(data.count) bytes")
                #expect(data.count <= message.parts[index].encodedMessageBytes, "the measured upper bound is one")
                let parsed = try MailerFixtures.parseMIME(data)
                #expect((parsed["defects"] as? [String]) == [], "\(parsed["defects"] ?? "")")
                #expect((parsed["problems"] as? [String]) == [], "\(parsed["problems"] ?? "")")
                let parts = try #require(parsed["parts"] as? [[String: Any]])
                #expect(parts.map { $0["content_type"] as? String } == ["text/plain", "text/html"])
            }
            // html scope: the HTML alternative is within budget, the message as a whole is not always.
            let htmlMessages = try Self.signedMessages(html, signer: Self.signer)
            for (index, data) in htmlMessages.enumerated() {
                let parsed = try MailerFixtures.parseMIME(data)
                let parts = try #require(parsed["parts"] as? [[String: Any]])
                let htmlSize = try #require(parts.last?["encoded_size"] as? Int)
                #expect(htmlSize <= budget, "budget \(budget), html scope, part \(index + 1): HTML \(htmlSize) bytes")
            }
            if budget == IssueRenderer.defaultBudget {
                #expect(htmlMessages.contains { $0.count > budget }, "html scope at \(budget): some whole message is over the budget")
                #expect(message.parts.count > html.parts.count)
            }
        }
    }

    @Test("on generated issues with message scope: every signed message within budget, text preserved, within one of the minimum")
    func generated() async throws {
        await propertyCheck(count: 120, input: Gen<UInt64>.value(), Gen.int(in: 12_000...40_000)) { seed, budget in
            var generator = IssueGenerator(state: seed)
            let markdown = generator.document(maxBlocks: 14)
            let issue = try Self.render(markdown, budget: budget, scope: .message)
            try MailerFixtures.expectSplitInvariants(issue, markdown: markdown, budget: budget, identity: Self.identity)
            for part in issue.parts {
                #expect(part.encodedMessageBytes <= budget, "part \(part.number): \(part.encodedMessageBytes) > \(budget)")
            }
            for (index, data) in try Self.signedMessages(issue, signer: Self.signer).enumerated() {
                #expect(data.count <= budget, "seed \(seed), budget \(budget), part \(index + 1): \(data.count) bytes")
            }
        }
    }

    @Test("a budget the headers and frames alone exceed is refused as too small, in message scope first")
    func tooSmall() throws {
        let error = try #require(throws: MailerError.self) { try Self.render("Hello.\n", budget: 6_000, scope: .message) }
        #expect(error.code == .budgetTooSmall)
        #expect(error.message.contains("6000") && error.message.contains("raise --budget"))
        _ = try Self.render("Hello.\n", budget: 6_000, scope: .html)
    }

    @Test("a recipient whose headers are longer than the room reserved is refused, not sent over budget")
    func longHeadersRefused() throws {
        let issue = try Self.render("Hello.\n", budget: 20_000, scope: .message)
        let builder = try MessageBuilder(identity: Self.identity, issueID: "1", parts: issue.parts)
        var recipient = Self.longestRecipient()
        recipient.name = String(repeating: "é", count: 200)
        let error = try #require(throws: MailerError.self) { try builder.message(for: recipient, part: 1) }
        #expect(error.code == .invalidRecipient && error.message.contains("reserved"))
        // The html scope never counted the headers, and still does not hold them to anything.
        let html = try Self.render("Hello.\n", budget: 20_000, scope: .html)
        _ = try MessageBuilder(identity: Self.identity, issueID: "1", parts: html.parts).message(for: recipient, part: 1)
    }
}
