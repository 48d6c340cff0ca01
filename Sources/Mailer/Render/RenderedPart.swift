import Foundation

/// One e-mail's worth of an issue: subject, HTML and text, with holes for
/// the recipient's fields, already quoted-printable encoded once.
public struct RenderedPart: Sendable {
    /// 1-based part number.
    public var number: Int
    /// How many parts the issue has.
    public var total: Int
    /// The subject, with " (k/n)" when the issue is split.
    public var subject: String
    /// The HTML body, decoded, with recipient fields open.
    public var html: PersonalizedBytes
    /// The text/plain body, decoded, with recipient fields open.
    public var text: PersonalizedBytes
    /// `html` quoted-printable encoded (CRLF), fields open.
    public var encodedHTML: EncodedPersonalizedBytes
    /// `text` quoted-printable encoded (CRLF), fields open.
    public var encodedText: EncodedPersonalizedBytes
    /// The issue's text in this part only: no navigation, repeated table
    /// header, footnotes or footer. The parts' `bodyText`s concatenate to the
    /// whole issue's text.
    public var bodyText: String
    /// Footnote numbers this part carries.
    public var footnotes: [Int]
    /// 1-based line (in the issue file) of the first block in this part.
    public var firstLine: Int
    /// Decoded HTML size with the longest possible recipient fields.
    public var htmlBytes: Int
    /// Encoded HTML size with the longest possible recipient fields: what the budget bounds.
    public var encodedHTMLBytes: Int
    /// Decoded text size with the longest possible recipient fields.
    public var textBytes: Int
    /// The whole message at its longest: headers (``MessageAllowance``),
    /// boundaries and both alternatives encoded with the longest recipient
    /// fields; what the `message` budget scope bounds. 0 for a part read back from storage.
    public var encodedMessageBytes: Int = 0
    /// What the part was cut to keep under the budget. With `message`,
    /// ``MessageBuilder`` also holds each recipient's text fields and headers
    /// to the room reserved for them. A part read back from storage says `html`.
    public var budgetScope: BudgetScope = .default
    /// Whether the part's last block is a heading (only when a run of
    /// headings alone is over budget).
    public var endsWithHeading: Bool = false
    /// Whether the part holds nothing but headings.
    public var onlyHeadings: Bool = false

    /// The HTML as `recipient` gets it.
    public func html(for recipient: Recipient) -> String {
        String(decoding: html.filled { Array(HTMLEscaping.escape(recipient.value(of: $0)).utf8) }, as: UTF8.self)
    }

    /// The text as `recipient` gets it.
    public func text(for recipient: Recipient) -> String {
        String(decoding: text.filled { Array(recipient.value(of: $0).utf8) }, as: UTF8.self)
    }
}

/// An issue rendered and split.
public struct RenderedIssue: Sendable {
    /// The subject without part marks.
    public var subject: String
    public var preheader: String?
    /// The budget the parts were cut for, in bytes of what `scope` names.
    public var budget: Int
    /// What the budget bounds.
    public var scope: BudgetScope = .default
    public var parts: [RenderedPart]
    /// The issue's whole text, as one part would hold it with no navigation.
    public var text: String
    /// The fewest parts possible at this budget (the splitter may use one more
    /// to start every part at a heading).
    public var minimumParts: Int
    /// Raw HTML the renderer left out because the list does not allow it, in file order.
    public var droppedHTML: [DroppedHTML] = []
}

/// One reader of an issue: what fills a prepared part's holes.
public struct Recipient: Sendable, Equatable {
    /// Longest name kept, in UTF-8 bytes; room for it is reserved in every part.
    public static let maxNameBytes = 128

    /// Bare address (RCPT TO and the To header).
    public var email: String
    /// Display name, may be empty.
    public var name: String
    /// Opaque subscriber id, written into the trace header.
    public var subscriberID: String
    /// The recipient's https one-click unsubscribe URL
    /// (`<list root>/unsubscribe/<token>`, DESIGN §5a).
    public var unsubscribeURL: String
    /// The recipient's https preference page (`<list root>/preferences/<token>`),
    /// linked from every message's footer as "Manage your subscription".
    public var preferencesURL: String
    /// The mailto: URI for List-Unsubscribe; `mailto:<list unsubscribe mailbox>?subject=unsubscribe` when nil.
    ///
    /// The delivery engine sets `mailto:unsubscribe@DOMAIN?subject=unsubscribe%20TOKEN`,
    /// so a mailed request names the subscription without a database lookup.
    /// It must start with `mailto:` and hold no spaces, `<`, `>`, quotes or
    /// line breaks (percent-encode them); ``MessageBuilder/message(for:part:messageID:envelopeFrom:date:)``
    /// refuses it otherwise.
    public var unsubscribeMailto: String?
    /// The double opt-in link of a confirmation mail (`<list root>/confirm/<token>`); empty otherwise.
    public var confirmURL: String

    /// - Parameters:
    ///   - unsubscribeURL: the one-click unsubscribe URL: `https://`, or
    ///     `http://localhost` for development.
    ///   - preferencesURL: the preference page; when nil, `unsubscribeURL`
    ///     with its last `/unsubscribe/` replaced by `/preferences/` (the
    ///     same token), or `unsubscribeURL` itself when it has no such segment.
    ///   - unsubscribeMailto: see ``unsubscribeMailto``.
    ///
    /// Nothing is checked here; ``MessageBuilder/message(for:part:messageID:envelopeFrom:date:)``
    /// validates every field.
    public init(
        email: String, name: String = "", subscriberID: String, unsubscribeURL: String, preferencesURL: String? = nil,
        unsubscribeMailto: String? = nil, confirmURL: String = ""
    ) {
        self.email = email
        self.name = name
        self.subscriberID = subscriberID
        self.unsubscribeURL = unsubscribeURL
        self.preferencesURL = preferencesURL ?? Self.defaultPreferencesURL(unsubscribeURL: unsubscribeURL)
        self.unsubscribeMailto = unsubscribeMailto
        self.confirmURL = confirmURL
    }

    /// `…/unsubscribe/TOKEN` as `…/preferences/TOKEN` (same length); the URL
    /// itself when it has no `/unsubscribe/` segment.
    static func defaultPreferencesURL(unsubscribeURL: String) -> String {
        guard let range = unsubscribeURL.range(of: "/unsubscribe/", options: .backwards) else { return unsubscribeURL }
        return unsubscribeURL.replacingCharacters(in: range, with: "/preferences/")
    }

    func value(of field: RecipientField) -> String {
        switch field {
        case .unsubscribeURL: return unsubscribeURL
        case .email: return email
        case .name: return name
        case .preferencesURL: return preferencesURL
        case .confirmURL: return confirmURL
        }
    }

    /// A made-up reader for previews.
    public static func sample(identity: ListIdentity) -> Recipient {
        Recipient(
            email: "reader@example.com", name: "Sample Reader", subscriberID: "sample",
            unsubscribeURL: (identity.baseURL ?? "https://example.com") + "/unsubscribe/SAMPLE-TOKEN")
    }
}
