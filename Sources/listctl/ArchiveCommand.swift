import ArgumentParser
import Foundation
import ListService

struct ArchiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive",
        abstract: "The public archive of a list's issues (docs/ARCHIVE.md).",
        subcommands: [Export.self]
    )

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a list's public archive as static files: the pages and feed `listctl serve` answers.",
            discussion: """
                DIR/index.html is the archive (also DIR/archive/index.html, where List-Archive points), \
                DIR/page/N/index.html its further pages, DIR/issues/<slug>/index.html each issue whole \
                (the mailed <root>/issues/<slug> link) and DIR/feed.xml the Atom feed. Links between them \
                are relative: open DIR/index.html from disk, or put DIR on any static host at the list's \
                public root. The export is written next to DIR and then swapped in; a DIR that holds \
                anything but an earlier export is refused and left alone.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "The list whose archive to write (see `listctl lists`).") var list: String
        @Option(help: "The folder to write (made if missing; an earlier export there is replaced).") var out: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let configuration = global.configuration()
            let summary = try await global.withDatabase { database in
                try await ArchiveExporter(database: database, configuration: configuration, logger: global.logger)
                    .export(list: list, to: URL(fileURLWithPath: out))
            }
            if json {
                try printJSON(summary)
                return
            }
            print("wrote the archive of list \(summary.list) to \(summary.folder): \(summary.issues) issues, \(summary.files) files (\(summary.bytes) bytes)")
            print("  open \(summary.folder)/index.html in a browser, or publish the folder" + (summary.publicRoot.map { " at \($0)" } ?? ""))
        }
    }
}
