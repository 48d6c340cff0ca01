import Foundation

/// SendGrid: `POST /v3/mail/send` with JSON fields; answers 202 and `X-Message-Id`.
///
/// Every message switches off, in `tracking_settings`, what would rewrite or
/// add to the body: click tracking (HTML and text), the open pixel, Google
/// Analytics parameters on every link, and SendGrid's own unsubscribe footer
/// (listctl has its footer and List-Unsubscribe). Each would grow the HTML
/// past the budget the splitter cut it to. Per-message settings override the
/// account's.
struct SendGridProvider: HTTPProvider {
    let apiKey: String
    var defaultBaseURL: String { "https://api.sendgrid.com" }

    func request(for message: OutgoingMessage, baseURL: String, now: Date) throws(TransportError) -> HTTPProviderRequest {
        let content = try MIMEContent(message: message.data)
        var parts: [[String: String]] = []
        if let text = content.text { parts.append(["type": "text/plain", "value": text]) }
        if let html = content.html { parts.append(["type": "text/html", "value": html]) }
        var object: [String: Any] = [
            "personalizations": [["to": [["email": message.recipient]]]],
            "from": Self.address(content.from), "subject": content.subject, "content": parts,
            "tracking_settings": Self.trackingOff,
        ]
        if !content.headers.isEmpty {
            object["headers"] = Dictionary(content.headers.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        }
        if let replyTo = content.replyTo { object["reply_to"] = Self.address(replyTo) }
        return HTTPProviderRequest(
            url: "\(baseURL)/v3/mail/send",
            headers: ["Authorization: Bearer \(apiKey)", "Content-Type: application/json"],
            body: HTTPProviderTransport.json(object))
    }

    /// `tracking_settings` with everything that touches the body off.
    static let trackingOff: [String: [String: Bool]] = [
        "click_tracking": ["enable": false, "enable_text": false],
        "open_tracking": ["enable": false],
        "subscription_tracking": ["enable": false],
        "ganalytics": ["enable": false],
    ]

    /// `Name <addr>` as SendGrid's `{email, name}`.
    static func address(_ text: String) -> [String: String] {
        guard let open = text.lastIndex(of: "<"), let close = text.lastIndex(of: ">"), open < close else {
            return ["email": text.trimmingCharacters(in: .whitespaces)]
        }
        var name = text[..<open].trimmingCharacters(in: .whitespaces)
        if name.hasPrefix("\""), name.hasSuffix("\""), name.count >= 2 { name = String(name.dropFirst().dropLast()) }
        let email = String(text[text.index(after: open)..<close])
        return name.isEmpty ? ["email": email] : ["email": email, "name": name]
    }

    func messageID(headers: [String], body: [UInt8]) -> String? { HTTPProviderTransport.header("X-Message-Id", in: headers) }
}
