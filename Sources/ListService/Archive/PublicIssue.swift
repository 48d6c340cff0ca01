import Foundation
import Mailer

/// An issue as the public archive shows it (docs/ARCHIVE.md): sent (or
/// going out), a real issue (not a confirmation or welcome), not left out
/// with `archive: false`, of a list whose archive is public. Its content is
/// rendered whole for the web, never with anything of a subscriber's.
public struct PublicIssue: Sendable, Equatable {
    public var id: Int64
    public var listID: Int64
    /// The last segment of its page, `<root>/issues/<slug>`.
    public var slug: String
    public var subject: String
    /// What the archive shows under the title: the issue's preheader, else the opening of its text.
    public var summary: String
    /// When it went out (an imported letter: its original date).
    public var publishedAt: Date
    /// When the stored issue last changed (with its list's own change: the page's Last-Modified).
    public var updatedAt: Date
    /// The page's content: the whole issue, sanitised.
    public var html: String
    /// The stored source's SHA-256: what `html` was rendered from.
    public var contentSHA256: String

    /// The title a page shows: the issue's own opening heading when it has one, else its subject.
    public var opensWithTitle: Bool {
        html.utf8.drop(while: { $0 == 0x20 || $0 == 0x0A || $0 == 0x09 || $0 == 0x0D }).starts(with: "<h1".utf8)
    }
}

/// The readable opening of an issue's web HTML, for the archive's list:
/// the text of its paragraphs (headings, code and the footnotes left out),
/// cut at a word before `limit` characters.
enum IssueExcerpt {
    static let limit = 220
    static let inline: Set<Substring> = ["a", "em", "strong", "b", "i", "u", "s", "del", "ins", "sub", "sup", "small", "mark",
                                         "span", "abbr", "cite", "q", "time", "code", "img"]

    /// - Parameter html: ``HTMLSanitizer`` output, whose tags are well formed and whose text is escaped.
    static func text(ofSanitized html: String, limit: Int = limit) -> String {
        var words = ""
        var skipping: [Substring] = []  // the open elements whose text is not an excerpt's
        var rest = Substring(html)
        let skipped: Set<Substring> = ["h1", "h2", "h3", "h4", "h5", "h6", "pre", "code", "figcaption", "table", "section"]
        while !rest.isEmpty, words.count < limit + 40 {
            if rest.first == "<" {
                guard let close = rest.firstIndex(of: ">") else { break }
                let tag = rest[rest.index(after: rest.startIndex)..<close]
                let closing = tag.first == "/"
                let name = (closing ? tag.dropFirst() : tag).prefix { $0.isLetter || $0.isNumber }
                if skipped.contains(name) {
                    if closing { if let last = skipping.lastIndex(of: name) { skipping.remove(at: last) } } else { skipping.append(name) }
                }
                // A block's edge is a word break; an inline element's is not ("a <em>b</em>; c").
                if name == "br" || (!Self.inline.contains(name) && !name.isEmpty) { words += " " }
                rest = rest[rest.index(after: close)...]
            } else {
                let end = rest.firstIndex(of: "<") ?? rest.endIndex
                if skipping.isEmpty { words += rest[..<end] }
                rest = rest[end...]
            }
        }
        let text = unescape(words).split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        guard text.count > limit else { return text }
        var cut = text.prefix(limit)
        if let space = cut.lastIndex(of: " ") { cut = cut[..<space] }
        return cut.trimmingCharacters(in: .punctuationCharacters.union(.whitespaces)) + "…"
    }

    /// The sanitiser's escapes and numeric references, back to text.
    static func unescape(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let after = rest[amp...]
            guard let semi = after.prefix(12).firstIndex(of: ";") else {
                out += "&"
                rest = rest[rest.index(after: amp)...]
                continue
            }
            let name = after[after.index(after: after.startIndex)..<semi]
            var scalar: Unicode.Scalar?
            switch name {
            case "amp": scalar = "&"
            case "lt": scalar = "<"
            case "gt": scalar = ">"
            case "quot": scalar = "\""
            case "apos": scalar = "'"
            case "nbsp": scalar = " "
            default:
                if name.hasPrefix("#x") || name.hasPrefix("#X") { scalar = UInt32(name.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init) }
                else if name.hasPrefix("#") { scalar = UInt32(name.dropFirst()).flatMap(Unicode.Scalar.init) }
            }
            if let scalar {
                out.unicodeScalars.append(scalar)
                rest = rest[rest.index(after: semi)...]
            } else {
                out += "&"
                rest = rest[rest.index(after: amp)...]
            }
        }
        return out + rest
    }
}
