import Foundation

/// Mailgun: `POST /v3/DOMAIN/messages.mime`, multipart form with the raw message.
struct MailgunProvider: HTTPProvider {
    let apiKey: String
    let domain: String
    var defaultBaseURL: String { "https://api.mailgun.net" }

    func request(for message: OutgoingMessage, baseURL: String, now: Date) throws(TransportError) -> HTTPProviderRequest {
        let boundary = "listctl-" + UUID().uuidString
        var body: [UInt8] = []
        body.reserveCapacity(message.data.count + 512)
        body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\n\(message.recipient)\r\n".utf8)
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

    func messageID(headers: [String], body: [UInt8]) -> String? { HTTPProviderTransport.jsonField("id", in: body) }
}
