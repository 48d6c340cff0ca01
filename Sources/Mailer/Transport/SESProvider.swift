import Foundation

/// Amazon SES v2: `POST /v2/email/outbound-emails` with the raw message, SigV4-signed.
struct SESProvider: HTTPProvider {
    let signer: SigV4
    var defaultBaseURL: String { "https://email.\(signer.region).amazonaws.com" }

    func request(for message: OutgoingMessage, baseURL: String, now: Date) throws(TransportError) -> HTTPProviderRequest {
        let path = "/v2/email/outbound-emails"
        let body = HTTPProviderTransport.json([
            "FromEmailAddress": message.envelopeFrom,
            "Destination": ["ToAddresses": [message.recipient]],
            "Content": ["Raw": ["Data": Data(message.data).base64EncodedString()]],
        ])
        // The signed host is the authority of the URL actually used.
        let afterScheme = baseURL.range(of: "://").map { baseURL[$0.upperBound...] } ?? Substring(baseURL)
        let host = String(afterScheme.prefix { $0 != "/" })
        let prefixPath = String(afterScheme.drop { $0 != "/" })
        let contentType = "application/json"
        let signed = signer.sign(
            method: "POST", path: prefixPath + path, headers: [("host", host), ("content-type", contentType)], payload: body,
            date: now)
        return HTTPProviderRequest(
            url: baseURL + path,
            headers: ["Content-Type: \(contentType)", "X-Amz-Date: \(signed.amzDate)", "Authorization: \(signed.authorization)"],
            body: body)
    }

    func messageID(headers: [String], body: [UInt8]) -> String? { HTTPProviderTransport.jsonField("MessageId", in: body) }

    /// SES answers 400 when the daily quota or the sending rate is exceeded
    /// (`LimitExceededException`) or sending is paused: later may work.
    func isTemporaryRejection(status: Int, headers: [String], body: [UInt8]) -> Bool {
        let type = HTTPProviderTransport.header("x-amzn-ErrorType", in: headers) ?? HTTPProviderTransport.jsonField("__type", in: body) ?? ""
        return ["LimitExceededException", "TooManyRequestsException", "SendingPausedException", "ThrottlingException"]
            .contains { type.hasPrefix($0) }
    }
}
