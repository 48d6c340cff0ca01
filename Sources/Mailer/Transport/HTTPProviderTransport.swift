import Foundation
import Logging

/// One HTTP request to a provider's API.
struct HTTPProviderRequest: Sendable {
    var method = "POST"
    var url: String
    /// Complete header lines, `Name: value`.
    var headers: [String]
    var body: [UInt8]
}

/// How one provider's API takes a message and names it in its answer.
protocol HTTPProvider: Sendable {
    /// Default base URL; `?endpoint=` replaces it.
    var defaultBaseURL: String { get }
    func request(for message: OutgoingMessage, baseURL: String, now: Date) throws(TransportError) -> HTTPProviderRequest
    /// The provider's id for an accepted message.
    func messageID(headers: [String], body: [UInt8]) -> String?
    /// True when a 4xx answer other than 429 still means "try later" (a
    /// quota, a paused account); the default is no.
    func isTemporaryRejection(status: Int, headers: [String], body: [UInt8]) -> Bool
}

extension HTTPProvider {
    func isTemporaryRejection(status: Int, headers: [String], body: [UInt8]) -> Bool { false }
}

/// Sends through a provider's HTTP API with libcurl, `connections` requests
/// in parallel on worker threads (each keeps its HTTP connection alive).
public final class HTTPProviderTransport: MailTransport {
    public let displayName: String
    private let provider: any HTTPProvider
    private let baseURL: String
    private let pool: CurlWorkerPool
    private let logger: Logger

    init(configuration: TransportConfiguration, logger: Logger) throws(TransportError) {
        let secret = configuration.secret ?? ""
        switch configuration.scheme {
        case .ses:
            provider = SESProvider(
                signer: SigV4(accessKeyID: configuration.username ?? "", secretAccessKey: secret, region: configuration.host, service: "ses"))
        case .postmark: provider = PostmarkProvider(token: secret, stream: configuration.parameters["stream"])
        case .mailgun: provider = MailgunProvider(apiKey: secret, domain: configuration.host)
        case .sendgrid: provider = SendGridProvider(apiKey: secret)
        case .resend: provider = ResendProvider(apiKey: secret)
        default: throw .configuration("\(configuration.scheme.rawValue):// is not an HTTP provider")
        }
        var base = configuration.parameters["endpoint"] ?? provider.defaultBaseURL
        while base.hasSuffix("/") { base.removeLast() }
        baseURL = base
        displayName = "\(configuration.scheme.rawValue) via \(base)"
        self.logger = logger
        pool = CurlWorkerPool(size: configuration.connections, name: configuration.scheme.rawValue, options: configuration.curlOptions)
    }

    public func send(_ message: OutgoingMessage) async throws(TransportError) -> TransportReceipt {
        let request = try provider.request(for: message, baseURL: baseURL, now: Date())
        let provider = self.provider, displayName = self.displayName
        return try await pool.run { easy in
            let result = easy.http(method: request.method, url: request.url, headers: request.headers, body: request.body)
            return Self.interpret(result, provider: provider, messageID: message.messageID, displayName: displayName)
        }
    }

    public func close() async {
        await pool.shutdown()
    }

    // Forgetting close() must not leave threads behind: they finish the
    // queue and end (connections close as their handles are freed).
    deinit { pool.closeWithoutWaiting() }

    static func interpret(
        _ result: CurlResult, provider: any HTTPProvider, messageID: String, displayName: String
    ) -> Result<TransportReceipt, TransportError> {
        if result.curlCode != CurlResult.ok {
            let timedOut = result.curlCode == CurlResult.operationTimedOut
            let tls = [CurlResult.peerFailedVerification, CurlResult.sslCACert, CurlResult.sslConnectError].contains(result.curlCode)
            return .failure(TransportError(
                code: timedOut ? .timeout : tls ? .tls : .connectionFailed,
                classification: tls ? .permanent : .temporary,
                message: "\(displayName): \(result.errorText)"))
        }
        let status = result.responseCode
        let text = String(decoding: result.body.prefix(600), as: UTF8.self)
        // Only the last response's headers count (after a 100 Continue, say).
        var headers: [String] = []
        for line in result.headerLines {
            if line.hasPrefix("HTTP/") { headers.removeAll() }
            headers.append(line)
        }
        if (200..<300).contains(status) {
            return .success(TransportReceipt(
                messageID: messageID, providerMessageID: provider.messageID(headers: headers, body: result.body),
                code: status, serverText: text))
        }
        let retryAfter = retryAfterValue(headers)
        if (400..<500).contains(status), status != 429, provider.isTemporaryRejection(status: status, headers: headers, body: result.body) {
            return .failure(TransportError(
                code: .rateLimited, classification: .temporary, message: "\(displayName) refused for now (quota or pause)",
                httpStatus: status, serverText: text, retryAfter: retryAfter))
        }
        switch status {
        case 429:
            return .failure(TransportError(
                code: .rateLimited, classification: .temporary, message: "\(displayName) asks to slow down",
                httpStatus: status, serverText: text, retryAfter: retryAfter))
        case 500..<600:
            return .failure(TransportError(
                code: .serverError, classification: .temporary, message: "\(displayName) had a server error",
                httpStatus: status, serverText: text, retryAfter: retryAfter))
        case 401, 403:
            return .failure(TransportError(
                code: .authenticationFailed, classification: .permanent,
                message: "\(displayName) refused the credentials; check LISTCTL_TRANSPORT's key or token",
                httpStatus: status, serverText: text))
        default:
            return .failure(TransportError(
                code: .rejected, classification: .permanent, message: "\(displayName) rejected the message",
                httpStatus: status, serverText: text))
        }
    }

    /// `Retry-After` as seconds or as an HTTP date.
    static func retryAfterValue(_ headers: [String]) -> Duration? {
        guard let line = headers.last(where: { $0.lowercased().hasPrefix("retry-after:") }) else { return nil }
        let value = line.dropFirst("retry-after:".count).trimmingCharacters(in: .whitespaces)
        if let seconds = Int(value) { return .seconds(max(0, seconds)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        if let date = formatter.date(from: value) {
            return .seconds(max(0, Int(date.timeIntervalSinceNow.rounded(.up))))
        }
        return nil
    }

    static func header(_ name: String, in headers: [String]) -> String? {
        let prefix = name.lowercased() + ":"
        return headers.last { $0.lowercased().hasPrefix(prefix) }.map {
            $0.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
        }
    }

    static func jsonField(_ name: String, in body: [UInt8]) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        return object[name] as? String
    }

    static func json(_ object: [String: Any]) -> [UInt8] {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])).map(Array.init) ?? []
    }
}

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

/// SendGrid: `POST /v3/mail/send` with JSON fields; answers 202 and `X-Message-Id`.
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
