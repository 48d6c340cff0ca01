import Foundation
import Mailer
import Testing

@Suite("DKIM")
struct DKIMTests {
    static let rsaKey = try! DKIMKey.generate(.rsaSHA256)
    static let edKey = try! DKIMKey.generate(.ed25519SHA256)

    /// Verifies with dkimpy, the key record supplied from a file instead of DNS.
    func verify(_ message: [UInt8], key: DKIMKey) throws -> (ok: Bool, output: String) {
        let dir = try TransportTestSupport.scratchDirectory("dkim")
        let messageFile = dir.appendingPathComponent("message.eml")
        let recordFile = dir.appendingPathComponent("record.txt")
        try Data(message).write(to: messageFile)
        try Data(try key.dnsRecordValue().utf8).write(to: recordFile)
        let result = try TransportTestSupport.run(["python3", TransportTestSupport.tool("dkim_verify.py"), messageFile.path, recordFile.path])
        return (result.status == 0, result.output)
    }

    static let listHeaders = [
        "List-Id: The Long Letter <letter.example.org>",
        "List-Unsubscribe: <https://example.org/u/abc>, <mailto:unsubscribe@example.org?subject=abc>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
    ]

    @Test("rsa-sha256 and ed25519-sha256 verify with dkimpy", arguments: [DKIMTests.rsaKey, DKIMTests.edKey].map { KeyBox(key: $0) })
    func verifiesIndependently(box: KeyBox) throws {
        let signer = DKIMSigner(domain: "example.org", selector: "s1", key: box.key)
        let message = TransportTestSupport.message(extraHeaders: Self.listHeaders)
        let signed = try signer.sign(message)
        let result = try verify(signed, key: box.key)
        #expect(result.ok, "dkimpy said: \(result.output)")
        let header = try signer.signatureHeader(for: message)
        #expect(header.contains("a=\(box.key.algorithm.rawValue)"))
        let unfolded = header.replacingOccurrences(of: "\r\n\t", with: "")
        #expect(unfolded.contains(
            "h=from:to:subject:date:message-id:list-id:list-unsubscribe:list-unsubscribe-post:mime-version:content-type;"))
        for line in header.split(separator: "\r\n") { #expect(line.count <= 78, "line too long: \(line)") }
    }

    @Test("a built issue message, signed: h= covers List-Unsubscribe and List-Unsubscribe-Post, and dkimpy verifies it", arguments: [DKIMTests.rsaKey, DKIMTests.edKey].map { KeyBox(key: $0) })
    func builtMessageVerifies(box: KeyBox) throws {
        let identity = ListIdentity(
            name: "The Long Letter", slug: "long-letter", fromName: "Ada Lovelace", fromAddress: "letters@example.org",
            baseURL: "https://letters.example.org", maxTokenLength: 70)
        let document = try IssueDocument.parse(markdown: "# Hello\n\nGrüße, with a [link](https://example.org/a).\n", fileName: "t.md")
        let issue = try IssueRenderer(identity: identity).render(document)
        let builder = try MessageBuilder(identity: identity, issueID: "12", parts: issue.parts)
        let token = String(repeating: "Ab9_-", count: 14)
        let recipient = Recipient(
            email: "reader@example.net", name: "Zoë", subscriberID: "42",
            unsubscribeURL: "https://letters.example.org/unsubscribe/" + token,
            unsubscribeMailto: "mailto:unsubscribe@example.org?subject=unsubscribe%20" + token)
        let message = try builder.message(
            for: recipient, part: 1, messageID: "d.12.42.1.a1@example.org", envelopeFrom: "bounces+\(token.prefix(40))@example.org")
        let signer = DKIMSigner(domain: "example.org", selector: "s1", key: box.key)
        let signed = try signer.sign(message.data)
        let result = try verify(signed, key: box.key)
        #expect(result.ok, "dkimpy said: \(result.output)")
        let header = try signer.signatureHeader(for: message.data).replacingOccurrences(of: "\r\n\t", with: "")
        let h = try #require(header.split(separator: ";").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("h=") })
        let names = h.trimmingCharacters(in: .whitespaces).dropFirst(2).split(separator: ":").map(String.init)
        #expect(names.contains("list-unsubscribe") && names.contains("list-unsubscribe-post") && names.contains("message-id"))
        // Tampering with the one-click header breaks the signature.
        let tampered = String(decoding: signed, as: UTF8.self).replacingOccurrences(
            of: "List-Unsubscribe-Post: List-Unsubscribe=One-Click", with: "List-Unsubscribe-Post: List-Unsubscribe=Two-Click")
        #expect(try !verify(Array(tampered.utf8), key: box.key).ok)
    }

    @Test("a signer without Message-ID and Date (for SES) leaves them out of h= and still verifies")
    func withoutSigning() throws {
        let signer = DKIMSigner(domain: "example.org", selector: "s1", key: Self.edKey).withoutSigning(["Message-ID", "date"])
        #expect(!signer.signedHeaders.contains("message-id") && !signer.signedHeaders.contains("date"))
        #expect(signer.signedHeaders.contains("list-unsubscribe") && signer.signedHeaders.contains("list-unsubscribe-post"))
        let message = TransportTestSupport.message(extraHeaders: Self.listHeaders)
        let signed = try signer.sign(message)
        #expect(try verify(signed, key: Self.edKey).ok)
        // The relay may now replace both without breaking it.
        var text = String(decoding: signed, as: UTF8.self)
        text = text.replacingOccurrences(of: "Date: Fri, 27 Nov 2026 12:00:00 +0000", with: "Date: Sat, 28 Nov 2026 09:00:00 +0000")
        let idLine = try #require(text.components(separatedBy: "\r\n").first { $0.hasPrefix("Message-ID:") })
        text = text.replacingOccurrences(of: idLine, with: "Message-ID: <0100abc@email.amazonses.com>")
        #expect(try verify(Array(text.utf8), key: Self.edKey).ok)
    }

    @Test("non-ASCII encoded headers, folded headers, long lines, odd whitespace", arguments: [DKIMTests.rsaKey, DKIMTests.edKey].map { KeyBox(key: $0) })
    func awkwardMessages(box: KeyBox) throws {
        let signer = DKIMSigner(domain: "example.org", selector: "s1", key: box.key)
        let longLine = String(repeating: "Lorem ipsum dolor sit amet, ", count: 200)  // 5,600 characters, no break
        let body = "Grüße aus Köln \t  with   spaces   \r\n\r\n\r\n" + longLine + "\r\n  indented\tline\r\n\r\n\r\n\r\n"
        let message = TransportTestSupport.message(
            from: "=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.org>",
            to: "\"Zoë\"  <zoe@example.net>",
            subject: "=?UTF-8?B?w4ltaWxlIMOgIFrDvHJpY2g6IGxhIGxldHRyZSBkZSBub3ZlbWJyZQ==?=\r\n =?UTF-8?B?IChzdWl0ZSk=?=",
            extraHeaders: Self.listHeaders + ["X-Folded: one\r\n\t two   three  "],
            body: body)
        let signed = try signer.sign(message)
        let result = try verify(signed, key: box.key)
        #expect(result.ok, "dkimpy said: \(result.output)")
    }

    @Test("a tampered body or header fails verification")
    func tamperedFails() throws {
        let signer = DKIMSigner(domain: "example.org", selector: "s1", key: Self.rsaKey)
        let signed = try signer.sign(TransportTestSupport.message(body: "Pay 10 EUR.\r\n"))
        var text = String(decoding: signed, as: UTF8.self)
        text = text.replacingOccurrences(of: "Pay 10 EUR.", with: "Pay 99 EUR.")
        #expect(try !verify(Array(text.utf8), key: Self.rsaKey).ok)
        var header = String(decoding: signed, as: UTF8.self)
        header = header.replacingOccurrences(of: "Subject: Hello", with: "Subject: Hellp")
        #expect(try !verify(Array(header.utf8), key: Self.rsaKey).ok)
        // Whitespace changes are tolerated by relaxed canonicalisation.
        var relaxed = String(decoding: signed, as: UTF8.self)
        relaxed = relaxed.replacingOccurrences(of: "Pay 10 EUR.", with: "Pay   10 EUR.   ")
        #expect(try verify(Array(relaxed.utf8), key: Self.rsaKey).ok)
    }

    @Test("relaxed body canonicalisation matches RFC 6376 §3.4.4 examples")
    func relaxedBodyHash() throws {
        // RFC 6376 §3.4.5: " C \r\nD \t E\r\n\r\n\r\n" relaxes to " C\r\nD E\r\n".
        let signer = DKIMSigner(domain: "example.org", selector: "s1", key: Self.edKey)
        let a = try signer.signatureHeader(for: Array("From: a@b\r\n\r\n C \r\nD \t E\r\n\r\n\r\n".utf8))
        let b = try signer.signatureHeader(for: Array("From: a@b\r\n\r\n C\r\nD E\r\n".utf8))
        func bh(_ s: String) -> Substring { s.split(separator: "bh=")[1].prefix(44) }
        #expect(bh(a) == bh(b))
        // sha256 of the empty string: an empty body hashes as empty (relaxed).
        let empty = try signer.signatureHeader(for: Array("From: a@b\r\n\r\n\r\n\r\n".utf8))
        #expect(bh(empty) == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
    }

    @Test("PEM round trip, key type detection, DNS record split into 255-char strings")
    func keyRoundTrip() throws {
        for key in [Self.rsaKey, Self.edKey] {
            let pem = try key.privateKeyPEM()
            let parsed = try DKIMKey(pem: Array(pem.utf8))
            #expect(parsed.algorithm == key.algorithm)
            #expect(try parsed.publicKeyBase64() == key.publicKeyBase64())
        }
        #expect(Self.rsaKey.bits == 2048)
        let record = try Self.rsaKey.dnsRecord(selector: "s1", domain: "example.org")
        #expect(record.hasPrefix("s1._domainkey.example.org IN TXT ( \"v=DKIM1; k=rsa; p="))
        let strings = record.split(separator: "\"").enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        #expect(strings.count == 2)
        #expect(strings.allSatisfy { $0.count <= 255 })
        #expect(try Self.edKey.dnsRecord(selector: "e", domain: "d.org").hasPrefix("e._domainkey.d.org IN TXT \"v=DKIM1; k=ed25519; p="))
        #expect(throws: DKIMError.self) { try DKIMKey(pem: Array("not a key".utf8)) }
    }

    @Test("configuration from the environment")
    func environment() throws {
        #expect(try DKIMSigner.fromEnvironment([:]) == nil)
        #expect(throws: DKIMError.self) { try DKIMSigner.fromEnvironment(["LISTCTL_DKIM_DOMAIN": "example.org"]) }
        let dir = try TransportTestSupport.scratchDirectory("dkimenv")
        let file = dir.appendingPathComponent("k.pem").path
        try Data(try Self.edKey.privateKeyPEM().utf8).write(to: URL(fileURLWithPath: file))
        let signer = try #require(try DKIMSigner.fromEnvironment([
            "LISTCTL_DKIM_DOMAIN": "example.org", "LISTCTL_DKIM_SELECTOR": "s", "LISTCTL_DKIM_KEY_FILE": file,
        ]))
        #expect(signer.key.algorithm == .ed25519SHA256)
    }
}

/// Lets a key be a test argument.
struct KeyBox: Sendable, CustomTestStringConvertible {
    let key: DKIMKey
    var testDescription: String { key.algorithm.rawValue }
}
