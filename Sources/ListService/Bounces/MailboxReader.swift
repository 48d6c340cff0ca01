import Foundation

/// One message read from a path given to `listctl bounces ingest`.
public struct ReceivedMail: Sendable {
    /// The file it came from (for a Maildir, the message's own file).
    public var file: String
    /// Its number within an mbox file, from 1; nil for a file that holds one message.
    public var number: Int?
    public var bytes: [UInt8]

    /// `FILE` or `FILE#N`, for people.
    public var label: String { number.map { "\(file)#\($0)" } ?? file }
}

/// Reads the messages of `.eml` files, mbox files and Maildir folders.
///
/// - A file that starts with `From ` is an mbox: each message starts with a
///   `From ` line at the start of the file or after an empty line; `>From `
///   lines are unquoted once (mboxrd; for mboxo this also unquotes lines the
///   sender wrote with `>From`, which no field read here can hold).
/// - Any other file is one message.
/// - A folder with `cur/` or `new/` is a Maildir: every file in both, in
///   name order (delivery order for names Maildir writers make). Files are
///   only read: ingesting again is harmless (recording is idempotent), and
///   moving them is the mail system's business.
public enum MailboxReader {
    /// - Throws: ``BounceIngestError`` `.unreadable` naming the path and why.
    public static func read(_ path: String) throws(BounceIngestError) -> [ReceivedMail] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw BounceIngestError(code: .unreadable, message: "\(path): no such file or folder")
        }
        if isDirectory.boolValue { return try maildir(path) }
        let bytes = try contents(path)
        if bytes.starts(with: Array("From ".utf8)) { return mbox(bytes, file: path) }
        return [ReceivedMail(file: path, number: nil, bytes: bytes)]
    }

    static func contents(_ path: String) throws(BounceIngestError) -> [UInt8] {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw BounceIngestError(code: .unreadable, message: "\(path): not readable (permission denied)")
        }
        do {
            return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw BounceIngestError(code: .unreadable, message: "\(path): cannot be read (\(error.localizedDescription))")
        }
    }

    static func maildir(_ path: String) throws(BounceIngestError) -> [ReceivedMail] {
        let root = URL(fileURLWithPath: path, isDirectory: true)
        let folders = ["cur", "new"].filter {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: root.appendingPathComponent($0).path, isDirectory: &isDirectory) && isDirectory.boolValue
        }
        guard !folders.isEmpty else {
            throw BounceIngestError(
                code: .unreadable, message: "\(path): a folder, but not a Maildir (it has no cur/ or new/); give files or Maildir folders")
        }
        var mails: [ReceivedMail] = []
        for folder in folders {
            let directory = root.appendingPathComponent(folder)
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            } catch {
                throw BounceIngestError(code: .unreadable, message: "\(directory.path): cannot be listed (\(error.localizedDescription))")
            }
            for name in names.sorted() where !name.hasPrefix(".") {
                let file = directory.appendingPathComponent(name).path
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
                mails.append(ReceivedMail(file: file, number: nil, bytes: try contents(file)))
            }
        }
        return mails
    }

    /// Splits an mbox at its `From ` lines.
    static func mbox(_ bytes: [UInt8], file: String) -> [ReceivedMail] {
        let from = Array("From ".utf8)
        var mails: [ReceivedMail] = []
        var current: [UInt8]?
        var previousEmpty = true
        var index = 0
        func finish() {
            guard var message = current else { return }
            // The empty line that separates messages belongs to the mbox, not the message.
            if message.last == 0x0A { message.removeLast() }
            if message.last == 0x0D { message.removeLast() }
            mails.append(ReceivedMail(file: file, number: mails.count + 1, bytes: message))
        }
        while index < bytes.count {
            let end = bytes[index...].firstIndex(of: 0x0A).map { $0 + 1 } ?? bytes.count
            let line = bytes[index..<end]
            if previousEmpty && line.starts(with: from) {
                finish()
                current = []
            } else {
                var line = line
                // mboxrd: ">From " and ">>From " lose one ">".
                if let first = line.firstIndex(where: { $0 != 0x3E }), first > line.startIndex, line[first...].starts(with: from) {
                    line = line.dropFirst()
                }
                current?.append(contentsOf: line)
            }
            let content = line.last == 0x0A ? line.dropLast() : line
            previousEmpty = content.isEmpty || content == [0x0D]
            index = end
        }
        finish()
        return mails
    }
}

/// Why `listctl bounces ingest` could not read its input.
public struct BounceIngestError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable { case unreadable }
        let base: Base
        /// A path that does not exist, cannot be read, or is a folder but no Maildir.
        public static let unreadable = Code(base: .unreadable)
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
