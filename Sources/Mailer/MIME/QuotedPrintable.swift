/// Quoted-printable (RFC 2045 §6.7) for bodies: CRLF hard line breaks, soft
/// breaks keep every encoded line within 76 characters.
///
/// Lines are encoded independently, so the encoded size of text made of whole
/// lines is the sum of the sizes of its lines: the splitter relies on that.
public enum QuotedPrintable {
    static let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
    /// The longest encoded line, soft-break `=` included.
    public static let maxLine = 76

    @inline(__always)
    static func isLiteral(_ byte: UInt8) -> Bool {
        (byte >= 33 && byte <= 126 && byte != 61) || byte == 32 || byte == 9
    }

    /// Encodes `input` (line feeds or CRLF as line ends) and appends to `out`.
    /// `limit` is the longest encoded line allowed (76, or 75 for a value that
    /// the caller follows with a soft break).
    public static func encode<C: Collection>(_ input: C, into out: inout [UInt8], limit: Int = maxLine)
    where C.Element == UInt8, C.Index == Int {
        var column = 0
        var i = input.startIndex
        let end = input.endIndex
        while i < end {
            let byte = input[i]
            if byte == 10 || (byte == 13 && i + 1 < end && input[i + 1] == 10) {
                out.append(13)
                out.append(10)
                column = 0
                i += byte == 13 ? 2 : 1
                continue
            }
            let next = i + 1
            let atLineEnd = next == end || input[next] == 10 || (input[next] == 13 && next + 1 < end && input[next + 1] == 10)
            // Whitespace at the end of a line must be encoded, or transports may strip it.
            let literal = isLiteral(byte) && !(atLineEnd && (byte == 32 || byte == 9))
            let width = literal ? 1 : 3
            // A soft break takes one column; the last token of a line needs none.
            let room = atLineEnd ? limit : limit - 1
            if column + width > room {
                out.append(61)
                out.append(13)
                out.append(10)
                column = 0
            }
            if literal {
                out.append(byte)
            } else {
                out.append(61)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 15)])
            }
            column += width
            i = next
        }
    }

    /// The size `encode` would produce, without producing it.
    public static func encodedLength<C: Collection>(_ input: C, limit: Int = maxLine) -> Int
    where C.Element == UInt8, C.Index == Int {
        var total = 0
        var column = 0
        var i = input.startIndex
        let end = input.endIndex
        while i < end {
            let byte = input[i]
            if byte == 10 || (byte == 13 && i + 1 < end && input[i + 1] == 10) {
                total += 2
                column = 0
                i += byte == 13 ? 2 : 1
                continue
            }
            let next = i + 1
            let atLineEnd = next == end || input[next] == 10 || (input[next] == 13 && next + 1 < end && input[next + 1] == 10)
            let literal = isLiteral(byte) && !(atLineEnd && (byte == 32 || byte == 9))
            let width = literal ? 1 : 3
            let room = atLineEnd ? limit : limit - 1
            if column + width > room {
                total += 3
                column = 0
            }
            total += width
            column += width
            i = next
        }
        return total
    }

    /// Decodes quoted-printable (for tests and tools): soft breaks removed,
    /// `=XX` decoded, CRLF kept.
    public static func decode(_ input: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(input.count)
        var i = 0
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 65...70: return c - 55
            case 97...102: return c - 87
            default: return nil
            }
        }
        while i < input.count {
            let byte = input[i]
            if byte == 61 {
                if i + 2 < input.count, input[i + 1] == 13, input[i + 2] == 10 {
                    i += 3
                    continue
                }
                if i + 2 < input.count, let high = value(input[i + 1]), let low = value(input[i + 2]) {
                    out.append(high << 4 | low)
                    i += 3
                    continue
                }
            }
            out.append(byte)
            i += 1
        }
        return out
    }
}
