import Foundation
import Mailer

/// SendGrid's signed event webhook: `X-Twilio-Email-Event-Webhook-Signature`
/// is a base64 DER ECDSA P-256 signature, with SHA-256, of the
/// `X-Twilio-Email-Event-Webhook-Timestamp` value followed by the raw body;
/// the secret is the verification key SendGrid shows (base64 DER public key).
/// The timestamp must be within 5 minutes and the same signed content is taken once.
///
/// The body is a JSON array of events: `bounce` with `type` `bounce` → hard
/// bounce, `blocked` → soft; `dropped` with reason `Bounced Address` → hard
/// bounce, `Spam Reporting Address` → complaint; `spamreport` → complaint;
/// everything else (processed, delivered, deferred, opens…) is ignored.
struct SendGridWebhook: ReplayGuardedVerifier {
    let key: WebhookPublicKey
    let replays = ReplayGuard(window: 2 * WebhookSupport.tolerance)

    init(secret: String) throws(WebhookError) { key = try Self.key(fromSecret: secret) }

    static func key(fromSecret secret: String) throws(WebhookError) -> WebhookPublicKey {
        let text = secret.replacingOccurrences(of: "-----BEGIN PUBLIC KEY-----", with: "")
            .replacingOccurrences(of: "-----END PUBLIC KEY-----", with: "").filter { !$0.isWhitespace }
        guard let der = Data(base64Encoded: text) else {
            throw WebhookError(.configuration, "not base64 (copy the verification key SendGrid shows for the signed event webhook)")
        }
        return try WebhookCrypto.p256Key(subjectPublicKeyInfo: Array(der))
    }

    func events(for request: WebhookRequest) async throws(WebhookError) -> WebhookEvents {
        guard let signatureText = request.header("x-twilio-email-event-webhook-signature"),
              let timestamp = request.header("x-twilio-email-event-webhook-timestamp")
        else { throw WebhookError(.unauthorized, "sendgrid: no X-Twilio-Email-Event-Webhook-Signature/-Timestamp (is the signed event webhook on?)") }
        guard let signature = Data(base64Encoded: signatureText.trimmingCharacters(in: .whitespaces)) else {
            throw WebhookError(.unauthorized, "sendgrid: the signature is not base64")
        }
        let signed = Array(timestamp.utf8) + request.body
        guard WebhookCrypto.verify(Array(signature), of: signed, key: key, digest: .sha256) else {
            throw WebhookError(.unauthorized, "sendgrid: the signature does not verify (wrong verification key, or a forged or altered request)")
        }
        guard WebhookSupport.isFresh(timestamp, now: request.receivedAt) else {
            throw WebhookError(.unauthorized, "sendgrid: the timestamp \(timestamp) is more than 5 minutes from now")
        }
        let replayKey = Digest.hex(Digest.sha256(signed))
        let replay = WebhookError(.unauthorized, "sendgrid: this signed request was seen before (a replay)")
        return try await replays.events(claiming: replayKey, now: request.receivedAt, replay: replay) { () throws(WebhookError) in
            try Self.parse(request.body)
        }
    }

    /// `sg_message_id` is the `X-Message-Id` of the send's answer plus a suffix
    /// (`<id>.filter…`, `<id>.recvd-…`): the part the ledger keeps.
    static func sendMessageID(_ sgMessageID: String?) -> String? {
        guard let sgMessageID, !sgMessageID.isEmpty else { return nil }
        for marker in [".filter", ".recvd"] {
            if let range = sgMessageID.range(of: marker) { return String(sgMessageID[..<range.lowerBound]) }
        }
        return sgMessageID
    }

    static func parse(_ body: [UInt8]) throws(WebhookError) -> WebhookEvents {
        guard let array = (try? JSONSerialization.jsonObject(with: Data(body))) as? [Any] else {
            throw WebhookError(.malformed, "sendgrid: the body is not a JSON array of events")
        }
        var events = WebhookEvents()
        for case let event as [String: Any] in array {
            let name = event["event"] as? String ?? "?"
            let kind: BounceNotice.Kind
            switch (name, event["type"] as? String, event["reason"] as? String) {
            case ("bounce", "blocked", _): kind = .softBounce
            case ("bounce", _, _): kind = .hardBounce
            case ("dropped", _, "Bounced Address"): kind = .hardBounce
            case ("dropped", _, "Spam Reporting Address"): kind = .complaint
            case ("spamreport", _, _): kind = .complaint
            default:
                events.ignored.append(name)
                continue
            }
            guard let email = WebhookSupport.string(event["email"]) else {
                throw WebhookError(.malformed, "sendgrid: a \(name) event without email")
            }
            let detail = [name == "bounce" ? (event["type"] as? String ?? "bounce") : name,
                          WebhookSupport.string(event["status"]), WebhookSupport.string(event["reason"])]
                .compactMap { $0 }.joined(separator: " ")
            events.notices.append(BounceNotice(
                kind: kind, source: "sendgrid", recipient: email,
                providerMessageID: sendMessageID(event["sg_message_id"] as? String),
                messageID: WebhookSupport.bare(messageID: event["smtp-id"] as? String),
                detail: detail,
                occurredAt: (event["timestamp"] as? NSNumber).map { Date(timeIntervalSince1970: $0.doubleValue) }))
        }
        return events
    }
}
