import ArgumentParser
import Foundation
import ListService

struct BouncesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bounces",
        abstract: "Bounce and complaint reports received by mail (docs/BOUNCES.md).",
        subcommands: [Ingest.self]
    )

    struct Ingest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record the DSNs, ARF complaints and mailto: unsubscribes in .eml files, mbox files and Maildir folders.",
            discussion: """
                A hard bounce (5.x.x) or a complaint suppresses the address on every list and stops that list's \
                subscription; soft bounces (4.x.x, delayed) on LISTCTL_SOFT_BOUNCE_LIMIT issues (default 5) do \
                the same. A report is matched to its delivery by the VERP token, the listctl Message-ID or the \
                X-Listctl-Trace header of the returned message; one that matches no delivery is listed as \
                unknown and changes nothing. A message "unsubscribe TOKEN" unsubscribes the person its token \
                names, never its From address. Ingesting the same messages again changes nothing. Files are \
                only read. Exit 1 when a path or a message cannot be read; unknown and unrecognised messages \
                are listed, not errors.
                """
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Files (one message, or an mbox) and Maildir folders.", completion: .file())
        var paths: [String]
        @Flag(help: "One JSON object: every entry and the counts.") var json = false

        func validate() throws {
            if paths.isEmpty { throw ValidationError("Missing the files or Maildir folders to read: listctl bounces ingest PATH...") }
        }

        func run() async throws {
            let configuration = global.configuration()
            let limit = try BounceRecorder.softBounceLimit()
            // Read before opening the database: an unreadable path changes nothing and needs no secret.
            var mails: [ReceivedMail] = []
            for path in paths { mails += try MailboxReader.read(path) }
            let report = try await global.withDatabase(shortStatements: true) { database in
                let (secrets, notice) = try TokenSecrets.load(configuration)
                if let notice { printError(notice) }
                let recorder = BounceRecorder(database: database, secrets: secrets, softBounceLimit: limit, logger: global.logger)
                return try await BounceIngest(recorder: recorder).ingest(mails)
            }
            if json {
                try printJSON(report)
            } else {
                for entry in report.entries { print(Self.line(entry)) }
                print(Self.summary(report))
            }
            for entry in report.entries where entry.outcome == "malformed" {
                printError("listctl: \(entry.label): cannot be read as a message: \(entry.reason ?? "")")
            }
            if report.malformed > 0 { throw ExitCode.failure }
        }

        /// `FILE#N: dsn hard_bounce bob@example.net (main, issue 3, by verp): suppressed (hard_bounce)`
        static func line(_ entry: BounceIngest.Entry) -> String {
            var what = entry.type
            if let kind = entry.kind { what += " \(kind)" }
            if let email = entry.email { what += " \(email)" }
            var context: [String] = []
            if let list = entry.list { context.append(list) }
            if let issue = entry.issue { context.append("issue \(issue)") }
            if let tracedBy = entry.tracedBy { context.append("by \(tracedBy)") }
            if !context.isEmpty { what += " (\(context.joined(separator: ", ")))" }
            var line = "\(entry.label): \(what): \(entry.outcome)"
            if let reason = entry.reason { line += " (\(reason))" }
            return line
        }

        /// `5 messages: 2 suppressed, 1 counted, 1 unknown, 1 unrecognised`
        static func summary(_ report: BounceIngest.Report) -> String {
            let order = ["suppressed", "counted", "already-recorded", "unsubscribed", "already-stopped", "unknown", "refused", "unrecognised", "malformed"]
            let counts = order.compactMap { outcome in report.outcomes[outcome].map { "\($0) \(outcome)" } }
            let messages = report.messages == 1 ? "1 message" : "\(report.messages) messages"
            return counts.isEmpty ? "\(messages): nothing to record" : "\(messages): \(counts.joined(separator: ", "))"
        }
    }
}
