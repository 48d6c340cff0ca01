/// A complete message ready for a transport: RFC 5322 bytes with CRLF line endings.
public struct OutgoingMessage: Sendable {
    public var envelopeFrom: String      // bare address for MAIL FROM / Return-Path
    public var recipient: String         // bare address for RCPT TO
    public var data: [UInt8]             // the whole message, headers + body, CRLF
    public var messageID: String         // the Message-ID header value without <>
    public init(envelopeFrom: String, recipient: String, data: [UInt8], messageID: String) {
        self.envelopeFrom = envelopeFrom
        self.recipient = recipient
        self.data = data
        self.messageID = messageID
    }
}
