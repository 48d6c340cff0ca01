import Foundation
import Testing

/// Helpers shared by the DKIM and transport tests.
enum TransportTestSupport {
    /// `Tests/tools/NAME`, found from this file's location.
    static func tool(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tools").appendingPathComponent(name).path
    }

    /// A fresh scratch directory under `LISTCTL_TEST_WORK` (or the temp dir).
    static func scratchDirectory(_ prefix: String) throws -> URL {
        let base = ProcessInfo.processInfo.environment["LISTCTL_TEST_WORK"] ?? NSTemporaryDirectory()
        let url = URL(fileURLWithPath: base).appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Runs a program, returning its exit status and merged output.
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// An environment variable that `make test` (scripts/test-servers.sh) sets.
    /// Records a failure, never skips, when it is missing.
    static func environment(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            Issue.record("\(name) is not set: run the tests with `make test`, which starts the mail test servers (scripts/test-servers.sh)", sourceLocation: sourceLocation)
            throw MissingEnvironment(name: name)
        }
        return value
    }

    struct MissingEnvironment: Error { var name: String }

    /// A hand-written CRLF message.
    static func message(
        from: String = "Writer <writer@example.org>", to: String = "reader@example.net",
        subject: String = "Hello", extraHeaders: [String] = [], body: String = "Hello there.\r\n",
        messageID: String = "\(UUID().uuidString)@example.org"
    ) -> [UInt8] {
        var lines = [
            "From: \(from)", "To: \(to)", "Subject: \(subject)", "Date: Fri, 27 Nov 2026 12:00:00 +0000",
            "Message-ID: <\(messageID)>", "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit",
        ]
        lines += extraHeaders
        return Array((lines.joined(separator: "\r\n") + "\r\n\r\n" + body).utf8)
    }
}
