import Foundation
import TestSupport
import Testing

@testable import ListService

@Suite("Webhooks: SendGrid (ECDSA P-256 over timestamp + body)")
struct SendGridWebhookTests {
    typealias T = WebhookTesting

    /// A P-256 key pair made by openssl: the private key's path and the public key as SendGrid shows it (base64 DER).
    static func keyPair() async throws -> (privateKey: String, publicKey: String) {
        let folder = try makeTemporaryDirectory("sendgrid-key")
        let path = folder.appendingPathComponent("key.pem").path
        _ = try await T.openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path])
        let der = try await T.openssl(["ec", "-in", path, "-pubout", "-outform", "DER"])
        return (path, T.base64(der))
    }

    static func headers(_ body: [UInt8], key: String, timestamp: Date = Date()) async throws -> [String: String] {
        let stamp = String(Int(timestamp.timeIntervalSince1970))
        let signature = try await T.sign(Array(stamp.utf8) + body, keyPath: key)
        return ["X-Twilio-Email-Event-Webhook-Signature": T.base64(signature), "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
                "Content-Type": "application/json"]
    }

    @Test("a signed batch: bounce → hard, blocked → soft, dropped Bounced Address → hard, spamreport → complaint; processed, deferred, other drops ignored; sg_message_id cut to X-Message-Id")
    func events() async throws {
        let key = try await Self.keyPair()
        let sink = T.CollectingSink()
        let routes = try T.routes(WebhookSettings(sendgrid: key.publicKey), sink: sink)
        let body = try T.fixture("sendgrid-events.json")
        #expect(try await T.status(routes, .sendgrid, headers: try await Self.headers(body, key: key.privateKey), body: body) == 200)
        let notices = await sink.notices
        #expect(notices.map(\.kind) == [.hardBounce, .softBounce, .hardBounce, .complaint])
        #expect(notices.map(\.recipient) == ["ann@example.net", "cy@example.net", "fay@example.net", "dee@example.net"])
        #expect(notices.map(\.providerMessageID) == ["W86EgYT6SQKk0lRflfLRsA", "14c5d75ce94.dfd.64b469", "14c5d75ce95.dfd.64b469", "14c5d75ce97.dfd.64b469"])
        #expect(notices[0].messageID == "listctl.7.1.AbCdEf0123@example.org")
        #expect(notices[0].detail.contains("5.1.1") && notices[0].detail.contains("does not exist"), "\(notices[0].detail)")
        #expect(notices[0].occurredAt == Date(timeIntervalSince1970: 1764749526))
        #expect(notices.allSatisfy { $0.source == "sendgrid" })
    }

    @Test("tampered body, another key's signature, the wrong verification key, a stale timestamp, a replay, no headers: 401 and nothing recorded")
    func refusals() async throws {
        let key = try await Self.keyPair(), other = try await Self.keyPair()
        let sink = T.CollectingSink()
        let routes = try T.routes(WebhookSettings(sendgrid: key.publicKey), sink: sink)
        let body = try T.fixture("sendgrid-events.json")
        let good = try await Self.headers(body, key: key.privateKey)

        let tampered = Array(String(decoding: body, as: UTF8.self).replacingOccurrences(of: "ann@example.net", with: "victim@example.net").utf8)
        #expect(try await T.status(routes, .sendgrid, headers: good, body: tampered) == 401, "tampered body")
        #expect(try await T.status(routes, .sendgrid, headers: try await Self.headers(body, key: other.privateKey), body: body) == 401, "another key")
        var shifted = good
        shifted["X-Twilio-Email-Event-Webhook-Timestamp"] = String((Int(good["X-Twilio-Email-Event-Webhook-Timestamp"] ?? "") ?? 0) + 1)
        #expect(try await T.status(routes, .sendgrid, headers: shifted, body: body) == 401, "timestamp not the signed one")
        let stale = try await Self.headers(body, key: key.privateKey, timestamp: Date().addingTimeInterval(-10 * 60))
        #expect(try await T.status(routes, .sendgrid, headers: stale, body: body) == 401, "stale")
        #expect(try await T.status(routes, .sendgrid, headers: ["Content-Type": "application/json"], body: body) == 401, "unsigned")
        var garbage = good
        garbage["X-Twilio-Email-Event-Webhook-Signature"] = "not base64!"
        #expect(try await T.status(routes, .sendgrid, headers: garbage, body: body) == 401)

        let wrongSink = T.CollectingSink()
        let wrongKey = try T.routes(WebhookSettings(sendgrid: other.publicKey), sink: wrongSink)
        #expect(try await T.status(wrongKey, .sendgrid, headers: good, body: body) == 401, "wrong verification key")
        let recorded = await sink.notices, recordedByOther = await wrongSink.notices
        #expect(recorded.isEmpty && recordedByOther.isEmpty)

        #expect(try await T.status(routes, .sendgrid, headers: good, body: body) == 200)
        #expect(try await T.status(routes, .sendgrid, headers: good, body: body) == 401, "replayed")
        #expect(await sink.notices.count == 4)

        let object = Array("{\"event\": \"bounce\"}".utf8)
        #expect(try await T.status(routes, .sendgrid, headers: try await Self.headers(object, key: key.privateKey), body: object) == 400,
                "signed, but not an array")
    }

    @Test("the verification key must be a base64 P-256 public key (PEM armour allowed); an RSA key or junk is refused at start")
    func configuration() async throws {
        let key = try await Self.keyPair()
        let pem = "-----BEGIN PUBLIC KEY-----\n" + key.publicKey + "\n-----END PUBLIC KEY-----\n"
        #expect(try WebhookSettings.fromEnvironment(["LISTCTL_WEBHOOK_SENDGRID_SECRET": pem]).enabled == [.sendgrid])
        let folder = try makeTemporaryDirectory("sendgrid-rsa")
        let rsa = folder.appendingPathComponent("rsa.pem").path
        _ = try await T.openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", rsa])
        let rsaPublic = T.base64(try await T.openssl(["pkey", "-in", rsa, "-pubout", "-outform", "DER"]))
        for bad in [rsaPublic, "not-a-key", T.base64(Array("hello".utf8))] {
            #expect(throws: ListServiceError.self) { try WebhookSettings.fromEnvironment(["LISTCTL_WEBHOOK_SENDGRID_SECRET": bad]) }
        }
        #expect(SendGridWebhook.sendMessageID("14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0") == "14c5d75ce93.dfd.64b469")
        #expect(SendGridWebhook.sendMessageID("W86EgYT6SQKk0lRflfLRsA.recvd-5645d9c87f-78xgx-1-5CFFE9BB-27.0") == "W86EgYT6SQKk0lRflfLRsA")
        #expect(SendGridWebhook.sendMessageID("W86EgYT6SQKk0lRflfLRsA") == "W86EgYT6SQKk0lRflfLRsA")
    }
}
