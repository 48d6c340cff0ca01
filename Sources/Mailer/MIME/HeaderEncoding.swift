/// Header field encoding: RFC 2047 encoded words for non-ASCII text, quoted
/// strings for ASCII display names with specials, folding to keep lines
/// short, and refusal of CR and LF in any value.
enum HeaderEncoding {
    private static let base64Alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func base64(_ bytes: some Collection<UInt8>) -> String {
        var out: [UInt8] = []
        let input = Array(bytes)
        out.reserveCapacity((input.count + 2) / 3 * 4)
        var i = 0
        while i + 2 < input.count {
            let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
            out += [base64Alphabet[Int(n >> 18 & 63)], base64Alphabet[Int(n >> 12 & 63)], base64Alphabet[Int(n >> 6 & 63)], base64Alphabet[Int(n & 63)]]
            i += 3
        }
        if i < input.count {
            let rest = input.count - i
            let n = UInt32(input[i]) << 16 | (rest == 2 ? UInt32(input[i + 1]) << 8 : 0)
            out += [base64Alphabet[Int(n >> 18 & 63)], base64Alphabet[Int(n >> 12 & 63)]]
            out += rest == 2 ? [base64Alphabet[Int(n >> 6 & 63)], UInt8(ascii: "=")] : [UInt8(ascii: "="), UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Throws unless `value` is free of CR, LF and NUL: a header value must
    /// never start a new header.
    static func check(_ value: String, header: String) throws {
        if value.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }) {
            throw MailerError(
                code: .invalidHeader, message: "the \(header) header value contains a line break; refusing to build the message")
        }
    }

    static func isASCII(_ value: String) -> Bool { value.utf8.allSatisfy { $0 < 128 } }

    /// Encoded words (`=?UTF-8?B?...?=`) of at most 75 characters each,
    /// never cutting a character in two.
    /// `firstRoom` is the room left on the header's first line, so the first
    /// word fits after `Name: `.
    static func encodedWords(_ value: String, firstRoom: Int = 75) -> [String] {
        var words: [String] = []
        var chunk: [UInt8] = []
        for scalar in value.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            // 45 bytes → 60 base64 characters → 72 with the wrapper.
            let limit = words.isEmpty ? max(3, (min(75, firstRoom) - 12) / 4 * 3) : 45
            if !chunk.isEmpty && chunk.count + bytes.count > limit {
                words.append("=?UTF-8?B?" + base64(chunk) + "?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?" + base64(chunk) + "?=") }
        return words
    }

    /// An unstructured value (Subject): as is when ASCII, encoded words otherwise.
    static func unstructured(_ value: String, header: String) -> [String] {
        if isASCII(value) {
            let words = value.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            // A word too long to fold around would make an over-long line: encode it instead.
            if words.allSatisfy({ $0.utf8.count <= 75 }) { return words }
        }
        return encodedWords(value, firstRoom: 78 - header.utf8.count - 2)
    }

    private static let atext = Set(Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~ ".utf8))

    /// A display name as a phrase: plain atoms, a quoted string, or encoded words.
    static func phrase(_ name: String, header: String = "Reply-To") -> [String] {
        if isASCII(name) {
            if name.utf8.allSatisfy({ atext.contains($0) }) {
                let words = name.split(separator: " ").map(String.init)
                if words.allSatisfy({ $0.utf8.count <= 75 }) { return words }
            }
            var quoted = "\""
            for character in name {
                if character == "\"" || character == "\\" { quoted.append("\\") }
                quoted.append(character)
            }
            // A quoted string cannot be folded; a long one goes as encoded words.
            if quoted.utf8.count < 70 { return [quoted + "\""] }
        }
        return encodedWords(name, firstRoom: 78 - header.utf8.count - 2)
    }

    /// Throws unless `address` can go as is into a header and the SMTP
    /// envelope (see ``EmailAddress/init(validating:)``); the message names
    /// the role ("From", "recipient") and what is wrong.
    static func checkAddress(_ address: String, role: String, code: MailerError.Code = .invalidHeader) throws {
        do {
            _ = try EmailAddress(validating: address)
        } catch {
            throw MailerError(code: code, message: "\(role) address: \(error.reason)")
        }
    }

    /// `Name <address>` (or the bare address when there is no name), as words to fold.
    static func mailbox(name: String, address: String, header: String) -> [String] {
        let trimmed = name.trimmingSpaces
        if trimmed.isEmpty { return ["<\(address)>"] }
        return phrase(String(trimmed), header: header) + ["<\(address)>"]
    }

    /// Writes `Name: word word ...` folding before a word that would push a
    /// line past 78 characters; ends with CRLF.
    static func write(_ name: String, words: [String], into out: inout [UInt8], separator: String = " ") {
        var line = name.utf8.count + 1
        out.append(contentsOf: name.utf8)
        out.append(UInt8(ascii: ":"))
        for (i, word) in words.enumerated() {
            let glue = i == 0 ? " " : separator
            if i > 0 && line + glue.utf8.count + word.utf8.count > 78 {
                out.append(contentsOf: glue.trimmingTrailingSpaces.utf8)
                out.append(contentsOf: [13, 10, 32])
                line = 1
            } else {
                out.append(contentsOf: glue.utf8)
                line += glue.utf8.count
            }
            out.append(contentsOf: word.utf8)
            line += word.utf8.count
        }
        out.append(contentsOf: [13, 10])
    }
}
