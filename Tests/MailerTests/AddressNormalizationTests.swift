import Foundation
import PropertyBased
import Testing

@testable import Mailer

@Suite("Address normalisation")
struct AddressNormalizationTests {
    @Test("Trimmed, domain lower-cased, local part kept", arguments: [
        ("  Ada@Example.COM ", "Ada@example.com"),
        ("\tbob.smith+news@Mail.Example.org", "bob.smith+news@mail.example.org"),
        ("x@example.com.", "x@example.com"),
        ("o'neil@example.ie", "o'neil@example.ie"),
        ("already@normal.example", "already@normal.example"),
    ])
    func normalises(input: String, expected: String) throws {
        #expect(try EmailAddress(normalizing: input).address == expected)
    }

    @Test("IDN domains become Punycode", arguments: [
        ("jose@bücher.de", "jose@xn--bcher-kva.de"),
        ("anna@MÜNCHEN.de", "anna@xn--mnchen-3ya.de"),
        ("li@例え.テスト", "li@xn--r8jz45g.xn--zckzah"),
        ("zoë@example.com", "zoë@example.com"),
        ("a@bücher。de", "a@xn--bcher-kva.de"),
        ("a@ＥＸＡＭＰＬＥ.com", "a@example.com"),
    ])
    func idn(input: String, expected: String) throws {
        #expect(try EmailAddress(normalizing: input).address == expected)
    }

    @Test("Punycode matches RFC 3492's samples", arguments: [
        ("他们为什么不说中文", "ihqwcrb4cv8a8dqg056pqjye"),
        ("bücher", "bcher-kva"),
        ("ü", "tda"),
        ("Pročprostěnemluvíčesky", "Proprostnemluvesky-uyb24dma41a"),
    ])
    func punycode(input: String, expected: String) {
        #expect(Punycode.encode(input) == expected)
    }

    @Test("Refused, with a reason", arguments: [
        ("", "empty"),
        ("   ", "empty"),
        ("no-at.example.com", "has no @"),
        ("two@@example.com", "more than one @"),
        ("a@b@example.com", "more than one @"),
        ("@example.com", "nothing before the @"),
        ("user@", "no dot"),
        ("user@localhost", "no dot"),
        ("user@example..com", "empty label"),
        ("user@.example.com", "empty label"),
        ("us er@example.com", "space"),
        ("user@exa mple.com", "not allowed"),
        ("user@-example.com", "not allowed"),
        ("user@example_x.com", "not allowed"),
        ("line\nbreak@example.com", "line break"),
        ("user@example.com\r", "line break"),
        (String(repeating: "a", count: 65) + "@example.com", "longer than 64"),
        ("a@" + String(repeating: "b", count: 64) + ".com", "longer than 63"),
        ("a@" + Array(repeating: String(repeating: "b", count: 60), count: 5).joined(separator: ".") + ".com", "longer than 254"),
    ])
    func refused(input: String, words: String) {
        let problem = #expect(throws: EmailAddress.Problem.self) { try EmailAddress(normalizing: input) }
        #expect(problem?.reason.contains(words) == true, "\(input.debugDescription): \(problem?.reason ?? "accepted")")
    }

    @Test("Validating takes an address exactly as written, or says which form to use", arguments: [
        ("Ada@Example.COM", nil),
        ("bob.smith+news@mail.example.org", nil),
        (" ada@example.com", "write it as \"ada@example.com\""),
        ("x@example.com.", "write it as \"x@example.com\""),
        ("jose@bücher.de", "write it as \"jose@xn--bcher-kva.de\""),
        ("zoë@example.com", "SMTPUTF8"),
        ("no-at.example.com", "has no @"),
        ("user@localhost", "no dot"),
        ("eve@example.com\nBcc: x@example.com", "line break"),
    ] as [(String, String?)])
    func validating(input: String, words: String?) {
        do {
            let address = try EmailAddress(validating: input)
            #expect(words == nil, "\(input.debugDescription) accepted")
            #expect(address.address == input)
        } catch {
            #expect(words.map { error.reason.contains($0) } == true, "\(input.debugDescription): \(error.reason)")
        }
    }

    @Test("The message builder refuses a bad address, naming the role and the reason")
    func builderNamesRoleAndReason() throws {
        var identity = MailerFixtures.identity
        identity.fromAddress = "letters@example"
        let parts = try MailerFixtures.render("Hello.\n").parts
        let sender = try #require(throws: MailerError.self) { try MessageBuilder(identity: identity, issueID: "1", parts: parts) }
        #expect(sender.code == .invalidHeader)
        #expect(sender.message == "From address: the domain of \"letters@example\" has no dot (expected name@example.com)")
        let builder = try MessageBuilder(identity: MailerFixtures.identity, issueID: "1", parts: parts)
        var recipient = MailerFixtures.recipient
        recipient.email = "zoë@example.com"
        let error = try #require(throws: MailerError.self) { try builder.message(for: recipient, part: 1) }
        #expect(error.code == .invalidRecipient)
        #expect(error.message.hasPrefix("recipient address: \"zoë@example.com\" has non-ASCII"))
    }

    static let domainLabel = anyCharacter("abcdefghijklmnopqrstuvwxyzABCDEFZ0123456789").string(of: 1...12)
    static let address = anyCharacter("abcXYZ019.+-_'!#$%&*/=?^`{|}~").string(of: 1...20)
    static let padding = anyCharacter(" \t").string(of: 0...2)

    @Test("Property: valid ASCII addresses are accepted; the result is normal and stable")
    func validASCII() async {
        await propertyCheck(
            count: 500, input: Self.address, Self.domainLabel.array(of: 2...4), Self.padding, Self.padding
        ) { local, labels, before, after in
            let domain: String = labels.joined(separator: ".")
            let text: String = before + local + "@" + domain + after
            guard let normal = try? EmailAddress(normalizing: text) else {
                Issue.record("refused \(text.debugDescription)")
                return
            }
            let expected: String = local + "@" + domain.lowercased()
            #expect(normal.address == expected)
            #expect((try? EmailAddress(normalizing: normal.address)) == normal, "normalising twice changes nothing")
            #expect(normal.key == normal.address.lowercased())
            // The fast path and the full path agree.
            #expect(EmailAddress.normalizedASCII(text) == normal.address)
            #expect((try? EmailAddress(validating: normal.address))?.address == normal.address, "a normal ASCII address is sendable as is")
        }
    }

    @Test("Property: a CR or LF anywhere is refused")
    func lineBreaks() async {
        await propertyCheck(count: 300, input: Self.address, Self.domainLabel, Gen.int(in: 0...30), anyCharacter(["\r", "\n", "\r\n"])) {
            local, domain, position, lineBreak in
            var text = local + "@" + domain + ".com"
            let index = text.index(text.startIndex, offsetBy: min(position, text.count))
            text.insert(lineBreak, at: index)
            #expect(throws: EmailAddress.Problem.self) { try EmailAddress(normalizing: text) }
        }
    }

    @Test("Property: whatever the input, an accepted address fits RFC 5321 and the schema's check")
    func anyInput() async {
        let anything = anyCharacter("a@.B- \tü€\r\"<>,x1").string(of: 0...30)
        await propertyCheck(count: 1000, input: anything) { text in
            guard let normal = try? EmailAddress(normalizing: text) else { return }
            let parts = normal.address.split(separator: "@", omittingEmptySubsequences: false)
            #expect(parts.count == 2)
            #expect(parts[0].utf8.count <= 64 && normal.address.utf8.count <= 254)
            #expect(parts[1].contains(".") && parts[1].utf8.allSatisfy { $0 < 0x80 } && parts[1] == parts[1].lowercased())
            #expect(!normal.address.contains(where: { $0.isWhitespace }))
        }
    }
}

/// A generator of the characters of `characters`.
private func anyCharacter(_ characters: String) -> Generator<Character, Shrink.None<Character?>> {
    anyCharacter(Array(characters))
}

private func anyCharacter(_ characters: [Character]) -> Generator<Character, Shrink.None<Character?>> {
    Gen<Character?>.element(of: characters).map { $0! }
}
