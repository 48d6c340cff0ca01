import Foundation

/// Postmark: `POST /email` with JSON fields (no raw MIME).
///
/// Every message asks for no open and no link tracking (`TrackOpens: false`,
/// `TrackLinks: "None"`): link tracking rewrites every link and the pixel adds
/// more, growing the HTML past the budget the splitter cut it to. A server
/// whose "Open tracking" setting is on still tracks opens (Postmark lets that
/// setting win); docs/TRANSPORTS.md says what to switch off there.
struct PostmarkProvider: HTTPProvider {
    let token: String
    /// The message stream (`broadcast` for newsletters); the server's default when nil.
    let stream: String?
    var defaultBaseURL: String { "https://api.postmarkapp.com" }

    func request(for message: OutgoingMessage, baseURL: String, now: Date) throws(TransportError) -> HTTPProviderRequest {
        let content = try MIMEContent(message: message.data)
        var object: [String: Any] = [
            "From": content.from, "To": message.recipient, "Subject": content.subject,
            "Headers": content.headers.map { ["Name": $0.name, "Value": $0.value] },
            "TrackOpens": false, "TrackLinks": "None",
        ]
        if let html = content.html { object["HtmlBody"] = html }
        if let text = content.text { object["TextBody"] = text }
        if let replyTo = content.replyTo { object["ReplyTo"] = replyTo }
        if let stream { object["MessageStream"] = stream }
        return HTTPProviderRequest(
            url: "\(baseURL)/email",
            headers: ["Accept: application/json", "Content-Type: application/json", "X-Postmark-Server-Token: \(token)"],
            body: HTTPProviderTransport.json(object))
    }

    func messageID(headers: [String], body: [UInt8]) -> String? { HTTPProviderTransport.jsonField("MessageID", in: body) }

    /// ErrorCode 406: the recipient is inactive (bounced or complained before);
    /// 300 naming the To address: invalid recipient.
    func isRecipientRejection(status: Int, headers: [String], body: [UInt8]) -> Bool {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let code = object["ErrorCode"] as? Int
        else { return false }
        let text = object["Message"] as? String ?? ""
        return code == 406 || (code == 300 && text.contains("'To'"))
    }
}
