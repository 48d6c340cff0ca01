public import Foundation
public import Mailer

/// The size budget of a part and what it bounds, for `send` and `preview`:
/// the flag, else `LISTCTL_BUDGET` / `LISTCTL_BUDGET_SCOPE`, else 90,000
/// bytes of the HTML alternative (docs/MAILER.md).
public struct BudgetSettings: Sendable, Equatable {
    /// Bytes per part, of what `scope` names.
    public var budget: Int
    public var scope: BudgetScope

    /// The smallest budget accepted: the built-in template alone takes a few kilobytes.
    public static let minimumBudget = 10_000

    public init(budget: Int = IssueRenderer.defaultBudget, scope: BudgetScope = .default) {
        self.budget = budget
        self.scope = scope
    }

    /// The flags' values over the environment's.
    /// - Parameters:
    ///   - budget: `--budget`, if given.
    ///   - scope: `--budget-scope`, if given, as typed.
    /// - Throws: ``ListServiceError`` `.invalidInput` naming the flag or
    ///   setting, the value and what it must be.
    public static func resolve(
        budget flag: Int?, scope scopeFlag: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> BudgetSettings {
        var settings = BudgetSettings()
        if let flag {
            settings.budget = try check(flag, source: "--budget \(flag)")
        } else if let text = environment["LISTCTL_BUDGET"]?.trimmingCharacters(in: .whitespaces), !text.isEmpty {
            guard let value = Int(text.replacingOccurrences(of: "_", with: "")) else {
                throw ListServiceError(
                    code: .invalidInput,
                    message: "LISTCTL_BUDGET=\(text): must be a whole number of bytes, at least \(minimumBudget) (unset it for the default \(IssueRenderer.defaultBudget))")
            }
            settings.budget = try check(value, source: "LISTCTL_BUDGET=\(text)")
        }
        if let scopeFlag {
            settings.scope = try scope(scopeFlag, source: "--budget-scope \(scopeFlag)")
        } else if let text = environment["LISTCTL_BUDGET_SCOPE"]?.trimmingCharacters(in: .whitespaces), !text.isEmpty {
            settings.scope = try scope(text, source: "LISTCTL_BUDGET_SCOPE=\(text)")
        }
        return settings
    }

    private static func check(_ value: Int, source: String) throws -> Int {
        guard value >= minimumBudget else {
            throw ListServiceError(
                code: .invalidInput,
                message: "\(source): must be at least \(minimumBudget) bytes (the template and headers alone take a few kilobytes; the default is \(IssueRenderer.defaultBudget))")
        }
        return value
    }

    private static func scope(_ text: String, source: String) throws -> BudgetScope {
        guard let scope = BudgetScope(rawValue: text.lowercased()) else {
            throw ListServiceError(
                code: .invalidInput,
                message: "\(source): must be html (the HTML alternative as encoded, the default) or message (the whole message, headers included)")
        }
        return scope
    }
}
