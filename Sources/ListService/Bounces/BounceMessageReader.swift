import Foundation

/// What a message received at the bounce or unsubscribe mailbox says, read
/// without the database (docs/BOUNCES.md): an RFC 3464 delivery status
/// notification, an RFC 5965 (ARF) complaint, a `mailto:` unsubscribe, or
/// none of them. It only reads; ``BounceRecorder`` and
/// ``SubscriptionChanges`` decide what is true.
public enum BounceMessage: Sendable, Equatable {
    /// A DSN: one notice per recipient that failed (hard or soft) or was delayed (soft).
    case delivery([BounceNotice])
    /// An ARF report of `Feedback-Type: abuse` or `fraud`.
    case complaint(BounceNotice)
    /// Subject `unsubscribe TOKEN` (the `mailto:` of List-Unsubscribe): the token, still unverified.
    /// `from` is kept for the record only: anyone can write any From.
    case unsubscribe(token: String, from: String?)
    /// Not one of these, or a report that asks for nothing (a success DSN, a not-spam report): why.
    case unrecognised(reason: String)
}

public enum BounceMessageReader {
    /// Reads one message.
    /// - Throws: ``MIMEError`` when the message (or its report part) cannot be parsed.
    public static func read(_ bytes: [UInt8]) throws(MIMEError) -> BounceMessage {
        guard bytes.contains(where: { $0 != 0x0A && $0 != 0x0D && $0 != 0x20 && $0 != 0x09 }) else {
            throw MIMEError(code: .empty, message: "the message is empty")
        }
        return try read(try MIMEEntity.parse(bytes))
    }

    public static func read(_ message: MIMEEntity) throws(MIMEError) -> BounceMessage {
        if let report = first(in: message, where: { $0.mediaType == "multipart/report" }) {
            let type = (report.contentTypeParameter("report-type") ?? "").lowercased()
            switch type {
            case "delivery-status": return try deliveryStatus(message: message, report: report)
            case "feedback-report": return try feedback(message: message, report: report)
            default:
                return .unrecognised(reason: "a multipart/report of report-type \(type.isEmpty ? "(none)" : type), not delivery-status or feedback-report")
            }
        }
        if let subject = message.field("Subject"), let token = unsubscribeToken(subject: subject) {
            return .unsubscribe(token: token, from: message.field("From"))
        }
        let subject = message.field("Subject").map { " (Subject \(String($0.prefix(60)).debugDescription))" } ?? ""
        return .unrecognised(
            reason: "not a delivery status notification, a feedback report or an `unsubscribe TOKEN` mail: \(message.mediaType)\(subject)")
    }

    // MARK: RFC 3464

    static func deliveryStatus(message: MIMEEntity, report: MIMEEntity) throws(MIMEError) -> BounceMessage {
        guard let statusPart = first(in: report, where: { ["message/delivery-status", "message/global-delivery-status"].contains($0.mediaType) })
        else {
            return .unrecognised(reason: "a delivery-status report without a message/delivery-status part")
        }
        let groups: [[MIMEEntity.Field]]
        do {
            groups = try fieldGroups(try statusPart.decodedBody())
        } catch {
            throw MIMEError(code: error.code, message: "message/delivery-status: \(error.message)")
        }
        guard let perMessage = groups.first else {
            return .unrecognised(reason: "the message/delivery-status part is empty")
        }
        let original = returnedHeaders(in: report)
        var verpCandidates = envelopeAddresses(of: message)
        verpCandidates += values("X-Postfix-Sender", in: perMessage).map { addressPart(typed: $0) ?? $0 }
        verpCandidates += original.map { $0.fields("Return-Path") } ?? []
        let verp = verpCandidates.lazy.compactMap { verpToken(in: $0) }.first
        let messageDate = value("Arrival-Date", in: perMessage).flatMap(parseDate)

        var notices: [BounceNotice] = []
        var ignored: [String] = []
        for group in groups.dropFirst() {
            let action = (value("Action", in: group).map(withoutComment) ?? "").lowercased()
            let statusText = value("Status", in: group).map(withoutComment) ?? ""
            let status = parseStatus(statusText)
            let recipient = (value("Final-Recipient", in: group)).flatMap { addressPart(typed: $0) }
                ?? value("Original-Recipient", in: group).flatMap { addressPart(typed: $0) }
            let kind: BounceNotice.Kind
            switch action {
            case "failed":
                guard let status else {
                    ignored.append("Action failed without a Status of the form 5.x.x or 4.x.x")
                    continue
                }
                switch status.class_ {
                case 5: kind = softPermanentCodes.contains("\(status.subject).\(status.detail)") ? .softBounce : .hardBounce
                case 4: kind = .softBounce
                default:
                    ignored.append("Action failed with Status \(statusText)")
                    continue
                }
            case "delayed":
                kind = .softBounce
            case "delivered", "relayed", "expanded":
                ignored.append("Action \(action): not a bounce")
                continue
            default:
                ignored.append(action.isEmpty ? "a recipient without an Action" : "Action \(action.debugDescription) is not one RFC 3464 defines")
                continue
            }
            var detail = "Status \(status.map { "\($0.class_).\($0.subject).\($0.detail)" } ?? "none") (Action \(action))"
            if let diagnostic = value("Diagnostic-Code", in: group) {
                detail += ": " + (addressPart(typed: diagnostic, any: true) ?? diagnostic)
            }
            if let mta = value("Reporting-MTA", in: perMessage) { detail += " [reported by \(addressPart(typed: mta, any: true) ?? mta)]" }
            notices.append(BounceNotice(
                kind: kind, source: "dsn", recipient: recipient, trace: original?.field("X-Listctl-Trace"),
                messageID: original?.field("Message-ID"), verpToken: verp, detail: detail,
                occurredAt: value("Last-Attempt-Date", in: group).flatMap(parseDate) ?? messageDate))
        }
        guard !notices.isEmpty else {
            return .unrecognised(
                reason: "a delivery status notification with no failed or delayed recipient (\(ignored.isEmpty ? "no recipients" : ignored.joined(separator: "; ")))")
        }
        return .delivery(notices)
    }

    /// 5.x.x codes that are about the mailbox or the message for now, not about the address:
    /// mailbox full (5.2.2, RFC 3463 calls it "persistent transient") and message too big (5.3.4).
    static let softPermanentCodes: Set<String> = ["2.2", "3.4"]

    /// `5.1.1`, `4.2.2`, `5.1.10` (RFC 3463: class.subject.detail, each 1–3 digits).
    static func parseStatus(_ text: String) -> (class_: Int, subject: Int, detail: Int)? {
        let fields = text.split(separator: " ").first?.split(separator: ".", omittingEmptySubsequences: false) ?? []
        guard fields.count == 3, fields.allSatisfy({ (1...3).contains($0.count) && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
            let c = Int(fields[0]), let s = Int(fields[1]), let d = Int(fields[2]), [2, 4, 5].contains(c)
        else { return nil }
        return (c, s, d)
    }

    // MARK: RFC 5965

    static func feedback(message: MIMEEntity, report: MIMEEntity) throws(MIMEError) -> BounceMessage {
        guard let part = first(in: report, where: { $0.mediaType == "message/feedback-report" }) else {
            return .unrecognised(reason: "a feedback-report without a message/feedback-report part")
        }
        let fields: [MIMEEntity.Field]
        do {
            fields = try fieldGroups(try part.decodedBody()).first ?? []
        } catch {
            throw MIMEError(code: error.code, message: "message/feedback-report: \(error.message)")
        }
        let type = (value("Feedback-Type", in: fields).map(withoutComment) ?? "").lowercased()
        guard ["abuse", "fraud"].contains(type) else {
            return .unrecognised(
                reason: type.isEmpty ? "a feedback report without a Feedback-Type" : "a feedback report of Feedback-Type \(type), not a complaint")
        }
        let original = returnedHeaders(in: report)
        let recipient = value("Original-Rcpt-To", in: fields).flatMap { bareAddress($0) }
            ?? original?.field("To").flatMap { bareAddress($0) }
        let verp = ((original.map { $0.fields("Return-Path") } ?? []) + envelopeAddresses(of: message)).lazy
            .compactMap { verpToken(in: $0) }.first
        var detail = "Feedback-Type \(type)"
        if let agent = value("User-Agent", in: fields) { detail += " from \(agent)" }
        if let source = value("Source-IP", in: fields) { detail += ", source \(source)" }
        return .complaint(BounceNotice(
            kind: .complaint, source: "arf", recipient: recipient, trace: original?.field("X-Listctl-Trace"),
            messageID: original?.field("Message-ID"), verpToken: verp, detail: detail,
            occurredAt: value("Arrival-Date", in: fields).flatMap(parseDate) ?? value("Received-Date", in: fields).flatMap(parseDate)))
    }

    // MARK: mailto: unsubscribe

    /// `unsubscribe TOKEN` (any case, a reply's `Re:` tolerated), the token base64url.
    static func unsubscribeToken(subject: String) -> String? {
        var words = subject.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        if let first = words.first, first.lowercased() == "re:" { words.removeFirst() }
        guard words.count == 2, words[0].lowercased() == "unsubscribe", (1...128).contains(words[1].utf8.count),
            words[1].utf8.allSatisfy({ base64URL.contains($0) })
        else { return nil }
        return words[1]
    }

    static let base64URL = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    // MARK: Pieces

    /// Depth-first, the entity itself first; returned messages' bodies are not entered.
    static func first(in entity: MIMEEntity, where test: (MIMEEntity) -> Bool) -> MIMEEntity? {
        if test(entity) { return entity }
        for part in entity.parts {
            if let found = first(in: part, where: test) { return found }
        }
        return nil
    }

    /// The header block of the returned original (message/rfc822, text/rfc822-headers or their RFC 6532
    /// forms). Nil when there is none, or it cannot be read (then only the other fields can trace the report).
    static func returnedHeaders(in report: MIMEEntity) -> MIMEEntity? {
        let types = ["message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers"]
        guard let part = first(in: report, where: { types.contains($0.mediaType) }),
            let body = try? part.decodedBody()
        else { return nil }
        return try? MIMEEntity.parseHeaders(body)
    }

    /// The addresses the report was delivered to: our MDA's Delivered-To and X-Original-To, then To.
    static func envelopeAddresses(of message: MIMEEntity) -> [String] {
        message.fields("Delivered-To") + message.fields("X-Original-To") + message.fields("Envelope-To") + message.fields("To")
    }

    /// The token of a VERP address `local+TOKEN@domain` in `text` (an address, `<address>`, `Name <address>`),
    /// when it looks like one (34–70 base64url characters after the last `+`, the lengths a token can have). Verified by the recorder.
    static func verpToken(in text: String) -> String? {
        for address in text.split(separator: ",").compactMap({ bareAddress(String($0)) }) {
            guard let at = address.lastIndex(of: "@"), let plus = address[..<at].lastIndex(of: "+") else { continue }
            let token = address[address.index(after: plus)..<at]
            if (34...70).contains(token.utf8.count) && token.utf8.allSatisfy({ base64URL.contains($0) }) { return String(token) }
        }
        return nil
    }

    /// `user@example.net` from `user@example.net`, `<user@example.net>` or `Name <user@example.net>`; nil if there is no `@`.
    static func bareAddress(_ text: String) -> String? {
        var address = text.trimmingCharacters(in: .whitespaces)
        if let open = address.lastIndex(of: "<"), let close = address[open...].firstIndex(of: ">") {
            address = String(address[address.index(after: open)..<close])
        }
        address = address.trimmingCharacters(in: .whitespaces)
        guard address.contains("@"), !address.contains(where: { $0 == " " || $0 == "<" || $0 == ">" }) else { return nil }
        return address
    }

    /// The value of a typed field (`rfc822; user@example.net`, `smtp; 550 …`, `dns; mx.example.net`):
    /// the part after `;`, for the type rfc822 (or utf-8) unless `any`. Addresses come back bare.
    static func addressPart(typed text: String, any: Bool = false) -> String? {
        guard let semicolon = text.firstIndex(of: ";") else { return nil }
        let type = text[..<semicolon].trimmingCharacters(in: .whitespaces).lowercased()
        let rest = text[text.index(after: semicolon)...].trimmingCharacters(in: .whitespaces)
        if any { return rest }
        guard type == "rfc822" || type == "utf-8" else { return nil }
        return bareAddress(rest)
    }

    static func withoutComment(_ text: String) -> String {
        String(ContentType.withoutComments(text)).trimmingCharacters(in: .whitespaces)
    }

    static func value(_ name: String, in fields: [MIMEEntity.Field]) -> String? {
        fields.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    static func values(_ name: String, in fields: [MIMEEntity.Field]) -> [String] {
        fields.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }.map(\.value)
    }

    /// The field groups of a delivery-status or feedback-report body, separated by empty lines.
    static func fieldGroups(_ bytes: [UInt8]) throws(MIMEError) -> [[MIMEEntity.Field]] {
        var groups: [[MIMEEntity.Field]] = []
        var rest = bytes[...]
        while !rest.isEmpty {
            // Skip the empty lines between groups.
            while let first = rest.first, first == 0x0A || first == 0x0D { rest = rest.dropFirst() }
            guard !rest.isEmpty else { break }
            let (fields, after) = try MIMEEntity.splitHeader(rest, path: "")
            if !fields.isEmpty { groups.append(fields) }
            if after.startIndex == rest.startIndex { break }
            rest = after
        }
        return groups
    }

    /// RFC 5322 date-time (`Thu, 3 Dec 2026 09:12:44 +0000 (UTC)`), the day name optional.
    static func parseDate(_ text: String) -> Date? {
        // Postfix writes `Thu,  3 Dec`: one space between words.
        let cleaned = withoutComment(text).split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
        for format in ["EEE, d MMM yyyy HH:mm:ss Z", "d MMM yyyy HH:mm:ss Z", "EEE, d MMM yyyy HH:mm Z"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = format
            if let date = formatter.date(from: cleaned) { return date }
        }
        return nil
    }
}
