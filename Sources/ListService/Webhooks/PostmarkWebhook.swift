import Foundation

/// Postmark's bounce and spam complaint webhooks. Postmark signs nothing; the
/// webhook URL carries HTTP basic credentials (`https://user:password@…`),
/// which are checked here in constant time. There is no timestamp or id to
/// stop a replay; replaying a real bounce records nothing new.
///
/// `RecordType` `Bounce` with `Type` `HardBounce` or `BadEmailAddress` → hard
/// bounce; `SoftBounce`, `Transient`, `DnsError`, `Blocked`, `DMARCPolicy` →
/// soft; `SpamComplaint` (either record type) → complaint; other types
/// (auto-responders, address changes, challenge mail…) and other record types
/// are acknowledged and ignored.
struct PostmarkWebhook: WebhookVerifier {
    let credentials: [UInt8]

    init(credentials: String) { self.credentials = Array(credentials.utf8) }

    static let hard: Set<String> = ["HardBounce", "BadEmailAddress"]
    static let soft: Set<String> = ["SoftBounce", "Transient", "DnsError", "Blocked", "DMARCPolicy"]

    func events(for request: WebhookRequest) async throws(WebhookError) -> WebhookEvents {
        guard let authorization = request.header("authorization"),
              authorization.lowercased().hasPrefix("basic "),
              let decoded = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces))
        else { throw WebhookError(.unauthorized, "postmark: no basic credentials (put user:password in the webhook URL at Postmark)") }
        guard WebhookSupport.constantTimeEqual(Array(decoded), credentials) else {
            throw WebhookError(.unauthorized, "postmark: wrong basic credentials")
        }
        return try Self.parse(try WebhookSupport.jsonObject(request.body, provider: .postmark))
    }

    func release(_ events: WebhookEvents) async {}

    static func parse(_ object: [String: Any]) throws(WebhookError) -> WebhookEvents {
        guard let record = object["RecordType"] as? String else { throw WebhookError(.malformed, "postmark: no RecordType") }
        guard record == "Bounce" || record == "SpamComplaint" else { return WebhookEvents(ignored: [record]) }
        let type = object["Type"] as? String ?? record
        let kind: BounceNotice.Kind
        if type == "SpamComplaint" {
            kind = .complaint
        } else if hard.contains(type) {
            kind = .hardBounce
        } else if soft.contains(type) {
            kind = .softBounce
        } else {
            return WebhookEvents(ignored: ["\(record)/\(type)"])
        }
        guard let email = WebhookSupport.string(object["Email"]) else { throw WebhookError(.malformed, "postmark: a \(record) without Email") }
        let detail = [WebhookSupport.string(object["Name"]) ?? type, WebhookSupport.string(object["Details"]) ?? WebhookSupport.string(object["Description"])]
            .compactMap { $0 }.joined(separator: ": ")
        let notice = BounceNotice(
            kind: kind, source: "postmark", recipient: email, providerMessageID: WebhookSupport.string(object["MessageID"]),
            // With "include message content" on, Content is the bounce with the original's headers.
            trace: WebhookSupport.trace(inRawMessage: object["Content"] as? String),
            detail: detail, occurredAt: WebhookSupport.date(object["BouncedAt"]))
        return WebhookEvents(notices: [notice])
    }
}
