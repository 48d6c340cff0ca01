import Foundation

/// A rendered part made ready for sending: every header and body byte that
/// is the same for all recipients is built and encoded once.
public struct PreparedPart: Sendable {
    public var number: Int
    public var total: Int
    public var subject: String
    /// Headers common to every recipient (From, Reply-To, Subject, List-Id,
    /// List-Archive, List-Unsubscribe-Post, MIME-Version, Content-Type), CRLF-terminated.
    var commonHeaders: [UInt8]
    /// Everything from the blank line after the headers to the end, holes open.
    var body: EncodedPersonalizedBytes
    /// Encoded size reserved per field in the HTML (what the budget assumed).
    var reservedHTML: [Int]
    var fieldCountsHTML: [RecipientField: Int]
    /// Encoded size reserved per field in the text (what the `message` budget scope assumed).
    var reservedText: [Int]
    var fieldCountsText: [RecipientField: Int]
    /// Cut with the `message` scope: text fields and per-recipient headers are held to their room too.
    var wholeMessage: Bool
}

/// Builds the personalised RFC 5322 message for one recipient and one part.
///
/// Per message it only writes Date, To, Message-ID, List-Unsubscribe and the
/// trace header, and encodes the recipient's four fields into the prepared
/// body: cheap enough to run millions of times.
public struct MessageBuilder: Sendable {
    public let identity: ListIdentity
    /// The issue's id: goes into Message-ID and the trace header.
    public let issueID: String
    public let parts: [PreparedPart]

    /// The name of the header that traces a message back to (issue, subscriber, part).
    public static let traceHeader = "X-Listctl-Trace"

    /// Prepares `parts` of one issue.
    /// - Throws: `MailerError` `.invalidHeader` when a sender field or the
    ///   subject holds a line break, or a sender address is not one
    ///   ``EmailAddress/init(validating:)`` accepts.
    public init(identity: ListIdentity, issueID: String, parts: [RenderedPart]) throws {
        self.identity = identity
        self.issueID = issueID
        try Self.checkID(issueID, what: "issue id")
        try HeaderEncoding.checkAddress(identity.fromAddress, role: "From")
        try HeaderEncoding.check(identity.fromName, header: "From")
        try HeaderEncoding.check(identity.name, header: "List-Id")
        if let replyTo = identity.replyTo { try HeaderEncoding.checkAddress(replyTo, role: "Reply-To") }
        if let envelope = identity.envelopeFrom { try HeaderEncoding.checkAddress(envelope, role: "envelope sender") }
        if let archive = identity.archiveURL { try HeaderEncoding.check(archive, header: "List-Archive") }
        let reserved = RecipientField.allCases.map {
            EncodedPersonalizedBytes.encodeValue(identity.worstCase($0), html: true).count
        }
        let reservedText = RecipientField.allCases.map { MessageAllowance.reservedText(identity, $0) }
        var prepared: [PreparedPart] = []
        for part in parts {
            try HeaderEncoding.check(part.subject, header: "Subject")
            let boundary = Self.boundary(issueID: issueID, number: part.number, total: part.total)
            let headers = Self.commonHeaders(identity: identity, subject: part.subject, boundary: boundary)

            var segments: [EncodedPersonalizedBytes.Segment] = []
            var head: [UInt8] = []
            // Literal bytes gather in `head`; each field closes the run before it.
            func append(_ body: EncodedPersonalizedBytes) {
                for segment in body.segments {
                    switch segment {
                    case .bytes(let bytes):
                        head.append(contentsOf: bytes)
                    case .field(let field):
                        segments.append(.bytes(head))
                        head = []
                        segments.append(.field(field))
                    }
                }
            }
            head.append(contentsOf: Self.alternativeHead(boundary: boundary, subtype: "plain"))
            append(part.encodedText)
            head.append(contentsOf: Self.alternativeHead(boundary: boundary, subtype: "html"))
            // HTML fields are marked as such, so their values are escaped for HTML.
            append(part.encodedHTML)
            head.append(contentsOf: Self.closingBoundary(boundary))
            segments.append(.bytes(head))
            prepared.append(
                PreparedPart(
                    number: part.number, total: part.total, subject: part.subject, commonHeaders: headers,
                    body: EncodedPersonalizedBytes(segments: segments), reservedHTML: reserved,
                    fieldCountsHTML: part.html.fieldCounts, reservedText: reservedText, fieldCountsText: part.text.fieldCounts,
                    wholeMessage: part.budgetScope == .message))
        }
        recipientHeaderAllowance = MessageAllowance.recipientHeaders(identity)
        self.parts = prepared
        htmlFieldFlags = parts.map { part in
            // Which holes of the combined body are in the HTML alternative.
            var flags: [Bool] = []
            for segment in part.encodedText.segments { if case .field = segment { flags.append(false) } }
            for segment in part.encodedHTML.segments { if case .field = segment { flags.append(true) } }
            return flags
        }
    }

    /// For each part, for each hole in body order: whether it is in the HTML.
    private let htmlFieldFlags: [[Bool]]
    /// The most that Date, To, Message-ID, List-Unsubscribe and the trace
    /// header may take together (``MessageAllowance/recipientHeaders(_:)``).
    let recipientHeaderAllowance: Int

    /// The MIME boundary of part `number` of `total`. "=_" can never occur in
    /// quoted-printable text, so the boundary cannot collide with the body.
    static func boundary(issueID: String, number: Int, total: Int) -> String {
        "=_listctl_\(slugSafe(issueID))_\(number)_of_\(total)"
    }

    /// The headers every recipient's copy of a part shares (From, Reply-To,
    /// Subject, List-Id, List-Unsubscribe-Post, MIME-Version, Content-Type).
    static func commonHeaders(identity: ListIdentity, subject: String, boundary: String) -> [UInt8] {
        var headers: [UInt8] = []
        HeaderEncoding.write("From", words: HeaderEncoding.mailbox(name: identity.fromName, address: identity.fromAddress, header: "From"), into: &headers)
        if let replyTo = identity.replyTo {
            HeaderEncoding.write("Reply-To", words: ["<\(replyTo)>"], into: &headers)
        }
        HeaderEncoding.write("Subject", words: HeaderEncoding.unstructured(subject, header: "Subject"), into: &headers)
        HeaderEncoding.write(
            "List-Id", words: HeaderEncoding.phrase(identity.name, header: "List-Id") + ["<\(listID(identity))>"], into: &headers)
        if let archive = identity.archiveURL {
            HeaderEncoding.write("List-Archive", words: ["<\(archive)>"], into: &headers)
        }
        HeaderEncoding.write("List-Unsubscribe-Post", words: ["List-Unsubscribe=One-Click"], into: &headers)
        HeaderEncoding.write("MIME-Version", words: ["1.0"], into: &headers)
        HeaderEncoding.write("Content-Type", words: ["multipart/alternative;", "boundary=\"\(boundary)\""], into: &headers)
        return headers
    }

    /// The blank line or boundary before an alternative, and its headers; `subtype` is `plain` or `html`.
    static func alternativeHead(boundary: String, subtype: String) -> [UInt8] {
        Array("\r\n--\(boundary)\r\nContent-Type: text/\(subtype); charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n".utf8)
    }

    static func closingBoundary(_ boundary: String) -> [UInt8] { Array("\r\n--\(boundary)--\r\n".utf8) }

    /// Writes the headers that differ per recipient, after the common ones.
    static func writeRecipientHeaders(
        name: String, email: String, messageID: String, unsubscribeURL: String, mailto: String, trace: String,
        into data: inout [UInt8]
    ) {
        HeaderEncoding.write("To", words: HeaderEncoding.mailbox(name: name, address: email, header: "To"), into: &data)
        HeaderEncoding.write("Message-ID", words: ["<\(messageID)>"], into: &data)
        HeaderEncoding.write("List-Unsubscribe", words: ["<\(unsubscribeURL)>,", "<\(mailto)>"], into: &data)
        HeaderEncoding.write(traceHeader, words: [trace], into: &data)
    }

    static func writeDate(_ date: Date, into data: inout [UInt8]) {
        HeaderEncoding.write("Date", words: [rfc5322Date(date)], into: &data)
    }

    /// `slug.domain`, the list's RFC 2919 identifier.
    public static func listID(_ identity: ListIdentity) -> String { "\(slugSafe(identity.slug)).\(identity.domain)" }

    static func slugSafe(_ value: String) -> String {
        String(value.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") ? $0 : "-" })
    }

    static func checkID(_ id: String, what: String) throws {
        let ok = !id.isEmpty && id.utf8.count <= 64
            && id.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) || $0 == 45 || $0 == 95 }
        if !ok {
            throw MailerError(
                code: .invalidArgument, message: "\(what) \(id.debugDescription) must be 1-64 letters, digits, - or _")
        }
    }

    /// The message for `recipient`, part `number` (1-based).
    ///
    /// - Parameters:
    ///   - messageID: the Message-ID to write, without `<>`; when nil,
    ///     `listctl.ISSUE.SUBSCRIBER.PART@DOMAIN` (``defaultMessageID(subscriberID:part:)``).
    ///     The delivery engine passes the id its ledger stored, so a re-send
    ///     carries the same Message-ID and receivers can collapse duplicates.
    ///     It must be `id-left@id-right` with both sides RFC 5322
    ///     dot-atom-text (letters, digits, ``!#$%&'*+-/=?^_`{|}~`` and
    ///     single inner dots), at most ``maxMessageIDLength`` bytes.
    ///   - envelopeFrom: the envelope sender (MAIL FROM, Return-Path) for this
    ///     message alone, such as a VERP address `bounces+TOKEN@example.com`;
    ///     when nil, the identity's `envelopeFrom`, else its `fromAddress`.
    ///     Checked as ``EmailAddress/init(validating:)`` checks addresses, so
    ///     its local part is at most 64 bytes (RFC 5321): after `bounces+`,
    ///     56 characters are left for a VERP token.
    ///   - date: the Date header.
    /// - Returns: the message; its `messageID` and `envelopeFrom` are the
    ///   ones written.
    /// - Throws: `MailerError` `.invalidArgument` for a part that does not
    ///   exist, a malformed `messageID` or `envelopeFrom`; `.invalidRecipient`
    ///   for an address that ``EmailAddress/init(validating:)`` refuses, an
    ///   unsubscribe or preferences URL that is not https (or
    ///   `http://localhost`) or holds spaces, quotes or angle brackets, a
    ///   `mailto:` URI that is malformed, or a field longer than the room the
    ///   splitter reserved for it (for a part cut with ``BudgetScope/message``,
    ///   in the text too, and headers longer than ``MessageAllowance``'s); `.invalidHeader` for a line break in a
    ///   field that goes into a header (name, address, unsubscribe URL, mailto).
    public func message(
        for recipient: Recipient, part number: Int, messageID: String? = nil, envelopeFrom: String? = nil,
        date: Date = Date()
    ) throws -> OutgoingMessage {
        guard number >= 1 && number <= parts.count else {
            throw MailerError(code: .invalidArgument, message: "part \(number) does not exist (the issue has \(parts.count))")
        }
        let part = parts[number - 1]
        try HeaderEncoding.checkAddress(recipient.email, role: "recipient", code: .invalidRecipient)
        try HeaderEncoding.check(recipient.name, header: "To")
        try HeaderEncoding.check(recipient.unsubscribeURL, header: "List-Unsubscribe")
        try Self.checkID(recipient.subscriberID, what: "subscriber id")
        try Self.checkPageURL(recipient.unsubscribeURL, what: "unsubscribe URL")
        try Self.checkPageURL(recipient.preferencesURL, what: "preferences URL")
        if !recipient.confirmURL.isEmpty { try Self.checkPageURL(recipient.confirmURL, what: "confirmation URL") }
        let mailto = recipient.unsubscribeMailto ?? "mailto:\(identity.unsubscribeMailbox ?? "unsubscribe@\(identity.domain)")?subject=unsubscribe"
        try HeaderEncoding.check(mailto, header: "List-Unsubscribe")
        try Self.checkMailto(mailto)
        if let messageID { try Self.checkMessageID(messageID) }
        if let envelopeFrom { try HeaderEncoding.checkAddress(envelopeFrom, role: "envelope sender", code: .invalidArgument) }

        // Encode each field once for HTML and once for text.
        var htmlValues: [[UInt8]] = []
        var textValues: [[UInt8]] = []
        for field in RecipientField.allCases {
            let value = recipient.value(of: field)
            let html = EncodedPersonalizedBytes.encodeValue(value, html: true)
            if html.count > part.reservedHTML[field.rawValue] && part.fieldCountsHTML[field] != nil {
                throw MailerError(
                    code: .invalidRecipient,
                    message: "the recipient's \(field.templateKey) is longer than the room reserved for it in the HTML (\(html.count) > \(part.reservedHTML[field.rawValue]) encoded bytes)")
            }
            let text = EncodedPersonalizedBytes.encodeValue(value, html: false)
            if part.wholeMessage && text.count > part.reservedText[field.rawValue] && part.fieldCountsText[field] != nil {
                throw MailerError(
                    code: .invalidRecipient,
                    message: "the recipient's \(field.templateKey) is longer than the room reserved for it in the text (\(text.count) > \(part.reservedText[field.rawValue]) encoded bytes)")
            }
            htmlValues.append(html)
            textValues.append(text)
        }

        let messageID = messageID ?? defaultMessageID(subscriberID: recipient.subscriberID, part: number)
        var data: [UInt8] = []
        data.reserveCapacity(part.commonHeaders.count + part.body.fixedCount + 1024)
        Self.writeDate(date, into: &data)
        let dateBytes = data.count
        data.append(contentsOf: part.commonHeaders)
        let recipientStart = data.count
        Self.writeRecipientHeaders(
            name: recipient.name, email: recipient.email, messageID: messageID, unsubscribeURL: recipient.unsubscribeURL,
            mailto: mailto, trace: Self.trace(issue: issueID, subscriber: recipient.subscriberID, part: number), into: &data)
        let recipientBytes = dateBytes + data.count - recipientStart
        if part.wholeMessage && recipientBytes > recipientHeaderAllowance {
            // The `message` budget scope counted on this room; more would push a part over it.
            throw MailerError(
                code: .invalidRecipient,
                message: "the recipient's headers (Date, To, Message-ID, List-Unsubscribe, \(Self.traceHeader)) take \(recipientBytes) bytes, more than the \(recipientHeaderAllowance) reserved for them; shorten the name (at most \(Recipient.maxNameBytes) bytes) or the unsubscribe mailto")
        }
        let flags = htmlFieldFlags[number - 1]
        var hole = 0
        part.body.write(into: &data) { field in
            defer { hole += 1 }
            return hole < flags.count && flags[hole] ? htmlValues[field.rawValue] : textValues[field.rawValue]
        }
        return OutgoingMessage(
            envelopeFrom: envelopeFrom ?? identity.envelopeFrom ?? identity.fromAddress, recipient: recipient.email, data: data,
            messageID: messageID)
    }

    /// The Message-ID (without `<>`) a message gets when the caller names
    /// none: `listctl.ISSUE.SUBSCRIBER.PART@DOMAIN`, the same on every build.
    public func defaultMessageID(subscriberID: String, part number: Int) -> String {
        "listctl.\(issueID).\(subscriberID).\(number)@\(identity.domain)"
    }

    /// The longest Message-ID (without `<>`) ``message(for:part:messageID:envelopeFrom:date:)`` accepts, in bytes.
    public static let maxMessageIDLength = 200

    /// Refuses anything but `dot-atom-text@dot-atom-text` (RFC 5322 §3.6.4
    /// without the obsolete forms and domain literals), at most 200 bytes.
    static func checkMessageID(_ id: String) throws {
        func isDotAtomText(_ bytes: ArraySlice<UInt8>) -> Bool {
            // atext: ALPHA / DIGIT / "!#$%&'*+-/=?^_`{|}~"
            let specials = Set("!#$%&'*+-/=?^_`{|}~".utf8)
            guard let first = bytes.first, let last = bytes.last, first != 46, last != 46 else { return false }
            var previousDot = false
            for byte in bytes {
                if byte == 46 {
                    if previousDot { return false }
                    previousDot = true
                    continue
                }
                previousDot = false
                let isAtext = (byte >= 48 && byte <= 57) || (byte | 0x20 >= 97 && byte | 0x20 <= 122) || specials.contains(byte)
                if !isAtext { return false }
            }
            return true
        }
        let bytes = Array(id.utf8)
        let ats = bytes.indices.filter { bytes[$0] == 64 }
        guard bytes.count <= maxMessageIDLength, ats.count == 1, let at = ats.first,
            isDotAtomText(bytes[..<at]), isDotAtomText(bytes[(at + 1)...])
        else {
            throw MailerError(
                code: .invalidArgument,
                message: "Message-ID \(id.debugDescription) must be id-left@id-right without <>: letters, digits, dots (not first, last or doubled) and !#$%&'*+-/=?^_`{|}~ on each side, at most \(maxMessageIDLength) bytes")
        }
    }

    /// An unsubscribe or preferences URL: https (or http://localhost), no
    /// spaces, controls, quotes or angle brackets, which would end the
    /// `<...>` of List-Unsubscribe or the `href="..."` of the footer.
    static func checkPageURL(_ url: String, what: String) throws {
        guard url.hasPrefix("https://") || url.hasPrefix("http://localhost"),
            !url.utf8.contains(where: { $0 <= 32 || $0 == 127 || $0 == 60 || $0 == 62 || $0 == 34 })
        else {
            throw MailerError(
                code: .invalidRecipient,
                message: "\(what) \(url.debugDescription) must be an https URL without spaces, quotes or angle brackets")
        }
    }

    /// The `mailto:` URI of List-Unsubscribe: `mailto:` then no spaces,
    /// controls (CR, LF), quotes or angle brackets; those must be
    /// percent-encoded (RFC 6068), as in `?subject=unsubscribe%20TOKEN`.
    static func checkMailto(_ uri: String) throws {
        guard uri.lowercased().hasPrefix("mailto:"), uri.utf8.count > 7,
            !uri.utf8.contains(where: { $0 <= 32 || $0 == 127 || $0 == 60 || $0 == 62 || $0 == 34 })
        else {
            throw MailerError(
                code: .invalidRecipient,
                message: "unsubscribe mailto \(uri.debugDescription) must be a mailto: URI without spaces, line breaks, quotes or angle brackets (percent-encode them: %20)")
        }
    }

    /// The trace header's value: `issue.subscriber.part`.
    public static func trace(issue: String, subscriber: String, part: Int) -> String { "\(issue).\(subscriber).\(part)" }

    /// Reads a trace header value back (for bounce and complaint handling).
    public static func parseTrace(_ value: String) -> (issue: String, subscriber: String, part: Int)? {
        let fields = value.trimmingSpaces.split(separator: ".", omittingEmptySubsequences: false)
        guard fields.count == 3, !fields[0].isEmpty, !fields[1].isEmpty, let part = Int(fields[2]) else { return nil }
        return (String(fields[0]), String(fields[1]), part)
    }

    /// `Fri, 27 Nov 2026 11:52:07 +0000`, independent of locale.
    public static func rfc5322Date(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Howard Hinnant's civil-from-days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        let weekday = ((days % 7) + 11) % 7  // 1970-01-01 was a Thursday
        let names = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(names[weekday]), \(day) \(months[month - 1]) \(year) \(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)) +0000"
    }
}
