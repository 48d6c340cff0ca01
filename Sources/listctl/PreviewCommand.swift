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
            Sizes are the HTML part as sent (quoted-printable) with the longest possible \
            recipient fields; every part stays within --budget.
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The issue: Markdown with optional front matter.") var file: String
    @Option(help: "Use this list's name, sender and links (needs the database).") var list: String?
    @Option(help: "Largest encoded HTML part, in bytes.") var budget: Int = IssueRenderer.defaultBudget
    @Option(help: ArgumentHelp("Write part-K.html, part-K.txt and part-K.eml here.", valueName: "dir")) var out: String?
    @Option(help: ArgumentHelp("A Mustache template to use instead of the built-in one.", valueName: "file")) var template: String?
    @Flag(name: .customLong("print-template"), help: "Print the built-in template (a start for your own) and exit.") var printTemplate = false
    @Flag(help: "Print JSON.") var json = false
    @Option(name: .customLong("time-messages"), help: .hidden) var timeMessages: Int?

    func validate() throws {
        if budget < 10_000 { throw ValidationError("--budget must be at least 10000 bytes (the template alone takes a few kilobytes)") }
    }

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
        let renderer = IssueRenderer(identity: identity, template: emailTemplate, budget: budget)
        let stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let issue = try renderer.render(document, viewInBrowserURL: archiveURL(base: identity.baseURL, fileStem: stem))

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
            [String(part.number), part.subject, String(part.encodedHTMLBytes), String(part.textBytes), String(part.firstLine)]
        }
        printTable(["PART", "SUBJECT", "HTML BYTES (ENCODED)", "TEXT BYTES", "FROM LINE"], rows)
        let noun = issue.parts.count == 1 ? "1 message" : "\(issue.parts.count) messages"
        print("\(noun), budget \(issue.budget) bytes per HTML part (fewest possible: \(issue.minimumParts))")
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

    /// What `--json` prints: `{"budget":N,"parts":[{"encodedHTMLBytes":N,"htmlBytes":N,"part":K,"subject":"...","textBytes":N}]}`.
    struct Output: Encodable {
        struct Part: Encodable {
            let part: Int
            let subject: String
            let htmlBytes: Int
            let encodedHTMLBytes: Int
            let textBytes: Int
        }
        let budget: Int
        let parts: [Part]

        init(_ issue: RenderedIssue) {
            budget = issue.budget
            parts = issue.parts.map { part in
                Part(
                    part: part.number, subject: part.subject, htmlBytes: part.htmlBytes, encodedHTMLBytes: part.encodedHTMLBytes,
                    textBytes: part.textBytes)
            }
        }
    }
}
