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
    /// body ends in CRLF.
    static func relaxedBody(_ body: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(body.count + 2)
        var pendingEmptyLines = 0
        var index = 0
        let count = body.count
        while index < count {
            var lineEnd = index
            while lineEnd < count, body[lineEnd] != lf { lineEnd += 1 }
            let contentEnd = (lineEnd > index && body[lineEnd - 1] == cr) ? lineEnd - 1 : lineEnd
            // Canonicalise the line into `out`; empty lines are held back
            // until a non-empty line shows they are not trailing.
            var wroteAny = false
            var pendingSpace = false
            var i = index
            while i < contentEnd {
                let byte = body[i]
                if byte == sp || byte == tab {
                    pendingSpace = true
                } else {
                    if !wroteAny {
                        wroteAny = true
                        while pendingEmptyLines > 0 { out.append(cr); out.append(lf); pendingEmptyLines -= 1 }
                    }
                    if pendingSpace { out.append(sp) }
                    pendingSpace = false
                    out.append(byte)
                }
                i += 1
            }
            if wroteAny {
                out.append(cr)
                out.append(lf)
            } else {
                pendingEmptyLines += 1
            }
            index = lineEnd < count ? lineEnd + 1 : count
        }
    }
}
