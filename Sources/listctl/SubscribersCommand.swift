import ArgumentParser
import Foundation
import ListService

struct SubscribersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscribers",
        abstract: "Work with subscribers.",
        subcommands: [Export.self]
    )

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write what is stored (email, name, status, times, attributes) to stdout as CSV or JSON.",
            discussion: """
                The CSV re-imports with `listctl import` (status, suppression, names, created \
                times and attributes come back). Rows stream out page by page, so any size works.
                """
        )
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this list (default: every list).") var list: String?
        @Option(help: ArgumentHelp("Only this status: \(SubscriberExporter.statuses.joined(separator: ", ")).", valueName: "status"))
        var status: String?
        @Option(help: "csv or json.") var format = "csv"

        func validate() throws {
            guard format == "csv" || format == "json" else { throw ValidationError("--format \(format): use csv or json") }
            if let status, !SubscriberExporter.statuses.contains(status) {
                throw ValidationError("--status \(status): use one of \(SubscriberExporter.statuses.joined(separator: ", "))")
            }
        }

        func run() async throws {
            try await global.withDatabase { database in
                let json = format == "json"
                let output = FileHandle.standardOutput
                let state = ExportState()
                output.write(Data((json ? "[" : CSVWriter.line(ExportedSubscriber.csvHeader)).utf8))
                try await SubscriberExporter(database: database).export(list: list, status: status) { page in
                    var text = ""
                    for subscriber in page {
                        if json {
                            text += state.next() ? ",\n" : "\n"
                            text += subscriber.jsonObject
                        } else {
                            text += CSVWriter.line(subscriber.csvFields)
                        }
                    }
                    output.write(Data(text.utf8))
                }
                if json { output.write(Data("\n]\n".utf8)) }
            }
        }
    }
}

/// Whether a JSON element was already written (pages arrive one at a time, in order).
private final class ExportState: @unchecked Sendable {
    private var started = false
    func next() -> Bool {
        defer { started = true }
        return started
    }
}
