/// A failure to hand a message over, classified so the delivery engine knows
/// whether to retry (`temporary`), to give up on this recipient (`permanent`),
/// or that the message may have been accepted (`unknown`).
///
/// Never carries credentials: messages name the user and host, not secrets.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is. Extensible: switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case rejected, recipientRejected, connectionFailed, timeout, authenticationFailed, tls, configuration, protocolError,
                rateLimited, serverError, io, closed
        }
        let base: Base
        /// The server refused the message or the sender (SMTP 4xx/5xx to MAIL
        /// FROM or DATA, HTTP 4xx): not a verdict on the recipient's address.
        public static let rejected = Code(base: .rejected)
        /// The server refused this recipient (SMTP reply to RCPT TO; Postmark's
        /// inactive recipient). Permanent means: suppress the address.
        public static let recipientRejected = Code(base: .recipientRejected)
        /// Could not connect, or the connection dropped.
        public static let connectionFailed = Code(base: .connectionFailed)
        /// The server did not answer in time.
        public static let timeout = Code(base: .timeout)
        /// The server refused the credentials in `LISTCTL_TRANSPORT`.
        public static let authenticationFailed = Code(base: .authenticationFailed)
        /// TLS could not be set up (no STARTTLS offered, certificate not trusted).
        public static let tls = Code(base: .tls)
        /// `LISTCTL_TRANSPORT` is malformed or names something unsupported.
        public static let configuration = Code(base: .configuration)
        /// The server said something this client could not understand.
        public static let protocolError = Code(base: .protocolError)
        /// HTTP 429: slow down (see `retryAfter`).
        public static let rateLimited = Code(base: .rateLimited)
        /// HTTP 5xx from the provider.
        public static let serverError = Code(base: .serverError)
        /// A local file could not be written (outbox).
        public static let io = Code(base: .io)
        /// The transport was closed before the call.
        public static let closed = Code(base: .closed)
        public var description: String { base.rawValue }
    }

    /// Retry later, give up, or not known whether it was accepted.
    public enum Classification: String, Sendable {
        /// Not accepted; retry with backoff: 4xx SMTP, timeouts and dropped
        /// connections before the whole message was sent, a reset TLS
        /// handshake, HTTP 429/5xx.
        case temporary
        /// Do not retry: 5xx SMTP, HTTP 4xx other than 429, bad configuration.
        case permanent
        /// The whole message was sent (SMTP: through the final `.` of DATA;
        /// HTTP: the whole request body), then the connection dropped or timed
        /// out before the server's answer: it may have been accepted. A retry
        /// may deliver a second copy; send it with the same Message-ID.
        case unknown
    }

    public var code: Code
    public var classification: Classification
    /// What went wrong, where, and what to do.
    public var message: String
    /// The SMTP reply code (421, 550) when the server sent one.
    public var smtpCode: Int?
    /// The HTTP status when a provider answered.
    public var httpStatus: Int?
    /// The server's own words (SMTP reply text or the provider's error body, shortened).
    public var serverText: String?
    /// How long the server asked us to wait (HTTP `Retry-After`).
    public var retryAfter: Duration?

    public init(
        code: Code, classification: Classification, message: String, smtpCode: Int? = nil,
        httpStatus: Int? = nil, serverText: String? = nil, retryAfter: Duration? = nil
    ) {
        self.code = code
        self.classification = classification
        self.message = message
        self.smtpCode = smtpCode
        self.httpStatus = httpStatus
        self.serverText = serverText
        self.retryAfter = retryAfter
    }

    /// `true` when a retry later may succeed (never for `.unknown`, which may have succeeded already).
    public var isTemporary: Bool { classification == .temporary }

    /// `true` when the message may have been accepted: see ``Classification/unknown``.
    public var isOutcomeUnknown: Bool { classification == .unknown }

    public var description: String {
        var text = classification == .unknown ? "outcome unknown: \(message)" : "\(classification.rawValue) failure: \(message)"
        if let smtpCode { text += " (SMTP \(smtpCode))" }
        if let httpStatus { text += " (HTTP \(httpStatus))" }
        if let serverText, !serverText.isEmpty { text += ": \(serverText)" }
        if let retryAfter { text += "; retry after \(retryAfter.components.seconds)s" }
        return text
    }

    static func configuration(_ message: String) -> TransportError {
        TransportError(code: .configuration, classification: .permanent, message: message)
    }
}
