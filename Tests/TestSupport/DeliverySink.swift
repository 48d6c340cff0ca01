public import Foundation

import Glibc

/// An SMTP server of one test's own (`Tests/tools/delivery_sink.py`, on a
/// free loopback port, no TLS, no AUTH) that logs every message it accepts
/// and makes the faults the delivery engine must survive: temporary and
/// permanent refusals, a line dropped after DATA, a slow or a dead server.
///
/// Start it with ``start(_:)`` and stop it with ``stop()`` (deinit stops it
/// too). ``start(_:)`` and ``stop()`` block for a moment (Python starts in
/// about 0.3 s; stopping takes a few milliseconds, 2 s at worst): async
/// tests call them through `onThread { }` so that the cooperative pool is
/// never held up.
public final class DeliverySink: Sendable {
    /// The faults to make, chosen by the recipient's local part (lower-cased)
    /// starting with a prefix. `nil` or `0`: no such fault.
    public struct Options: Sendable {
        /// 451 at RCPT for the first ``tempfailTimes`` attempts of each such
        /// address (counted across connections), then accepted.
        public var tempfailPrefix: String?
        public var tempfailTimes: Int
        /// 550 5.1.1 at RCPT, always.
        public var rejectPrefix: String?
        /// The whole DATA is read, then the connection is closed without a
        /// reply, for the first ``dropTimes`` attempts of each such address.
        /// The copy is logged with `dropped: true`: it may count as delivered.
        public var dropPrefix: String?
        public var dropTimes: Int
        /// Waits this long before each DATA verdict; other connections go on.
        public var delayMilliseconds: Int
        /// Answers this code (421, 451, 554, …) to every MAIL FROM; 421 also
        /// closes the connection. Nothing is accepted.
        public var failAll: Int?
        /// 451 after DATA for this share (0…1) of messages, decided by a hash
        /// of the Message-ID and that Message-ID's attempt number: the same
        /// run always fails the same attempts, and a retry may pass. Not logged.
        public var tempfailShare: Double?

        public init(
            tempfailPrefix: String? = nil, tempfailTimes: Int = 1, rejectPrefix: String? = nil,
            dropPrefix: String? = nil, dropTimes: Int = 1, delayMilliseconds: Int = 0,
            failAll: Int? = nil, tempfailShare: Double? = nil
        ) {
            self.tempfailPrefix = tempfailPrefix
            self.tempfailTimes = tempfailTimes
            self.rejectPrefix = rejectPrefix
            self.dropPrefix = dropPrefix
            self.dropTimes = dropTimes
            self.delayMilliseconds = delayMilliseconds
            self.failAll = failAll
            self.tempfailShare = tempfailShare
        }

        var arguments: [String] {
            var arguments: [String] = []
            if let tempfailPrefix { arguments += ["--tempfail-prefix", tempfailPrefix, "--tempfail-times", String(tempfailTimes)] }
            if let rejectPrefix { arguments += ["--reject-prefix", rejectPrefix] }
            if let dropPrefix { arguments += ["--drop-prefix", dropPrefix, "--drop-times", String(dropTimes)] }
            if delayMilliseconds > 0 { arguments += ["--delay-ms", String(delayMilliseconds)] }
            if let failAll { arguments += ["--fail-all", String(failAll)] }
            if let tempfailShare { arguments += ["--tempfail-share", String(tempfailShare)] }
            return arguments
        }
    }

    /// One copy the sink took in, for one recipient: a message sent to two
    /// recipients, or sent twice, is two of these.
    public struct Accepted: Decodable, Sendable {
        /// The Message-ID header without `<>`; empty when there is none.
        public let messageID: String
        /// The envelope recipient (RCPT TO).
        public let rcpt: String
        /// The `X-Listctl-Trace` header, if the message has one.
        public let trace: String?
        /// The Subject header as sent (unfolded, RFC 2047 words not decoded); empty when there is none.
        public let subject: String
        /// The message's size in bytes.
        public let bytes: Int
        /// When it was taken in, in seconds since 1970.
        public let time: Double
        /// The envelope sender (MAIL FROM); empty for the null sender `<>`.
        public let mailFrom: String
        /// The connection was closed after DATA without a reply (``Options/dropPrefix``):
        /// the client saw a failure, but this copy may count as delivered.
        public let dropped: Bool
    }

    /// The TCP port on 127.0.0.1.
    public let port: Int
    /// The folder holding the logs (`accepted.jsonl`, `received.jsonl`) and the script's output (`sink.log`).
    public let directory: URL
    private let pid: pid_t
    private let state: State

    /// Whether the process has been reaped; behind `lock`.
    private final class State: @unchecked Sendable {
        let lock = NSLock()
        var reaped = false
    }

    /// The SMTP transport URL for the delivery engine (which appends `&connections=N`).
    public var transportURL: String { "smtp://127.0.0.1:\(port)?tls=none" }

    private var logFile: URL { directory.appendingPathComponent("accepted.jsonl") }

    private init(port: Int, directory: URL, pid: pid_t) {
        self.port = port
        self.directory = directory
        self.pid = pid
        self.state = State()
    }

    /// Starts the sink in a fresh folder under `LISTCTL_TEST_WORK` (else the
    /// temporary directory) and waits, up to 10 s, until it listens. Runs
    /// `python3` from `PATH` (or `$PYTHON`), which needs aiosmtpd
    /// (scripts/setup.sh installs it). Blocks: async tests call it in `onThread { }`.
    ///
    /// - Throws: `TestSupportError` with the script's output when it cannot
    ///   be started, exits, or does not listen within 30 s (Python starting aiosmtpd beside a parallel suite on 2 cores has taken over 10).
    public static func start(_ options: Options = .init()) throws -> DeliverySink {
        let directory = try makeTemporaryDirectory("delivery-sink")
        let portFile = directory.appendingPathComponent("port")
        let outputFile = directory.appendingPathComponent("sink.log")
        let python = ProcessInfo.processInfo.environment["PYTHON"].flatMap { $0.isEmpty ? nil : $0 } ?? "python3"
        let argv = ["/usr/bin/env", python, script.path, "--port-file", portFile.path,
                    "--log", directory.appendingPathComponent("accepted.jsonl").path,
                    "--received-log", directory.appendingPathComponent("received.jsonl").path] + options.arguments
        let pid = try spawn(argv, output: outputFile.path)

        func output() -> String {
            let text = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
            return text.isEmpty ? "(no output)" : String(text.suffix(4000))
        }
        let deadline = Date().addingTimeInterval(30)
        while true {
            if let text = try? String(contentsOf: portFile, encoding: .utf8),
               let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                return DeliverySink(port: port, directory: directory, pid: pid)
            }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                throw TestSupportError(message: "delivery_sink.py exited (\(describe(status))) before it listened:\n\(output())")
            }
            if Date() > deadline {
                terminate(pid)
                throw TestSupportError(message: "delivery_sink.py did not listen within 30 s:\n\(output())")
            }
            usleep(20_000)
        }
    }

    /// Every copy accepted so far, in order. Each is logged before the client
    /// gets its reply, so after a send returns its copy is here.
    ///
    /// - Throws: when the log cannot be read or a line does not decode.
    public func accepted() throws -> [Accepted] { try Self.read(logFile) }

    /// Every copy whose DATA was complete (the final `.` read), logged before
    /// any ``Options/delayMilliseconds`` and the verdict: what was on the wire.
    /// A copy whose client hung up while it waited for its verdict is here and
    /// not in ``accepted()``: the sink commits a message when it replies.
    ///
    /// - Throws: when the log cannot be read or a line does not decode.
    public func received() throws -> [Accepted] { try Self.read(directory.appendingPathComponent("received.jsonl")) }

    private static func read(_ logFile: URL) throws -> [Accepted] {
        guard let data = FileManager.default.contents(atPath: logFile.path) else { return [] }
        let decoder = JSONDecoder()
        // A line being written has no newline yet: leave it for the next call.
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast()
        return try lines.filter { !$0.isEmpty }.map { try decoder.decode(Accepted.self, from: Data($0)) }
    }

    /// SIGTERM, then SIGKILL if it has not exited after 2 s; returns once
    /// it is reaped. Keeps the folder (its log tells what a failed test saw).
    /// Calling it again does nothing.
    public func stop() {
        state.lock.lock()
        defer { state.lock.unlock() }
        guard !state.reaped else { return }
        state.reaped = true
        Self.terminate(pid)
    }

    deinit { stop() }

    private static var script: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tools/delivery_sink.py")
    }

    private static func terminate(_ pid: pid_t) {
        var status: Int32 = 0
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(2)
        while Date() < deadline {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid || (result < 0 && errno != EINTR) { return }
            usleep(5_000)
        }
        kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    private static func describe(_ status: Int32) -> String {
        (status & 0x7f) == 0 ? "status \((status >> 8) & 0xff)" : "signal \(status & 0x7f)"
    }

    /// posix_spawn with stdin from /dev/null, stdout and stderr to `output`, and no other descriptor.
    private static func spawn(_ argv: [String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else: an inherited socket (a database connection, a test
        // server's) would stay open in the sink after the test closed it.
        // glibc 2.34+ has addclosefrom_np, but Swift's Glibc module hides it.
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
        }
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, &cArguments, environ)
        guard spawned == 0 else {
            throw TestSupportError(message: "cannot run \(argv[0]): \(String(cString: strerror(spawned)))")
        }
        return pid
    }
}
