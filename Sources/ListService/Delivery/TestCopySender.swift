import Foundation
public import Logging
public import Mailer

/// `listctl send FILE --to ADDR`: every part of an issue, rendered as the
/// list would send it, to one address, through the configured transport. No
/// subscriber is touched and nothing is recorded.
public struct TestCopySender: Sendable {
    /// One part's fate, reported as soon as it is known.
    public struct PartResult: Sendable {
        public var number: Int
        public var count: Int
        public var subject: String
        /// Bytes of the whole message as handed to the transport.
        public var bytes: Int
        public var outcome: Result<TransportReceipt, TransportError>
    }

    public let identity: ListIdentity
    /// The list's template (``MailingList/emailTemplate()``), so that a test copy looks like the real thing.
    public let template: EmailTemplate
    public let budget: Int
    /// What `budget` bounds.
    public let scope: BudgetScope
    public let logger: Logger

    public init(
        identity: ListIdentity, template: EmailTemplate = .default, budget: Int = IssueRenderer.defaultBudget,
        scope: BudgetScope = .default, logger: Logger
    ) {
        self.identity = identity
        self.template = template
        self.budget = budget
        self.scope = scope
        self.logger = logger
    }

    /// Renders `file` and sends each part to `address`, in order. Stops after a
    /// permanent failure or a failed login (the rest would fail the same way).
    ///
    /// - Parameters:
    ///   - viewInBrowserURL: the "View in browser" link of every part, if any.
    ///   - onDroppedHTML: called before sending for each fragment of raw HTML left out (the list does not allow it).
    ///   - onPart: called after each part, with what the transport said.
    /// - Returns: how many parts failed.
    /// - Throws: `MailerError` for an unreadable or unrenderable issue.
    public func send(
        file: String, to address: String, viewInBrowserURL: String?, transport: any MailTransport,
        isolation: isolated (any Actor)? = #isolation, onDroppedHTML: (DroppedHTML) -> Void = { _ in },
        onPart: (PartResult) -> Void
    ) async throws -> Int {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw MailerError(code: .unreadableFile, message: "cannot read the issue: no such file, or not readable", file: file)
        }
        let document = try IssueDocument.parse(bytes: Array(data), fileName: file)
        let issue = try IssueRenderer(identity: identity, template: template, budget: budget, scope: scope)
            .render(document, viewInBrowserURL: viewInBrowserURL)
        for dropped in issue.droppedHTML { onDroppedHTML(dropped) }
        let builder = try MessageBuilder(identity: identity, issueID: Self.testIssueID(file: file), parts: issue.parts)
        let recipient = Recipient(
            email: address, subscriberID: "copy-\(Int(Date().timeIntervalSince1970 * 1000))",
            unsubscribeURL: (identity.baseURL ?? "https://example.com") + "/unsubscribe/TEST-COPY")
        var failures = 0
        // Parts go out in order, one after the other, as subscribers get them.
        for part in issue.parts {
            let message = try builder.message(for: recipient, part: part.number)
            let outcome: Result<TransportReceipt, TransportError>
            do {
                outcome = .success(try await transport.send(message))
            } catch {
                outcome = .failure(error)
            }
            onPart(PartResult(number: part.number, count: issue.parts.count, subject: part.subject, bytes: message.data.count, outcome: outcome))
            if case .failure(let error) = outcome {
                failures += 1
                logger.warning("test copy failed", metadata: ["issue.part": "\(part.number)", "error": "\(error)"])
                if !error.isTemporary || error.code == .authenticationFailed { break }
            }
        }
        return failures
    }

    /// Message-IDs must be unique per test send (mail providers drop a second
    /// message with a Message-ID they have seen) and header-safe whatever the
    /// file is called: the subscriber id carries the time, this the file stem.
    static func testIssueID(file: String) -> String {
        let stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let safe = String(stem.unicodeScalars.filter {
            $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || $0 == "-" || $0 == "_")
        }.prefix(40))
        return "test-\(safe.isEmpty ? "issue" : safe)"
    }
}
