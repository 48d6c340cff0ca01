import Foundation
import Mailer

/// Amazon SES events delivered by SNS to an HTTPS subscription. SNS signs each
/// message with Amazon's key: `Signature` is RSA over the canonical string of
/// the message's fields (SHA1withRSA for `SignatureVersion` 1, SHA256withRSA
/// for 2), checked with the certificate at `SigningCertURL`, which is fetched
/// only over https, only from `sns.<region>.amazonaws.com[.cn]` (or the hosts
/// `LISTCTL_WEBHOOK_SES_CERT_HOSTS` names), with the peer verified, and cached.
///
/// Then: the `Timestamp` must be under an hour old (SNS's retries of one
/// message span at most an hour), the `TopicArn` one of
/// `LISTCTL_WEBHOOK_SES_TOPIC_ARN` when that is set, and a `MessageId` is
/// taken once. A `SubscriptionConfirmation` is confirmed by fetching its
/// `SubscribeURL` under the same host rule.
///
/// SES notifications (`notificationType`) and event publishing (`eventType`):
/// `Bounce` with `bounceType` `Permanent` → a hard bounce per bounced recipient,
/// `Transient` or `Undetermined` → soft; `Complaint` → a complaint per complained
/// recipient; others (Delivery, Send, Open…) are ignored.
struct SESWebhook: ReplayGuardedVerifier {
    let settings: WebhookSettings.SES
    let fetcher: HTTPSFetcher
    let certificates: SNSCertificateCache
    static let maximumAge: TimeInterval = 60 * 60
    let replays = ReplayGuard(window: maximumAge + WebhookSupport.tolerance)

    init(settings: WebhookSettings.SES, fetcher: HTTPSFetcher) {
        self.settings = settings
        self.fetcher = fetcher
        certificates = SNSCertificateCache(fetcher: fetcher)
    }

    /// The fields each message type signs, in the canonical string's order (Subject only when present).
    static func signedFields(type: String) -> [String]? {
        switch type {
        case "Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        case "SubscriptionConfirmation", "UnsubscribeConfirmation":
            ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
        default: nil
        }
    }

    /// The string SNS signs: each present field's name and value, each on a line of its own.
    static func canonicalString(_ object: [String: Any]) throws(WebhookError) -> String {
        guard let type = object["Type"] as? String, let fields = signedFields(type: type) else {
            throw WebhookError(.unauthorized, "ses: not an SNS message (Type is not Notification or a subscription confirmation)")
        }
        var text = ""
        for field in fields {
            guard let value = object[field] as? String else {
                if field == "Subject" { continue }
                throw WebhookError(.unauthorized, "ses: the SNS message has no \(field)")
            }
            text += "\(field)\n\(value)\n"
        }
        return text
    }

    /// Whether SNS may send us to `text` (the certificate, the SubscribeURL): https, no
    /// credentials, a default port, and an SNS host (or a configured one, any port).
    func isAllowed(_ text: String, certificate: Bool) -> Bool {
        guard let url = URLComponents(string: text), url.scheme?.lowercased() == "https", let host = url.host?.lowercased(),
              url.user == nil, url.password == nil
        else { return false }
        if certificate, !url.path.hasSuffix(".pem") { return false }
        if let hosts = settings.certificateHosts { return hosts.contains(host) }
        guard url.port == nil || url.port == 443 else { return false }
        return host.wholeMatch(of: /sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/) != nil
    }

    func events(for request: WebhookRequest) async throws(WebhookError) -> WebhookEvents {
        if let credentials = settings.basicAuth {
            guard let authorization = request.header("authorization"), authorization.lowercased().hasPrefix("basic "),
                  let decoded = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
                  WebhookSupport.constantTimeEqual(Array(decoded), Array(credentials.utf8))
            else { throw WebhookError(.unauthorized, "ses: missing or wrong basic credentials (the user:password in the subscription's URL)") }
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any] else {
            throw WebhookError(.unauthorized, "ses: the body is not an SNS message (JSON); is raw message delivery on?")
        }
        let canonical = try Self.canonicalString(object)
        guard let type = object["Type"] as? String, let messageID = object["MessageId"] as? String,
              let topic = object["TopicArn"] as? String, let signatureText = object["Signature"] as? String,
              let signature = Data(base64Encoded: signatureText), let certificateURL = object["SigningCertURL"] as? String
        else { throw WebhookError(.unauthorized, "ses: the SNS message lacks Signature or SigningCertURL") }
        let digest: WebhookCrypto.DigestKind
        switch object["SignatureVersion"] as? String {
        case "1": digest = .sha1
        case "2": digest = .sha256
        default: throw WebhookError(.unauthorized, "ses: SignatureVersion is neither 1 nor 2")
        }
        guard isAllowed(certificateURL, certificate: true) else {
            throw WebhookError(.unauthorized, "ses: SigningCertURL \(certificateURL) is not an https .pem URL on an SNS host; not fetched")
        }
        let key = try await certificates.key(for: certificateURL)
        guard WebhookCrypto.verify(Array(signature), of: Array(canonical.utf8), key: key, digest: digest) else {
            throw WebhookError(.unauthorized, "ses: the SNS signature does not verify (a forged or altered message)")
        }
        guard let sent = WebhookSupport.date(object["Timestamp"]),
              request.receivedAt.timeIntervalSince(sent) <= Self.maximumAge,
              sent.timeIntervalSince(request.receivedAt) <= WebhookSupport.tolerance
        else { throw WebhookError(.unauthorized, "ses: the SNS Timestamp is more than an hour old, or in the future") }
        guard settings.topicARNs.isEmpty || settings.topicARNs.contains(topic) else {
            throw WebhookError(.forbidden, "ses: topic \(topic) is not in LISTCTL_WEBHOOK_SES_TOPIC_ARN")
        }
        let replay = WebhookError(.unauthorized, "ses: SNS MessageId \(messageID) was seen before (a replay)")
        return try await replays.events(claiming: messageID, now: request.receivedAt, replay: replay) { () throws(WebhookError) in
            switch type {
            case "SubscriptionConfirmation": return try await confirm(object, topic: topic)
            case "UnsubscribeConfirmation": return WebhookEvents(ignored: [type], note: "unsubscribe confirmation noted")
            default:
                guard let message = object["Message"] as? String else { throw WebhookError(.malformed, "ses: a Notification without Message") }
                return try Self.parse(message: message)
            }
        }
    }

    /// Confirms the subscription by a GET of its SubscribeURL.
    private func confirm(_ object: [String: Any], topic: String) async throws(WebhookError) -> WebhookEvents {
        guard let url = object["SubscribeURL"] as? String, isAllowed(url, certificate: false) else {
            throw WebhookError(.unauthorized, "ses: the SubscribeURL is not an https URL on an SNS host; not fetched")
        }
        let response: HTTPSFetcher.Response
        do {
            response = try await fetcher.get(url)
        } catch {
            throw WebhookError(.unavailable, "ses: confirming the subscription to \(topic) failed: \(error.message)")
        }
        guard response.status == 200 else {
            throw WebhookError(.unavailable, "ses: confirming the subscription to \(topic): SNS answered HTTP \(response.status)")
        }
        return WebhookEvents(ignored: ["SubscriptionConfirmation"], note: "subscription to \(topic) confirmed")
    }

    /// The notices of an SES notification (the SNS `Message`, itself JSON).
    static func parse(message: String) throws(WebhookError) -> WebhookEvents {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(message.utf8))) as? [String: Any] else {
            throw WebhookError(.malformed, "ses: the SNS Message is not an SES notification (JSON)")
        }
        guard let type = (object["notificationType"] ?? object["eventType"]) as? String else {
            throw WebhookError(.malformed, "ses: the notification has neither notificationType nor eventType")
        }
        let mail = object["mail"] as? [String: Any]
        let providerID = WebhookSupport.string(mail?["messageId"])
        let headers = WebhookSupport.originalHeaders(mail?["headers"])
        func notice(_ kind: BounceNotice.Kind, _ recipient: [String: Any], detail: String, at: Any?) -> BounceNotice? {
            guard let address = WebhookSupport.string(recipient["emailAddress"]) else { return nil }
            return BounceNotice(kind: kind, source: "ses", recipient: address, providerMessageID: providerID, trace: headers.trace,
                                messageID: headers.messageID, detail: detail, occurredAt: WebhookSupport.date(at))
        }
        switch type {
        case "Bounce":
            guard let bounce = object["bounce"] as? [String: Any], let recipients = bounce["bouncedRecipients"] as? [[String: Any]] else {
                throw WebhookError(.malformed, "ses: a Bounce without bounce.bouncedRecipients")
            }
            let bounceType = bounce["bounceType"] as? String ?? "Undetermined"
            let kind: BounceNotice.Kind = bounceType == "Permanent" ? .hardBounce : .softBounce
            let head = [bounceType, bounce["bounceSubType"] as? String].compactMap { $0 }.joined(separator: "/")
            return WebhookEvents(notices: recipients.compactMap { recipient in
                let detail = [head, WebhookSupport.string(recipient["status"]), WebhookSupport.string(recipient["diagnosticCode"])]
                    .compactMap { $0 }.joined(separator: " ")
                return notice(kind, recipient, detail: detail, at: bounce["timestamp"])
            })
        case "Complaint":
            guard let complaint = object["complaint"] as? [String: Any],
                  let recipients = complaint["complainedRecipients"] as? [[String: Any]]
            else { throw WebhookError(.malformed, "ses: a Complaint without complaint.complainedRecipients") }
            let detail = "complaint" + ((complaint["complaintFeedbackType"] as? String).map { " (\($0))" } ?? "")
            return WebhookEvents(notices: recipients.compactMap { notice(.complaint, $0, detail: detail, at: complaint["timestamp"]) })
        default:
            return WebhookEvents(ignored: [type])
        }
    }
}

/// SNS signing certificates by URL, each fetched once and kept a day (the URL
/// names the certificate, so a new key comes with a new URL).
actor SNSCertificateCache {
    private let fetcher: HTTPSFetcher
    private var keys: [String: (key: WebhookPublicKey, fetched: Date)] = [:]
    static let lifetime: TimeInterval = 24 * 60 * 60

    init(fetcher: HTTPSFetcher) { self.fetcher = fetcher }

    func key(for url: String) async throws(WebhookError) -> WebhookPublicKey {
        if let cached = keys[url], Date().timeIntervalSince(cached.fetched) < Self.lifetime { return cached.key }
        let response: HTTPSFetcher.Response
        do {
            response = try await fetcher.get(url)
        } catch {
            throw WebhookError(.unavailable, "ses: fetching the signing certificate failed: \(error.message)")
        }
        guard response.status == 200 else {
            throw WebhookError(.unavailable, "ses: fetching the signing certificate \(url): HTTP \(response.status)")
        }
        let key = try WebhookCrypto.rsaKey(certificatePEM: response.body)
        if keys.count >= 32 { keys.removeAll() }
        keys[url] = (key, Date())
        return key
    }
}
