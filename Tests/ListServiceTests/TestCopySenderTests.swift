import Foundation
import ListService
import Logging
import Mailer
import TestSupport
import Testing

@Suite("Test copies (send --to)")
struct TestCopySenderTests {
    /// The repository's examples folder, from this file's path.
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")

    @Test("every part of the long sample issue, in order, to one address, one message each")
    func sendsEveryPartInOrder() async throws {
        let outbox = try makeTemporaryDirectory("outbox")
        let transport = try OutboxTransport(directory: outbox.path)
        let identity = ListIdentity(
            name: "The Long Letter", slug: "main", fromName: "The Long Letter", fromAddress: "letters@example.com",
            baseURL: "https://letters.example.com", postalAddress: "1 Example Street")
        let sender = TestCopySender(identity: identity, logger: Logger(label: "test"))
        var results: [TestCopySender.PartResult] = []
        let failures = try await sender.send(
            file: Self.examples.appendingPathComponent("long-issue.md").path, to: "me@example.com",
            viewInBrowserURL: "https://letters.example.com/issues/long-issue", transport: transport
        ) { results.append($0) }
        #expect(failures == 0)
        #expect(results.map(\.number) == [1, 2], "the sample splits into two parts, sent in order")
        #expect(results.allSatisfy { $0.count == 2 })
        let files = try FileManager.default.contentsOfDirectory(atPath: outbox.appendingPathComponent("new").path).sorted()
        #expect(files.count == 2)
        let subjects = try files.map { name -> String in
            let text = try String(contentsOf: outbox.appendingPathComponent("new").appendingPathComponent(name), encoding: .utf8)
            return text.components(separatedBy: "\r\n").first { $0.hasPrefix("Subject:") } ?? ""
        }
        #expect(Set(subjects).count == 2 && subjects.allSatisfy { !$0.isEmpty }, "each file is one of the parts: \(subjects)")
        #expect(results[0].subject.hasSuffix("(1/2)") && results[1].subject.hasSuffix("(2/2)"))
    }

    @Test("an unreadable issue is a clear error and sends nothing")
    func unreadable() async throws {
        let outbox = try makeTemporaryDirectory("outbox")
        let transport = try OutboxTransport(directory: outbox.path)
        let identity = ListIdentity(name: "L", slug: "l", fromName: "L", fromAddress: "l@example.com")
        let sender = TestCopySender(identity: identity, logger: Logger(label: "test"))
        let error = await #expect(throws: MailerError.self) {
            _ = try await sender.send(file: "/nonexistent/issue.md", to: "me@example.com", viewInBrowserURL: nil, transport: transport) { _ in }
        }
        #expect(error?.description.contains("/nonexistent/issue.md") == true)
        let sent = (try? FileManager.default.contentsOfDirectory(atPath: outbox.appendingPathComponent("new").path)) ?? []
        #expect(sent.isEmpty)
    }
}
