import Foundation
import Mailer
import Testing

/// SES against moto_server; Postmark, Mailgun, SendGrid and Resend against
/// Tests/tools/provider_mock.py. Both started by scripts/test-servers.sh.
@Suite("HTTP provider transports")
struct HTTPProviderTransportTests {
    static func transport(_ url: String) throws -> any MailTransport {
        try TransportConfiguration.parse(url).makeTransport()
    }

    static let html = "<p>Grüße, <b>reader</b> — a line long enough to be wrapped by quoted-printable encoding at seventy-six characters.</p>"
    static let text = "Grüße, reader — a line long enough to be wrapped by quoted-printable encoding at seventy-six characters."

    /// A multipart/alternative message like the MIME builder makes: encoded
    /// subject, quoted-printable parts, one-click unsubscribe headers.
    static func message(to recipient: String) -> OutgoingMessage {
        let id = "\(UUID().uuidString.lowercased())@example.org"
        func qp(_ s: String) -> String {
            var out = "", line = 0
            for byte in s.utf8 {
                let piece = (byte >= 33 && byte <= 126 && byte != 61) || byte == 32 ? String(UnicodeScalar(byte)) : String(format: "=%02X", byte)
                if line + piece.count > 75 { out += "=\r\n"; line = 0 }
                out += piece
                line += piece.count
            }
            return out
        }
        let raw = [
            "From: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_Letter?= <writer@example.org>",
            "To: \(recipient)",
            "Reply-To: replies@example.org",
            "Subject: =?UTF-8?B?w4ltaWxlIMOgIFrDvHJpY2g=?= (1/2)",
            "Date: Fri, 27 Nov 2026 12:00:00 +0000",
            "Message-ID: <\(id)>",
            "List-Id: The Letter <letter.example.org>",
            "List-Unsubscribe: <https://example.org/u/t0k3n>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "X-Listctl-Trace: issue1.sub2.1",
            "MIME-Version: 1.0",
            "Content-Type: multipart/alternative; boundary=\"b1\"",
            "",
            "--b1",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
            "",
            qp(text),
            "--b1",
            "Content-Type: text/html; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
            "",
            qp(html),
            "--b1--",
            "",
        ].joined(separator: "\r\n")
        return OutgoingMessage(envelopeFrom: "bounces@example.org", recipient: recipient, data: Array(raw.utf8), messageID: id)
    }

    static func recipient(_ local: String = "r") -> String {
        "\(local)@example.net".replacingOccurrences(of: "r@", with: "r\(UUID().uuidString.prefix(8).lowercased())@")
    }

    /// The mock's record of the request for `recipient`.
    static func recorded(_ provider: String, _ recipient: String) throws -> [String: Any] {
        let dir = try TransportTestSupport.environment("LISTCTL_TEST_HTTP_MOCK_RECORD")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("\(provider)-\(recipient)-") }
        let file = try #require(files.first, "the mock recorded no \(provider) request for \(recipient)")
        let data = try Data(contentsOf: URL(fileURLWithPath: dir).appendingPathComponent(file))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    static func mockURL(_ scheme: String, userinfo: String) throws -> String {
        let endpoint = try TransportTestSupport.environment("LISTCTL_TEST_HTTP_MOCK")
        return "\(scheme)://\(userinfo)@\(scheme == "mailgun" ? "mg.example.org" : "")?endpoint=\(endpoint)"
    }

    // MARK: SES

    @Test("SES v2: the raw message arrives at moto intact and DKIM-signed")
    func ses() async throws {
        let endpoint = try TransportTestSupport.environment("LISTCTL_TEST_SES_ENDPOINT")
        let signer = DKIMSigner(domain: "example.org", selector: "s1", key: DKIMTests.edKey)
        let transport = try TransportConfiguration.parse("ses://AKIDLISTCTLTEST:listctl%2Btest%2Fsecret@us-east-1?endpoint=\(endpoint)")
            .makeTransport(signer: signer)
        let message = Self.message(to: Self.recipient())
        let receipt = try await transport.send(message)
        await transport.close()
        let id = try #require(receipt.providerMessageID)
        let script = """
            import json, sys, urllib.request
            d = json.load(urllib.request.urlopen(sys.argv[1] + "/moto-api/data.json"))
            m = [m for m in d["ses"]["RawMessage"] if m["id"] == sys.argv[2]]
            sys.stdout.write(json.dumps(m[0]) if m else "")
            """
        let result = try TransportTestSupport.run(["python3", "-c", script, endpoint, id])
        let stored = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], "\(result.output)")
        let raw = stored["raw_data"] as? String ?? ""
        // The DKIM-Signature field, then the message exactly as built.
        #expect(raw.hasPrefix("DKIM-Signature: v=1; a=ed25519-sha256;"))
        #expect(raw.hasSuffix(String(decoding: message.data, as: UTF8.self)), "the raw message must arrive as built")
        let verified = try DKIMTests().verify(Array(raw.utf8), key: DKIMTests.edKey)
        #expect(verified.ok, "dkimpy said: \(verified.output)")
        #expect((stored["destinations"] as? [String])?.contains(message.recipient) == true)
        // SES replaces Message-ID and Date, so they are not signed (the rest is).
        let signature = raw.components(separatedBy: "\r\n\r\n")[0].replacingOccurrences(of: "\r\n\t", with: "")
        #expect(signature.contains("h=from:to:subject:list-id:list-unsubscribe:list-unsubscribe-post:mime-version:content-type;"), "\(signature.prefix(400))")
        #expect(raw.contains("Message-ID: <\(message.messageID)>"))
    }

    @Test("SES: an unverified sender is a permanent rejection; a wrong port is temporary")
    func sesFailures() async throws {
        let endpoint = try TransportTestSupport.environment("LISTCTL_TEST_SES_ENDPOINT")
        let transport = try Self.transport("ses://AKIDLISTCTLTEST:secret@us-east-1?endpoint=\(endpoint)")
        var message = Self.message(to: Self.recipient())
        message.envelopeFrom = "someone@unverified.example"
        await #expect { try await transport.send(message) } throws: { error in
            let error = try #require(error as? TransportError)
            return error.classification == .permanent && error.httpStatus == 400 && !"\(error)".contains("secret")
        }
        await transport.close()

        let closed = try Self.transport("ses://AKID:secret@us-east-1?endpoint=http://127.0.0.1:9&connect_timeout=2")
        await #expect { try await closed.send(Self.message(to: Self.recipient())) } throws: { error in
            (error as? TransportError).map { $0.classification == .temporary && $0.code == .connectionFailed } ?? false
        }
        await closed.close()
    }

    // MARK: Raw MIME: Mailgun

    @Test("Mailgun: messages.mime gets the raw message (our Message-ID in it), DKIM-signed, and the recipient")
    func mailgun() async throws {
        let token = try TransportTestSupport.environment("LISTCTL_TEST_HTTP_MOCK_TOKEN")
        let transport = try TransportConfiguration.parse(try Self.mockURL("mailgun", userinfo: token))
            .makeTransport(signer: DKIMSigner(domain: "example.org", selector: "s1", key: DKIMTests.rsaKey))
        let message = Self.message(to: Self.recipient())
        let receipt = try await transport.send(message)
        await transport.close()
        #expect(receipt.code == 200 && receipt.providerMessageID?.hasSuffix("@mock>") == true)
        let record = try Self.recorded("mailgun", message.recipient)
        let body = record["body"] as? [String: String] ?? [:]
        #expect(body["to"] == message.recipient)
        let uploaded = body["message"] ?? ""
        #expect(uploaded.hasPrefix("DKIM-Signature: v=1; a=rsa-sha256;"))
        #expect(uploaded.hasSuffix(String(decoding: message.data, as: UTF8.self)))
        #expect(uploaded.contains("\r\nMessage-ID: <\(message.messageID)>\r\n"))
        let verified = try DKIMTests().verify(Array(uploaded.utf8), key: DKIMTests.rsaKey)
        #expect(verified.ok, "dkimpy said: \(verified.output)")
    }

    // MARK: JSON providers

    @Test("Postmark: decoded subject, both bodies, Message-ID and List-Unsubscribe headers")
    func postmark() async throws {
        let token = try TransportTestSupport.environment("LISTCTL_TEST_HTTP_MOCK_TOKEN")
        let transport = try Self.transport(try Self.mockURL("postmark", userinfo: token) + "&stream=broadcast")
        let message = Self.message(to: Self.recipient())
        let receipt = try await transport.send(message)
        await transport.close()
        #expect(receipt.providerMessageID != nil)
        let body = try Self.recorded("postmark", message.recipient)["body"] as? [String: Any] ?? [:]
        #expect(body["Subject"] as? String == "Émile à Zürich (1/2)")
        #expect(body["From"] as? String == "Grüße Letter <writer@example.org>")
        #expect(body["HtmlBody"] as? String == Self.html)
        #expect(body["TextBody"] as? String == Self.text)
        #expect(body["ReplyTo"] as? String == "replies@example.org")
        let headers = body["Headers"] as? [[String: String]] ?? []
        #expect(headers.contains { $0["Name"] == "List-Unsubscribe-Post" && $0["Value"] == "List-Unsubscribe=One-Click" })
        #expect(headers.contains { $0["Name"] == "List-Unsubscribe" && $0["Value"] == "<https://example.org/u/t0k3n>" })
        #expect(headers.contains { $0["Name"] == "X-Listctl-Trace" && $0["Value"] == "issue1.sub2.1" })
        #expect(headers.contains { $0["Name"] == "Message-ID" && $0["Value"] == "<\(message.messageID)>" })
        #expect(headers.contains { $0["Name"] == "List-Id" && $0["Value"] == "The Letter <letter.example.org>" })
        #expect(body["MessageStream"] as? String == "broadcast")
    }

    @Test("SendGrid: personalizations, from name, content parts, Message-ID and List-* headers; 202 with X-Message-Id")
    func sendgrid() async throws {
        let token = try TransportTestSupport.environment("LISTCTL_TEST_HTTP_MOCK_TOKEN")
        let transport = try Self.transport(try Self.mockURL("sendgrid", userinfo: token))
        let message = Self.message(to: Self.recipient())
        let receipt = try await transport.send(message)
        await transport.close()
        #expect(receipt.code == 202 && receipt.providerMessageID != nil)
        let body = try Self.recorded("sendgrid", message.recipient)["body"] as? [String: Any] ?? [:]
        #expect(body["from"] as? [String: String] == ["email": "writer@example.org", "name": "Grüße Letter"])
        #expect(body["subject"] as? String == "Émile à Zürich (1/2)")
        let content = body["content"] as? [[String: String]] ?? []
        #expect(content.map { $0["type"] ?? "" } == ["text/plain", "text/html"])
        #expect(content.last?["value"] == Self.html)
        let headers = body["headers"] as? [String: String] ?? [:]
        #expect(headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click")
        #expect(headers["List-Unsubscribe"] == "<https://example.org/u/t0k3n>")
        #expect(headers["List-Id"] == "The Letter <letter.example.org>")
        #expect(headers["Message-ID"] == "<\(message.messageID)>")
    }

    @Test("Resend: from, to, html, text, Message-ID and List-* headers")
    func resend() async throws {
        let token = try TransportTestSupport.environment("LISTCTL_TEST_HTTP_MOCK_TOKEN")
        let transport = try Self.transport(try Self.mockURL("resend", userinfo: token))
        let message = Self.message(to: Self.recipient())
        _ = try await transport.send(message)
        await transport.close()
        let body = try Self.recorded("resend", message.recipient)["body"] as? [String: Any] ?? [:]
        #expect(body["to"] as? [String] == [message.recipient])
        #expect(body["html"] as? String == Self.html)
        #expect(body["text"] as? String == Self.text)
        let headers = body["headers"] as? [String: String] ?? [:]
        #expect(headers["List-Unsubscribe"] == "<https://example.org/u/t0k3n>")
        #expect(headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click")
        #expect(headers["List-Id"] == "The Letter <letter.example.org>")
        #expect(headers["Message-ID"] == "<\(message.messageID)>")
    }

    // MARK: Tracking off per message

    /// Postmark's fields as sent; decoding fails if either is missing or of another JSON type.
    struct PostmarkTracking: Decodable {
        var trackOpens: Bool
        var trackLinks: String
        enum CodingKeys: String, CodingKey {
            case trackOpens = "TrackOpens", trackLinks = "TrackLinks"
        }
    }

    /// SendGrid's `tracking_settings` as sent (snake case); every setting and flag required, booleans only.
    struct SendGridTracking: Decodable {
        struct Switch: Decodable { var enable: Bool }
        struct Clicks: Decodable {
            var enable: Bool
            var enableText: Bool
        }
        struct Settings: Decodable {
            var clickTracking: Clicks
            var openTracking: Switch
            var subscriptionTracking: Switch
            var ganalytics: Switch
        }
        var trackingSettings: Settings
    }

    @Test("open and click tracking are switched off in every request (Postmark, SendGrid, Mailgun)", arguments: ["postmark", "sendgrid", "mailgun"])
    func trackingOff(provider: String) async throws {
        let token = try TransportTestSupport.environment("LISTCTL_TEST_HTTP_MOCK_TOKEN")
        let transport = try Self.transport(try Self.mockURL(provider, userinfo: token))
        let message = Self.message(to: Self.recipient())
        _ = try await transport.send(message)
        await transport.close()
        let record = try Self.recorded(provider, message.recipient)
        // The body exactly as the mock received it, not the mock's reading of it.
        let raw = try #require(Data(base64Encoded: record["raw"] as? String ?? ""), "the mock recorded no raw body")
        switch provider {
        case "postmark":
            let sent = try JSONDecoder().decode(PostmarkTracking.self, from: raw)
            #expect(sent.trackOpens == false)
            #expect(sent.trackLinks == "None")
        case "sendgrid":
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            let sent = try decoder.decode(SendGridTracking.self, from: raw).trackingSettings
            #expect(sent.clickTracking.enable == false && sent.clickTracking.enableText == false)
            #expect(sent.openTracking.enable == false)
            #expect(sent.subscriptionTracking.enable == false)
            #expect(sent.ganalytics.enable == false)
        default:
            let form = (record["form"] as? [[String]] ?? []).filter { $0.first?.hasPrefix("o:") == true }
            #expect(form == [["o:tracking", "no"], ["o:tracking-clicks", "no"], ["o:tracking-opens", "no"]], "the o: fields sent: \(form)")
            // The raw message still follows, unchanged.
            #expect((record["body"] as? [String: String])?["message"] == String(decoding: message.data, as: UTF8.self))
        }
    }

    @Test("429 (Retry-After), 503, 422, a drop after the body and a wrong token are classified", arguments: ["postmark", "mailgun", "sendgrid", "resend"])
    func failures(provider: String) async throws {
        let token = try TransportTestSupport.environment("LISTCTL_TEST_HTTP_MOCK_TOKEN")
        let transport = try Self.transport(try Self.mockURL(provider, userinfo: token))
        func failure(_ local: String, _ transport: any MailTransport) async -> TransportError? {
            do {
                _ = try await transport.send(Self.message(to: Self.recipient(local)))
                return nil
            } catch { return error }
        }
        let limited = try #require(await failure("ratelimit", transport))
        #expect(limited.classification == .temporary && limited.code == .rateLimited && limited.httpStatus == 429)
        #expect(limited.retryAfter == .seconds(7))
        let unavailable = try #require(await failure("unavailable", transport))
        #expect(unavailable.classification == .temporary && unavailable.httpStatus == 503)
        // The body was read, then the line went dead before any status: maybe accepted.
        let dropped = try #require(await failure("drop", transport))
        #expect(dropped.classification == .unknown && dropped.httpStatus == nil, "\(dropped)")
        let invalid = try #require(await failure("invalid", transport))
        #expect(invalid.classification == .permanent && invalid.httpStatus == 422 && invalid.code == .rejected)
        if provider == "postmark" {
            let inactive = try #require(await failure("inactive", transport))
            #expect(inactive.classification == .permanent && inactive.code == .recipientRejected)
        }
        await transport.close()

        let wrongToken = "wrong-\(UUID().uuidString)"
        let denied = try Self.transport(try Self.mockURL(provider, userinfo: wrongToken))
        let error = try #require(await failure("r", denied))
        #expect(error.classification == .permanent && error.code == .authenticationFailed && error.httpStatus == 401)
        #expect(!"\(error)".contains(wrongToken), "credentials must not appear in errors")
        await denied.close()
    }
}
