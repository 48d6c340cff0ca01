import Foundation
import Logging

/// SMTP submission through libcurl: `smtp://` with STARTTLS required (unless
/// `?tls=none`), or `smtps://`; AUTH PLAIN/LOGIN from the URL's userinfo.
///
/// `connections` threads each keep one SMTP session open and run one
/// transaction after another on it; messages are spread over them.
public final class SMTPTransport: MailTransport {
    public let displayName: String
    private let url: String
    private let hostAndPort: String
    private let username: String?
    private let pool: CurlWorkerPool
    private let logger: Logger

    /// Starts the worker threads; connections open on first use.
    public init(configuration: TransportConfiguration, logger: Logger) {
        precondition(configuration.scheme == .smtp || configuration.scheme == .smtps)
        var options = configuration.curlOptions
        options.username = configuration.username
        options.password = configuration.secret
        options.requireTLS = configuration.scheme == .smtp && configuration.parameters["tls"] != "none"
        hostAndPort = configuration.hostAndPort
        // The URL path is what libcurl says in EHLO: the machine's name when it
        // is fully qualified (some relays refuse a bare "localhost" from afar).
        let hostName = ProcessInfo.processInfo.hostName
        let helo = configuration.parameters["helo"] ?? (hostName.contains(".") ? hostName : "localhost")
        url = "\(configuration.scheme.rawValue)://\(hostAndPort)/\(helo)"
        username = configuration.username
        displayName = "\(configuration.scheme.rawValue)://\(hostAndPort)"
        self.logger = logger
        pool = CurlWorkerPool(size: configuration.connections, name: "smtp", options: options)
    }

    public func send(_ message: OutgoingMessage) async throws(TransportError) -> TransportReceipt {
        let url = self.url, hostAndPort = self.hostAndPort, username = self.username
        do {
            return try await pool.run { easy in
                let result = easy.sendMail(url: url, from: message.envelopeFrom, recipient: message.recipient, data: message.data)
                return Self.interpret(result, messageID: message.messageID, hostAndPort: hostAndPort, username: username)
            }
        } catch {
            logger.debug(
                "SMTP send failed",
                metadata: ["message.id": "\(message.messageID)", "transport": "\(displayName)", "error": "\(error)"])
            throw error
        }
    }

    public func close() async {
        await pool.shutdown()
    }

    // Forgetting close() must not leave threads behind: they finish the
    // queue and end (connections close as their handles are freed).
    deinit { pool.closeWithoutWaiting() }

    /// Turns curl's result into a receipt or a classified error.
    static func interpret(_ result: CurlResult, messageID: String, hostAndPort: String, username: String?) -> Result<TransportReceipt, TransportError> {
        let reply = lastReply(result.headerLines, code: result.responseCode)
        if result.curlCode == CurlResult.ok {
            return .success(TransportReceipt(messageID: messageID, code: result.responseCode, serverText: reply ?? ""))
        }
        let code = result.responseCode
        let where_ = "at \(hostAndPort)"
        switch result.curlCode {
        case CurlResult.loginDenied:
            return .failure(TransportError(
                code: .authenticationFailed, classification: .permanent,
                message: "authentication failed for user \(username ?? "(none)") \(where_); check LISTCTL_TRANSPORT's credentials",
                smtpCode: code == 0 ? nil : code, serverText: reply))
        case CurlResult.useSSLFailed:
            return .failure(TransportError(
                code: .tls, classification: .permanent,
                message: "the server \(where_) does not offer STARTTLS; use smtps:// or, on a trusted network only, ?tls=none",
                smtpCode: code == 0 ? nil : code, serverText: reply))
        case CurlResult.sslConnectError where result.tlsHandshakeInterrupted:
            // A reset or EOF mid-handshake is the network or a busy server, not a verdict.
            return .failure(TransportError(
                code: .tls, classification: .temporary,
                message: "the TLS handshake with \(where_) was cut off (\(result.errorText)); will retry"))
        case CurlResult.peerFailedVerification, CurlResult.sslCACert, CurlResult.sslConnectError:
            return .failure(TransportError(
                code: .tls, classification: .permanent,
                message: "TLS with \(where_) failed (\(result.errorText)); check the certificate, ?cafile=PATH, or ?verify=false for testing",
                serverText: reply))
        default:
            break
        }
        // The server's own verdict wins: 4xx later, 5xx never.
        if (400..<600).contains(code) {
            let temporary = code < 500
            // libcurl names the command that failed ("RCPT failed: 550"): only a
            // refusal of RCPT TO says something about the recipient's address.
            let recipient = result.errorText.hasPrefix("RCPT")
            return .failure(TransportError(
                code: recipient ? .recipientRejected : .rejected, classification: temporary ? .temporary : .permanent,
                message: "the server \(where_) refused \(recipient ? "the recipient" : "the message") (\(result.errorText))",
                smtpCode: code, serverText: reply))
        }
        if result.failedAwaitingAnswer {
            // The whole message went out, DATA's final "." included, and no
            // verdict came back: the server may have queued it.
            let what = result.curlCode == CurlResult.operationTimedOut ? "did not answer in time" : "dropped the connection"
            return .failure(TransportError(
                code: result.curlCode == CurlResult.operationTimedOut ? .timeout : .connectionFailed, classification: .unknown,
                message: "the server \(where_) \(what) after the whole message was sent, before accepting or refusing it (\(result.errorText)); it may have been delivered",
                serverText: reply))
        }
        switch result.curlCode {
        case CurlResult.operationTimedOut:
            return .failure(TransportError(
                code: .timeout, classification: .temporary, message: "the server \(where_) did not answer in time (\(result.errorText))",
                serverText: reply))
        case CurlResult.couldntConnect, CurlResult.couldntResolveHost:
            return .failure(TransportError(
                code: .connectionFailed, classification: .temporary, message: "cannot connect to \(hostAndPort) (\(result.errorText))"))
        case CurlResult.sendError, CurlResult.recvError, CurlResult.gotNothing, CurlResult.partialFile:
            return .failure(TransportError(
                code: .connectionFailed, classification: .temporary,
                message: "the connection to \(hostAndPort) failed mid-transaction (\(result.errorText))", serverText: reply))
        default:
            // Anything else (a garbled reply, an unexpected state) may pass; retry later.
            return .failure(TransportError(
                code: .protocolError, classification: .temporary,
                message: "SMTP with \(hostAndPort) failed (\(result.errorText))", smtpCode: code == 0 ? nil : code, serverText: reply))
        }
    }

    /// The last reply line with the reply code curl reports (libcurl may
    /// have said QUIT since), else the last reply line, for the record.
    private static func lastReply(_ lines: [String], code: Int) -> String? {
        let replies = lines.filter { line in
            let bytes = Array(line.utf8.prefix(3))
            return bytes.count == 3 && bytes.allSatisfy { $0 >= 48 && $0 <= 57 }
        }
        return replies.last { $0.hasPrefix(String(code)) } ?? replies.last
    }
}
