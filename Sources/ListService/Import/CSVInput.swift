import Foundation

/// The encoding a CSV file is read in. UTF-16 is recognised by its byte
/// order mark whatever is chosen here; a UTF-8 byte order mark is skipped.
public enum CSVEncoding: String, Sendable, CaseIterable {
    /// Strict UTF-8: an invalid byte stops the import with its line and offset.
    case utf8
    /// ISO-8859-1: every byte is a character (for old exports from Excel).
    case latin1
}

/// Reads a file in fixed-size chunks and hands out valid UTF-8, whatever the
/// source encoding, so that memory stays flat however large the file.
///
/// Validation happens here, once, on the raw stream: the parser after it can
/// build strings without checking again. NUL bytes are refused because
/// PostgreSQL text cannot hold them and because they mean a binary file or
/// UTF-16 without a byte order mark.
struct CSVInput {
    enum SourceEncoding { case utf8, utf16LittleEndian, utf16BigEndian, latin1 }

    let fileName: String
    private let handle: FileHandle
    private let chunkSize: Int
    private var source: SourceEncoding?
    private let requested: CSVEncoding
    /// Bytes of an incomplete UTF-8 sequence or UTF-16 unit carried to the next chunk.
    private var carry: [UInt8] = []
    /// A UTF-16 high surrogate waiting for its low half.
    private var pendingHighSurrogate: UInt16?
    private var atEnd = false
    private var finished = false
    /// The first bytes, held until there are enough to look for a byte order mark.
    private var head: [UInt8] = []
    /// Raw bytes consumed so far (for progress and error offsets).
    private(set) var bytesRead = 0
    /// Physical line (1-based) at the current raw position, for encoding errors.
    private var line = 1

    init(url: URL, fileName: String, encoding: CSVEncoding, chunkSize: Int = 1 << 20) throws {
        do {
            handle = try FileHandle(forReadingFrom: url)
        } catch {
            throw ImportError(code: .unreadable, message: "\(fileName): cannot open the file (\(error.localizedDescription))")
        }
        self.fileName = fileName
        self.requested = encoding
        self.chunkSize = chunkSize
    }

    func close() { try? handle.close() }

    /// The next chunk of valid UTF-8, or `nil` at the end of the file.
    mutating func next() throws -> [UInt8]? {
        while !finished {
            let data: Data?
            do {
                data = try handle.read(upToCount: chunkSize)
            } catch {
                throw ImportError(code: .unreadable, message: "\(fileName): read failed after \(bytesRead) bytes (\(error.localizedDescription))")
            }
            var raw: [UInt8]
            var offset = bytesRead
            if let data, !data.isEmpty {
                raw = [UInt8](data)
                bytesRead += raw.count
            } else {
                atEnd = true
                raw = []
            }
            if source == nil {
                // A byte order mark is up to 3 bytes; tiny reads must not split it.
                head += raw
                if head.count < 3, !atEnd { continue }
                raw = detect(head)
                offset = bytesRead - raw.count
                head = []
            }
            if raw.isEmpty, atEnd {
                finished = true
                try finish()
                return nil
            }
            let output: [UInt8]
            switch source! {
            case .utf8: output = try validateUTF8(raw, offset: offset)
            case .latin1: output = try transcodeLatin1(raw, offset: offset)
            case .utf16LittleEndian: output = try transcodeUTF16(raw, offset: offset, littleEndian: true)
            case .utf16BigEndian: output = try transcodeUTF16(raw, offset: offset, littleEndian: false)
            }
            if !output.isEmpty { return output }
            if atEnd {
                finished = true
                try finish()
                return nil
            }
        }
        return nil
    }

    /// Looks at the first bytes for a byte order mark and drops it.
    private mutating func detect(_ raw: [UInt8]) -> [UInt8] {
        if raw.count >= 3, raw[0] == 0xEF, raw[1] == 0xBB, raw[2] == 0xBF {
            source = .utf8
            return Array(raw[3...])
        }
        if raw.count >= 2, raw[0] == 0xFF, raw[1] == 0xFE {
            source = .utf16LittleEndian
            return Array(raw[2...])
        }
        if raw.count >= 2, raw[0] == 0xFE, raw[1] == 0xFF {
            source = .utf16BigEndian
            return Array(raw[2...])
        }
        source = requested == .latin1 ? .latin1 : .utf8
        return raw
    }

    private func encodingError(_ what: String, offset: Int, line: Int) -> ImportError {
        var hint = ""
        switch source {
        case .utf8?: hint = "; if the file is ISO-8859-1 (Latin-1), run again with --encoding latin1, or re-export it as UTF-8"
        default: break
        }
        return ImportError(code: .encoding, message: "\(fileName):\(line): \(what) at byte offset \(offset)\(hint)")
    }

    private func nulError(offset: Int, line: Int) -> ImportError {
        ImportError(code: .encoding, message: "\(fileName):\(line): NUL byte at byte offset \(offset): this is not a text CSV file (a spreadsheet, or UTF-16 without a byte order mark?); export it again as CSV in UTF-8")
    }

    /// Checks well-formed UTF-8 (Unicode Table 3-7) and counts lines, carrying
    /// an incomplete sequence at the end of the chunk over to the next one.
    private mutating func validateUTF8(_ raw: [UInt8], offset rawOffset: Int) throws -> [UInt8] {
        var bytes = carry
        let base = rawOffset - carry.count
        carry.removeAll()
        bytes.append(contentsOf: raw)
        let count = bytes.count
        var index = 0
        var line = self.line
        var failure: ImportError?
        var cut = count
        bytes.withUnsafeBufferPointer { buffer in
            while index < count {
                let byte = buffer[index]
                if byte < 0x80 {
                    if byte == 0x0A { line += 1 } else if byte == 0 {
                        failure = nulError(offset: base + index, line: line)
                        return
                    }
                    index += 1
                    continue
                }
                let length: Int
                var low: UInt8 = 0x80
                var high: UInt8 = 0xBF
                switch byte {
                case 0xC2...0xDF: length = 2
                case 0xE0: length = 3; low = 0xA0
                case 0xE1...0xEC, 0xEE...0xEF: length = 3
                case 0xED: length = 3; high = 0x9F
                case 0xF0: length = 4; low = 0x90
                case 0xF1...0xF3: length = 4
                case 0xF4: length = 4; high = 0x8F
                default:
                    failure = encodingError(String(format: "invalid UTF-8 byte 0x%02X", byte), offset: base + index, line: line)
                    return
                }
                if index + length > count {
                    // Possibly completed by the next chunk: check what is here, carry it.
                    for next in (index + 1)..<count {
                        let continuation = buffer[next]
                        let ok = next == index + 1 ? (continuation >= low && continuation <= high) : (continuation & 0xC0 == 0x80)
                        if !ok {
                            failure = encodingError(String(format: "invalid UTF-8 sequence starting with byte 0x%02X", byte), offset: base + index, line: line)
                            return
                        }
                    }
                    cut = index
                    return
                }
                let second = buffer[index + 1]
                var ok = second >= low && second <= high
                if ok, length > 2 { ok = buffer[index + 2] & 0xC0 == 0x80 }
                if ok, length > 3 { ok = buffer[index + 3] & 0xC0 == 0x80 }
                if !ok {
                    failure = encodingError(String(format: "invalid UTF-8 sequence starting with byte 0x%02X", byte), offset: base + index, line: line)
                    return
                }
                index += length
            }
        }
        if let failure { throw failure }
        self.line = line
        if cut < count {
            carry = Array(bytes[cut...])
            bytes.removeSubrange(cut...)
        }
        return bytes
    }

    private mutating func transcodeLatin1(_ raw: [UInt8], offset: Int) throws -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(raw.count + raw.count / 8)
        for (index, byte) in raw.enumerated() {
            if byte < 0x80 {
                if byte == 0 { throw nulError(offset: offset + index, line: line) }
                if byte == 0x0A { line += 1 }
                output.append(byte)
            } else {
                output.append(0xC0 | (byte >> 6))
                output.append(0x80 | (byte & 0x3F))
            }
        }
        return output
    }

    private mutating func transcodeUTF16(_ raw: [UInt8], offset rawOffset: Int, littleEndian: Bool) throws -> [UInt8] {
        var bytes = carry
        let base = rawOffset - carry.count
        carry.removeAll()
        bytes.append(contentsOf: raw)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index + 1 < bytes.count {
            let unit = littleEndian ? UInt16(bytes[index]) | UInt16(bytes[index + 1]) << 8 : UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])
            let position = base + index
            index += 2
            var scalarValue: UInt32
            if let high = pendingHighSurrogate {
                guard unit >= 0xDC00, unit <= 0xDFFF else {
                    throw encodingError("unpaired UTF-16 surrogate", offset: position - 2, line: line)
                }
                pendingHighSurrogate = nil
                scalarValue = 0x10000 + (UInt32(high - 0xD800) << 10) + UInt32(unit - 0xDC00)
            } else if unit >= 0xD800, unit <= 0xDBFF {
                pendingHighSurrogate = unit
                continue
            } else if unit >= 0xDC00, unit <= 0xDFFF {
                throw encodingError("unpaired UTF-16 surrogate", offset: position, line: line)
            } else {
                scalarValue = UInt32(unit)
            }
            if scalarValue == 0 { throw nulError(offset: position, line: line) }
            if scalarValue == 0x0A { line += 1 }
            for byte in UTF8.encode(Unicode.Scalar(scalarValue)!)! { output.append(byte) }
        }
        if index < bytes.count { carry = [bytes[index]] }
        return output
    }

    private mutating func finish() throws {
        if !carry.isEmpty {
            throw encodingError("the file ends inside a multi-byte character", offset: bytesRead - carry.count, line: line)
        }
        if pendingHighSurrogate != nil {
            throw encodingError("the file ends inside a UTF-16 surrogate pair", offset: bytesRead - 2, line: line)
        }
    }
}
