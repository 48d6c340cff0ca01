import Foundation

/// The pieces of a built message that JSON-only providers (Postmark,
/// SendGrid, Resend) accept instead of raw MIME: addresses, decoded subject,
/// the HTML and text bodies, and the headers worth carrying over.
struct MIMEContent {
    var from: String = ""
    var to: String = ""
    var replyTo: String?
    var subject: String = ""
    var html: String?
    var text: String?
    /// Headers to pass through: Message-ID (so a re-send carries the same
    /// one, where the provider keeps it), List-* (RFC 8058 one-click
    /// unsubscribe needs them) and listctl's trace header, which bounce
    /// handling reads. See docs/TRANSPORTS.md for what each provider keeps.
    var headers: [(name: String, value: String)] = []

    static let passedHeaders: Set<String> = [
        "message-id", "list-id", "list-unsubscribe", "list-unsubscribe-post", "list-archive", "list-post", "x-listctl-trace",
    ]

    /// Reads a CRLF message: top-level headers, then the first text/html and
    /// text/plain leaves found under any multipart nesting.
    init(message: [UInt8]) throws(TransportError) {
        let (headers, body) = Self.split(message[...])
        guard let from = headers.first(where: { $0.name == "from" })?.value else {
            throw TransportError(code: .configuration, classification: .permanent, message: "the message has no From: header")
        }
        self.from = Self.decodeAddress(from)
        to = Self.decodeAddress(headers.first { $0.name == "to" }?.value ?? "")
        replyTo = headers.first { $0.name == "reply-to" }.map { Self.decodeAddress($0.value) }
        subject = Self.decodeWords(headers.first { $0.name == "subject" }?.value ?? "")
        for header in headers where Self.passedHeaders.contains(header.name) {
            self.headers.append((header.originalName, header.value))
        }
        collect(headers: headers, body: body)
    }

    private mutating func collect(headers: [Header], body: ArraySlice<UInt8>) {
        let contentType = headers.first { $0.name == "content-type" }?.value ?? "text/plain"
        let (type, parameters) = Self.parseContentType(contentType)
        if type.hasPrefix("multipart/"), let boundary = parameters["boundary"] {
            for part in Self.parts(of: body, boundary: boundary) {
                let (partHeaders, partBody) = Self.split(part)
                collect(headers: partHeaders, body: partBody)
            }
            return
        }
        guard type == "text/html" || type == "text/plain" else { return }
        let encoding = headers.first { $0.name == "content-transfer-encoding" }?.value.lowercased() ?? "7bit"
        let bytes: [UInt8]
        switch encoding.trimmingCharacters(in: .whitespaces) {
        case "quoted-printable": bytes = QuotedPrintable.decode(body)
        case "base64":
            bytes = Data(base64Encoded: String(decoding: body, as: UTF8.self), options: .ignoreUnknownCharacters).map(Array.init) ?? []
        default: bytes = Array(body)
        }
        let text = Self.string(bytes, charset: parameters["charset"])
        if type == "text/html", html == nil { html = text }
        if type == "text/plain", self.text == nil { self.text = text }
    }

    struct Header {
        var name: String
        var originalName: String
        var value: String
    }

    /// Header fields (unfolded) and the body of one entity.
    static func split(_ bytes: ArraySlice<UInt8>) -> ([Header], ArraySlice<UInt8>) {
        let array = Array(bytes)
        let (fields, bodyStart) = array.withUnsafeBufferPointer { DKIMCanonicalization.parseHeaders($0) }
        let headers = fields.map { field -> Header in
            let raw = String(decoding: array[field.range], as: UTF8.self)
            let colon = raw.firstIndex(of: ":") ?? raw.endIndex
            let value = raw[colon...].dropFirst().replacingOccurrences(of: "\r\n", with: "").replacingOccurrences(of: "\n", with: "")
            return Header(
                name: field.lowercasedName, originalName: String(raw[..<colon]).trimmingCharacters(in: .whitespaces),
                value: value.trimmingCharacters(in: .whitespaces))
        }
        return (headers, bytes[(bytes.startIndex + bodyStart)...])
    }

    static func parseContentType(_ value: String) -> (String, [String: String]) {
        let pieces = value.split(separator: ";")
        let type = pieces.first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? "text/plain"
        var parameters: [String: String] = [:]
        for piece in pieces.dropFirst() {
            let pair = piece.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { continue }
            var v = pair[1].trimmingCharacters(in: .whitespaces)
            if v.hasPrefix("\""), v.hasSuffix("\""), v.count >= 2 { v = String(v.dropFirst().dropLast()) }
            parameters[pair[0].trimmingCharacters(in: .whitespaces).lowercased()] = v
        }
        return (type, parameters)
    }

    /// The bodies between `--boundary` lines.
    static func parts(of body: ArraySlice<UInt8>, boundary: String) -> [ArraySlice<UInt8>] {
        let delimiter = Array(("--" + boundary).utf8)
        var result: [ArraySlice<UInt8>] = []
        var lineStart = body.startIndex
        var partStart: Int?
        var index = body.startIndex
        while index <= body.endIndex {
            if index == body.endIndex || body[index] == 10 {
                let line = body[lineStart..<index]
                let trimmed = line.last == 13 ? line.dropLast() : line
                if trimmed.starts(with: delimiter) {
                    let rest = trimmed.dropFirst(delimiter.count)
                    if let start = partStart {
                        // The CRLF before the delimiter belongs to the delimiter.
                        var end = lineStart
                        if end > start, body[end - 1] == 10 { end -= 1 }
                        if end > start, body[end - 1] == 13 { end -= 1 }
                        result.append(body[start..<max(start, end)])
                    }
                    if rest.starts(with: [45, 45]) { return result }
                    partStart = index + 1
                }
                lineStart = index + 1
            }
            index += 1
        }
        return result
    }

    static func string(_ bytes: [UInt8], charset: String?) -> String {
        switch charset?.lowercased() {
        case "iso-8859-1", "latin1", "windows-1252":
            return String(bytes: bytes, encoding: .isoLatin1) ?? String(decoding: bytes, as: UTF8.self)
        default:
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// `=?UTF-8?Q?Doe=2C_J.?= <a@b>` as `"Doe, J." <a@b>`: the decoded
    /// display name is quoted again when it holds characters that would
    /// otherwise split or break the address.
    static func decodeAddress(_ value: String) -> String {
        guard let open = value.lastIndex(of: "<"), value.contains("=?") else { return decodeWords(value) }
        var name = decodeWords(String(value[..<open])).trimmingCharacters(in: .whitespaces)
        let address = value[open...]
        if name.hasPrefix("\""), name.hasSuffix("\""), name.count >= 2 { return "\(name) \(address)" }
        if name.contains(where: { ",;:<>@\"()[]\\.".contains($0) }) {
            name = "\"" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        return name.isEmpty ? String(address) : "\(name) \(address)"
    }

    /// Decodes RFC 2047 encoded words (`=?UTF-8?B?...?=`, `=?UTF-8?Q?...?=`);
    /// whitespace between two encoded words disappears.
    static func decodeWords(_ value: String) -> String {
        guard value.contains("=?") else { return value }
        var out = ""
        var rest = Substring(value)
        var lastWasWord = false
        while let start = rest.range(of: "=?") {
            let between = rest[..<start.lowerBound]
            let after = rest[start.upperBound...]
            let pieces = after.split(separator: "?", maxSplits: 3, omittingEmptySubsequences: false)
            guard pieces.count == 4, pieces[3].hasPrefix("="), pieces[1].count == 1 else {
                out += rest[..<start.upperBound]
                rest = after
                lastWasWord = false
                continue
            }
            if !(lastWasWord && between.allSatisfy({ $0 == " " || $0 == "\t" })) { out += between }
            let charset = String(pieces[0]).split(separator: "*").first.map(String.init)
            let encoded = pieces[2]
            var bytes: [UInt8]
            if pieces[1].uppercased() == "B" {
                bytes = Data(base64Encoded: String(encoded), options: .ignoreUnknownCharacters).map(Array.init) ?? Array(encoded.utf8)
            } else {
                bytes = QuotedPrintable.decode(encoded.replacingOccurrences(of: "_", with: " ").utf8)
            }
            out += string(bytes, charset: charset)
            rest = pieces[3].dropFirst()
            lastWasWord = true
        }
        return out + rest
    }
}
