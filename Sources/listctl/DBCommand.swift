import ArgumentParser
import Foundation
import ListService

struct DBCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Manage the private PostgreSQL that listctl runs when DATABASE_URL is unset; back up and restore any database.",
        subcommands: [Start.self, Stop.self, Status.self, URLCommand.self, Backup.self, Restore.self, Compact.self]
    )

    static func embedded(_ global: GlobalOptions) throws -> EmbeddedPostgres {
        let configuration = global.configuration()
        guard configuration.databaseURL == nil else {
            throw ValidationError("DATABASE_URL (or --database-url) is set: listctl does not manage that server. Unset it to use the private one.")
        }
        return EmbeddedPostgres(home: configuration.home, logger: global.logger)
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create (first time), start and migrate the private database.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            let embedded = try DBCommand.embedded(global)
            let database = try await global.openDatabase()
            await database.close()
            print("running: \(embedded.dataDirectory.path)")
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the private database (data stays).")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            let embedded = try DBCommand.embedded(global)
            print(try embedded.stop() ? "stopped" : "not running")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Say whether the private database exists and runs.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            let embedded = try DBCommand.embedded(global)
            let state = try embedded.state()
            print("\(state.rawValue): \(embedded.dataDirectory.path)")
            if state != .running { throw ExitCode(3) }
        }
    }

    struct URLCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "url", abstract: "Print the private database's connection URI (for psql).")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            print(try DBCommand.embedded(global).connectionURL)
        }
    }

    struct Backup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the whole database to FILE (pg_dump custom format).",
            discussion: """
                Works for the private database (started if needed) and for DATABASE_URL alike. \
                FILE is written with mode 0600, as it holds every address, under a temporary name \
                that is renamed when complete. Read it back with `listctl db restore FILE`, or with \
                pg_restore.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The backup file to write.") var file: String
        @Flag(help: "Replace FILE if it exists.") var force = false
        @Flag(help: "Print JSON.") var json = false

        struct Output: Encodable {
            let file: String
            let bytes: Int64
            let schemaVersion: Int?
            let tables: [TableRowCount]
        }

        func run() async throws {
            let summary = try await global.withDatabase(requireSchema: false) { database in
                try await DatabaseBackup(database: database, logger: global.logger)
                    .backup(to: URL(fileURLWithPath: file), overwrite: force)
            }
            if json {
                try printJSON(Output(file: summary.file.path, bytes: summary.bytes, schemaVersion: summary.schemaVersion, tables: summary.tables))
                return
            }
            print("wrote \(summary.file.path) (\(DBCommand.formatBytes(summary.bytes))) from \(summary.server)")
            print(DBCommand.rowsLine(summary.tables))
        }
    }

    struct Compact: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Shrink the delivery ledger of finished issues: their sent rows become compact summaries.",
            discussion: """
                For every sent or cancelled issue that finished more than --older-than days ago (or the \
                ISSUE named, whatever its age), the ledger rows of people who got every part move into \
                delivery_summaries (sorted subscriber ids, about 8 bytes a person instead of about 210). \
                `listctl status ISSUE` and `--recipients sent` answer as before; failed, bounced, skipped \
                and cancelled rows stay, and `retry` works on them. Provider message ids of compacted rows \
                are dropped. Each issue is one transaction. The space freed is reused by later issues; \
                `VACUUM FULL deliveries` gives it back to the system (it locks the table).
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "One issue id (see `listctl issues`); default: every finished issue old enough.") var issue: Int64?
        @Option(name: .customLong("older-than"), help: "Only issues finished more than this many days ago.") var olderThan: Double = 30
        @Flag(help: "Say what would be compacted; change nothing.") var dryRun = false
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let outcomes = try await global.withDatabase { database in
                try await LedgerCompaction(database: database).compact(issue: issue, olderThanDays: olderThan, dryRun: dryRun)
            }
            if json {
                try printJSON(outcomes)
                return
            }
            if outcomes.isEmpty {
                print(issue.map { "issue \($0): nothing to compact" } ?? "no finished issue older than \(olderThan.formatted()) day(s) has rows to compact")
            }
            for outcome in outcomes {
                let verb = dryRun ? "would compact" : "compacted"
                print("issue \(outcome.issue) \"\(outcome.subject)\": \(verb) \(outcome.deliveriesCompacted) sent delivery row(s) into \(outcome.summaryRows) summary row(s)")
            }
        }
    }

    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace everything in the database with the backup in FILE.",
            discussion: """
                A restore replaces every table, row and function in the database's public schema \
                with the backup's, in one transaction: if it fails, the database is as it was. \
                A database with any subscriber, list, issue or event (or a table listctl does not \
                know) is refused unless --force. The schema is the backup's afterwards: the private \
                database is migrated at once; for DATABASE_URL, run `listctl migrate` if told to. \
                Owners and grants are not restored.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "A backup made by `listctl db backup` (or pg_dump -Fc).") var file: String
        @Flag(help: "Restore even into a database that is not empty, replacing all of it.") var force = false
        @Flag(help: "Print JSON.") var json = false

        struct Output: Encodable {
            let file: String
            let schemaVersion: Int?
            let schema: String
            let pending: [String]
            let replaced: [TableRowCount]
            let tables: [TableRowCount]
        }

        func run() async throws {
            let summary = try await global.withDatabase(requireSchema: false) { database in
                try await DatabaseBackup(database: database, logger: global.logger)
                    .restore(from: URL(fileURLWithPath: file), force: force)
            }
            let state: String
            var pending: [String] = []
            switch summary.schema {
            case .current: state = "current"
            case .migrated(let applied): state = "migrated"; pending = applied
            case .behind(let missing): state = "behind"; pending = missing
            case .incompatible: state = "incompatible"
            }
            if json {
                try printJSON(Output(
                    file: summary.file.path, schemaVersion: summary.schemaVersion, schema: state, pending: pending,
                    replaced: summary.replaced, tables: summary.tables))
            } else {
                print("restored \(summary.file.path) into \(summary.server)")
                if !summary.replaced.isEmpty { print("replaced: \(DBCommand.rowsLine(summary.replaced))") }
                print(DBCommand.rowsLine(summary.tables))
                if case .migrated(let applied) = summary.schema {
                    for label in applied { print("applied \(label)") }
                }
            }
            switch summary.schema {
            case .behind(let missing):
                printError("warning: the backup's schema is behind this listctl (\(missing.joined(separator: ", ")) pending). Run `listctl migrate`.")
            case .incompatible(let message):
                printError("warning: \(message)")
            case .current, .migrated:
                break
            }
        }
    }

    /// "3 lists, 120 subscribers, 240 subscriptions, …" (the data tables; others after).
    static func rowsLine(_ tables: [TableRowCount]) -> String {
        let order = DatabaseBackup.dataTables
        let sorted = tables.sorted { (order.firstIndex(of: $0.table) ?? order.count, $0.table) < (order.firstIndex(of: $1.table) ?? order.count, $1.table) }
        let parts = sorted.filter { $0.table != "listctl_schema_migrations" }.map { "\($0.rows) \($0.table)" }
        return parts.isEmpty ? "no tables" : parts.joined(separator: ", ")
    }

    static func formatBytes(_ bytes: Int64) -> String {
        if bytes < 1000 { return "\(bytes) bytes" }
        let units = ["kB", "MB", "GB", "TB"]
        var value = Double(bytes) / 1000
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return "\(String(format: "%.1f", value)) \(units[unit])"
    }
}
