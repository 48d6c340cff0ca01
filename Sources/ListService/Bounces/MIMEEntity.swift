import Foundation

/// A received message or one of its parts, as far as bounce and complaint
/// reports need it (RFC 5322 header fields, RFC 2045/2046 MIME): header
/// fields unfolded, multipart bodies split at their boundaries, base64 and
/// quoted-printable bodies decoded on request. CRLF and bare LF line ends
/// are both accepted (a Maildir on Unix holds LF). Not parsed: RFC 2047
/// encoded words (none of the fields read here use them), RFC 2231
/// continued parameters, and the bodies of returned messages, which MTAs
/// often cut short (only their header block is read, ``parseHeaders(_:)``).
///
/// Input is untrusted: nesting is limited to ``maxDepth``, and each problem
/// is a ``MIMEError`` saying what and where.
public struct MIMEEntity: Sendable {
    public struct Field: Sendable, Equatable {
        public var name: String
        /// Unfolded: continuation lines joined with their leading white space, the ends trimmed.
        public var value: String
    }

    public var fields: [Field]
    /// The body as it is on the wire (still transfer-encoded).
    public var body: [UInt8]
    /// The parts of a `multipart/*` body, in order; empty for anything else.
    public var parts: [MIMEEntity]

    /// Multiparts nest this deep at most (a report is 2–3 levels).
    public static let maxDepth = 16

    /// The first field named `name` (case-insensitive).
    public func field(_ name: String) -> String? {
        fields.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// Every field named `name`, in order.
    public func fields(_ name: String) -> [String] {
        fields.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }.map(\.value)
    }

    /// `type/subtype` lower-cased; `text/plain` when there is no Content-Type (RFC 2045 §5.2).
    public var mediaType: String { ContentType(field("Content-Type")).mediaType }

    /// A Content-Type parameter (name case-insensitive, value as given).
    public func contentTypeParameter(_ name: String) -> String? { ContentType(field("Content-Type")).parameters[name.lowercased()] }

    // MARK: Parsing

    /// Parses a whole message (or body part): its header block, and for a multipart its parts, recursively.
    /// - Throws: ``MIMEError``.
    public static func parse(_ bytes: [UInt8]) throws(MIMEError) -> MIMEEntity {
        try parse(bytes[...], depth: 0, path: "")
    }

    /// Only the header block of `bytes` (a returned message, `text/rfc822-headers`): the body is kept, not parsed.
    public static func parseHeaders(_ bytes: [UInt8]) throws(MIMEError) -> MIMEEntity {
        let (fields, body) = try splitHeader(bytes[...], path: "")
        return MIMEEntity(fields: fields, body: Array(body), parts: [])
    }

    static func parse(_ bytes: ArraySlice<UInt8>, depth: Int, path: String) throws(MIMEError) -> MIMEEntity {
        guard depth <= maxDepth else {
            throw MIMEError(code: .tooDeep, message: "\(where_(path))multiparts nest more than \(maxDepth) deep")
        }
        let (fields, body) = try splitHeader(bytes, path: path)
        var entity = MIMEEntity(fields: fields, body: Array(body), parts: [])
        let type = ContentType(entity.field("Content-Type"))
        if type.mediaType.hasPrefix("multipart/") {
            guard let boundary = type.parameters["boundary"], !boundary.isEmpty else {
                throw MIMEError(
                    code: .missingBoundary, message: "\(where_(path))\(type.mediaType) has no boundary parameter in its Content-Type")
            }
            guard boundary.utf8.count <= 70 else {
                throw MIMEError(code: .missingBoundary, message: "\(where_(path))the boundary is longer than 70 characters (RFC 2046 §5.1.1)")
            }
            let encoding = (entity.field("Content-Transfer-Encoding") ?? "7bit").lowercased()
            guard ["7bit", "8bit", "binary"].contains(encoding) else {
                throw MIMEError(code: .badEncoding, message: "\(where_(path))a multipart cannot be \(encoding)-encoded (RFC 2045 §6.4)")
            }
            let bodies = try splitMultipart(body, boundary: Array(boundary.utf8), path: path)
            for (index, part) in bodies.enumerated() {
                entity.parts.append(try parse(part, depth: depth + 1, path: path.isEmpty ? "\(index + 1)" : "\(path).\(index + 1)"))
            }
        }
        return entity
    }

    /// "part 1.2: " for errors inside a part, "" at the top.
    static func where_(_ path: String) -> String { path.isEmpty ? "" : "part \(path): " }

    /// The unfolded header fields and the body after the empty line (empty when there is none).
    static func splitHeader(_ bytes: ArraySlice<UInt8>, path: String) throws(MIMEError) -> ([Field], ArraySlice<UInt8>) {
        var fields: [Field] = []
        var index = bytes.startIndex
        var lineNumber = 0
        // (name, value bytes) of the field being read, continued by folded lines.
        var current: (name: String, value: [UInt8])?
        func finish() {
            guard let field = current else { return }
            let value = String(decoding: field.value, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            fields.append(Field(name: field.name, value: value))
            current = nil
        }
        while index < bytes.endIndex {
            let lineEnd = bytes[index...].firstIndex(of: 0x0A) ?? bytes.endIndex
            let next = lineEnd < bytes.endIndex ? lineEnd + 1 : lineEnd
            var line = bytes[index..<lineEnd]
            if line.last == 0x0D { line = line.dropLast() }
            lineNumber += 1
            if line.isEmpty {
                // The empty line ends the header block; a part may also begin with it (no fields).
                finish()
                return (fields, bytes[next...])
            }
            if line.first == 0x20 || line.first == 0x09 {
                guard current != nil else {
                    throw MIMEError(
                        code: .badHeader,
                        message: "\(where_(path))header line \(lineNumber) is a continuation (starts with white space) with no field before it")
                }
                current!.value += line
            } else {
                finish()
                guard let colon = line.firstIndex(of: 0x3A), colon > line.startIndex,
                    line[line.startIndex..<colon].allSatisfy({ $0 > 0x20 && $0 < 0x7F })
                else {
                    let shown = String(decoding: line.prefix(60), as: UTF8.self)
                    throw MIMEError(
                        code: .badHeader,
                        message: "\(where_(path))header line \(lineNumber) is not \"Name: value\": \(shown.debugDescription)")
                }
                current = (String(decoding: line[line.startIndex..<colon], as: UTF8.self), Array(line[(colon + 1)...]))
            }
            index = next
        }
        // Only header fields, no body (a text/rfc822-headers part may end so).
        finish()
        return (fields, bytes[bytes.endIndex...])
    }

    /// The bodies between `--boundary` lines, up to `--boundary--` (RFC 2046 §5.1.1): the line break
    /// before each delimiter belongs to the delimiter; the preamble and epilogue are dropped.
    static func splitMultipart(_ body: ArraySlice<UInt8>, boundary: [UInt8], path: String) throws(MIMEError) -> [ArraySlice<UInt8>] {
        let dashes: [UInt8] = [0x2D, 0x2D] + boundary
        var parts: [ArraySlice<UInt8>] = []
        var partStart: Int?
        var index = body.startIndex
        var closed = false
        while index < body.endIndex {
            let lineEnd = body[index...].firstIndex(of: 0x0A) ?? body.endIndex
            let next = lineEnd < body.endIndex ? lineEnd + 1 : lineEnd
            var line = body[index..<lineEnd]
            if line.last == 0x0D { line = line.dropLast() }
            if line.starts(with: dashes) {
                let rest = line.dropFirst(dashes.count)
                let isClose = rest.starts(with: [0x2D, 0x2D])
                let tail = isClose ? rest.dropFirst(2) : rest
                // Transport padding (white space) may follow a delimiter; anything else means another boundary that starts alike.
                if tail.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                    if let start = partStart {
                        var end = index
                        // The CRLF (or LF) before the delimiter is part of it.
                        if end > start && body[end - 1] == 0x0A { end -= 1 }
                        if end > start && body[end - 1] == 0x0D { end -= 1 }
                        parts.append(body[start..<max(start, end)])
                    }
                    if isClose {
                        closed = true
                        break
                    }
                    partStart = next
                }
            }
            index = next
        }
        let shown = String(decoding: boundary, as: UTF8.self)
        guard !parts.isEmpty || partStart != nil else {
            throw MIMEError(
                code: .missingBoundary, message: "\(where_(path))the multipart body has no line --\(shown) (the boundary of its Content-Type)")
        }
        guard closed else {
            throw MIMEError(
                code: .truncated,
                message: "\(where_(path))the multipart body ends without its closing line --\(shown)-- (the message is cut short)")
        }
        return parts
    }

    // MARK: Decoding

    /// The body with its Content-Transfer-Encoding undone.
    /// - Throws: ``MIMEError`` `.badEncoding` for an unknown encoding or bytes that are not base64.
    public func decodedBody() throws(MIMEError) -> [UInt8] {
        let encoding = (field("Content-Transfer-Encoding") ?? "7bit").lowercased()
        switch encoding {
        case "7bit", "8bit", "binary": return body
        case "base64": return try Self.decodeBase64(body)
        case "quoted-printable": return Self.decodeQuotedPrintable(body)
        default:
            throw MIMEError(code: .badEncoding, message: "Content-Transfer-Encoding \(encoding.debugDescription) is not one MIME defines")
        }
    }

    /// The decoded body as text (UTF-8, invalid bytes replaced).
    public func text() throws(MIMEError) -> String { String(decoding: try decodedBody(), as: UTF8.self) }

    /// RFC 2045 §6.8: white space and line breaks ignored; anything else outside the alphabet is an error.
    static func decodeBase64(_ bytes: [UInt8]) throws(MIMEError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        var padding = 0
        for byte in bytes {
            let value: UInt32
            switch byte {
            case 0x41...0x5A: value = UInt32(byte - 0x41)
            case 0x61...0x7A: value = UInt32(byte - 0x61 + 26)
            case 0x30...0x39: value = UInt32(byte - 0x30 + 52)
            case 0x2B: value = 62
            case 0x2F: value = 63
            case 0x3D:
                padding += 1
                continue
            case 0x20, 0x09, 0x0D, 0x0A: continue
            default:
                throw MIMEError(code: .badEncoding, message: "the base64 body holds the byte 0x\(String(byte, radix: 16)), which is not base64")
            }
            guard padding == 0 else {
                throw MIMEError(code: .badEncoding, message: "the base64 body has data after its = padding")
            }
            accumulator = accumulator << 6 | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return out
    }

    /// RFC 2045 §6.7, leniently (as the RFC advises a decoder to be): `=XX` decoded, `=` at a line's end
    /// joins it to the next, trailing white space dropped, a malformed `=` kept as it is.
    static func decodeQuotedPrintable(_ bytes: [UInt8]) -> [UInt8] {
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 0x30...0x39: byte - 0x30
            case 0x41...0x46: byte - 0x41 + 10
            case 0x61...0x66: byte - 0x61 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)[...]
        let endsWithNewline = bytes.last == 0x0A
        if endsWithNewline { lines = lines.dropLast() }
        for (number, rawLine) in lines.enumerated() {
            var line = rawLine
            if line.last == 0x0D { line = line.dropLast() }
            while let last = line.last, last == 0x20 || last == 0x09 { line = line.dropLast() }
            var soft = false
            var index = line.startIndex
            while index < line.endIndex {
                let byte = line[index]
                if byte == 0x3D {
                    if index + 1 == line.endIndex {
                        soft = true
                        break
                    }
                    if index + 2 < line.endIndex, let high = hex(line[index + 1]), let low = hex(line[index + 2]) {
                        out.append(high << 4 | low)
                        index += 3
                        continue
                    }
                }
                out.append(byte)
                index += 1
            }
            let isLast = number == lines.count - 1
            if !soft && (!isLast || endsWithNewline) { out += [0x0D, 0x0A] }
        }
        return out
    }
}

/// A parsed Content-Type value: `type/subtype; name=value; name="quoted value"`.
struct ContentType {
    var mediaType: String
    var parameters: [String: String]

    init(_ value: String?) {
        guard let value, !value.isEmpty else {
            mediaType = "text/plain"
            parameters = [:]
            return
        }
        var scanner = ParameterScanner(Array(Self.withoutComments(value).utf8))
        let type = scanner.token().lowercased()
        mediaType = type.contains("/") ? type : "text/plain"
        parameters = [:]
        while scanner.skip(0x3B) {
            let name = scanner.token().lowercased()
            guard !name.isEmpty, scanner.skip(0x3D) else { continue }
            let value = scanner.value()
            if parameters[name] == nil { parameters[name] = value }
        }
    }

    /// RFC 5322 comments `(...)` outside quoted strings removed.
    static func withoutComments(_ text: String) -> String {
        var out = ""
        var depth = 0
        var quoted = false
        var escaped = false
        for character in text {
            if escaped {
                escaped = false
                if depth == 0 { out.append(character) }
                continue
            }
            if character == "\\" && (quoted || depth > 0) {
                escaped = true
                if depth == 0 { out.append(character) }
                continue
            }
            if quoted {
                if character == "\"" { quoted = false }
                out.append(character)
            } else if character == "(" {
                depth += 1
            } else if character == ")" && depth > 0 {
                depth -= 1
            } else if depth == 0 {
                if character == "\"" { quoted = true }
                out.append(character)
            }
        }
        return out
    }
}

/// Reads `token`, `;`, `=` and quoted strings of a Content-Type.
struct ParameterScanner {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func skipSpace() {
        while index < bytes.count, [0x20, 0x09, 0x0D, 0x0A].contains(bytes[index]) { index += 1 }
    }

    mutating func skip(_ byte: UInt8) -> Bool {
        skipSpace()
        guard index < bytes.count, bytes[index] == byte else {
            // Skip to the next `;` so one bad parameter does not hide the rest.
            if byte == 0x3B {
                while index < bytes.count, bytes[index] != 0x3B { index += 1 }
                if index < bytes.count {
                    index += 1
                    return true
                }
            }
            return false
        }
        index += 1
        return true
    }

    /// Up to white space or a tspecial that ends a token (`;`, `=`, `"`); `/` is kept (type/subtype).
    mutating func token() -> String {
        skipSpace()
        let start = index
        while index < bytes.count, !([0x20, 0x09, 0x0D, 0x0A, 0x3B, 0x3D, 0x22] as [UInt8]).contains(bytes[index]) { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    mutating func value() -> String {
        skipSpace()
        guard index < bytes.count, bytes[index] == 0x22 else { return token() }
        index += 1
        var out: [UInt8] = []
        while index < bytes.count, bytes[index] != 0x22 {
            if bytes[index] == 0x5C, index + 1 < bytes.count { index += 1 }
            out.append(bytes[index])
            index += 1
        }
        if index < bytes.count { index += 1 }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A message that cannot be read as MIME: what is wrong, and in which part.
public struct MIMEError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable { case badHeader, missingBoundary, truncated, badEncoding, tooDeep, empty }
        let base: Base
        /// A header line that is neither `Name: value` nor a continuation.
        public static let badHeader = Code(base: .badHeader)
        /// A multipart without a boundary, or whose body never uses it.
        public static let missingBoundary = Code(base: .missingBoundary)
        /// A multipart without its closing delimiter: the file or message was cut short.
        public static let truncated = Code(base: .truncated)
        /// An unknown Content-Transfer-Encoding, or a body that is not what its encoding says.
        public static let badEncoding = Code(base: .badEncoding)
        /// Multiparts nested deeper than ``MIMEEntity/maxDepth``.
        public static let tooDeep = Code(base: .tooDeep)
        /// No bytes at all.
        public static let empty = Code(base: .empty)
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
