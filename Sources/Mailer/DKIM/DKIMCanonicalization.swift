import Foundation

/// RFC 6376 "relaxed" canonicalisation (§3.4.2 headers, §3.4.4 body) on raw bytes.
enum DKIMCanonicalization {
    /// One header field of a message: its lower-cased name and the byte range
    /// of the whole field (name, colon, value and folds; not the final CRLF).
    struct HeaderField {
        var lowercasedName: String
        var range: Range<Int>
    }

    private static let cr: UInt8 = 13, lf: UInt8 = 10, sp: UInt8 = 32, tab: UInt8 = 9, colon: UInt8 = 58

    /// Splits a message into its header fields and the offset where the body
    /// starts (after the empty line; `bytes.count` when there is no body).
    /// Bare LF line ends are accepted as well as CRLF.
    static func parseHeaders(_ bytes: UnsafeBufferPointer<UInt8>) -> (fields: [HeaderField], bodyStart: Int) {
        var fields: [HeaderField] = []
        fields.reserveCapacity(24)
        var index = 0
        let count = bytes.count
        var fieldStart = -1
        var fieldEnd = 0
        func finish() {
            guard fieldStart >= 0 else { return }
            var nameEnd = fieldStart
            while nameEnd < fieldEnd, bytes[nameEnd] != colon { nameEnd += 1 }
            var trimmed = nameEnd
            while trimmed > fieldStart, bytes[trimmed - 1] == sp || bytes[trimmed - 1] == tab { trimmed -= 1 }
            let name = String(decoding: UnsafeBufferPointer(rebasing: bytes[fieldStart..<trimmed]), as: UTF8.self).lowercased()
            fields.append(HeaderField(lowercasedName: name, range: fieldStart..<fieldEnd))
            fieldStart = -1
        }
        while index < count {
            // Find the end of this line.
            var lineEnd = index
            while lineEnd < count, bytes[lineEnd] != lf { lineEnd += 1 }
            let contentEnd = (lineEnd > index && bytes[lineEnd - 1] == cr) ? lineEnd - 1 : lineEnd
            let next = lineEnd < count ? lineEnd + 1 : count
            if contentEnd == index {
                // The empty line ends the header section.
                finish()
                return (fields, next)
            }
            if bytes[index] == sp || bytes[index] == tab {
                // Continuation of a folded field.
                if fieldStart >= 0 { fieldEnd = contentEnd }
            } else {
                finish()
                fieldStart = index
                fieldEnd = contentEnd
            }
            index = next
        }
        finish()
        return (fields, count)
    }

    /// Appends the relaxed form of one header field, `name:value\r\n`.
    static func appendRelaxedHeader(_ bytes: UnsafeBufferPointer<UInt8>, field: HeaderField, to out: inout [UInt8]) {
        out.append(contentsOf: field.lowercasedName.utf8)
        out.append(colon)
        var index = field.range.lowerBound
        while index < field.range.upperBound, bytes[index] != colon { index += 1 }
        index += 1
        appendRelaxedValue(UnsafeBufferPointer(rebasing: bytes[min(index, field.range.upperBound)..<field.range.upperBound]), to: &out)
        out.append(cr)
        out.append(lf)
    }

    /// Unfolds, collapses runs of whitespace to one space, trims both ends.
    static func appendRelaxedValue(_ value: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var pendingSpace = false
        var wroteAny = false
        for byte in value {
            switch byte {
            case cr, lf: continue
            case sp, tab: pendingSpace = true
            default:
                if pendingSpace && wroteAny { out.append(sp) }
                pendingSpace = false
                wroteAny = true
                out.append(byte)
            }
        }
    }

    /// The relaxed body: whitespace runs in a line become one space, trailing
    /// whitespace on each line goes, trailing empty lines go, and a non-empty
    /// body ends in CRLF. Lines that are already canonical (the usual case for
    /// quoted-printable or base64 bodies) are copied whole.
    static func relaxedBody(_ body: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        let count = body.count
        guard count > 0, let base = body.baseAddress else {
            out.removeAll(keepingCapacity: true)
            return
        }
        // Worst case: every line a bare LF that becomes CRLF, plus a final CRLF.
        out = [UInt8](unsafeUninitializedCapacity: count * 2 + 2) { buffer, initialized in
            let dst = buffer.baseAddress!
            var w = 0
            var pendingEmptyLines = 0
            var i = 0
            while i < count {
                let lineEnd: Int
                if let found = memchr(base + i, Int32(lf), count - i) {
                    lineEnd = UnsafePointer(found.assumingMemoryBound(to: UInt8.self)) - base
                } else {
                    lineEnd = count
                }
                var end = lineEnd
                if end > i && base[end - 1] == cr { end -= 1 }
                while end > i && (base[end - 1] == sp || base[end - 1] == tab) { end -= 1 }
                if end == i {
                    // Empty (or only whitespace): held back until a non-empty line shows it is not trailing.
                    pendingEmptyLines += 1
                } else {
                    while pendingEmptyLines > 0 {
                        dst[w] = cr
                        dst[w + 1] = lf
                        w += 2
                        pendingEmptyLines -= 1
                    }
                    var canonical = true
                    var previousSpace = false
                    var j = i
                    while j < end {
                        let byte = base[j]
                        if byte == tab || (byte == sp && previousSpace) {
                            canonical = false
                            break
                        }
                        previousSpace = byte == sp
                        j += 1
                    }
                    if canonical {
                        (dst + w).update(from: base + i, count: end - i)
                        w += end - i
                    } else {
                        var pendingSpace = false
                        for k in i..<end {
                            let byte = base[k]
                            if byte == sp || byte == tab {
                                pendingSpace = true
                            } else {
                                if pendingSpace {
                                    dst[w] = sp
                                    w += 1
                                    pendingSpace = false
                                }
                                dst[w] = byte
                                w += 1
                            }
                        }
                    }
                    dst[w] = cr
                    dst[w + 1] = lf
                    w += 2
                }
                i = lineEnd < count ? lineEnd + 1 : count
            }
            initialized = w
        }
    }
}
