#if canImport(Glibc)
import Glibc
#endif

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
    where C.Element == UInt8 {
        if out.isEmpty {
            out = encoded(input, limit: limit)
        } else {
            out.append(contentsOf: encoded(input, limit: limit))
        }
    }

    /// `input` encoded, in one pass: the buffer is sized for the worst case
    /// and pages never written are never touched.
    public static func encoded<C: Collection>(_ input: C, limit: Int = maxLine) -> [UInt8] where C.Element == UInt8 {
        let result: [UInt8]? = input.withContiguousStorageIfAvailable { source in
            let n = source.count
            let worst = 3 * n + 3 * (3 * n / max(1, limit - 3) + 2) + 16
            return [UInt8](unsafeUninitializedCapacity: worst) { buffer, count in
                count = run(source, limit: limit, sink: Writer(base: buffer.baseAddress!))
            }
        }
        return result ?? encoded(Array(input), limit: limit)
    }

    /// Encodes many small inputs with one reusable buffer: each result is an
    /// exact-size array, and the worst-case room is allocated once, not per call.
    final class Encoder {
        private var buffer: UnsafeMutableBufferPointer<UInt8>

        init() { buffer = .allocate(capacity: 1 << 16) }
        deinit { buffer.deallocate() }

        func encoded(_ input: [UInt8], limit: Int = QuotedPrintable.maxLine) -> [UInt8] {
            input.withUnsafeBufferPointer { source in
                let n = source.count
                let worst = 3 * n + 3 * (3 * n / max(1, limit - 3) + 2) + 16
                if worst > buffer.count {
                    buffer.deallocate()
                    buffer = .allocate(capacity: max(worst, buffer.count * 2))
                }
                let count = run(source, limit: limit, sink: Writer(base: buffer.baseAddress!))
                return Array(UnsafeBufferPointer(rebasing: buffer[0..<count]))
            }
        }
    }

    /// The size `encode` would produce, without producing it.
    public static func encodedLength<C: Collection>(_ input: C, limit: Int = maxLine) -> Int
    where C.Element == UInt8 {
        if let count = input.withContiguousStorageIfAvailable({ run($0, limit: limit, sink: Counter()) }) {
            return count
        }
        return encodedLength(Array(input), limit: limit)
    }

    /// Whether a byte goes through as itself (before the end-of-line rule for whitespace).
    private static let literalTable: [Bool] = (0..<256).map { isLiteral(UInt8($0)) }

    protocol Sink {
        mutating func put(_ byte: UInt8)
        mutating func put(_ a: UInt8, _ b: UInt8, _ c: UInt8)
        var count: Int { get }
    }

    struct Counter: Sink {
        var count = 0
        @inline(__always) mutating func put(_ byte: UInt8) { count += 1 }
        @inline(__always) mutating func put(_ a: UInt8, _ b: UInt8, _ c: UInt8) { count += 3 }
    }

    struct Writer: Sink {
        let base: UnsafeMutablePointer<UInt8>
        var count = 0
        @inline(__always) mutating func put(_ byte: UInt8) {
            base[count] = byte
            count += 1
        }
        @inline(__always) mutating func put(_ a: UInt8, _ b: UInt8, _ c: UInt8) {
            base[count] = a
            base[count + 1] = b
            base[count + 2] = c
            count += 3
        }
    }

    /// The one encoding loop, run either to count or to write, so the two never disagree.
    @inline(__always)
    private static func run<S: Sink>(_ input: UnsafeBufferPointer<UInt8>, limit: Int, sink: S) -> Int {
        var sink = sink
        let end = input.count
        guard end > 0, let base = input.baseAddress else { return 0 }
        return literalTable.withUnsafeBufferPointer { literal -> Int in
            var i = 0
            while i < end {
                // One line at a time: its last byte is the only one that needs
                // the end-of-line rule, and CRLF or LF ends it.
                let newline = memchr(base + i, 10, end - i).map { UnsafePointer<UInt8>($0.assumingMemoryBound(to: UInt8.self)) - base } ?? end
                var lineEnd = newline
                if newline < end && lineEnd > i && input[lineEnd - 1] == 13 { lineEnd -= 1 }
                var column = 0
                var k = i
                let last = lineEnd - 1
                while k < lineEnd {
                    let byte = input[k]
                    var isLiteral = literal[Int(byte)]
                    let atLineEnd = k == last
                    // Whitespace at the end of a line must be encoded, or transports may strip it.
                    if atLineEnd && (byte == 32 || byte == 9) { isLiteral = false }
                    let width = isLiteral ? 1 : 3
                    // A soft break takes one column; the last token of a line needs none.
                    if column + width > (atLineEnd ? limit : limit - 1) {
                        sink.put(61, 13, 10)
                        column = 0
                    }
                    if isLiteral {
                        sink.put(byte)
                    } else {
                        sink.put(61, hex[Int(byte >> 4)], hex[Int(byte & 15)])
                    }
                    column += width
                    k += 1
                }
                if newline < end {
                    sink.put(13)
                    sink.put(10)
                }
                i = newline + 1
            }
            return sink.count
        }
    }

    /// Decodes quoted-printable: soft breaks (`=` before CRLF or a bare LF)
    /// removed, `=XX` decoded, anything else kept as it is. Used by tests and
    /// by the JSON-only transports, which read a built message back.
    public static func decode(_ input: some Collection<UInt8>) -> [UInt8] {
        let body = Array(input)
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 48...57: byte - 48
            case 65...70: byte - 55
            case 97...102: byte - 87
            default: nil
            }
        }
        var index = 0
        while index < body.count {
            let byte = body[index]
            if byte == 61 {  // "="
                let next = index + 1 < body.count ? body[index + 1] : 0
                if next == 13 || next == 10 {
                    index += next == 13 && index + 2 < body.count && body[index + 2] == 10 ? 3 : 2
                    continue
                }
                if index + 2 < body.count, let high = hexValue(body[index + 1]), let low = hexValue(body[index + 2]) {
                    out.append(high << 4 | low)
                    index += 3
                    continue
                }
            }
            out.append(byte)
            index += 1
        }
        return out
    }
}
