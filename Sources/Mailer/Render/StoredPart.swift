/// A rendered part in the form the database keeps (`issue_parts`): the
/// decoded and the quoted-printable bodies as text with each recipient field
/// written as its token. ``RenderedPart/init(stored:)`` reads it back exactly,
/// so the delivery engine sends the bytes the splitter measured, without
/// rendering or encoding again.
public struct StoredPart: Sendable, Equatable {
    public var number: Int
    public var total: Int
    public var subject: String
    public var html: String
    public var text: String
    public var encodedHTML: String
    public var encodedText: String
    public var htmlBytes: Int
    public var encodedHTMLBytes: Int
    public var textBytes: Int

    public init(
        number: Int, total: Int, subject: String, html: String, text: String, encodedHTML: String, encodedText: String,
        htmlBytes: Int, encodedHTMLBytes: Int, textBytes: Int
    ) {
        self.number = number
        self.total = total
        self.subject = subject
        self.html = html
        self.text = text
        self.encodedHTML = encodedHTML
        self.encodedText = encodedText
        self.htmlBytes = htmlBytes
        self.encodedHTMLBytes = encodedHTMLBytes
        self.textBytes = textBytes
    }
}

extension RenderedPart {
    /// What `issue_parts` stores of this part.
    public var stored: StoredPart {
        StoredPart(
            number: number, total: total, subject: subject,
            html: String(decoding: html.tokenized, as: UTF8.self), text: String(decoding: text.tokenized, as: UTF8.self),
            encodedHTML: String(decoding: encodedHTML.tokenized, as: UTF8.self),
            encodedText: String(decoding: encodedText.tokenized, as: UTF8.self),
            htmlBytes: htmlBytes, encodedHTMLBytes: encodedHTMLBytes, textBytes: textBytes)
    }

    /// The part as it was rendered, from what `issue_parts` stores. Only what
    /// sending needs comes back: `bodyText`, footnotes and the first line are empty.
    public init(stored: StoredPart) {
        self.init(
            number: stored.number, total: stored.total, subject: stored.subject,
            html: PersonalizedBytes(tokenized: Array(stored.html.utf8)),
            text: PersonalizedBytes(tokenized: Array(stored.text.utf8)),
            encodedHTML: EncodedPersonalizedBytes(tokenized: Array(stored.encodedHTML.utf8)),
            encodedText: EncodedPersonalizedBytes(tokenized: Array(stored.encodedText.utf8)),
            bodyText: "", footnotes: [], firstLine: 0,
            htmlBytes: stored.htmlBytes, encodedHTMLBytes: stored.encodedHTMLBytes, textBytes: stored.textBytes)
    }
}

extension EncodedPersonalizedBytes {
    /// The encoded bytes with each hole written as its token (tokens are
    /// plain ASCII, which quoted-printable leaves as it is).
    public var tokenized: [UInt8] {
        PersonalizedBytes(segments: segments.map {
            switch $0 {
            case .bytes(let bytes): .bytes(bytes)
            case .field(let field): .field(field)
            }
        }).tokenized
    }

    /// Reads bytes written by ``tokenized``.
    public init(tokenized bytes: [UInt8]) {
        self.init(segments: PersonalizedBytes(tokenized: bytes).segments.map {
            switch $0 {
            case .bytes(let bytes): .bytes(bytes)
            case .field(let field): .field(field)
            }
        })
    }
}
