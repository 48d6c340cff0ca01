/// Something that delivers finished messages: an SMTP server, a provider's
/// HTTP API, or a Maildir on disk.
///
/// Implementations are safe to call from many tasks at once; they bound their
/// own parallelism (connections) and never block Swift's cooperative pool.
public protocol MailTransport: Sendable {
    /// A short name for logs, without credentials (`smtp://mail.example.org:587`).
    var displayName: String { get }

    /// Hands one message over for delivery to `message.recipient`.
    /// - Returns: what the server said when it accepted the message.
    /// - Throws: `TransportError`, classified temporary or permanent.
    func send(_ message: OutgoingMessage) async throws(TransportError) -> TransportReceipt

    /// Closes connections and stops worker threads. Sending after `close()` fails.
    func close() async
}

/// What the server answered when it accepted a message.
public struct TransportReceipt: Sendable, Hashable {
    /// The `Message-ID` of the message sent (without angle brackets).
    public var messageID: String
    /// The server's own id for the message, when it gave one (SES MessageId,
    /// Postmark MessageID, an SMTP queue id is inside `serverText`).
    public var providerMessageID: String?
    /// The SMTP reply code (250) or HTTP status (200, 202).
    public var code: Int
    /// The server's reply text, for the record.
    public var serverText: String

    public init(messageID: String, providerMessageID: String? = nil, code: Int, serverText: String) {
        self.messageID = messageID
        self.providerMessageID = providerMessageID
        self.code = code
        self.serverText = serverText
    }
}
