import Foundation

/// Postmark: `POST /email` with JSON fields (no raw MIME).
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
}
