import ArgumentParser
import Foundation
import ListService

struct SubscribersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscribers",
        abstract: "Work with subscribers.",
        subcommands: [Add.self, Show.self, Unsubscribe.self, ExportPerson.self, Export.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a person to a list, active at once (they asked you by other means), or --pending with a confirmation mail.",
            discussion: "Without --pending: refused for a suppressed address and for one that left, bounced or complained on the list: nobody is resubscribed but by their own confirmation."
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The address.") var email: String
        @Option(help: "The list.") var list: String
        @Option(help: "Their name.") var name: String?
        @Flag(help: "Pending instead: they get a confirmation mail and are active once they confirm (the way back for someone who left).")
        var pending = false

        func run() async throws {
            let configuration = global.configuration()
            try await global.withDatabase { database in
                if pending {
                    let mailingList = try await ListStore(database: database).require(list)
                    switch try await DoubleOptIn(database: database, configuration: configuration).request(
                        email: email, list: mailingList, name: name, consent: .init(source: "cli")) {
                    case .queued(let request):
                        print("\(email) is pending on \(list): a confirmation mail is queued (request \(request)); the worker sends it")
                    case .alreadyActive: print("\(email) is already on \(list); nothing changed")
                    case .limited:
                        print("\(email) is pending on \(list), but got its confirmation mails for today; no mail queued")
                    }
                    return
                }
                switch try await SubscriptionChanges(database: database).subscribe(email: email, list: list, name: name) {
                case .added: print("added \(email) to \(list)")
                case .alreadyActive: print("\(email) is already on \(list); nothing changed")
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One person: their status on each list, suppression, and latest events.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The address.") var email: String
        @Flag(help: "One JSON object.") var json = false

        func run() async throws {
            try await global.withDatabase(shortStatements: true) { database in
                let record = try await SubscriberRecord.load(email, database: database)
                if json { return try printJSON(record) }
                print("\(record.email)\(record.name.isEmpty ? "" : " (\(record.name))"), since \(formatTimestamp(record.createdAt))")
                if let suppression = record.suppression {
                    print("suppressed everywhere: \(suppression.reason) since \(formatTimestamp(suppression.createdAt)) (\(suppression.detail))")
                } else {
                    print("not suppressed")
                }
                if record.subscriptions.isEmpty {
                    print("on no list")
                } else {
                    printTable(["list", "status", "since", "subscribed"], record.subscriptions.map {
                        [$0.list, $0.status, formatTimestamp($0.statusChangedAt), formatTimestamp($0.subscribedAt)]
                    })
                }
                if !record.consents.isEmpty {
                    print("requests to join (proof of consent):")
                    printTable(["list", "source", "asked", "from", "confirmed", "from"], record.consents.map {
                        [$0.list, $0.source, formatTimestamp($0.requestedAt), $0.clientAddress ?? "",
                         $0.confirmedAt.map(formatTimestamp) ?? "not confirmed", $0.confirmedAddress ?? ""]
                    })
                }
                if !record.events.isEmpty {
                    print("latest events:")
                    printTable(["when", "event", "list", "issue", "detail"], record.events.map {
                        [formatTimestamp($0.occurredAt), $0.kind, $0.list ?? "", $0.issue.map(String.init) ?? "", $0.detail]
                    })
                }
            }
        }
    }

    struct ExportPerson: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-person",
            abstract: "Everything stored about one person, as one JSON object (a GDPR access request).",
            discussion: "The subscriber, each subscription, the suppression, every event that names them, and every delivery of an issue to them."
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The address.") var email: String

        func run() async throws {
            try await global.withDatabase { database in
                try printJSON(try await PersonalDataExport.load(email, database: database))
            }
        }
    }

    struct Unsubscribe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Unsubscribe EMAIL from one list (--list), or from all and suppress it (--all).",
            discussion: "As the person's own link would: idempotent, with an event. Nothing but their own confirmation brings them back."
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The address.") var email: String
        @Option(help: "The list to leave.") var list: String?
        @Flag(help: "Every list, and suppress the address.") var all = false

        func validate() throws {
            if (list == nil) == !all { throw ValidationError("say --list SLUG (one list) or --all (every list, and suppressed)") }
        }

        func run() async throws {
            try await global.withDatabase { database in
                let changes = SubscriptionChanges(database: database)
                if let list {
                    switch try await changes.unsubscribe(email: email, list: list) {
                    case .unsubscribed: print("unsubscribed \(email) from \(list)")
                    case .alreadyStopped(let status): print("\(email) is already \(status) on \(list); nothing changed")
                    case .unknown: break
                    }
                } else {
                    let lists = try await changes.unsubscribeEverywhere(email: email, source: "cli")
                    print("suppressed \(email) everywhere" + (lists.isEmpty ? "" : "; unsubscribed from \(lists.joined(separator: ", "))"))
                }
            }
        }
    }

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
