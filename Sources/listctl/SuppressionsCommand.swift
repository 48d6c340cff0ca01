import ArgumentParser
import Foundation
import ListService

struct SuppressionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suppressions",
        abstract: "The addresses never mailed on any list (docs/SUPPRESSION.md).",
        subcommands: [List.self, Add.self, Remove.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every suppressed address, with its reason and when.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "One JSON array.") var json = false

        func run() async throws {
            try await global.withDatabase(shortStatements: true) { database in
                let entries = try await SuppressionList(database: database).all()
                if json { return try printJSON(entries) }
                printTable(["email", "reason", "since", "detail"], entries.map { [$0.email, $0.reason, formatTimestamp($0.createdAt), $0.detail] })
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Never mail EMAIL again, on any list (takes effect at the next claim of a running send).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The address.") var email: String
        @Option(help: ArgumentHelp("Why: \(SuppressionList.reasons.joined(separator: ", ")).", valueName: "reason")) var reason = "manual"
        @Option(help: "A note kept with it (who asked, how).") var detail = ""

        func run() async throws {
            try await global.withDatabase { database in
                let forgetKeys = try ForgetKeys.loadIfConfigured(global.configuration())
                let added = try await SuppressionList(database: database, forgetKeys: forgetKeys).add(email, reason: reason, detail: detail)
                print(added ? "suppressed \(email) (\(reason))" : "\(email) was already suppressed; left as it was")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Lift the suppression of EMAIL.",
            discussion: """
                Resubscribes nobody: a subscription that is unsubscribed, bounced or complained stays so, and only \
                the person's own confirmation brings it back. Lists where the subscription is still active mail the \
                address again.
                """
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The address.") var email: String

        func run() async throws {
            try await global.withDatabase { database in
                let entry = try await SuppressionList(database: database).remove(email)
                print("no longer suppressed: \(entry.email) (was \(entry.reason) since \(formatTimestamp(entry.createdAt)))")
            }
        }
    }
}
