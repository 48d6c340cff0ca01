import ArgumentParser
import Foundation
import ListService

/// `cancel`, `pause`, `resume`, `retry`, `reschedule`: one issue's course, by the id `listctl issues` shows.
struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Stop an issue for good: nothing more is sent; what was sent stays recorded.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The issue id (see `listctl issues`).") var issue: Int64

    func run() async throws {
        try await global.withIssueControl { control in
            let count = try await control.cancel(issue)
            print("issue \(issue) cancelled: \(count) pending delivery(ies) will not be sent")
        }
    }
}

struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Pause a sending or scheduled issue; `listctl resume` continues where it stopped.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The issue id (see `listctl issues`).") var issue: Int64

    func run() async throws {
        try await global.withIssueControl { control in
            try await control.pause(issue)
            print("issue \(issue) paused; workers finish the messages on the wire and stop")
        }
    }
}

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Resume a paused issue: nobody gets a part twice.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The issue id (see `listctl issues`).") var issue: Int64

    func run() async throws {
        try await global.withIssueControl { control in
            try await control.resume(issue)
            print("issue \(issue) resumed; `listctl deliver` or a running worker sends the rest")
        }
    }
}

struct RetryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry", abstract: "Put an issue's failed deliveries back in the queue.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The issue id (see `listctl issues`).") var issue: Int64

    func run() async throws {
        try await global.withIssueControl { control in
            let count = try await control.retry(issue)
            print("issue \(issue): \(count) failed delivery(ies) queued again; `listctl deliver` or a running worker sends them")
        }
    }
}

struct RescheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reschedule", abstract: "Move a scheduled issue to another time.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The issue id (see `listctl issues`).") var issue: Int64
    @Option(help: "The new time: ISO 8601, or \"2026-12-01 09:00\" in the local time zone.") var at: String

    func run() async throws {
        let date = try IssueSubmitter.parseTime(at, source: "--at")
        try await global.withIssueControl { control in
            try await control.reschedule(issue, at: date)
            print("issue \(issue) rescheduled for \(formatTimestamp(max(date, Date())))")
        }
    }
}

extension GlobalOptions {
    /// Runs `body` with the issue controls, on short statements.
    func withIssueControl<T>(isolation: isolated (any Actor)? = #isolation, _ body: (IssueControl) async throws -> T) async throws -> T {
        try await withDatabase(shortStatements: true) { database in try await body(IssueControl(database: database)) }
    }
}
