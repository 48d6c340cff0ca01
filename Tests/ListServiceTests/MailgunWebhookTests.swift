import Foundation
import Mailer
import Testing

@testable import ListService

@Suite("Webhooks: Mailgun (HMAC of timestamp + token, 5-minute window, a token once)")
struct MailgunWebhookTests {
    typealias T = WebhookTesting
    static let signingKey = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"

    /// The fixture with a fresh `signature` object, signed with `key` by openssl.
    static func signed(_ name: String, key: String = signingKey, timestamp: Date = Date(), token: String = UUID().uuidString)
        async throws -> [UInt8]
    {
        var object = try T.object(name)
        let stamp = String(Int(timestamp.timeIntervalSince1970))
        let mac = try await T.hmac(key: Array(key.utf8), Array((stamp + token).utf8))
        object["signature"] = ["timestamp": stamp, "token": token, "signature": Digest.hex(mac)]
        return try T.json(object)
    }

    static func make() throws -> (WebhookRoutes, T.CollectingSink) {
        let sink = T.CollectingSink()
        return (try T.routes(WebhookSettings(mailgun: signingKey), sink: sink), sink)
    }

    @Test("failed/permanent → hard bounce, failed/temporary → soft, complained → complaint, delivered ignored; the id as the ledger keeps it (with <>)")
    func events() async throws {
        let (routes, sink) = try Self.make()
        for name in ["mailgun-failed-permanent.json", "mailgun-failed-temporary.json", "mailgun-complained.json", "mailgun-delivered.json"] {
            #expect(try await T.status(routes, .mailgun, headers: ["Content-Type": "application/json"], body: try await Self.signed(name)) == 200, "\(name)")
        }
        let notices = await sink.notices
        #expect(notices.map(\.kind) == [.hardBounce, .softBounce, .complaint])
        #expect(notices.map(\.recipient) == ["ann@example.net", "cy@example.net", "dee@example.net"])
        let hard = try #require(notices.first)
        #expect(hard.source == "mailgun")
        #expect(hard.providerMessageID == "<20261203081206.1.A1B2C3D4E5F6@mg.example.org>")
        #expect(hard.messageID == "20261203081206.1.A1B2C3D4E5F6@mg.example.org")
        #expect(hard.detail.contains("550") && hard.detail.contains("does not exist"), "\(hard.detail)")
        #expect(abs((hard.occurredAt?.timeIntervalSince1970 ?? 0) - 1764749526.501324) < 0.001)
        #expect(notices[1].detail.contains("452"))
    }

    @Test("forged signature, wrong signing key, stale or future timestamp, no signature: 401 and nothing recorded")
    func refusals() async throws {
        let (routes, sink) = try Self.make()
        var forged = try T.object("mailgun-failed-permanent.json")
        forged["signature"] = ["timestamp": String(Int(Date().timeIntervalSince1970)), "token": "abc", "signature": String(repeating: "ab", count: 32)]
        #expect(try await T.status(routes, .mailgun, headers: [:], body: try T.json(forged)) == 401)
        let wrongKey = try await Self.signed("mailgun-failed-permanent.json", key: "key-not-the-right-one")
        #expect(try await T.status(routes, .mailgun, headers: [:], body: wrongKey) == 401)
        for offset in [-6 * 60.0, 6 * 60.0] {
            let stale = try await Self.signed("mailgun-failed-permanent.json", timestamp: Date().addingTimeInterval(offset))
            #expect(try await T.status(routes, .mailgun, headers: [:], body: stale) == 401, "timestamp \(offset) s away")
        }
        var unsigned = try T.object("mailgun-failed-permanent.json")
        unsigned["signature"] = nil
        #expect(try await T.status(routes, .mailgun, headers: [:], body: try T.json(unsigned)) == 401)
        #expect(try await T.status(routes, .mailgun, headers: [:], body: Array("not json".utf8)) == 400)
        #expect(await sink.notices.isEmpty)
        // Within the window is fine.
        let recent = try await Self.signed("mailgun-failed-permanent.json", timestamp: Date().addingTimeInterval(-4 * 60))
        #expect(try await T.status(routes, .mailgun, headers: [:], body: recent) == 200)
    }

    @Test("a token is taken once: the same request again, or its signature on another body (Mailgun signs no body), is a replay: 401")
    func replay() async throws {
        let (routes, sink) = try Self.make()
        let body = try await Self.signed("mailgun-failed-permanent.json", token: "token-once")
        #expect(try await T.status(routes, .mailgun, headers: [:], body: body) == 200)
        #expect(try await T.status(routes, .mailgun, headers: [:], body: body) == 401)
        var tampered = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        var data = try #require(tampered["event-data"] as? [String: Any])
        data["recipient"] = "victim@example.net"
        tampered["event-data"] = data
        #expect(try await T.status(routes, .mailgun, headers: [:], body: try T.json(tampered)) == 401)
        #expect(await sink.notices.map(\.recipient) == ["ann@example.net"])
    }

    @Test("when recording fails the answer is 503 and the token is released, so Mailgun's retry is taken")
    func retryAfterFailure() async throws {
        let (routes, sink) = try Self.make()
        let body = try await Self.signed("mailgun-complained.json")
        await sink.setFailing(true)
        #expect(try await T.status(routes, .mailgun, headers: [:], body: body) == 503)
        await sink.setFailing(false)
        #expect(try await T.status(routes, .mailgun, headers: [:], body: body) == 200)
        #expect(await sink.notices.count == 1)
    }
}
