import Foundation
import Mailer
import Testing

@Suite("Transport configuration (LISTCTL_TRANSPORT)")
struct TransportConfigurationTests {
    @Test("SMTP URLs: user, percent-encoded password, port, parameters; the secret never shows")
    func smtp() throws {
        let c = try TransportConfiguration.parse("smtp://alice:p%40ss%3Aword@mail.example.org:2525?connections=8&timeout=30")
        #expect(c.scheme == .smtp)
        #expect(c.host == "mail.example.org" && c.port == 2525 && c.username == "alice")
        #expect(c.connections == 8)
        #expect(c.description == "smtp://alice:***@mail.example.org:2525?connections=8&timeout=30")
        #expect(!c.description.contains("p@ss"))
        let slash = try TransportConfiguration.parse("smtp://bob:pa/ss:wd@relay.example.org:587")
        #expect(slash.host == "relay.example.org" && slash.port == 587 && slash.username == "bob")
        let s = try TransportConfiguration.parse("smtps://relay.example.org")
        #expect(s.scheme == .smtps && s.port == nil && s.connections == 4)
    }

    @Test("providers: the lone userinfo is the secret")
    func providers() throws {
        let postmark = try TransportConfiguration.parse("postmark://abc-token@")
        #expect(postmark.scheme == .postmark && postmark.username == nil)
        #expect(postmark.description == "postmark://***@")
        let mailgun = try TransportConfiguration.parse("mailgun://key-123@mg.example.org?endpoint=https://api.eu.mailgun.net")
        #expect(mailgun.host == "mg.example.org" && mailgun.parameters["endpoint"] == "https://api.eu.mailgun.net")
        let ses = try TransportConfiguration.parse("ses://AKID:se%2Fcret@eu-west-1")
        #expect(ses.username == "AKID" && ses.host == "eu-west-1" && ses.description == "ses://AKID:***@eu-west-1")
        _ = try TransportConfiguration.parse("sendgrid://SG.key@")
        _ = try TransportConfiguration.parse("resend://re_key@")
    }

    @Test("outbox paths and the default")
    func outbox() throws {
        #expect(try TransportConfiguration.parse("outbox:///var/mail/out").path == "/var/mail/out")
        #expect(try TransportConfiguration.parse("outbox://./outbox").path == "./outbox")
        let (configuration, notice) = try TransportConfiguration.fromEnvironment([:])
        #expect(configuration.scheme == .outbox && configuration.path == "./outbox")
        #expect(notice?.contains("nothing is sent") == true)
        let (_, none) = try TransportConfiguration.fromEnvironment(["LISTCTL_TRANSPORT": "smtp://h?tls=none"])
        #expect(none == nil)
        let dir = try TransportTestSupport.scratchDirectory("transport-file")
        let file = dir.appendingPathComponent("transport").path
        try Data("  postmark://from-a-file@\n".utf8).write(to: URL(fileURLWithPath: file))
        let (fromFile, quiet) = try TransportConfiguration.fromEnvironment(["LISTCTL_TRANSPORT_FILE": file])
        #expect(fromFile.scheme == .postmark && quiet == nil)
        #expect(throws: TransportError.self) { try TransportConfiguration.fromEnvironment(["LISTCTL_TRANSPORT_FILE": dir.path + "/missing"]) }
    }

    @Test("mistakes are explained", arguments: [
        ("mail.example.org:25", "no scheme"),
        ("ftp://host", "not supported"),
        ("smtp://host?tsl=none", "unknown parameter(s) tsl"),
        ("smtp://:25", "needs a host"),
        ("smtp://user@host", "has a user but no password"),
        ("smtp://host:99999", "bad port"),
        ("smtp://user:s3cr3tvalue@host:x", "bad port after the host"),
        ("ses://KEY@us-east-1", "access key, secret and region"),
        ("postmark://", "needs an API token"),
        ("mailgun://key@", "sending domain"),
        ("smtp://host?connections=0", "positive whole number"),
        ("resend://k@?endpoint=ftp://x", "http:// or https://"),
    ])
    func mistakes(url: String, expected: String) {
        #expect {
            try TransportConfiguration.parse(url)
        } throws: { error in
            let error = try #require(error as? TransportError)
            return error.code == .configuration && error.message.contains(expected) && !error.message.contains("s3cr3tvalue")
        }
    }
}

@Suite("Outbox transport")
struct TransportOutboxTests {
    @Test("messages land in new/ of a Maildir, uniquely named, nothing left in tmp/")
    func maildir() async throws {
        let dir = try TransportTestSupport.scratchDirectory("outbox")
        let transport = try TransportConfiguration.parse("outbox://\(dir.path)").makeTransport()
        let messages = (0..<50).map { i in
            OutgoingMessage(
                envelopeFrom: "b@example.org", recipient: "r\(i)@example.net",
                data: TransportTestSupport.message(to: "r\(i)@example.net"), messageID: "m\(i)@example.org")
        }
        try await withThrowingTaskGroup(of: TransportReceipt.self) { group in
            for message in messages { group.addTask { try await transport.send(message) } }
            for try await receipt in group { #expect(receipt.code == 250) }
        }
        await transport.close()
        let new = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("new").path)
        #expect(new.count == 50)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("tmp").path).isEmpty)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("cur").path))
        let contents = try Set(new.map { try Data(contentsOf: dir.appendingPathComponent("new").appendingPathComponent($0)) })
        #expect(contents == Set(messages.map { Data($0.data) }))
    }
}
