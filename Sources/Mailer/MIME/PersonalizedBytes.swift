/// A per-recipient value that a prepared part leaves open until send time.
public enum RecipientField: Int, Sendable, CaseIterable {
    /// The recipient's one-click unsubscribe URL (https).
    case unsubscribeURL
    /// The recipient's address.
    case email
    /// The recipient's name (may be empty).
    case name
    /// The recipient's preference-page URL (https): their lists, toggles,
    /// unsubscribe from all (DESIGN §5a `/preferences/{token}`).
    case preferencesURL
    /// The double opt-in link (`<list root>/confirm/<token>`) of a
    /// confirmation mail; empty in every other message.
    case confirmURL

    /// The marker a template render leaves where the value goes. Only
    /// characters that HTML, Mustache and quoted-printable all leave alone.
    public var token: String {
        switch self {
        case .unsubscribeURL: return "@@LISTCTL-UNSUBSCRIBE-URL@@"
        case .email: return "@@LISTCTL-EMAIL@@"
        case .name: return "@@LISTCTL-NAME@@"
        case .preferencesURL: return "@@LISTCTL-PREFERENCES-URL@@"
        case .confirmURL: return "@@LISTCTL-CONFIRM-URL@@"
        }
    }

    /// What a Mustache template names the value.
    var templateKey: String {
        switch self {
        case .unsubscribeURL: return "unsubscribe_url"
        case .email: return "email"
        case .name: return "name"
        case .preferencesURL: return "preferences_url"
        case .confirmURL: return "confirm_url"
        }
    }
}

/// Bytes with holes for recipient fields, decoded (not yet transfer-encoded).
public struct PersonalizedBytes: Sendable, Equatable {
    public enum Segment: Sendable, Equatable {
        case bytes([UInt8])
        case field(RecipientField)
    }
    public var segments: [Segment]

    public init(segments: [Segment]) { self.segments = segments }

    /// The bytes with each hole written as its token (`@@LISTCTL-EMAIL@@`…):
    /// a plain form for storage (`issue_parts`); `init(tokenized:)` reads it back.
    public var tokenized: [UInt8] { filled { Array($0.token.utf8) } }

    /// Reads bytes written by `tokenized`.
    public init(tokenized bytes: [UInt8]) { self.init(scanning: bytes) }

    /// Splits `bytes` at every field token.
    init(scanning bytes: [UInt8]) {
        var segments: [Segment] = []
        var literal: [UInt8] = []
        let tokens = RecipientField.allCases.map { ($0, Array($0.token.utf8)) }
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "@"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "@"),
                let (field, token) = tokens.first(where: { bytes[i...].starts(with: $0.1) })
            {
                if !literal.isEmpty { segments.append(.bytes(literal)) }
                literal = []
                segments.append(.field(field))
                i += token.count
                continue
            }
            literal.append(bytes[i])
            i += 1
        }
        if !literal.isEmpty { segments.append(.bytes(literal)) }
        self.segments = segments
    }

    /// The fields that occur, with how many times.
    var fieldCounts: [RecipientField: Int] {
        var counts: [RecipientField: Int] = [:]
        for case .field(let field) in segments { counts[field, default: 0] += 1 }
        return counts
    }

    /// The bytes with each field replaced by `value(field)`.
    public func filled(_ value: (RecipientField) -> [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for segment in segments {
            switch segment {
            case .bytes(let bytes): out.append(contentsOf: bytes)
            case .field(let field): out.append(contentsOf: value(field))
            }
        }
        return out
    }

    /// Quoted-printable encodes the literal parts once. Each field sits on
    /// encoded lines of its own (a soft break before and after), so a value
    /// encoded on its own later drops in without re-wrapping anything.
    func quotedPrintable() -> EncodedPersonalizedBytes {
        var out: [EncodedPersonalizedBytes.Segment] = []
        for (position, segment) in segments.enumerated() {
            switch segment {
            case .bytes(let bytes):
                let followedByField = position + 1 < segments.count
                var encoded: [UInt8] = []
                if followedByField {
                    // Whole lines as usual; only the unfinished last line keeps a
                    // column free for the soft break that precedes the field.
                    let split = (bytes.lastIndex(of: 10) ?? -1) + 1
                    QuotedPrintable.encode(bytes[..<split], into: &encoded)
                    QuotedPrintable.encode(bytes[split...], into: &encoded, limit: QuotedPrintable.maxLine - 1)
                    if let last = encoded.last, last != 10 { encoded.append(contentsOf: [61, 13, 10]) }
                } else {
                    encoded = QuotedPrintable.encoded(bytes)
                }
                out.append(.bytes(encoded))
            case .field(let field):
                if case .bytes(let previous)? = out.last, previous.last != 10 {
                    // Only possible at the very start; a field opens a fresh line.
                    out[out.count - 1] = .bytes(previous + [61, 13, 10])
                }
                out.append(.field(field))
                // The soft break after the value belongs to the template, not the value.
                out.append(.bytes([61, 13, 10]))
            }
        }
        return EncodedPersonalizedBytes(segments: out)
    }
}

/// Quoted-printable bytes with holes for recipient fields: the per-recipient
/// work is to encode four short values and concatenate.
public struct EncodedPersonalizedBytes: Sendable, Equatable {
    public enum Segment: Sendable, Equatable {
        case bytes([UInt8])
        case field(RecipientField)
    }
    public var segments: [Segment]

    /// Size of the literal parts.
    var fixedCount: Int {
        segments.reduce(0) {
            if case .bytes(let bytes) = $1 { return $0 + bytes.count }
            return $0
        }
    }

    /// Size once each field takes `length(field)` bytes.
    func count(fieldLength: (RecipientField) -> Int) -> Int {
        segments.reduce(0) {
            switch $1 {
            case .bytes(let bytes): return $0 + bytes.count
            case .field(let field): return $0 + fieldLength(field)
            }
        }
    }

    /// Appends the bytes with `value(field)` (already encoded) in each hole.
    func write(into out: inout [UInt8], value: (RecipientField) -> [UInt8]) {
        for segment in segments {
            switch segment {
            case .bytes(let bytes): out.append(contentsOf: bytes)
            case .field(let field): out.append(contentsOf: value(field))
            }
        }
    }

    /// A field value as it goes into a hole: escaped for HTML if asked, then
    /// quoted-printable with lines of at most 75 (the hole's soft break is the 76th).
    static func encodeValue(_ value: String, html: Bool) -> [UInt8] {
        var raw: [UInt8] = []
        if html {
            HTMLEscaping.append(value.utf8, to: &raw)
        } else {
            raw = Array(value.utf8)
        }
        var out: [UInt8] = []
        QuotedPrintable.encode(raw, into: &out, limit: QuotedPrintable.maxLine - 1)
        return out
    }
}
