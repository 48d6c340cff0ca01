import ArgumentParser
import Foundation
import ListService
import Mailer

struct PreviewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preview",
        abstract: "Render an issue and show how it splits into e-mails, without sending anything.",
        discussion: """
            Without --list no database is needed: the sender comes from LISTCTL_FROM \
            (else "Newsletter <newsletter@example.com>") and links from LISTCTL_BASE_URL. \
            Sizes are as sent (quoted-printable) with the longest possible recipient fields: \
            the HTML alternative, and the whole message with headers at their longest. Every part \
            stays within --budget, counted on what --budget-scope names. Raw HTML the list does not \
            allow is left out, with a warning on stderr naming its line.
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The issue: Markdown with optional front matter.") var file: String
    @Option(help: "Use this list's name, sender and links (needs the database).") var list: String?
    @OptionGroup var size: BudgetOptions
    @Option(help: ArgumentHelp("Write part-K.html, part-K.txt and part-K.eml here.", valueName: "dir")) var out: String?
    @Option(help: ArgumentHelp("A Mustache template to use instead of the built-in one.", valueName: "file")) var template: String?
    @Flag(name: .customLong("print-template"), help: "Print the built-in template (a start for your own) and exit.") var printTemplate = false
    @Flag(help: "Print JSON.") var json = false
    @Option(name: .customLong("time-messages"), help: .hidden) var timeMessages: Int?

    func validate() throws { _ = try size.settings() }

    func run() async throws {
        if printTemplate {
            print(EmailTemplate.defaultSource, terminator: "")
            return
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw MailerError(code: .unreadableFile, message: "cannot read the issue: no such file, or not readable", file: file)
        }
        let document = try IssueDocument.parse(bytes: Array(data), fileName: file)
        // --template wins; else the list's own template; else the built-in one.
        let (identity, listTemplate) = try await global.listLook(listSlug: list, standaloneSlug: "preview")
        let emailTemplate = try template.map { try EmailTemplate.load(path: $0) } ?? listTemplate
        let settings = try size.settings()
        let renderer = IssueRenderer(identity: identity, template: emailTemplate, budget: settings.budget, scope: settings.scope)
        let stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let issue = try await BudgetOptions.usageError {
            try renderer.render(document, viewInBrowserURL: archiveURL(base: identity.baseURL, fileStem: stem))
        }
        for dropped in issue.droppedHTML { printError(dropped.description) }

        if let out {
            try write(issue, identity: identity, to: out)
        }
        if let timeMessages {
            // For the benchmark: how fast one prepared part becomes personalised messages.
            try Self.timeMessages(timeMessages, issue: issue, identity: identity)
            return
        }
        if json {
            try printJSON(Output(issue))
            return
        }
        let rows = issue.parts.map { part in
            [String(part.number), part.subject, String(part.encodedHTMLBytes), String(part.encodedMessageBytes), String(part.textBytes),
             String(part.firstLine)]
        }
        printTable(["PART", "SUBJECT", "HTML BYTES (ENCODED)", "MESSAGE BYTES (AT MOST)", "TEXT BYTES", "FROM LINE"], rows)
        let noun = issue.parts.count == 1 ? "1 message" : "\(issue.parts.count) messages"
        let per = issue.scope == .message ? "whole message" : "HTML part"
        print("\(noun), budget \(issue.budget) bytes per \(per) (--budget-scope \(issue.scope.rawValue); fewest possible: \(issue.minimumParts))")
        if let out { print("wrote part-K.html, part-K.txt and part-K.eml to \(out)") }
    }

    private func write(_ issue: RenderedIssue, identity: ListIdentity, to directory: String) throws {
        let folder = URL(fileURLWithPath: directory, isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let sample = Recipient.sample(identity: identity)
        let builder = try MessageBuilder(identity: identity, issueID: "preview", parts: issue.parts)
        for part in issue.parts {
            let k = part.number
            try Data(part.html(for: sample).utf8).write(to: folder.appendingPathComponent("part-\(k).html"))
            try Data(part.text(for: sample).utf8).write(to: folder.appendingPathComponent("part-\(k).txt"))
            let message = try builder.message(for: sample, part: k)
            try Data(message.data).write(to: folder.appendingPathComponent("part-\(k).eml"))
        }
    }

    static func timeMessages(_ count: Int, issue: RenderedIssue, identity: ListIdentity) throws {
        let builder = try MessageBuilder(identity: identity, issueID: "bench", parts: issue.parts)
        let base = identity.baseURL ?? "https://example.com"
        let date = Date()
        var bytes = 0
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            for i in 0..<count {
                let recipient = Recipient(
                    email: "reader\(i)@example.net", name: "Reader \(i)", subscriberID: "\(i)",
                    unsubscribeURL: "\(base)/unsubscribe/tok\(i)")
                bytes += try builder.message(for: recipient, part: 1 + i % issue.parts.count, date: date).data.count
            }
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("built \(count) messages (\(bytes / max(count, 1)) bytes each on average) in \(String(format: "%.3f", seconds)) s: \(Int(Double(count) / seconds)) messages/s")
    }

    /// What `--json` prints: `{"budget":N,"budgetScope":"html","droppedHTML":[{"line":N,...}],
    /// "parts":[{"encodedHTMLBytes":N,"encodedMessageBytes":N,"htmlBytes":N,"part":K,"subject":"...","textBytes":N}]}`.
    struct Output: Encodable {
        struct Part: Encodable {
            let part: Int
            let subject: String
            let htmlBytes: Int
            let encodedHTMLBytes: Int
            /// The whole message at its longest (headers, boundaries, both alternatives).
            let encodedMessageBytes: Int
            let textBytes: Int
        }
        struct Dropped: Encodable {
            let file: String
            let line: Int
            let kind: String
            let excerpt: String
        }
        let budget: Int
        let budgetScope: String
        let parts: [Part]
        let droppedHTML: [Dropped]

        init(_ issue: RenderedIssue) {
            budget = issue.budget
            budgetScope = issue.scope.rawValue
            parts = issue.parts.map { part in
                Part(
                    part: part.number, subject: part.subject, htmlBytes: part.htmlBytes, encodedHTMLBytes: part.encodedHTMLBytes,
                    encodedMessageBytes: part.encodedMessageBytes, textBytes: part.textBytes)
            }
            droppedHTML = issue.droppedHTML.map {
                Dropped(file: $0.file, line: $0.line, kind: $0.isBlock ? "block" : "inline", excerpt: $0.excerpt)
            }
        }
    }
}
