/// An issue file: optional front matter, then the Markdown body.
///
/// Front matter is a block between two `---` lines at the very top, one
/// `key: value` per line (values may be quoted with `"` or `'`). Known keys:
/// `subject`, `preheader`, `list`, `send_at`. Blank lines and `#` comments are
/// allowed; anything else is an error naming the line.
public struct IssueDocument: Sendable {
    /// The issue's subject; when absent, the first heading's text or the file name.
    public var subject: String?
    /// The hidden preview line shown after the subject in an inbox.
    public var preheader: String?
    /// The list's slug.
    public var list: String?
    /// The send time as written (ISO 8601); parsed by the caller.
    public var sendAt: String?
    /// Whether the issue goes into the list's public archive (front matter `archive: false` leaves it out).
    public var inArchive = true
    /// The Markdown after the front matter, line ends normalised to LF.
    public var body: [UInt8]
    /// How many lines precede `body` in the file (front matter included), to
    /// turn a body line into a file line.
    public var bodyLineOffset: Int
    /// The file name, for messages.
    public var fileName: String

    public init(subject: String? = nil, preheader: String? = nil, list: String? = nil, sendAt: String? = nil,
                body: [UInt8], bodyLineOffset: Int = 0, fileName: String = "issue.md") {
        self.subject = subject
        self.preheader = preheader
        self.list = list
        self.sendAt = sendAt
        self.body = body
        self.bodyLineOffset = bodyLineOffset
        self.fileName = fileName
    }

    /// Parses `markdown` (the whole file).
    /// - Throws: `MailerError` `.frontMatter` naming the line of a malformed
    ///   or unknown front-matter entry or an unclosed block.
    public static func parse(markdown: String, fileName: String = "issue.md") throws -> IssueDocument {
        try parse(bytes: Array(markdown.utf8), fileName: fileName)
    }

    /// Parses the bytes of an issue file (UTF-8; a BOM is skipped).
    public static func parse(bytes input: [UInt8], fileName: String = "issue.md") throws -> IssueDocument {
        var bytes = normaliseLineEnds(input)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var document = IssueDocument(body: bytes, fileName: fileName)
        guard bytes.starts(with: Array("---\n".utf8)) || bytes == Array("---".utf8) else { return document }

        // Find the closing line.
        var lines: [(number: Int, text: Substring)] = []
        var offset = 4
        var lineNumber = 1
        var closedAt: Int?
        while offset < bytes.count {
            lineNumber += 1
            let end = bytes[offset...].firstIndex(of: 10) ?? bytes.count
            let text = Substring(String(decoding: bytes[offset..<end], as: UTF8.self))
            let next = min(end + 1, bytes.count)
            if text.trimmingTrailingSpaces == "---" || text.trimmingTrailingSpaces == "..." {
                closedAt = next
                break
            }
            lines.append((lineNumber, text))
            offset = next
        }
        guard let bodyStart = closedAt else {
            throw MailerError(
                code: .frontMatter, message: "front matter opened with --- on line 1 is never closed; end it with a line of ---",
                file: fileName, line: 1)
        }
        for (number, text) in lines {
            let trimmed = text.trimmingSpaces
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let colon = trimmed.firstIndex(of: ":") else {
                throw MailerError(
                    code: .frontMatter, message: "front matter line is not `key: value`: \(trimmed)", file: fileName,
                    line: number)
            }
            let key = trimmed[..<colon].trimmingSpaces.lowercased()
            var value = trimmed[trimmed.index(after: colon)...].trimmingSpaces
            if value.count >= 2, let first = value.first, first == "\"" || first == "'" {
                guard value.last == first else {
                    throw MailerError(
                        code: .frontMatter, message: "unterminated quoted value for `\(key)`", file: fileName, line: number)
                }
                value = Substring(value.dropFirst().dropLast())
                if first == "\"" { value = Substring(value.replacingAll("\\\"", with: "\"")) }
            }
            let string = String(value)
            switch key {
            case "subject": document.subject = string
            case "preheader": document.preheader = string
            case "list": document.list = string
            case "send_at", "send-at", "sendat": document.sendAt = string
            case "archive":
                switch string.lowercased() {
                case "true", "yes": document.inArchive = true
                case "false", "no": document.inArchive = false
                default:
                    throw MailerError(
                        code: .frontMatter, message: "`archive` is true or false, not `\(string)`", file: fileName, line: number)
                }
            default:
                throw MailerError(
                    code: .frontMatter,
                    message: "unknown front matter key `\(key)` (known: subject, preheader, list, send_at, archive)",
                    file: fileName, line: number)
            }
        }
        document.body = Array(bytes[bodyStart...])
        document.bodyLineOffset = lineNumber
        return document
    }

    static func normaliseLineEnds(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.contains(13) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == 13 {
                out.append(10)
                if i + 1 < bytes.count && bytes[i + 1] == 10 { i += 1 }
            } else {
                out.append(bytes[i])
            }
            i += 1
        }
        return out
    }
}

extension StringProtocol {
    var trimmingSpaces: Substring {
        let scalars = Substring(self)
        var start = scalars.startIndex
        var end = scalars.endIndex
        while start < end, scalars[start] == " " || scalars[start] == "\t" { start = scalars.index(after: start) }
        while end > start, scalars[scalars.index(before: end)] == " " || scalars[scalars.index(before: end)] == "\t" {
            end = scalars.index(before: end)
        }
        return scalars[start..<end]
    }

    var trimmingTrailingSpaces: Substring {
        let scalars = Substring(self)
        var end = scalars.endIndex
        while end > scalars.startIndex, scalars[scalars.index(before: end)] == " " { end = scalars.index(before: end) }
        return scalars[..<end]
    }

    func replacingAll(_ target: String, with replacement: String) -> String {
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
