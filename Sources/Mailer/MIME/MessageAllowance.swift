import Foundation

/// What a whole message adds around a part's two encoded bodies, at the most
/// it can be: the room the `message` budget scope (``BudgetScope/message``)
/// keeps free. Each figure is measured by building the bytes with the
/// longest values listctl lets through, not estimated:
///
/// - Date: a two-digit day (the longest form, 39 bytes with its name).
/// - To: a name of ``Recipient/maxNameBytes`` bytes, the largest of several
///   kinds (quoted ASCII specials, two-, three- and four-byte characters,
///   one long word), each folded into RFC 2047 words; an address of 254 bytes.
/// - Message-ID: ``MessageBuilder/maxMessageIDLength`` bytes.
/// - List-Unsubscribe: the longest unsubscribe URL the list reserves room
///   for, and a mailto of the list's unsubscribe mailbox carrying a token as
///   long as that URL's.
/// - The trace header: issue and subscriber ids of 64 characters (the most
///   ``MessageBuilder`` accepts), a six-digit part number.
/// - DKIM-Signature: a 253-byte domain, a 63-byte selector, the default
///   signed header list, and the signature of an 8192-bit RSA key
///   (1,368 base64 characters; a 2048-bit key, `listctl dkim keygen`'s, needs 344).
/// - From, Reply-To, Subject, List-Id, List-Unsubscribe-Post, MIME-Version,
///   Content-Type and the three boundary lines: exact for the part, with a
///   64-character issue id in the boundary.
///
/// ``MessageBuilder/message(for:part:messageID:envelopeFrom:date:)``
/// refuses a recipient whose headers would take more than this.
/// Relays and receivers add headers of their own (Received, Return-Path,
/// ARC); nobody can reserve room for those, which is one reason the default
/// budget stays well under Gmail's 102 KB.
enum MessageAllowance {
    /// The longest issue id ``MessageBuilder`` accepts: its boundary and trace header hold it.
    static let longestIssueID = String(repeating: "i", count: 64)

    /// Date, To, Message-ID, List-Unsubscribe and the trace header, at their longest for `identity`.
    static func recipientHeaders(_ identity: ListIdentity) -> Int {
        let email = String(repeating: "a", count: 64) + "@" + String(repeating: "a", count: 189)
        let size = Recipient.maxNameBytes
        let names = [
            String(repeating: "\"", count: size), String(repeating: "a", count: size),
            String(repeating: "é", count: size / 2), String(repeating: "€", count: size / 3) + String(repeating: "a", count: size % 3),
            String(repeating: "😀", count: size / 4), String(repeating: "a ", count: size / 2),
        ]
        let prefix = (identity.baseURL ?? "https://example.com") + ListIdentity.unsubscribePath
        let token = String(repeating: "A", count: max(0, identity.maxUnsubscribeURLLength - prefix.utf8.count))
        let mailbox = identity.unsubscribeMailbox ?? "unsubscribe@\(identity.domain)"
        let mailto = "mailto:\(mailbox)?subject=unsubscribe%20\(token)"
        var longest = 0
        for name in names {
            var data: [UInt8] = []
            // 31 December: the longest date there is.
            MessageBuilder.writeDate(Date(timeIntervalSince1970: 1_798_761_599), into: &data)
            MessageBuilder.writeRecipientHeaders(
                name: name, email: email, messageID: String(repeating: "m", count: MessageBuilder.maxMessageIDLength - 12) + "@example.org",
                unsubscribeURL: identity.worstCase(.unsubscribeURL), mailto: mailto,
                trace: MessageBuilder.trace(issue: longestIssueID, subscriber: String(repeating: "s", count: 64), part: 999_999),
                into: &data)
            longest = max(longest, data.count)
        }
        return longest
    }

    /// A DKIM-Signature field at its longest (see the type's description).
    static let dkimSignature: Int = {
        var folder = HeaderFolder(start: "DKIM-Signature: ")
        let tags = ["v=1;", "a=rsa-sha256;", "c=relaxed/relaxed;", "d=\(String(repeating: "d", count: 253));",
                    "s=\(String(repeating: "s", count: 63));", "t=9999999999;"]
        for (index, tag) in tags.enumerated() { folder.add(tag, separator: index == 0 ? "" : " ") }
        let names = DKIMSigner.defaultHeaders.map { $0.lowercased() }
        for (index, name) in names.enumerated() {
            folder.add((index == 0 ? "h=" : "") + name + (index == names.count - 1 ? ";" : ":"), separator: index == 0 ? " " : "")
        }
        folder.add("bh=\(String(repeating: "B", count: 44));", separator: " ")
        folder.add("b=", separator: " ")
        folder.addBreakable(String(repeating: "S", count: 1368))
        return folder.text.utf8.count + 2
    }()

    /// The shared headers and MIME framing of part `number` of `total` with `subject`.
    static func framing(_ identity: ListIdentity, subject: String, number: Int, total: Int) -> Int {
        let boundary = MessageBuilder.boundary(issueID: longestIssueID, number: number, total: total)
        return MessageBuilder.commonHeaders(identity: identity, subject: subject, boundary: boundary).count
            + MessageBuilder.alternativeHead(boundary: boundary, subtype: "plain").count
            + MessageBuilder.alternativeHead(boundary: boundary, subtype: "html").count
            + MessageBuilder.closingBoundary(boundary).count
    }

    /// Everything but the two encoded bodies, at its longest.
    static func total(_ identity: ListIdentity, subject: String, number: Int, total: Int) -> Int {
        framing(identity, subject: subject, number: number, total: total) + recipientHeaders(identity) + dkimSignature
    }

    /// Room for `field` in the text alternative: its longest value encoded,
    /// and two soft line breaks, since where the breaks fall depends on the characters.
    static func reservedText(_ identity: ListIdentity, _ field: RecipientField) -> Int {
        EncodedPersonalizedBytes.encodeValue(identity.worstCaseText(field), html: false).count + 6
    }
}
