import Foundation

/// One bounce or complaint report, from any source (a provider webhook, a
/// DSN or ARF message), as read from the report and before it is matched to
/// a delivery. Every field but `kind`, `source` and `detail` is what the
/// report happened to carry; the recorder uses what it can to find the
/// delivery and never guesses (docs/SUPPRESSION.md).
public struct BounceNotice: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// The address does not exist or refuses for good (5.x.x, "Permanent").
        case hardBounce = "hard_bounce"
        /// A temporary refusal (4.x.x, mailbox full, "Transient").
        case softBounce = "soft_bounce"
        /// The person reported the message as spam (ARF, a provider's complaint event).
        case complaint
    }

    public var kind: Kind
    /// Where the report came from: `ses`, `postmark`, `mailgun`, `sendgrid`, `resend`, `dsn`, `arf`.
    public var source: String
    /// The recipient address the report names (Final-Recipient, the provider's recipient field).
    public var recipient: String?
    /// The provider's id of the sent message (SES MessageId, Postmark MessageID, ...),
    /// as the transport stored it in `deliveries.message_ids`.
    public var providerMessageID: String?
    /// The original message's `X-Listctl-Trace` value, `issue.subscriber.part`.
    public var trace: String?
    /// The original message's Message-ID (`listctl.<issue>.<part>.<mac>@domain`), without angle brackets.
    public var messageID: String?
    /// The token of a VERP envelope sender (`bounces+TOKEN@domain`), still unverified.
    public var verpToken: String?
    /// The diagnostic (SMTP reply, status code, provider's description), for the event and `status`.
    public var detail: String
    /// When the provider says it happened.
    public var occurredAt: Date?

    public init(
        kind: Kind, source: String, recipient: String? = nil, providerMessageID: String? = nil, trace: String? = nil,
        messageID: String? = nil, verpToken: String? = nil, detail: String, occurredAt: Date? = nil
    ) {
        self.kind = kind
        self.source = source
        self.recipient = recipient
        self.providerMessageID = providerMessageID
        self.trace = trace
        self.messageID = messageID
        self.verpToken = verpToken
        self.detail = detail
        self.occurredAt = occurredAt
    }
}
