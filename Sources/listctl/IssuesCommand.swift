import ArgumentParser
import Foundation
import ListService

struct IssuesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issues",
        abstract: "Show a list's issues: sent, scheduled, drafts, and those imported from an archive.",
        subcommands: [List.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List issues, newest first (the default).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this list (default: every list).") var list: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await global.withDatabase(shortStatements: true) { database in
                let issues = try await IssueList(database: database).issues(list: list)
                if json {
                    try printJSON(issues)
                    return
                }
                if issues.isEmpty {
                    print("No issues yet. Import an archive with `listctl import letters.csv`, or send one with `listctl send issue.md`.")
                    return
                }
                printTable(
                    ["ID", "LIST", "STATE", "DATE", "SUBJECT"],
                    issues.map { issue in
                        let date = issue.sentAt ?? issue.scheduledAt ?? issue.createdAt
                        return [String(issue.id), issue.list, issue.state + (issue.sourceFormat == "html" ? " (archive)" : ""),
                                formatTimestamp(date), issue.subject]
                    })
            }
        }
    }
}
