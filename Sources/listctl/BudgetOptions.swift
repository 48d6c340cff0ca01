import ArgumentParser
import ListService
import Mailer

/// `--budget` and `--budget-scope`, shared by `send` and `preview`; unset,
/// they come from `LISTCTL_BUDGET` and `LISTCTL_BUDGET_SCOPE`.
struct BudgetOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Largest part, in bytes of what --budget-scope measures (default: LISTCTL_BUDGET, else \(IssueRenderer.defaultBudget)).",
        valueName: "bytes"))
    var budget: Int?

    @Option(
        name: .customLong("budget-scope"),
        help: ArgumentHelp(
            "What --budget bounds: html (the HTML alternative as encoded) or message (the whole message, headers and text included). Default: LISTCTL_BUDGET_SCOPE, else html.",
            valueName: BudgetScope.names))
    var budgetScope: String?

    /// The flags over the environment; a bad value is a usage error.
    func settings() throws -> BudgetSettings {
        do {
            return try BudgetSettings.resolve(budget: budget, scope: budgetScope)
        } catch let error as ListServiceError {
            throw ValidationError(error.message)
        }
    }

    /// Runs `body`, turning a budget too small for the template and headers into a usage error.
    static func usageError<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as MailerError where error.code == .budgetTooSmall {
            throw ValidationError(error.description)
        }
    }

}
