import Foundation
import Testing

@testable import ListService

@Suite("Webhooks: Postmark (basic credentials in the webhook URL)")
struct PostmarkWebhookTests {
    typealias T = WebhookTesting
    static let credentials = "listctl:Pq7-w9Zr!x:2"

    static func basic(_ credentials: String) -> [String: String] {
        ["Authorization": "Basic " + T.base64(Array(credentials.utf8)), "Content-Type": "application/json"]
    }

    static func make() throws -> (WebhookRoutes, T.CollectingSink) {
        let sink = T.CollectingSink()
        return (try T.routes(WebhookSettings(postmark: credentials), sink: sink), sink)
    }

    @Test("HardBounce → hard (trace from the bounce's Content), SoftBounce → soft, SpamComplaint → complaint; AutoResponder and Delivery ignored")
    func events() async throws {
        let (routes, sink) = try Self.make()
        for name in ["postmark-bounce.json", "postmark-soft.json", "postmark-spam-complaint.json", "postmark-autoresponder.json", "postmark-delivery.json"] {
            #expect(try await T.status(routes, .postmark, headers: Self.basic(Self.credentials), body: try T.fixture(name)) == 200, "\(name)")
        }
        let notices = await sink.notices
        #expect(notices.map(\.kind) == [.hardBounce, .softBounce, .complaint])
        #expect(notices.map(\.recipient) == ["ann@example.net", "cy@example.net", "dee@example.net"])
        let hard = try #require(notices.first)
        #expect(hard.source == "postmark")
        #expect(hard.providerMessageID == "883953f4-6105-42a2-a16a-77a8eac79483")
        #expect(hard.trace == "7.42.1")
        #expect(hard.detail.hasPrefix("Hard bounce: smtp;550 5.1.1"), "\(hard.detail)")
        let bouncedAt = try #require(hard.occurredAt)
        #expect(abs(bouncedAt.timeIntervalSince1970 - 1796286834.907) < 0.01, "\(bouncedAt)")
        #expect(notices[2].providerMessageID == "11111111-6105-42a2-a16a-77a8eac79483")
    }

    @Test("wrong password, wrong user, no credentials, a Bearer header: 401 and nothing recorded; a body that is not JSON: 400")
    func refusals() async throws {
        let (routes, sink) = try Self.make()
        let body = try T.fixture("postmark-bounce.json")
        for headers in [Self.basic("listctl:wrong"), Self.basic("other:Pq7-w9Zr!x:2"), Self.basic(Self.credentials + "x"), [:],
                        ["Authorization": "Bearer " + Self.credentials], ["Authorization": "Basic !!!"]] {
            #expect(try await T.status(routes, .postmark, headers: headers, body: body) == 401, "\(headers)")
        }
        #expect(await sink.notices.isEmpty)
        #expect(try await T.status(routes, .postmark, headers: Self.basic(Self.credentials), body: Array("{".utf8)) == 400)
        #expect(try await T.status(routes, .postmark, headers: Self.basic(Self.credentials), body: Array("{\"ID\": 1}".utf8)) == 400)
    }

    @Test("the secret must be user:password; a provider with no secret has no verifier (its URL answers 404)")
    func configuration() throws {
        #expect(throws: ListServiceError.self) { try WebhookSettings.fromEnvironment(["LISTCTL_WEBHOOK_POSTMARK_SECRET": "no-colon"]) }
        let settings = try WebhookSettings.fromEnvironment(["LISTCTL_WEBHOOK_POSTMARK_SECRET": Self.credentials])
        #expect(settings.enabled == [.postmark])
        #expect(!"\(settings)".contains("Pq7"), "the description never shows a secret")
        let routes = try T.routes(settings, sink: T.CollectingSink())
        #expect(routes.verifiers[.mailgun] == nil && routes.verifiers[.postmark] != nil)
    }
}
