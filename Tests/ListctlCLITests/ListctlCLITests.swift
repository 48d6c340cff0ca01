import Foundation
import TestSupport
import Testing

/// Runs the built `listctl` binary as a user would, against the throwaway
/// PostgreSQL of `make test`.
struct CLI {
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// `listctl` sits beside the test bundle in the build folder.
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("listctl")
    }

    let environment: [String: String]

    init(databaseURL: String?, home: URL, extra: [String: String] = [:]) {
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = databaseURL
        environment["LISTCTL_HOME"] = home.path
        environment["LISTCTL_EMBEDDED_NOSYNC"] = "1"
        environment["LISTCTL_FROM"] = nil
        environment["LISTCTL_TRANSPORT"] = nil
        environment["LISTCTL_TRANSPORT_FILE"] = nil
        for (key, value) in extra { environment[key] = value }
        self.environment = environment
    }

    func run(_ arguments: String...) async throws -> Result { try await run(arguments) }

    /// Runs listctl on a thread of its own: waiting for a process must not
    /// block one of the few threads of Swift's cooperative pool, which every
    /// other test running beside this one needs.
    func run(_ arguments: [String]) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Swift.Result { try self.runBlocking(arguments) }) }.start()
        }
    }

    private func runBlocking(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let watchdog = Watchdog(process: process, seconds: Self.timeoutSeconds)
        defer { watchdog.cancel() }
        // Read both pipes while it runs so neither fills up.
        let errData = LockedData()
        let errReader = Thread { errData.value = err.fileHandleForReading.readDataToEndOfFile() }
        errReader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errData.done { usleep(1000) }
        var stderr = String(decoding: errData.value, as: UTF8.self)
        if watchdog.fired {
            stderr += "\n[test] listctl \(arguments.joined(separator: " ")) was killed after \(Int(Self.timeoutSeconds)) s: it hung"
        }
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: stderr)
    }

    /// How long one `listctl` run may take before the test kills it: a hung
    /// command fails its test with a message instead of stalling the suite.
    static var timeoutSeconds: Double {
        ProcessInfo.processInfo.environment["LISTCTL_TEST_CLI_TIMEOUT"].flatMap(Double.init) ?? 420
    }
}

/// Kills a child process that outlives its deadline: SIGTERM, then SIGKILL
/// five seconds later.
final class Watchdog: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    private var didFire = false
    var fired: Bool { lock.withLock { didFire } }

    init(process: Process, seconds: Double) {
        let pid = process.processIdentifier
        Thread { [self] in
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if lock.withLock({ cancelled }) { return }
                usleep(200_000)
            }
            let firing: Bool = lock.withLock {
                if cancelled { return false }
                didFire = true
                return true
            }
            guard firing else { return }
            kill(pid, SIGTERM)
            for _ in 0..<25 {
                usleep(200_000)
                if lock.withLock({ cancelled }) { return }
            }
            kill(pid, SIGKILL)
        }.start()
    }

    func cancel() { lock.withLock { cancelled = true } }
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var finished = false
    var value: Data {
        get { lock.withLock { data } }
        set { lock.withLock { data = newValue; finished = true } }
    }
    var done: Bool { lock.withLock { finished } }
}

@Suite("listctl, the command")
struct ListctlCLITests {
    @Test("--version, --help, and usage errors exit 2")
    func usage() async throws {
        let cli = CLI(databaseURL: nil, home: try makeTemporaryDirectory("cli"))
        let version = try await cli.run("--version")
        #expect(version.status == 0)
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").count == 3)
        let help = try await cli.run("--help")
        #expect(help.status == 0)
        #expect(help.stdout.contains("migrate") && help.stdout.contains("import") && help.stdout.contains("preview"))
        for arguments in [["bogus"], ["lists", "create"], ["import"], ["preview", "--budget", "many", "x.md"]] {
            let result = try await cli.run(arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("Usage:") || result.stderr.contains("Error:"), "\(arguments)")
        }
    }

    @Test("migrate status on a fresh external database: pending, then 0001 applied; never migrated by itself")
    func migrateStatus() async throws {
        try await withTemporaryDatabase { database in
            let cli = CLI(databaseURL: database.url, home: try makeTemporaryDirectory("cli"))
            let before = try await cli.run("migrate", "status")
            #expect(before.status == 0, "\(before.stderr)")
            #expect(before.stdout.contains("0001") && before.stdout.contains("pending"))
            let behind = try await cli.run("lists")
            #expect(behind.status == 1)
            #expect(behind.stderr.contains("Run `listctl migrate`"))
            #expect(!behind.stderr.contains("MigrationError("))
            let migrate = try await cli.run("migrate")
            #expect(migrate.status == 0)
            #expect(migrate.stdout.contains("applied 0001_initial"))
            let again = try await cli.run("migrate")
            #expect(again.stdout.contains("up to date"))
            let after = try await cli.run("migrate", "status", "--json")
            let entries = try JSONSerialization.jsonObject(with: Data(after.stdout.utf8)) as? [[String: Any]]
            #expect(entries?.first?["version"] as? Int == 1)
            #expect(entries?.first?["state"] as? String == "applied")
        }
    }

    @Test("a failure exits 1 with a message for people, and a password never shows")
    func failures() async throws {
        let cli = CLI(databaseURL: "postgresql://listctl:hunter2-secret@127.0.0.1:1/none?connect_timeout=2", home: try makeTemporaryDirectory("cli"))
        let result = try await cli.run("status")
        #expect(result.status == 1)
        #expect(result.stderr.contains("cannot connect to PostgreSQL"))
        #expect(!result.stderr.contains("hunter2-secret"))
        #expect(!result.stderr.contains("PostgresError("))
    }

    @Test("lists, import, export, preview and a test send, end to end")
    func endToEnd() async throws {
        try await withTemporaryDatabase { database in
            let work = try makeTemporaryDirectory("cli")
            let outbox = work.appendingPathComponent("outbox")
            let cli = CLI(databaseURL: database.url, home: work, extra: ["LISTCTL_TRANSPORT": "outbox://\(outbox.path)"])
            #expect(try await cli.run("migrate").status == 0)
            let noSender = try await cli.run("lists", "create", "weekly", "--name", "The Weekly")
            #expect(noSender.status == 0)
            #expect(noSender.stderr.contains("has no sender"))
            let refused = try await cli.run("preview", "x.md", "--list", "weekly")
            #expect(refused.status == 1)
            #expect(try await cli.run("lists", "set", "weekly", "--from", "Ann <ann@example.com>", "--base-url", "https://news.example.com").status == 0)

            let csv = work.appendingPathComponent("export.csv")
            try "Email,Name,Created_At,Unsubscribed\r\nann@Example.com,Ann,2019-01-02 03:04:05 UTC,false\r\nbob@example.com,Bob,2019-01-02 03:04:05 UTC,true\r\n"
                .write(to: csv, atomically: true, encoding: .utf8)
            let imported = try await cli.run("import", csv.path, "--list", "weekly", "--json")
            #expect(imported.status == 0, "\(imported.stderr)")
            let counts = try JSONSerialization.jsonObject(with: Data(imported.stdout.utf8)) as? [String: Any]
            #expect(counts?["inserted"] as? Int == 2)
            #expect(counts?["suppressed"] as? Int == 1)
            let exported = try await cli.run("subscribers", "export", "--list", "weekly")
            #expect(exported.stdout.contains("ann@example.com") && exported.stdout.contains("unsubscribed"))

            let issue = work.appendingPathComponent("issue.md")
            try "---\nsubject: Hello, world\n---\n\n# Hi\n\nA paragraph with a note.[^1]\n\n[^1]: The note.\n"
                .write(to: issue, atomically: true, encoding: .utf8)
            let preview = try await cli.run("preview", issue.path, "--list", "weekly", "--json")
            #expect(preview.status == 0, "\(preview.stderr)")
            let parts = (try JSONSerialization.jsonObject(with: Data(preview.stdout.utf8)) as? [String: Any])?["parts"] as? [[String: Any]]
            #expect(parts?.count == 1)
            #expect(parts?.first?["subject"] as? String == "Hello, world")

            let sent = try await cli.run("send", issue.path, "--list", "weekly", "--to", "me@example.com")
            #expect(sent.status == 0, "\(sent.stderr)")
            let delivered = try FileManager.default.contentsOfDirectory(atPath: outbox.appendingPathComponent("new").path)
            #expect(delivered.count == 1)
            let message = try String(contentsOf: outbox.appendingPathComponent("new").appendingPathComponent(delivered[0]), encoding: .utf8)
            #expect(message.contains("\r\nTo: <me@example.com>\r\n") || message.contains("\r\nTo: me@example.com\r\n"))
            #expect(message.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"))
        }
    }
}
