import ArgumentParser
import ListService

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show lists, subscribers by status, issues and pending deliveries.")
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await global.withDatabase(shortStatements: true) { database in
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

extension String {
    func ifEmpty(_ fallback: String) -> String { isEmpty ? fallback : self }
}
