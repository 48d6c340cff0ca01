import Foundation
import Mailer

/// Mailgun's webhooks (JSON, one event a request): `signature.signature` is the
/// hex HMAC-SHA256 of `timestamp + token` under the account's HTTP webhook
/// signing key. The timestamp must be within 5 minutes and a token is taken once.
///
/// Events: `failed` with `severity` `permanent` → hard bounce, `temporary` →
/// soft bounce; `complained` → complaint; anything else is acknowledged and ignored.
struct MailgunWebhook: ReplayGuardedVerifier {
    let signingKey: [UInt8]
    let replays = ReplayGuard(window: 2 * WebhookSupport.tolerance)

    init(signingKey: String) { self.signingKey = Array(signingKey.utf8) }

    func events(for request: WebhookRequest) async throws(WebhookError) -> WebhookEvents {
        let object = try WebhookSupport.jsonObject(request.body, provider: .mailgun)
        guard let signature = object["signature"] as? [String: Any],
              let timestamp = WebhookSupport.string(signature["timestamp"]), let token = signature["token"] as? String,
              let given = signature["signature"] as? String
        else { throw WebhookError(.unauthorized, "mailgun: no signature object (timestamp, token, signature)") }
        let expected = Digest.hex(Digest.hmacSHA256(key: signingKey, data: Array((timestamp + token).utf8)))
        guard WebhookSupport.constantTimeEqual(Array(expected.utf8), Array(given.lowercased().utf8)) else {
            throw WebhookError(.unauthorized, "mailgun: the signature does not match (wrong signing key, or a forged request)")
        }
        guard WebhookSupport.isFresh(timestamp, now: request.receivedAt) else {
            throw WebhookError(.unauthorized, "mailgun: the timestamp \(timestamp) is more than 5 minutes from now")
        }
        let replay = WebhookError(.unauthorized, "mailgun: the token was seen before (a replay)")
        return try await replays.events(claiming: token, now: request.receivedAt, replay: replay) { () throws(WebhookError) in
            try Self.parse(object)
        }
    }

    /// The notices of a Mailgun webhook body (already verified).
    static func parse(_ object: [String: Any]) throws(WebhookError) -> WebhookEvents {
        guard let data = object["event-data"] as? [String: Any], let event = data["event"] as? String else {
            throw WebhookError(.malformed, "mailgun: no event-data.event")
        }
        let kind: BounceNotice.Kind
        switch (event, data["severity"] as? String) {
        case ("failed", "permanent"): kind = .hardBounce
        case ("failed", "temporary"): kind = .softBounce
        case ("complained", _): kind = .complaint
        default: return WebhookEvents(ignored: [event])
        }
        let message = data["message"] as? [String: Any]
        let headers = message?["headers"] as? [String: Any]
        let messageID = WebhookSupport.bare(messageID: headers?["message-id"] as? String)
        let status = data["delivery-status"] as? [String: Any]
        var detail: [String] = []
        if let code = WebhookSupport.string(status?["code"]) { detail.append(code) }
        if let text = WebhookSupport.string(status?["description"]) ?? WebhookSupport.string(status?["message"]) { detail.append(text) }
        if let reason = data["reason"] as? String, !reason.isEmpty { detail.append("(\(reason))") }
        if detail.isEmpty { detail.append(kind == .complaint ? "complained" : "failed, \(data["severity"] as? String ?? "")") }
        let notice = BounceNotice(
            kind: kind, source: "mailgun", recipient: WebhookSupport.string(data["recipient"]),
            // The send's answer is `{"id": "<…>"}` with the brackets, and that is what the ledger keeps.
            providerMessageID: messageID.map { "<\($0)>" }, messageID: messageID,
            detail: detail.joined(separator: " "),
            occurredAt: (data["timestamp"] as? NSNumber).map { Date(timeIntervalSince1970: $0.doubleValue) })
        return WebhookEvents(notices: [notice])
    }
}
