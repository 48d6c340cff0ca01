import Foundation

/// One CSV record: its fields and the line it starts on (1-based, physical).
public struct CSVRecord: Sendable, Hashable {
    public var fields: [String]
    public var line: Int

    public init(fields: [String], line: Int) {
        self.fields = fields
        self.line = line
    }
}

/// A streaming RFC 4180 reader: quoted fields with doubled quotes and line
/// breaks inside, CRLF, LF or CR line ends, a UTF-8 or UTF-16 byte order
/// mark. It holds one chunk of the file and one record at a time, never the
/// whole file.
///
/// Blank lines are skipped. A field that opens a quote and never closes it,
/// or text after a closing quote, ends the read with the line where the
/// record starts: past such a mistake every later field would be misread.
public struct CSVReader {
    /// The name used in messages (`file:line`).
    public let fileName: String
    /// The file's size in bytes, for progress.
    public let fileSize: Int
    private var input: CSVInput
    private let delimiter: UInt8
    private var chunk: [UInt8] = []
    private var position = 0
    private var finished = false
    private var line = 1
    /// A CR was the last byte seen: an LF right after it belongs to the same line end.
    private var afterCR = false
    /// Guards memory against a stray quote that swallows the rest of the file.
    public static let maximumRecordBytes = 16 << 20

    /// Opens `url` for reading.
    ///
    /// - Throws: ``ImportError`` `.unreadable` if the file cannot be opened.
    public init(url: URL, fileName: String? = nil, encoding: CSVEncoding = .utf8, delimiter: Character = ",", chunkSize: Int = 1 << 20) throws {
        let name = fileName ?? url.lastPathComponent
        self.fileName = name
        self.input = try CSVInput(url: url, fileName: name, encoding: encoding, chunkSize: chunkSize)
        self.delimiter = delimiter.asciiValue ?? UInt8(ascii: ",")
        let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
        self.fileSize = (attributes?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// Raw bytes of the file read so far.
    public var bytesRead: Int { input.bytesRead }

    /// Closes the file. Reading after this returns `nil`.
    public mutating func close() {
        input.close()
        finished = true
        chunk = []
    }

    private mutating func refill() throws -> Bool {
        guard !finished else { return false }
        if let next = try input.next() {
            chunk = next
            position = 0
            return true
        }
        finished = true
        input.close()
        return false
    }

    private enum State { case fieldStart, unquoted, quoted, quoteInQuoted }

    /// The next record, or `nil` at the end of the file.
    ///
    /// - Throws: ``ImportError`` `.encoding` for bytes invalid in the file's
    ///   encoding, `.malformed` for broken quoting or an oversized record.
    public mutating func next() throws -> CSVRecord? {
        var fields: [String] = []
        var field: [UInt8] = []
        var state = State.fieldStart
        var recordLine = line
        var recordBytes = 0
        var sawAnything = false

        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            recordBytes += field.count
            field.removeAll(keepingCapacity: true)
        }

        while true {
            if position >= chunk.count {
                guard try refill() else { break }
            }
            if recordBytes + field.count > Self.maximumRecordBytes {
                throw ImportError(code: .malformed, message: "\(fileName):\(recordLine): a record longer than \(Self.maximumRecordBytes >> 20) MB; most likely a quote that is never closed")
            }
            // Work on the chunk through a buffer pointer: this loop sees every byte of the file.
            var endOfRecord = false
            var malformed: String?
            let chunk = self.chunk
            let count = chunk.count
            var index = position
            let delimiter = self.delimiter
            var line = self.line
            var afterCR = self.afterCR
            chunk.withUnsafeBufferPointer { buffer in
                while index < count {
                    let byte = buffer[index]
                    if afterCR {
                        afterCR = false
                        if byte == 0x0A {
                            index += 1
                            continue
                        }
                    }
                    switch state {
                    case .fieldStart, .unquoted:
                        if state == .fieldStart, byte == 0x22 {
                            state = .quoted
                            sawAnything = true
                            index += 1
                            continue
                        }
                        // Take the run of ordinary bytes in one append.
                        let start = index
                        while index < count {
                            let b = buffer[index]
                            if b == delimiter || b == 0x0A || b == 0x0D { break }
                            index += 1
                        }
                        if index > start {
                            field.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<index]))
                            sawAnything = true
                            state = .unquoted
                        }
                        guard index < count else { return }
                        let b = buffer[index]
                        index += 1
                        if b == delimiter {
                            sawAnything = true
                            endField()
                            state = .fieldStart
                        } else {
                            line += 1
                            if b == 0x0D { afterCR = true }
                            if sawAnything {
                                endField()
                                endOfRecord = true
                                return
                            }
                            // A blank line: skip it.
                            recordLine = line
                        }
                    case .quoted:
                        let start = index
                        while index < count {
                            let b = buffer[index]
                            if b == 0x22 { break }
                            // Line breaks inside quotes are counted by LF only (CRLF and LF files).
                            if b == 0x0A { line += 1 }
                            index += 1
                        }
                        if index > start { field.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<index])) }
                        guard index < count else { return }
                        index += 1
                        state = .quoteInQuoted
                    case .quoteInQuoted:
                        if byte == 0x22 {
                            field.append(0x22)
                            state = .quoted
                            index += 1
                        } else if byte == delimiter {
                            endField()
                            state = .fieldStart
                            index += 1
                        } else if byte == 0x0A || byte == 0x0D {
                            line += 1
                            if byte == 0x0D { afterCR = true }
                            index += 1
                            endField()
                            endOfRecord = true
                            return
                        } else {
                            malformed = "text after a closing quote (a quote inside a quoted field must be doubled: \"\")"
                            return
                        }
                    }
                }
            }
            position = index
            self.line = line
            self.afterCR = afterCR
            if let malformed {
                throw ImportError(code: .malformed, message: "\(fileName):\(recordLine): \(malformed)")
            }
            if endOfRecord { return CSVRecord(fields: fields, line: recordLine) }
        }
        // End of file.
        switch state {
        case .quoted:
            throw ImportError(code: .malformed, message: "\(fileName):\(recordLine): a quoted field that starts on this line is never closed (unterminated quote)")
        case .fieldStart where !sawAnything:
            return nil
        default:
            endField()
            return CSVRecord(fields: fields, line: recordLine)
        }
    }
}
