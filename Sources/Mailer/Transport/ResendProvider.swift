import Foundation

/// Resend: `POST /emails` with JSON fields.
struct ResendProvider: HTTPProvider {
    let apiKey: String
    var defaultBaseURL: String { "https://api.resend.com" }

    func request(for message: OutgoingMessage, baseURL: String, now: Date) throws(TransportError) -> HTTPProviderRequest {
        let content = try MIMEContent(message: message.data)
        var object: [String: Any] = ["from": content.from, "to": [message.recipient], "subject": content.subject]
        if let html = content.html { object["html"] = html }
        if let text = content.text { object["text"] = text }
        if let replyTo = content.replyTo { object["reply_to"] = replyTo }
        if !content.headers.isEmpty {
            object["headers"] = Dictionary(content.headers.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        }
        return HTTPProviderRequest(
            url: "\(baseURL)/emails",
            headers: ["Authorization: Bearer \(apiKey)", "Content-Type: application/json"],
            body: HTTPProviderTransport.json(object))
    }

    func messageID(headers: [String], body: [UInt8]) -> String? { HTTPProviderTransport.jsonField("id", in: body) }
}
