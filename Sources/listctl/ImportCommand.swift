import ArgumentParser
import Foundation
import ListService

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a subscriber export (TinyLetter, Mailchimp, Substack, Buttondown, Ghost, listmonk, any CSV) or a TinyLetter letter archive.",
        discussion: """
            The format is detected from the header row. Unsubscribed, bounced and complained \
            people stay so and are suppressed; nobody is ever resubscribed. The import is one \
            transaction: a bad row refuses the whole file (with --skip-invalid the bad rows go \
            to a rejects file instead). Importing the same file twice changes nothing. \
            See docs/IMPORT.md.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The CSV file to import.", completion: .file())
    var file: String?

    @Option(help: "The list to import into; created if it does not exist.")
    var list = "main"

    @Option(help: ArgumentHelp("Use this format instead of detecting it: \(ImportFormat.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "format"))
    var format: String?

    @Option(help: ArgumentHelp("Where the fields are, as FIELD=COLUMN pairs: email=,name=,first_name=,last_name=,created_at=,status=,unsubscribed=.", valueName: "pairs"))
    var map: String?

    @Option(help: "The file's encoding when it has no byte order mark: utf8 or latin1.")
    var encoding = "utf8"

    @Flag(name: .customLong("skip-invalid"), help: "Import the valid rows and write the invalid ones to a rejects file.")
    var skipInvalid = false

    @Option(help: ArgumentHelp("Where --skip-invalid writes rejected rows (default: FILE.rejects.csv).", valueName: "path"))
    var rejects: String?

    @Flag(name: .customLong("dry-run"), help: "Report what would change and write nothing.")
    var dryRun = false

    @Flag(help: ArgumentHelp(
        "Faster for big first imports, but blocks everyone: locks lists, subscribers and subscriptions until the import commits (every other writer and reader, workers and the HTTP service included, waits), and needs ownership of those tables.",
        discussion: "Without it an import locks only the rows it writes."))
    var exclusive = false

    @Flag(help: "Print the counts as JSON.")
    var json = false

    @Flag(name: .customLong("print-sql"), help: .hidden)
    var printSQL = false

    @Option(name: .customLong("write-staging"), help: .hidden)
    var writeStaging: String?

    func validate() throws {
        if !printSQL, file == nil { throw ValidationError("Missing the file to import: listctl import FILE.csv") }
        if let format, ImportFormat(rawValue: format) == nil {
            throw ValidationError("--format \(format): use one of \(ImportFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if CSVEncoding(rawValue: encoding) == nil { throw ValidationError("--encoding \(encoding): use utf8 or latin1") }
        if rejects != nil, !skipInvalid { throw ValidationError("--rejects needs --skip-invalid") }
    }

    func run() async throws {
        if printSQL {
            print(ImportSQL.psqlScript(exclusive: exclusive), terminator: "")
            return
        }
        let url = URL(fileURLWithPath: file!)
        var options = ImportOptions(
            list: list, format: format.flatMap(ImportFormat.init(rawValue:)), encoding: CSVEncoding(rawValue: encoding) ?? .utf8,
            skipInvalid: skipInvalid, rejectsURL: rejects.map { URL(fileURLWithPath: $0) }, dryRun: dryRun, displayName: file,
            exclusive: exclusive)
        if let map {
            do {
                options.columnMap = try ImportOptions.parseColumnMap(map)
            } catch let error as ImportError {
                throw ValidationError(error.message)
            }
        }
        if let writeStaging {
            let rows = try SubscriberImporter.writeStaging(of: url, options: options, to: URL(fileURLWithPath: writeStaging))
            printError("wrote \(rows) staging rows to \(writeStaging)")
            return
        }

        try await global.withDatabase { database in
            let bar = ProgressBar(enabled: !json && isatty(STDERR_FILENO) == 1)
            let summary: ImportSummary
            do {
                let forgetKeys = try ForgetKeys.loadIfConfigured(global.configuration())
                summary = try await SubscriberImporter(database: database, forgetKeys: forgetKeys).importFile(at: url, options: options) { read, total in
                    bar.update(read, of: total)
                }
            } catch {
                bar.finish()
                throw error
            }
            bar.finish()
            if json {
                try printJSON(summary)
                return
            }
            if summary.alreadyImported {
                print("\(summary.file) was already imported into list \(summary.list); nothing changed.")
                try await Self.sayWhereLettersShow(summary, database: database, configuration: global.configuration())
                return
            }
            let what = summary.format == .tinyletterArchive ? "issues" : "subscribers"
            print("\(summary.dryRun ? "dry run, nothing written: would import" : "imported") \(summary.rows) rows of \(what) from \(summary.file) (\(summary.format.rawValue)) into list \(summary.list)")
            var lines: [[String]] = [
                ["inserted", String(summary.inserted)],
                ["updated", String(summary.updated)],
                ["unchanged", String(summary.unchanged)],
            ]
            if summary.format != .tinyletterArchive {
                lines.append(["suppressed", "\(summary.suppressed) (unsubscribed, bounced or complained: kept so)"])
                lines.append(["rejected", String(summary.rejected) + (summary.rejectsFile.map { " (written to \($0))" } ?? "")])
                if summary.duplicates > 0 { lines.append(["duplicates", "\(summary.duplicates) (same address twice in the file, merged)"]) }
                if summary.skipped > 0 { lines.append(["skipped", "\(summary.skipped) (deletion requests)"]) }
                if summary.forgotten > 0 { lines.append(["forgotten", "\(summary.forgotten) (erased with `listctl subscribers forget`: left out, nothing stored)"]) }
            }
            for line in lines { print("  " + line[0].padding(toLength: 11, withPad: " ", startingAt: 0) + line[1]) }
            try await Self.sayWhereLettersShow(summary, database: database, configuration: global.configuration())
        }
    }

    /// After a letter archive: where its letters can be read (the list's public archive, or why not).
    static func sayWhereLettersShow(_ summary: ImportSummary, database: ListDatabase, configuration: ListctlConfiguration) async throws {
        guard summary.format == .tinyletterArchive, !summary.dryRun, let list = try await ListStore(database: database).find(summary.list)
        else { return }
        print("  letters: " + list.archiveWhereabouts(default: configuration.defaultBaseURL))
    }
}

/// A one-line progress bar on stderr, shown only for a terminal and a file
/// big enough to take a moment.
final class ProgressBar: @unchecked Sendable {
    private let enabled: Bool
    private var lastPercent = -1
    private var shown = false

    init(enabled: Bool) { self.enabled = enabled }

    // Called from the import task only, one call at a time.
    func update(_ done: Int, of total: Int) {
        guard enabled, total >= 8 << 20 else { return }
        let percent = min(100, done * 100 / max(total, 1))
        guard percent != lastPercent else { return }
        lastPercent = percent
        shown = true
        let width = 30
        let filled = percent * width / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let phase = percent == 100 ? "  merging into the database…" : ""
        FileHandle.standardError.write(Data("\rreading [\(bar)] \(percent)% of \(total >> 20) MB\(phase)".utf8))
    }

    func finish() {
        guard shown else { return }
        shown = false
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
