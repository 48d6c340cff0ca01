import Foundation

/// An e-mail address in the form listctl stores: trimmed, one `@`, the local
/// part exactly as given, the domain lower-cased and in ASCII (IDN labels as
/// `xn--` Punycode), within RFC 5321's sizes.
///
/// Two addresses are the same subscriber when their lower-cased forms match
/// (`key`): providers treat local parts case-insensitively in practice, and a
/// list must not mail one person twice.
public struct EmailAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address to store and send to.
    public let address: String

    /// The case-insensitive identity (what `subscribers.email_key` holds).
    public var key: String { address.lowercased() }
    public var description: String { address }

    /// Why a text is not an acceptable address.
    public struct Problem: Error, Sendable, Hashable, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    /// Normalises and validates `text`.
    ///
    /// - Throws: ``EmailAddress/Problem`` saying what is wrong, for people.
    public init(normalizing text: String) throws(Problem) {
        if let fast = Self.normalizedASCII(text) {
            self.address = fast
            return
        }
        func fail(_ reason: String) -> Problem { Problem(reason: reason) }
        if text.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) {
            throw fail("a line break inside the address \(Self.quoted(text))")
        }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { throw fail("the address is empty") }
        let parts = trimmed.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw fail(parts.count == 1 ? "\(Self.quoted(trimmed)) has no @" : "\(Self.quoted(trimmed)) has more than one @")
        }
        let local = parts[0]
        var domain = String(parts[1])
        if local.isEmpty { throw fail("\(Self.quoted(trimmed)) has nothing before the @") }
        if local.utf8.count > 64 { throw fail("the local part of \(Self.quoted(trimmed)) is longer than 64 bytes (RFC 5321)") }
        if local.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F || $0 == "<" || $0 == ">" || $0 == "," }) {
            throw fail("\(Self.quoted(trimmed)) has a space, control character or one of < > , before the @")
        }
        // IDNA separators other than '.' (RFC 3490 §3.1).
        domain = domain.replacingOccurrences(of: "\u{3002}", with: ".").replacingOccurrences(of: "\u{FF0E}", with: ".")
            .replacingOccurrences(of: "\u{FF61}", with: ".")
        if domain.hasSuffix(".") { domain.removeLast() }  // the root's dot is allowed, not stored
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { throw fail("the domain of \(Self.quoted(trimmed)) has no dot (expected name@example.com)") }
        var asciiLabels: [String] = []
        for label in labels {
            guard !label.isEmpty else { throw fail("the domain of \(Self.quoted(trimmed)) has an empty label (two dots, or a dot at the start)") }
            var ascii: String
            if label.utf8.allSatisfy({ $0 < 0x80 }) {
                ascii = label.lowercased()
            } else {
                // Compatibility composition (NFKC) and lower case before encoding, as
                // IDNA's mapping does for common input: full-width letters become ASCII.
                let mapped = label.precomposedStringWithCompatibilityMapping.lowercased()
                if mapped.utf8.allSatisfy({ $0 < 0x80 }) {
                    ascii = mapped
                } else {
                    guard let encoded = Punycode.encode(mapped) else {
                        throw fail("the domain of \(Self.quoted(trimmed)) cannot be converted to ASCII")
                    }
                    ascii = "xn--" + encoded
                }
            }
            guard ascii.utf8.count <= 63 else { throw fail("a label of the domain of \(Self.quoted(trimmed)) is longer than 63 bytes") }
            guard ascii.utf8.allSatisfy({ Self.isLDH($0) }), ascii.first != "-", ascii.last != "-" else {
                throw fail("the domain of \(Self.quoted(trimmed)) has a character not allowed in a host name")
            }
            asciiLabels.append(ascii)
        }
        let address = String(local) + "@" + asciiLabels.joined(separator: ".")
        guard address.utf8.count <= 254 else { throw fail("\(Self.quoted(trimmed)) is longer than 254 bytes (RFC 5321)") }
        self.address = address
    }

    /// Accepts `text` only as an address to write, unchanged, into a header and
    /// an SMTP envelope: what ``init(normalizing:)`` accepts, already in that
    /// form (the domain's case aside) and all ASCII, since listctl does not
    /// use SMTPUTF8. `address` is then `text` exactly.
    ///
    /// - Throws: ``EmailAddress/Problem`` saying what is wrong and, when the
    ///   address only needs normalising, which form to use instead.
    public init(validating text: String) throws(Problem) {
        // Called per message sent: a fast-path result of the same length
        // differs from `text` at most in the domain's case.
        if let fast = Self.normalizedASCII(text), fast.utf8.count == text.utf8.count {
            self.address = text
            return
        }
        let normal = try EmailAddress(normalizing: text)
        guard normal.address.utf8.allSatisfy({ $0 < 0x80 }) else {
            throw Problem(reason: "\(Self.quoted(text)) has non-ASCII characters before the @, which would need SMTPUTF8 (not supported)")
        }
        guard text.utf8.allSatisfy({ $0 < 0x80 }), normal.address.lowercased() == text.lowercased() else {
            throw Problem(reason: "\(Self.quoted(text)) is not in its normal form; write it as \(Self.quoted(normal.address))")
        }
        self.address = text
    }

    /// The common case (a valid, all-ASCII address) in one pass over the bytes,
    /// with no copy when it is already normal; `nil` sends the text down the
    /// full path, which also words the error.
    static func normalizedASCII(_ text: String) -> String? {
        enum Outcome { case fallBack, unchanged, changed([UInt8]) }
        var text = text
        let outcome = text.withUTF8 { bytes -> Outcome in
            var start = 0
            var end = bytes.count
            while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
            while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
            guard end - start <= 254, end > start else { return .fallBack }
            var at = -1
            var index = start
            while index < end {
                let byte = bytes[index]
                if byte == 0x40 {
                    at = index
                    break
                }
                if byte <= 0x20 || byte >= 0x7F || byte == 0x3C || byte == 0x3E || byte == 0x2C { return .fallBack }
                index += 1
            }
            guard at > start, at - start <= 64, at + 1 < end else { return .fallBack }
            var needsLowering = false
            var labelLength = 0
            var dots = 0
            var previous: UInt8 = 0x2E
            for index in (at + 1)..<end {
                let byte = bytes[index]
                if byte == 0x2E {
                    guard labelLength > 0, previous != 0x2D else { return .fallBack }
                    dots += 1
                    labelLength = 0
                } else if byte >= 0x41 && byte <= 0x5A {
                    needsLowering = true
                    labelLength += 1
                } else if isLDH(byte) {
                    if byte == 0x2D, previous == 0x2E { return .fallBack }
                    labelLength += 1
                } else {
                    return .fallBack  // a second @, non-ASCII (IDN), or a character the full path explains
                }
                guard labelLength <= 63 else { return .fallBack }
                previous = byte
            }
            guard dots > 0, labelLength > 0, previous != 0x2D else { return .fallBack }
            if start == 0, end == bytes.count, !needsLowering { return .unchanged }
            var output = [UInt8](bytes[start..<end])
            for index in (at + 1 - start)..<output.count where output[index] >= 0x41 && output[index] <= 0x5A {
                output[index] += 0x20
            }
            return .changed(output)
        }
        switch outcome {
        case .fallBack: return nil
        case .unchanged: return text
        case .changed(let bytes): return String(decoding: bytes, as: UTF8.self)
        }
    }

    private static func isLDH(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D
    }

    /// The text in quotes, shortened to 80 characters, with control characters
    /// made visible: how messages for people show a value they gave.
    public static func quoted(_ text: String) -> String {
        var shown = text.unicodeScalars.map { scalar -> String in
            switch scalar {
            case "\r": return "\\r"
            case "\n": return "\\n"
            case "\t": return "\\t"
            default: return scalar.value < 0x20 ? String(format: "\\u%04X", scalar.value) : String(scalar)
            }
        }.joined()
        if shown.count > 80 { shown = String(shown.prefix(77)) + "..." }
        return "\"\(shown)\""
    }
}
