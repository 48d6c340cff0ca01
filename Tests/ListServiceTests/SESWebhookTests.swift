import Foundation
import Mailer
import TestSupport
import Testing

@testable import ListService

@Suite("Webhooks: SES through SNS (RSA signature, certificate fetched over HTTPS from an allowed host, topic, subscription)")
struct SESWebhookTests {
    typealias T = WebhookTesting
    static let topic = "arn:aws:sns:us-east-1:123456789012:listctl-ses"

    /// Tests/tools/sns_mock.py: a test CA, SNS signing keys and certificates, served over HTTPS on loopback.
    struct SNSMock: Sendable {
        let port: Int
        let folder: URL
        var base: String { "https://127.0.0.1:\(port)" }
        var caFile: String { folder.appendingPathComponent("ca.pem").path }
        var signingKey: String { folder.appendingPathComponent("signing.key").path }
        var otherKey: String { folder.appendingPathComponent("other.key").path }
        var certificateURL: String { base + "/SimpleNotificationService-test.pem" }

        func log(_ name: String) -> [String] {
            ((try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        var requests: [String] { log("requests.log") }
        var confirmed: [String] { log("confirmed.log") }
    }

    static func withSNSMock<R>(isolation: isolated (any Actor)? = #isolation, _ body: (SNSMock, HTTPSFetcher) async throws -> R) async throws -> R {
        let folder = try makeTemporaryDirectory("sns-mock")
        let portFile = folder.appendingPathComponent("port")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", T.tools.appendingPathComponent("sns_mock.py").path, "--dir", folder.path, "--port-file", portFile.path]
        try process.run()
        let port = try await onThread { () -> Int? in
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline, process.isRunning {
                if let text = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(text) { return port }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return nil
        }
        let fetcher = HTTPSFetcher(caFile: folder.appendingPathComponent("ca.pem").path, timeoutSeconds: 5)
        func stop() async throws {
            await fetcher.shutdown()
            process.terminate()
            // SIGKILL if it is still there after 5 s (a SIGTERM it never saw must not hang the suite).
            let pid = process.processIdentifier
            try await onThread {
                for _ in 0..<50 where process.isRunning { Thread.sleep(forTimeInterval: 0.1) }
                if process.isRunning { kill(pid, SIGKILL) }
                process.waitUntilExit()
            }
        }
        guard let port else {
            try await stop()
            throw T.CommandFailed(description: "sns_mock.py did not start (is the cryptography package installed? scripts/setup.sh)")
        }
        do {
            let value = try await body(SNSMock(port: port, folder: folder), fetcher)
            try await stop()
            return value
        } catch {
            try? await stop()
            throw error
        }
    }

    static func settings(_ mock: SNSMock, topics: [String] = [topic], basicAuth: String? = nil) -> WebhookSettings {
        WebhookSettings(ses: .init(topicARNs: topics, basicAuth: basicAuth, caFile: mock.caFile, certificateHosts: ["127.0.0.1"]))
    }

    static func timestamp(_ date: Date = Date()) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// An SNS message of `fields`, signed as SNS documents (the canonical string of the type's
    /// fields, SHA1withRSA for version 1, SHA256withRSA for 2) with the key at `key`, by openssl.
    static func signed(_ fields: [String: String], key: String, version: String = "1") async throws -> [UInt8] {
        let order = fields["Type"] == "Notification"
            ? ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
            : ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
        var canonical = ""
        for name in order { if let value = fields[name] { canonical += "\(name)\n\(value)\n" } }
        let signature = try await T.sign(Array(canonical.utf8), keyPath: key, digest: version == "1" ? "sha1" : "sha256")
        var message = fields
        message["SignatureVersion"] = version
        message["Signature"] = T.base64(signature)
        return try T.json(message)
    }

    static func notification(
        _ mock: SNSMock, message: String, certificate: String? = nil, topic: String = topic, subject: String? = nil,
        sent: Date = Date(), id: String = UUID().uuidString
    ) -> [String: String] {
        var fields = [
            "Type": "Notification", "MessageId": id, "TopicArn": topic, "Message": message, "Timestamp": timestamp(sent),
            "SigningCertURL": certificate ?? mock.certificateURL,
            "UnsubscribeURL": mock.base + "/?Action=Unsubscribe&SubscriptionArn=\(topic):test",
        ]
        if let subject { fields["Subject"] = subject }
        return fields
    }

    static let snsHeaders = ["Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"]

    static func text(_ name: String) throws -> String { String(decoding: try T.fixture(name), as: UTF8.self) }

    @Test("signed bounces (SignatureVersion 1 and 2, with and without Subject), a transient bounce, a complaint; a delivery ignored; the certificate fetched once")
    func notifications() async throws {
        try await Self.withSNSMock { mock, fetcher in
            let sink = T.CollectingSink()
            let routes = try T.routes(Self.settings(mock), sink: sink, fetcher: fetcher)
            let bounce = try Self.text("ses-bounce.json")
            for (version, subject) in [("1", nil), ("2", nil), ("1", "Amazon SES Email Event Notification")] as [(String, String?)] {
                let body = try await Self.signed(Self.notification(mock, message: bounce, subject: subject), key: mock.signingKey, version: version)
                #expect(try await T.status(routes, .ses, headers: Self.snsHeaders, body: body) == 200, "version \(version), subject \(subject ?? "none")")
            }
            for name in ["ses-transient.json", "ses-complaint.json", "ses-delivery.json"] {
                let body = try await Self.signed(Self.notification(mock, message: try Self.text(name)), key: mock.signingKey)
                #expect(try await T.status(routes, .ses, headers: Self.snsHeaders, body: body) == 200, "\(name)")
            }
            let notices = await sink.notices
            #expect(notices.map(\.kind) == [.hardBounce, .hardBounce, .hardBounce, .hardBounce, .hardBounce, .hardBounce, .softBounce, .complaint])
            #expect(notices.prefix(2).map(\.recipient) == ["ann@example.net", "bob@example.net"], "one notice per bounced recipient")
            let first = try #require(notices.first)
            #expect(first.source == "ses")
            #expect(first.providerMessageID == "0100018c2f1e7b55-3a9c1b2d-4e5f-6a7b-8c9d-0e1f2a3b4c5d-000000")
            #expect(first.trace == "7.42.1" && first.messageID == "listctl.7.1.AbCdEf0123@example.org")
            #expect(first.detail == "Permanent/General 5.1.1 smtp; 550 5.1.1 user unknown", "\(first.detail)")
            #expect(notices[6].recipient == "cy@example.net" && notices[7].recipient == "dee@example.net")
            #expect(notices[7].detail == "complaint (abuse)")
            #expect(mock.requests.filter { $0.hasSuffix(".pem") } == ["/SimpleNotificationService-test.pem"], "fetched once, then cached")
        }
    }

    @Test("tampered, signed by another key, an expired or other certificate, a certificate URL off the allowed hosts (not fetched), stale, a bad SignatureVersion, a replay: 401; another topic: 403; nothing recorded")
    func refusals() async throws {
        try await Self.withSNSMock { mock, fetcher in
            let sink = T.CollectingSink()
            let routes = try T.routes(Self.settings(mock), sink: sink, fetcher: fetcher)
            let bounce = try Self.text("ses-bounce.json")
            func status(_ body: [UInt8]) async throws -> Int { try await T.status(routes, .ses, headers: Self.snsHeaders, body: body) }

            let good = Self.notification(mock, message: bounce)
            var tampered = try #require(try JSONSerialization.jsonObject(with: Data(try await Self.signed(good, key: mock.signingKey))) as? [String: String])
            tampered["Message"] = bounce.replacingOccurrences(of: "ann@example.net", with: "victim@example.net")
            #expect(try await status(try T.json(tampered)) == 401, "tampered Message")
            #expect(try await status(try await Self.signed(good, key: mock.otherKey)) == 401, "another key")
            let other = Self.notification(mock, message: bounce, certificate: mock.base + "/SimpleNotificationService-other.pem")
            #expect(try await status(try await Self.signed(other, key: mock.signingKey)) == 401, "the certificate of another key")
            let expired = Self.notification(mock, message: bounce, certificate: mock.base + "/SimpleNotificationService-expired.pem")
            #expect(try await status(try await Self.signed(expired, key: mock.signingKey)) == 401, "an expired certificate")
            let offHosts = ["https://localhost:\(mock.port)/SimpleNotificationService-test.pem",
                            "http://127.0.0.1:\(mock.port)/SimpleNotificationService-test.pem",
                            "https://127.0.0.1:\(mock.port)/SimpleNotificationService-test.txt",
                            "https://user:pw@127.0.0.1:\(mock.port)/SimpleNotificationService-test.pem"]
            for url in offHosts {
                #expect(try await status(try await Self.signed(Self.notification(mock, message: bounce, certificate: url), key: mock.signingKey)) == 401, "\(url)")
            }
            let stale = Self.notification(mock, message: bounce, sent: Date().addingTimeInterval(-2 * 3600))
            #expect(try await status(try await Self.signed(stale, key: mock.signingKey)) == 401, "two hours old")
            var version = try #require(try JSONSerialization.jsonObject(with: Data(try await Self.signed(good, key: mock.signingKey))) as? [String: String])
            version["SignatureVersion"] = "3"
            #expect(try await status(try T.json(version)) == 401, "SignatureVersion 3")
            #expect(try await status(Array("{\"Type\": \"Notification\"}".utf8)) == 401, "unsigned")
            #expect(try await status(Array("not json".utf8)) == 401, "raw message delivery")
            let foreign = Self.notification(mock, message: bounce, topic: "arn:aws:sns:us-east-1:999999999999:someone-else")
            #expect(try await status(try await Self.signed(foreign, key: mock.signingKey)) == 403, "another topic")
            #expect(await sink.notices.isEmpty, "nothing recorded")
            let fetched = mock.requests
            #expect(!fetched.contains { $0.contains(".txt") }, "\(fetched)")
            #expect(Set(fetched) == ["/SimpleNotificationService-test.pem", "/SimpleNotificationService-other.pem", "/SimpleNotificationService-expired.pem"],
                    "off-host URLs were never fetched: \(fetched)")

            let once = try await Self.signed(good, key: mock.signingKey)
            #expect(try await status(once) == 200)
            #expect(try await status(once) == 401, "replayed MessageId")
            #expect(await sink.notices.count == 2)
        }
    }

    @Test("SubscriptionConfirmation: SubscribeURL fetched once (allowed host), refused off the hosts or for another topic without fetching; a failed confirmation is 502 and can be retried")
    func subscription() async throws {
        try await Self.withSNSMock { mock, fetcher in
            let sink = T.CollectingSink()
            let routes = try T.routes(Self.settings(mock), sink: sink, fetcher: fetcher)
            func confirmation(_ url: String, topic: String = Self.topic, id: String = UUID().uuidString) -> [String: String] {
                ["Type": "SubscriptionConfirmation", "MessageId": id, "Token": "2336412f37fb687f5d51e6e2425dacbba",
                 "TopicArn": topic, "Message": "You have chosen to subscribe to the topic \(topic).\nTo confirm the subscription, visit the SubscribeURL included in this message.",
                 "SubscribeURL": url, "Timestamp": Self.timestamp(), "SigningCertURL": mock.certificateURL]
            }
            let headers = ["Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "SubscriptionConfirmation"]
            let subscribe = mock.base + "/confirm?Action=ConfirmSubscription&TopicArn=\(Self.topic)&Token=2336412f37fb687f5d51e6e2425dacbba"
            #expect(try await T.status(routes, .ses, headers: headers, body: try await Self.signed(confirmation(subscribe), key: mock.signingKey)) == 200)
            #expect(mock.confirmed.count == 1, "\(mock.confirmed)")

            let offHost = "https://localhost:\(mock.port)/confirm?Action=ConfirmSubscription&Token=x"
            #expect(try await T.status(routes, .ses, headers: headers, body: try await Self.signed(confirmation(offHost), key: mock.signingKey)) == 401)
            let foreign = confirmation(subscribe + "&foreign=1", topic: "arn:aws:sns:us-east-1:999999999999:someone-else")
            #expect(try await T.status(routes, .ses, headers: headers, body: try await Self.signed(foreign, key: mock.signingKey)) == 403)
            var tampered = try #require(try JSONSerialization.jsonObject(with: Data(try await Self.signed(confirmation(subscribe), key: mock.signingKey))) as? [String: String])
            tampered["SubscribeURL"] = subscribe + "&evil=1"
            #expect(try await T.status(routes, .ses, headers: headers, body: try T.json(tampered)) == 401, "SubscribeURL is signed")
            #expect(mock.confirmed.count == 1, "no other confirmation was fetched: \(mock.confirmed)")

            let failing = try await Self.signed(confirmation(mock.base + "/confirm-fails?Token=y"), key: mock.signingKey)
            #expect(try await T.status(routes, .ses, headers: headers, body: failing) == 502)
            #expect(try await T.status(routes, .ses, headers: headers, body: failing) == 502, "released: SNS's retry is tried again, not taken for a replay")
            #expect(await sink.notices.isEmpty)
        }
    }

    @Test("with LISTCTL_WEBHOOK_SES_SECRET set, SNS must also send the basic credentials of the subscription URL")
    func basicAuth() async throws {
        try await Self.withSNSMock { mock, fetcher in
            let sink = T.CollectingSink()
            let routes = try T.routes(Self.settings(mock, basicAuth: "sns:Zx9-secret"), sink: sink, fetcher: fetcher)
            let body = try await Self.signed(Self.notification(mock, message: try Self.text("ses-complaint.json")), key: mock.signingKey)
            #expect(try await T.status(routes, .ses, headers: Self.snsHeaders, body: body) == 401)
            var wrong = Self.snsHeaders
            wrong["Authorization"] = "Basic " + T.base64(Array("sns:wrong".utf8))
            #expect(try await T.status(routes, .ses, headers: wrong, body: body) == 401)
            var right = Self.snsHeaders
            right["Authorization"] = "Basic " + T.base64(Array("sns:Zx9-secret".utf8))
            #expect(try await T.status(routes, .ses, headers: right, body: body) == 200)
            #expect(await sink.notices.map(\.kind) == [.complaint])
        }
    }

    @Test("default certificate hosts: https on sns.<region>.amazonaws.com[.cn] only, default port, .pem; settings from the environment")
    func hostsAndSettings() async throws {
        let fetcher = HTTPSFetcher()
        let ses = SESWebhook(settings: .init(topicARNs: [Self.topic]), fetcher: fetcher)
        for url in ["https://sns.us-east-1.amazonaws.com/SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem",
                    "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-x.pem",
                    "https://SNS.eu-west-1.AMAZONAWS.com:443/SimpleNotificationService-x.pem"] {
            #expect(ses.isAllowed(url, certificate: true), "\(url)")
        }
        for url in ["http://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
                    "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-x.pem",
                    "https://evil.example/sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
                    "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-x.pem",
                    "https://a@sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
                    "https://s3.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
                    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.txt",
                    "https://127.0.0.1/SimpleNotificationService-x.pem"] {
            #expect(!ses.isAllowed(url, certificate: true), "\(url)")
        }
        #expect(ses.isAllowed("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x", certificate: false))
        await fetcher.shutdown()

        #expect(try WebhookSettings.fromEnvironment([:]).ses == nil, "not enabled without a topic or credentials")
        let settings = try WebhookSettings.fromEnvironment([
            "LISTCTL_WEBHOOK_SES_TOPIC_ARN": "\(Self.topic), arn:aws:sns:eu-west-1:123456789012:other",
            "LISTCTL_WEBHOOK_SES_CERT_HOSTS": "127.0.0.1,LocalHost", "LISTCTL_WEBHOOK_SES_CA_FILE": "/tmp/ca.pem",
        ])
        #expect(settings.ses?.topicARNs == [Self.topic, "arn:aws:sns:eu-west-1:123456789012:other"])
        #expect(settings.ses?.certificateHosts == ["127.0.0.1", "localhost"] && settings.ses?.caFile == "/tmp/ca.pem")
        #expect(throws: ListServiceError.self) { try WebhookSettings.fromEnvironment(["LISTCTL_WEBHOOK_SES_SECRET": "no-colon"]) }
    }
}
