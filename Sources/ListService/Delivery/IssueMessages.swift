import Foundation
import Mailer
import Postgres

/// Who a delivery goes to, as a claim returns it.
struct ClaimedRecipient: Sendable {
    var subscriberID: Int64
    var email: String
    var name: String
    /// The consent request a confirmation mail answers; nil for any other mail.
    var requestID: Int64? = nil
}

/// Everything needed to build any part of one stored issue for any
/// subscriber: the prepared parts (encoded once), the list's identity, and
/// the secrets that sign its links. Loaded once per issue per process.
struct IssueMessages: Sendable {
    let issueID: Int64
    let listID: Int64
    let builder: MessageBuilder
    let identity: ListIdentity
    let root: String
    let secrets: TokenSecrets
    let bounce: BounceAddress?
    /// The key of the issue's Message-IDs: its stored `message_key`, or for
    /// an issue made before schema 0005 the current secret.
    let messageKey: [UInt8]

    var partCount: Int { builder.parts.count }

    /// Reads issue `issueID`'s parts and list.
    /// - Throws: ``ListServiceError`` when the issue has no sendable parts or the list no sender.
    static func load(
        issueID: Int64, on connection: PostgresConnection, configuration: ListctlConfiguration, secrets: TokenSecrets,
        bounce: BounceDefaults
    ) async throws -> IssueMessages {
        let rows = try await connection.query(
            "SELECT l.slug, i.message_key FROM issues i JOIN lists l ON l.id = i.list_id WHERE i.id = $1", issueID)
        guard let row = rows.first else {
            throw ListServiceError(code: .notFound, message: "issue \(issueID) does not exist")
        }
        let slug: String = try row.decode(at: 0)
        let messageKey: Data? = try row.decode(at: 1)
        guard let list = try await ListStore.find(slug, on: connection) else {
            throw ListServiceError(code: .notFound, message: "the list of issue \(issueID) is gone")
        }
        let (identity, root) = try list.deliveryIdentity(configuration)
        let parts = try await connection.query(
            """
            SELECT part, subject, html, text, encoded_html, encoded_text, html_bytes, encoded_html_bytes, text_bytes,
                   (SELECT count(*) FROM issue_parts q WHERE q.issue_id = $1)
            FROM issue_parts WHERE issue_id = $1 ORDER BY part
            """, issueID
        ).map { row in
            guard let encodedHTML: String = try row.decode(at: 4), let encodedText: String = try row.decode(at: 5) else {
                throw ListServiceError(
                    code: .invalidInput, message: "issue \(issueID) was imported from an archive and cannot be mailed")
            }
            return RenderedPart(
                stored: StoredPart(
                    number: try row.decode(at: 0), total: try row.decode(at: 9), subject: try row.decode(at: 1),
                    html: try row.decode(at: 2), text: try row.decode(at: 3), encodedHTML: encodedHTML, encodedText: encodedText,
                    htmlBytes: try row.decode(at: 6), encodedHTMLBytes: try row.decode(at: 7), textBytes: try row.decode(at: 8)))
        }
        guard !parts.isEmpty else {
            throw ListServiceError(code: .invalidInput, message: "issue \(issueID) has no parts to send")
        }
        let builder = try MessageBuilder(identity: identity, issueID: String(issueID), parts: parts)
        let bounce = bounce.address(forList: list.bounceAddress)
        return IssueMessages(
            issueID: issueID, listID: list.id, builder: builder, identity: identity, root: root, secrets: secrets,
            bounce: bounce, messageKey: messageKey.map { Array($0) } ?? secrets.current.bytes)
    }

    /// Part `part` for `recipient`, with its signed links, derived
    /// Message-ID and (VERP) envelope sender.
    func message(part: Int, for recipient: ClaimedRecipient) throws -> OutgoingMessage {
        let unsubscribe = SubscriberToken(
            purpose: .unsubscribe, listID: listID, subscriberID: recipient.subscriberID, issueID: issueID
        ).encode(with: secrets)
        let preferences = SubscriberToken(
            purpose: .preferences, listID: listID, subscriberID: recipient.subscriberID, issueID: issueID
        ).encode(with: secrets)
        let mailbox = identity.unsubscribeMailbox ?? "unsubscribe@\(identity.domain)"
        // A confirmation token names the request in the token's issue field, so each request has its own link.
        let confirm = recipient.requestID.map {
            SubscriberToken(purpose: .confirm, listID: listID, subscriberID: recipient.subscriberID, issueID: $0).encode(with: secrets)
        }
        let person = Recipient(
            email: recipient.email, name: String(recipient.name.utf8.prefix(Recipient.maxNameBytes)) ?? "",
            subscriberID: String(recipient.subscriberID),
            unsubscribeURL: "\(root)\(ListIdentity.unsubscribePath)\(unsubscribe)",
            preferencesURL: "\(root)\(ListIdentity.preferencesPath)\(preferences)",
            unsubscribeMailto: "mailto:\(mailbox)?subject=unsubscribe%20\(unsubscribe)",
            confirmURL: confirm.map { "\(root)\(ListIdentity.confirmPath)\($0)" } ?? "")
        return try builder.message(
            for: person, part: part,
            messageID: messageID(part: part, subscriber: recipient.subscriberID, request: recipient.requestID),
            envelopeFrom: bounce?.envelope(
                listID: listID, subscriberID: recipient.subscriberID, issueID: issueID, secrets: secrets))
    }

    /// `listctl.<issue>.<part>.<mac>@<domain>` (docs/LEDGER.md §6): the same
    /// for every copy of (issue, part, subscriber), also after a secret
    /// rotation, unguessable, and not naming the subscriber. A confirmation
    /// mail's also names its request: a second request is a new message, not
    /// a copy a mailbox would drop as a duplicate.
    func messageID(part: Int, subscriber: Int64, request: Int64? = nil) -> String {
        let mac = Self.messageIDMAC(key: messageKey, issue: issueID, part: part, subscriber: subscriber, request: request)
        return "listctl.\(issueID).\(part).\(mac)@\(identity.domain)"
    }

    /// The `<mac>` of a Message-ID: base64url of HMAC-SHA256(key, "message-id" ‖ issue ‖ part ‖ subscriber [‖ request]),
    /// first 16 bytes. The bounce recorder recomputes it to check a Message-ID quoted in a report.
    static func messageIDMAC(key: [UInt8], issue: Int64, part: Int, subscriber: Int64, request: Int64? = nil) -> String {
        let data = Array("message-id\u{0}\(issue)\u{0}\(part)\u{0}\(subscriber)\(request.map { "\u{0}\($0)" } ?? "")".utf8)
        return Base64URL.encode(Array(Digest.hmacSHA256(key: key, data: data).prefix(16)))
    }
}

/// The installation's bounce settings: `LISTCTL_BOUNCE_ADDRESS` (the
/// envelope sender of lists that have no `--bounce-address` of their own)
/// and `LISTCTL_BOUNCE_VERP`, which applies to either address.
public struct BounceDefaults: Sendable, Equatable {
    public var address: String?
    public var verp: Bool

    public init(address: String? = nil, verp: Bool = false) {
        self.address = address
        self.verp = verp
    }

    /// Reads `LISTCTL_BOUNCE_ADDRESS` and `LISTCTL_BOUNCE_VERP`.
    /// - Throws: ``ListServiceError`` `.configuration` for an address that is not one.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> BounceDefaults
    {
        let verp = ["1", "true", "yes", "on"].contains((environment["LISTCTL_BOUNCE_VERP"] ?? "").lowercased())
        guard let text = environment["LISTCTL_BOUNCE_ADDRESS"]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else {
            return BounceDefaults(verp: verp)
        }
        do {
            return BounceDefaults(address: try EmailAddress(validating: EmailAddress(normalizing: text).address).address, verp: verp)
        } catch {
            throw ListServiceError(code: .configuration, message: "LISTCTL_BOUNCE_ADDRESS: \(error)")
        }
    }

    /// The envelope sender of a list's mail: the list's own bounce address
    /// wins over `LISTCTL_BOUNCE_ADDRESS`; nil means the From address.
    func address(forList listAddress: String?) -> BounceAddress? {
        (listAddress ?? address).map { BounceAddress(address: $0, verp: verp) }
    }
}

/// The envelope sender of one list's mail, VERP-style (`bounces+TOKEN@domain`)
/// when asked, so a bounce names the delivery it belongs to.
public struct BounceAddress: Sendable, Equatable {
    public var address: String
    public var verp: Bool

    public init(address: String, verp: Bool) {
        self.address = address
        self.verp = verp
    }

    /// The envelope sender for one delivery: `local+TOKEN@domain` under VERP
    /// when it fits the 64-octet local part, else the plain address.
    func envelope(listID: Int64, subscriberID: Int64, issueID: Int64, secrets: TokenSecrets) -> String {
        guard verp, let at = address.lastIndex(of: "@") else { return address }
        let token = SubscriberToken(purpose: .bounce, listID: listID, subscriberID: subscriberID, issueID: issueID)
            .encode(with: secrets)
        let local = "\(address[..<at])+\(token)"
        return local.utf8.count <= 64 ? "\(local)\(address[at...])" : address
    }
}

extension MailingList {
    /// The identity real sends use, and the list's public root: like
    /// ``identity(_:)``, with the room reserved for the unsubscribe URL
    /// exactly that of the longest signed token under the root.
    /// - Throws: `.configuration` when the list has no public root, or one that is not https.
    func deliveryIdentity(_ configuration: ListctlConfiguration) throws -> (ListIdentity, String) {
        guard let root = publicBaseURL(default: configuration.defaultBaseURL) else {
            throw ListServiceError(
                code: .configuration,
                message: """
                    list "\(slug)" has no public address for its unsubscribe links: set LISTCTL_BASE_URL \
                    (links go under <base>/\(slug)) or `listctl lists set \(slug) --base-url https://...`
                    """)
        }
        guard root.hasPrefix("https://") || root.hasPrefix("http://localhost") || root.hasPrefix("http://127.0.0.1") else {
            throw ListServiceError(
                code: .configuration, message: "list \"\(slug)\": public address \(root) must be an https:// URL")
        }
        var identity = try identity(configuration)
        identity.maxUnsubscribeURLLength = root.utf8.count + ListIdentity.unsubscribePath.utf8.count + SubscriberToken.maxEncodedLength
        identity.maxPreferencesURLLength = root.utf8.count + ListIdentity.preferencesPath.utf8.count + SubscriberToken.maxEncodedLength
        return (identity, root)
    }
}
