import Foundation
import Logging

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
            // The whole request body went out and no status came back (or not a
            // refusal): the provider may have accepted the message.
            if result.failedAwaitingAnswer, !(400..<600).contains(result.responseCode) {
                return .failure(TransportError(
                    code: timedOut ? .timeout : .connectionFailed, classification: .unknown,
                    message: "\(displayName): no answer after the whole request was sent (\(result.errorText)); it may have been accepted",
                    httpStatus: result.responseCode == 0 ? nil : result.responseCode))
            }
            return .failure(TransportError(
                code: timedOut ? .timeout : tls ? .tls : .connectionFailed,
                classification: tls && !result.tlsHandshakeInterrupted ? .permanent : .temporary,
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
            let recipient = provider.isRecipientRejection(status: status, headers: headers, body: result.body)
            return .failure(TransportError(
                code: recipient ? .recipientRejected : .rejected, classification: .permanent,
                message: "\(displayName) rejected \(recipient ? "the recipient" : "the message")",
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
