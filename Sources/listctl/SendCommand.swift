import ArgumentParser
import Foundation
import ListService
import Logging
import Mailer

struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send an issue to a list, now or at a set time; with --to, a test copy to one address.",
        discussion: """
            Renders and splits FILE, stores the issue and its parts, and either delivers it now \
            (recipients: the list's active subscribers whose address is not suppressed, snapshotted \
            into the ledger) or, with --at or front matter send_at, leaves it scheduled for \
            `listctl deliver` or `listctl worker`. On a terminal it shows what will happen and asks; \
            without one it needs --yes. Sending the same file to the same list again mails nobody. \
            Ctrl-C stops cleanly: messages on the wire finish and are recorded, the exit status is 130 \
            and `listctl deliver` resumes. Raw HTML the list does not allow is left out, with a \
            warning on stderr naming its line; the issue is still sent.

            --to ADDR renders the issue as the list would send it and mails every part to \
            ADDR through LISTCTL_TRANSPORT (unset: the Maildir ./outbox, nothing is sent), \
            signed when LISTCTL_DKIM_* are set. No subscriber is touched and nothing is \
            recorded, so a writer can check the real thing in their own inbox first.
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The issue: Markdown with optional front matter.") var file: String
    @Option(help: "Send a test copy of every part to this address only.") var to: String?
    @Option(help: "The list (else the front matter's `list`).") var list: String?
    @Option(help: "When to send: ISO 8601, or \"2026-12-01 09:00\" in the local time zone (else front matter send_at; else now).")
    var at: String?
    @Option(help: "Parallel transport connections (overrides ?connections= on LISTCTL_TRANSPORT).") var concurrency: Int?
    @Option(help: "At most this many messages per second for this run (below the transport's ?rate=).") var rate: Double?
    @OptionGroup var size: BudgetOptions
    @Flag(help: "Show what would be sent; store and send nothing.") var dryRun = false
    @Flag(help: "Do not ask for confirmation (needed without a terminal).") var yes = false
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if let to { _ = try Self.recipientAddress(to) }
        if let rate, !(rate > 0 && rate.isFinite) { throw ValidationError("--rate \(rate): must be a positive number of messages per second") }
        if let concurrency, concurrency < 1 || concurrency > 256 { throw ValidationError("--concurrency \(concurrency): must be 1 to 256") }
        _ = try size.settings()
    }

    func run() async throws {
        if let to { return try await sendTestCopy(to: Self.recipientAddress(to)) }
        try await global.withDatabase(maximumConnections: DeliveryRun.poolSize(concurrency: concurrency)) { database in
            try await sendToList(database: database)
        }
    }

    // MARK: To the list, through the ledger

    private func sendToList(database: ListDatabase) async throws {
        let configuration = global.configuration()
        let submitter = IssueSubmitter(database: database, configuration: configuration, logger: global.logger)
        let settings = try size.settings()
        let plan = try await BudgetOptions.usageError {
            try await submitter.prepare(file: file, list: list, sendAt: at, budget: settings.budget, scope: settings.scope)
        }
        for notice in plan.notices { printError(notice) }
        for dropped in plan.droppedHTML { printError(dropped.description) }
        if let existing = plan.existing {
            let when = (existing.sentAt ?? existing.scheduledAt).map(formatTimestamp) ?? "earlier"
            let text = existing.state == "sent"
                ? "this issue already went to \(plan.listSlug) on \(when) (issue \(existing.id)); nobody was mailed again"
                : "this issue is already \(existing.state) for \(plan.listSlug) (issue \(existing.id)); nobody was mailed again. See `listctl status \(existing.id)`"
            if json { try printJSON(AlreadySent(issue: existing.id, state: existing.state, alreadySent: true, message: text)) } else { print(text) }
            return
        }
        // The sizes the budget bounds: the HTML alternatives, or the whole messages at their longest.
        let sizes = plan.scope == .message
            ? plan.encodedMessageBytes.map { "\($0 / 1000) KB" }.joined(separator: ", ") + " whole messages"
            : plan.parts.map { "\($0.encodedHTMLBytes / 1000) KB" }.joined(separator: ", ") + " HTML"
        let when = plan.sendAt.map { "at \(formatTimestamp($0))" } ?? "now"
        let estimate = plan.sendAt == nil ? "" : " (an estimate: recipients are counted when it falls due)"
        let summary = "\"\(plan.subject)\" to \(plan.listSlug): \(plan.recipients) recipient(s)\(estimate), \(plan.parts.count) part(s) (\(sizes)), \(when)"
        if dryRun {
            print("dry run: would send \(summary); nothing stored")
            return
        }
        if !yes {
            guard isatty(STDIN_FILENO) == 1 else {
                throw ValidationError("no terminal to confirm on: add --yes to send \(summary)")
            }
            FileHandle.standardError.write(Data("Send \(summary)? [y/N] ".utf8))
            guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                print("not sent; nothing stored")
                return
            }
        }
        // The engine is built first: a missing secret or a bad transport stores nothing.
        let engine = try DeliveryRun.engine(global: global, database: database, concurrency: concurrency, rate: rate)
        let submitted: IssueSubmitter.Submitted
        do {
            submitted = try await submitter.submit(plan)
        } catch {
            await engine.transport.close()
            throw error
        }
        if plan.sendAt != nil {
            await engine.transport.close()
            if json { try printJSON(try await IssueStatus.load(submitted.issue, from: database)); return }
            print("issue \(submitted.issue) scheduled for \(formatTimestamp(plan.sendAt!)); `listctl deliver` (cron, a timer) or `listctl worker` sends it then")
            return
        }
        if !json { printError("sending issue \(submitted.issue) to \(submitted.recipients) recipient(s) via \(engine.transport.displayName)") }
        let stop = StopSignal()
        let signals = DeliveryRun.stopOnSignals(stop)
        let counters: DeliveryCounters
        do {
            counters = try await engine.run(
                scope: .issue(submitted.issue), stop: stop,
                progress: json ? nil : DeliveryRun.progressPrinter(total: submitted.recipients * submitted.parts))
        } catch {
            await engine.transport.close()
            throw error
        }
        await engine.transport.close()
        _ = signals
        DeliveryRun.endProgressLine()
        let status = try await IssueStatus.load(submitted.issue, from: database)
        if json {
            try printJSON(status)
        } else {
            print("issue \(status.issue) \(status.state): \(DeliveryRun.describe(counters))")
            if status.pending > 0 {
                print("\(status.pending) delivery(ies) still pending (retries, or stopped): `listctl deliver` or the worker sends them; `listctl status \(status.issue)` shows where it stands")
            }
            if let reason = status.pausedReason, status.state == "paused" {
                printError("issue \(status.issue) paused: \(reason). Fix it, then `listctl resume \(status.issue)`")
            }
        }
        if status.state == "paused" { throw ExitCode.failure }
        if DeliveryRun.interrupted && status.pending > 0 {
            printError("interrupted: \(status.pending) delivery(ies) of issue \(status.issue) not sent yet; `listctl deliver` or the worker sends them")
            throw ExitCode(130)
        }
    }

    struct AlreadySent: Encodable {
        var issue: Int64
        var state: String
        var alreadySent: Bool
        var message: String
    }

    // MARK: --to: one test copy of every part

    private func sendTestCopy(to address: String) async throws {
        let (identity, template) = try await global.listLook(listSlug: list, standaloneSlug: "test")
        let (transportConfiguration, notice) = try TransportConfiguration.fromEnvironment()
        if let notice { printError(notice) }
        let transport = try transportConfiguration.makeTransport(signer: try DKIMSigner.fromEnvironment(), logger: global.logger)
        let stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let settings = try size.settings()
        let sender = TestCopySender(
            identity: identity, template: template, budget: settings.budget, scope: settings.scope, logger: global.logger)
        print("sending a test copy of every part to \(address) via \(transport.displayName)")
        let failures: Int
        do {
            failures = try await sender.send(
                file: file, to: address, viewInBrowserURL: archiveURL(base: identity.baseURL, fileStem: stem), transport: transport,
                onDroppedHTML: { printError($0.description) }
            ) { result in
                let label = "part \(result.number)/\(result.count) \"\(result.subject)\" (\(result.bytes) bytes)"
                switch result.outcome {
                case .success(let receipt):
                    let reply = Self.oneLine(receipt.serverText)
                    print("sent \(label): \(reply.hasPrefix(String(receipt.code)) ? reply : "\(receipt.code) \(reply)")")
                case .failure(let error):
                    printError("failed \(label): \(error)")
                }
            }
        } catch {
            await transport.close()
            throw error
        }
        await transport.close()
        if failures > 0 { throw ExitCode.failure }
    }

    /// `--to` normalised as an import would store it, and sendable as is.
    static func recipientAddress(_ text: String) throws -> String {
        do {
            return try EmailAddress(validating: EmailAddress(normalizing: text).address).address
        } catch {
            throw ValidationError("--to: \(error.reason)")
        }
    }

    static func oneLine(_ text: String) -> String {
        let line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        return line.count > 120 ? String(line.prefix(117)) + "..." : line
    }
}
