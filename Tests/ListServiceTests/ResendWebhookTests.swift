import Foundation
import Testing

@testable import ListService

@Suite("Webhooks: Resend (Svix: HMAC of id.timestamp.body, 5-minute window, an svix-id once)")
struct ResendWebhookTests {
    typealias T = WebhookTesting
    static let key: [UInt8] = (0..<24).map { UInt8(($0 * 37 + 11) % 256) }
    static let secret = "whsec_" + T.base64(key)

    static func headers(_ body: [UInt8], key: [UInt8] = key, id: String = "msg_" + UUID().uuidString, timestamp: Date = Date(),
                        extra: [String] = []) async throws -> [String: String] {
        let stamp = String(Int(timestamp.timeIntervalSince1970))
        let mac = try await T.hmac(key: key, Array("\(id).\(stamp).".utf8) + body)
        return ["svix-id": id, "svix-timestamp": stamp, "svix-signature": (extra + ["v1," + T.base64(mac)]).joined(separator: " "),
                "Content-Type": "application/json"]
    }

    static func make() throws -> (WebhookRoutes, T.CollectingSink) {
        let sink = T.CollectingSink()
        return (try T.routes(WebhookSettings(resend: secret), sink: sink), sink)
    }

    @Test("email.bounced (Permanent) → hard with email_id, trace and Message-ID from its headers; email.complained → complaint; email.delivered ignored; one good v1 among several is enough")
    func events() async throws {
        let (routes, sink) = try Self.make()
        for name in ["resend-bounced.json", "resend-complained.json", "resend-delivered.json"] {
            let body = try T.fixture(name)
            let headers = try await Self.headers(body, extra: ["v1," + T.base64(Array(repeating: 7, count: 32)), "v2,abc"])
            #expect(try await T.status(routes, .resend, headers: headers, body: body) == 200, "\(name)")
        }
        let notices = await sink.notices
        #expect(notices.map(\.kind) == [.hardBounce, .complaint])
        let hard = try #require(notices.first)
        #expect(hard.recipient == "ann@example.net" && hard.source == "resend")
        #expect(hard.providerMessageID == "56761188-7520-42d8-8898-ff6fc54ce618")
        #expect(hard.trace == "7.42.1" && hard.messageID == "listctl.7.1.AbCdEf0123@example.org")
        #expect(hard.detail.contains("Permanent") && hard.detail.contains("does not exist"), "\(hard.detail)")
        #expect(notices[1].recipient == "dee@example.net" && notices[1].providerMessageID == "66761188-7520-42d8-8898-ff6fc54ce619")

        var transient = try T.object("resend-bounced.json")
        var data = try #require(transient["data"] as? [String: Any])
        data["bounce"] = ["type": "Transient", "subType": "MailboxFull", "message": "mailbox full"]
        transient["data"] = data
        let body = try T.json(transient)
        #expect(try await T.status(routes, .resend, headers: try await Self.headers(body), body: body) == 200)
        #expect(await sink.notices.last?.kind == .softBounce)
    }

    @Test("tampered body, wrong secret, a changed svix-id or timestamp, stale or future timestamp, no v1 signature: 401, nothing recorded")
    func refusals() async throws {
        let (routes, sink) = try Self.make()
        let body = try T.fixture("resend-bounced.json")
        let good = try await Self.headers(body)
        let tampered = Array(String(decoding: body, as: UTF8.self).replacingOccurrences(of: "ann@example.net", with: "victim@example.net").utf8)
        #expect(try await T.status(routes, .resend, headers: good, body: tampered) == 401, "tampered")
        #expect(try await T.status(routes, .resend, headers: try await Self.headers(body, key: Array(repeating: 1, count: 24)), body: body) == 401, "wrong secret")
        var otherID = good
        otherID["svix-id"] = "msg_other"
        #expect(try await T.status(routes, .resend, headers: otherID, body: body) == 401, "svix-id is signed")
        var otherTime = good
        // One second off the signed one (not off the clock: the signing may have been a second ago).
        otherTime["svix-timestamp"] = String((Int(good["svix-timestamp"] ?? "") ?? 0) - 1)
        #expect(try await T.status(routes, .resend, headers: otherTime, body: body) == 401, "svix-timestamp is signed")
        for offset in [-6 * 60.0, 6 * 60.0] {
            #expect(try await T.status(routes, .resend, headers: try await Self.headers(body, timestamp: Date().addingTimeInterval(offset)), body: body) == 401)
        }
        var v2 = good
        v2["svix-signature"] = good["svix-signature"]!.replacingOccurrences(of: "v1,", with: "v2,")
        #expect(try await T.status(routes, .resend, headers: v2, body: body) == 401, "only v1 counts")
        #expect(try await T.status(routes, .resend, headers: ["Content-Type": "application/json"], body: body) == 401, "unsigned")
        #expect(await sink.notices.isEmpty)
    }

    @Test("an svix-id is taken once (a replay is 401); one that failed to record is released for Svix's retry")
    func replay() async throws {
        let (routes, sink) = try Self.make()
        let body = try T.fixture("resend-complained.json")
        let headers = try await Self.headers(body, id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")
        await sink.setFailing(true)
        #expect(try await T.status(routes, .resend, headers: headers, body: body) == 503)
        await sink.setFailing(false)
        #expect(try await T.status(routes, .resend, headers: headers, body: body) == 200, "the retry")
        #expect(try await T.status(routes, .resend, headers: headers, body: body) == 401, "a replay")
        #expect(await sink.notices.count == 1)
    }

    @Test("the secret must be whsec_ + base64")
    func configuration() throws {
        for bad in ["abc", "whsec_", "whsec_!!!!", T.base64(Self.key)] {
            #expect(throws: ListServiceError.self) { try WebhookSettings.fromEnvironment(["LISTCTL_WEBHOOK_RESEND_SECRET": bad]) }
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("resend-secret-\(UUID().uuidString)")
        try "# Resend signing secret\n\(Self.secret)\n".write(to: folder, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: folder) }
        let settings = try WebhookSettings.fromEnvironment(["LISTCTL_WEBHOOK_RESEND_SECRET_FILE": folder.path])
        #expect(settings.resend == Self.secret)
        #expect(throws: ListServiceError.self) { try WebhookSettings.fromEnvironment(["LISTCTL_WEBHOOK_RESEND_SECRET_FILE": "/nonexistent/secret"]) }
    }
}
