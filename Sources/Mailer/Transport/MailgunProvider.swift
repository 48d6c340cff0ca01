import Foundation

/// Mailgun: `POST /v3/DOMAIN/messages.mime`, multipart form with the raw message.
///
/// Every message carries `o:tracking`, `o:tracking-clicks` and
/// `o:tracking-opens` set to `no`, which Mailgun ranks above the domain's
/// tracking settings: click tracking rewrites every link and the pixel adds
/// more, growing the HTML past the budget the splitter cut it to.
struct MailgunProvider: HTTPProvider {
    let apiKey: String
    let domain: String
    var defaultBaseURL: String { "https://api.mailgun.net" }

    func request(for message: OutgoingMessage, baseURL: String, now: Date) throws(TransportError) -> HTTPProviderRequest {
        let boundary = "listctl-" + UUID().uuidString
        var body: [UInt8] = []
        body.reserveCapacity(message.data.count + 512)
        func field(_ name: String, _ value: String) {
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
        }
        field("to", message.recipient)
        for (name, value) in Self.trackingOff { field(name, value) }
        body += Array(
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"message\"; filename=\"message.mime\"\r\nContent-Type: message/rfc822\r\n\r\n"
                .utf8)
        body += message.data
        body += Array("\r\n--\(boundary)--\r\n".utf8)
        let credentials = Data("api:\(apiKey)".utf8).base64EncodedString()
        return HTTPProviderRequest(
            url: "\(baseURL)/v3/\(domain)/messages.mime",
            headers: ["Authorization: Basic \(credentials)", "Content-Type: multipart/form-data; boundary=\(boundary)"],
            body: body)
    }

    /// The per-message options that switch tracking off.
    static let trackingOff = [("o:tracking", "no"), ("o:tracking-clicks", "no"), ("o:tracking-opens", "no")]

    func messageID(headers: [String], body: [UInt8]) -> String? { HTTPProviderTransport.jsonField("id", in: body) }
}
