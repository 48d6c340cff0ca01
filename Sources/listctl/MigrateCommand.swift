import ArgumentParser
import Foundation
import ListService
import Migrations

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the database schema migrations this listctl carries.",
        discussion: "Safe to run twice at once (an advisory lock serialises them). A database with an edited or unknown migration is refused, unchanged.",
        subcommands: [Apply.self, Status.self],
        defaultSubcommand: Apply.self
    )

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "apply", abstract: "Apply pending migrations (the default).")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await global.withDatabase(requireSchema: false) { database in
                let applied = try await database.migrate()
                if applied.isEmpty {
                    print("The database is up to date.")
                } else {
                    for migration in applied { print("applied \(migration.label)") }
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "List applied and pending migrations.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON.") var json = false

        struct Entry: Encodable {
            let version: Int
            let name: String
            let state: String
            let appliedAt: Date?
        }

        func run() async throws {
            try await global.withDatabase(requireSchema: false) { database in
                let status = try await database.migrationStatus()
                var entries = status.applied.map {
                    Entry(version: $0.version, name: $0.name, state: "applied", appliedAt: $0.appliedAt)
                }
                entries += status.pending.map { Entry(version: $0.version, name: $0.name, state: "pending", appliedAt: nil) }
                entries.sort { $0.version < $1.version }
                if json {
                    try printJSON(entries)
                } else {
                    printTable(
                        ["VERSION", "NAME", "STATE", "APPLIED"],
                        entries.map { entry in
                            [String(format: "%04d", entry.version), entry.name, entry.state,
                             entry.appliedAt.map { formatTimestamp($0) } ?? "-"]
                        })
                }
                for problem in status.problems { printError("error: \(problem.message)") }
                if !status.problems.isEmpty { throw ExitCode.failure }
            }
        }
    }
}
