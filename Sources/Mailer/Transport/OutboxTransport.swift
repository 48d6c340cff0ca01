import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes each message into a Maildir (`tmp/` then an atomic rename into
/// `new/`) and sends nothing. The default transport, so that a fresh
/// install never mails anyone by accident.
public final class OutboxTransport: MailTransport {
    public let displayName: String
    /// The Maildir's absolute path.
    public let directory: URL
    private let counter = LockedCounter()
    private let host: String

    /// Creates `directory` with `tmp/`, `new/` and `cur/` when missing.
    /// - Throws: `TransportError.Code.io` when the folders cannot be made.
    public init(directory path: String) throws(TransportError) {
        let url = URL(fileURLWithPath: path, isDirectory: true).standardizedFileURL
        directory = url
        displayName = "outbox://\(url.path)"
        host = (ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost")
            .replacingOccurrences(of: "/", with: "\\057").replacingOccurrences(of: ":", with: "\\072")
        do {
            for sub in ["tmp", "new", "cur"] {
                try FileManager.default.createDirectory(at: url.appendingPathComponent(sub), withIntermediateDirectories: true)
            }
        } catch {
            throw TransportError(code: .io, classification: .permanent, message: "cannot create the Maildir \(url.path): \(error.localizedDescription)")
        }
    }

    public func send(_ message: OutgoingMessage) async throws(TransportError) -> TransportReceipt {
        // Unique name, Maildir style: time.M<usec>P<pid>Q<counter>.host
        var now = timeval()
        gettimeofday(&now, nil)
        let name = "\(now.tv_sec).M\(now.tv_usec)P\(getpid())Q\(counter.next()).\(host)"
        let tmp = directory.appendingPathComponent("tmp").appendingPathComponent(name).path
        let new = directory.appendingPathComponent("new").appendingPathComponent(name).path
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw ioError("cannot create \(tmp)") }
        var written = 0
        let ok = message.data.withUnsafeBytes { raw -> Bool in
            while written < raw.count {
                let n = write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 { if errno == EINTR { continue }; return false }
                written += n
            }
            return true
        }
        Glibc.close(fd)
        guard ok else { unlink(tmp); throw ioError("cannot write \(tmp)") }
        guard rename(tmp, new) == 0 else { unlink(tmp); throw ioError("cannot move the message into \(new)") }
        return TransportReceipt(messageID: message.messageID, providerMessageID: name, code: 250, serverText: "written to \(new)")
    }

    public func close() async {}

    private func ioError(_ what: String) -> TransportError {
        TransportError(code: .io, classification: .temporary, message: "\(what): \(String(cString: strerror(errno)))")
    }
}

/// A counter shared by concurrent senders.
final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}
