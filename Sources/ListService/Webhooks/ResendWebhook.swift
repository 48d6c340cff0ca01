import Foundation
import Mailer

/// Resend's webhooks, signed the Svix way: `svix-signature` is a
/// space-separated list of `v1,<base64>`, each an HMAC-SHA256 of
/// `svix-id.svix-timestamp.body` under the base64 key after `whsec_` in the
/// signing secret. One matching `v1` entry is enough (several appear while a
/// secret is rotated). The timestamp must be within 5 minutes; an svix-id is
/// taken once (Svix keeps the id across its retries, so a failed one is released).
///
/// `email.bounced` → hard bounce, or soft when `bounce.type` is `Transient` or
/// `Undetermined`; `email.complained` → complaint; other types are ignored.
struct ResendWebhook: ReplayGuardedVerifier {
    let key: [UInt8]
    let replays = ReplayGuard(window: 2 * WebhookSupport.tolerance)

    init(secret: String) throws(WebhookError) { key = try Self.key(fromSecret: secret) }

    static func key(fromSecret secret: String) throws(WebhookError) -> [UInt8] {
        guard secret.hasPrefix("whsec_"), let key = Data(base64Encoded: String(secret.dropFirst(6))), !key.isEmpty else {
            throw WebhookError(.configuration, "must be the signing secret Resend shows, whsec_ then base64")
        }
        return Array(key)
    }

    func events(for request: WebhookRequest) async throws(WebhookError) -> WebhookEvents {
        guard let id = request.header("svix-id"), let timestamp = request.header("svix-timestamp"),
              let signatures = request.header("svix-signature")
        else { throw WebhookError(.unauthorized, "resend: no svix-id, svix-timestamp and svix-signature headers") }
        let expected = Digest.hmacSHA256(key: key, data: Array("\(id).\(timestamp).".utf8) + request.body)
        let matches = signatures.split(separator: " ").contains { entry in
            let parts = entry.split(separator: ",", maxSplits: 1)
            guard parts.count == 2, parts[0] == "v1", let given = Data(base64Encoded: String(parts[1])) else { return false }
            return WebhookSupport.constantTimeEqual(Array(given), expected)
        }
        guard matches else {
            throw WebhookError(.unauthorized, "resend: no v1 signature matches (wrong signing secret, or a forged or altered request)")
        }
        guard WebhookSupport.isFresh(timestamp, now: request.receivedAt) else {
            throw WebhookError(.unauthorized, "resend: svix-timestamp \(timestamp) is more than 5 minutes from now")
        }
        let replay = WebhookError(.unauthorized, "resend: svix-id \(id) was seen before (a replay)")
        return try await replays.events(claiming: id, now: request.receivedAt, replay: replay) { () throws(WebhookError) in
            try Self.parse(try WebhookSupport.jsonObject(request.body, provider: .resend))
        }
    }

    static func parse(_ object: [String: Any]) throws(WebhookError) -> WebhookEvents {
        guard let type = object["type"] as? String else { throw WebhookError(.malformed, "resend: no type") }
        guard type == "email.bounced" || type == "email.complained" else { return WebhookEvents(ignored: [type]) }
        guard let data = object["data"] as? [String: Any] else { throw WebhookError(.malformed, "resend: \(type) without data") }
        let recipients: [String]
        if let list = data["to"] as? [String] { recipients = list } else if let one = data["to"] as? String { recipients = [one] } else { recipients = [] }
        guard !recipients.isEmpty else { throw WebhookError(.malformed, "resend: \(type) without data.to") }
        let kind: BounceNotice.Kind
        var detail = "complained"
        if type == "email.complained" {
            kind = .complaint
        } else {
            let bounce = data["bounce"] as? [String: Any]
            let bounceType = bounce?["type"] as? String
            kind = bounceType == "Transient" || bounceType == "Undetermined" ? .softBounce : .hardBounce
            detail = [bounceType, bounce?["subType"] as? String, bounce?["message"] as? String].compactMap { $0 }.joined(separator: " ")
            if detail.isEmpty { detail = "bounced" }
        }
        let headers = WebhookSupport.originalHeaders(data["headers"])
        let occurred = WebhookSupport.date(object["created_at"]) ?? WebhookSupport.date(data["created_at"])
        return WebhookEvents(notices: recipients.map {
            BounceNotice(kind: kind, source: "resend", recipient: $0, providerMessageID: WebhookSupport.string(data["email_id"]),
                         trace: headers.trace, messageID: headers.messageID, detail: detail, occurredAt: occurred)
        })
    }
}
