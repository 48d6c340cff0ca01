import ArgumentParser
import Foundation
import ListService

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show lists, subscribers by status, issues and pending deliveries; with ISSUE, where one issue stands.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "An issue id (see `listctl issues`).") var issue: Int64?
    @Option(help: "With ISSUE: list who is in this state (sent, pending, failed, bounced, skipped, cancelled), with the last error.")
    var recipients: String?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if recipients != nil && issue == nil { throw ValidationError("--recipients needs an ISSUE: listctl status ISSUE --recipients failed") }
    }

    func run() async throws {
        try await global.withDatabase(shortStatements: true) { database in
            if let issue {
                return try await showIssue(issue, database: database)
            }
            let report = try await StatusReport.load(from: database)
            if json {
                try printJSON(report)
                return
            }
            print("database: \(report.embedded ? "embedded (listctl db url)" : "DATABASE_URL"), schema \(report.schemaVersion)")
            print("suppressed addresses: \(report.suppressions); deliveries pending: \(report.pendingDeliveries)")
            if report.lists.isEmpty {
                print("no lists yet")
                return
            }
            let statuses = ["active", "pending", "unsubscribed", "bounced", "complained"]
            printTable(
                ["LIST"] + statuses.map { $0.uppercased() } + ["ISSUES"],
                report.lists.map { list in
                    [list.slug] + statuses.map { String(list.subscriptions[$0] ?? 0) }
                        + [list.issues.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ").ifEmpty("0")]
                })
        }
    }
}

extension StatusCommand {
    private func showIssue(_ issue: Int64, database: ListDatabase) async throws {
        if let recipients {
            let people = try await IssueStatus.recipients(issue, state: recipients, from: database)
            if json { return try printJSON(people) }
            if people.isEmpty { return print("issue \(issue): no \(recipients) recipients") }
            printTable(
                ["EMAIL", "STATE", "PARTS", "ATTEMPTS", "UPDATED", "LAST ERROR"],
                people.map { [$0.email, $0.state, "\($0.partsSent)/\($0.parts)", String($0.attempts), formatTimestamp($0.updatedAt), $0.lastError ?? ""] })
            return
        }
        let status = try await IssueStatus.load(issue, from: database)
        if json { return try printJSON(status) }
        print("issue \(status.issue) \"\(status.subject)\" (\(status.list), /issues/\(status.slug)): \(status.state)")
        if let reason = status.pausedReason, status.state == "paused" { print("paused: \(reason)") }
        print("parts: \(status.parts); recipients: \(status.recipients); messages sent: \(status.messagesSent)"
            + (status.rate.map { String(format: " (%.1f/s)", $0) } ?? ""))
        var counts = "sent \(status.sent), pending \(status.pending), failed \(status.failed)"
        if status.failedUnknown > 0 { counts += " (\(status.failedUnknown) outcome unknown)" }
        counts += ", bounced \(status.bounced), skipped \(status.skipped)"
        if status.cancelled > 0 { counts += ", cancelled \(status.cancelled)" }
        print(counts)
        if status.forgotten > 0 { print("of these, \(status.forgotten) to people forgotten since (counted on, no address kept)") }
        for (label, date) in [("scheduled", status.scheduledAt), ("started", status.startedAt), ("finished", status.finishedAt)] {
            if let date { print("\(label): \(formatTimestamp(date))") }
        }
        if status.failed > 0 { print("who: `listctl status \(issue) --recipients failed`; again: `listctl retry \(issue)`") }
    }
}

extension String {
    func ifEmpty(_ fallback: String) -> String { isEmpty ? fallback : self }
}
