import ArgumentParser
import Foundation
import ListService

struct ListsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lists",
        abstract: "Show, create and change mailing lists.",
        subcommands: [Show.self, Create.self, Set.self, Delete.self],
        defaultSubcommand: Show.self
    )

    struct Fields: ParsableArguments {
        @Option(help: "Display name of the list.") var name: String?
        @Option(help: ArgumentHelp("Sender, as \"Name <address>\".", valueName: "from")) var from: String?
        @Option(name: .customLong("reply-to"), help: "Reply-To address.") var replyTo: String?
        @Option(name: .customLong("base-url"), help: "Public base URL of the subscribe/unsubscribe pages (https://...).") var baseURL: String?
        @Option(name: .customLong("bounce-address"), help: "Envelope sender (Return-Path) for this list's mail, where bounces go; \"\" clears it (then LISTCTL_BOUNCE_ADDRESS, else From).")
        var bounceAddress: String?
        @Option(help: ArgumentHelp("Postal address line for the footer (CAN-SPAM).", valueName: "line")) var address: String?
        @Option(name: .customLong("allow-raw-html"), help: "Keep raw HTML in issues (true/false).") var allowRawHTML: Bool?
        @Option(help: ArgumentHelp(
            "The list's e-mail template, a Mustache file (`listctl preview --print-template` prints the built-in one); stored, used by preview, send --to and sends; \"\" returns to the built-in one.",
            valueName: "file")) var template: String?
        @Option(name: .customLong("page-template"), help: ArgumentHelp(
            "The template of `serve`'s pages for this list, a Mustache file with {{title}}, {{list_name}} and {{{content}}}; \"\" returns to the built-in one.",
            valueName: "file")) var pageTemplate: String?
        @Option(help: ArgumentHelp(
            "Who may read the list's archive of past issues once `serve` shows it: public (the default) or private.",
            valueName: "public|private")) var archive: ArchiveVisibility?

        enum ArchiveVisibility: String, ExpressibleByArgument, CaseIterable {
            case `public`, `private`
        }

        /// The changes, with the template file read (and checked by the store before anything is written).
        func changes() throws -> MailingListChanges {
            var changes = MailingListChanges(
                name: name, from: from, replyTo: replyTo, baseURL: baseURL, postalAddress: address, allowRawHTML: allowRawHTML)
            changes.bounceAddress = bounceAddress
            changes.archiveIsPublic = archive.map { $0 == .public }
            if let template {
                if template.isEmpty {
                    changes.template = ""
                } else {
                    guard let data = FileManager.default.contents(atPath: template) else {
                        throw ValidationError("--template: cannot read \(template): no such file, or not readable")
                    }
                    changes.template = String(decoding: data, as: UTF8.self)
                    changes.templateName = template
                }
            }
            if let pageTemplate {
                if pageTemplate.isEmpty {
                    changes.pageTemplate = ""
                } else {
                    guard let data = FileManager.default.contents(atPath: pageTemplate) else {
                        throw ValidationError("--page-template: cannot read \(pageTemplate): no such file, or not readable")
                    }
                    changes.pageTemplate = String(decoding: data, as: UTF8.self)
                    changes.pageTemplateName = pageTemplate
                }
            }
            return changes
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "List the lists (the default).")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await global.withDatabase(shortStatements: true) { database in
                let lists = try await ListStore(database: database).all()
                if json {
                    try printJSON(lists)
                    return
                }
                if lists.isEmpty {
                    print("No lists yet. Create one with `listctl lists create SLUG --from \"Name <address>\"`.")
                    return
                }
                printTable(
                    ["SLUG", "NAME", "FROM", "BASE URL", "TEMPLATE", "ARCHIVE"],
                    lists.map {
                        [$0.slug, $0.name, $0.from ?? "-", $0.baseURL ?? "-", $0.template == nil ? "built-in" : "own",
                         $0.archiveIsPublic ? "public" : "private"]
                    })
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a list: its subscriptions, issues and delivery records. Subscribers, suppressions and events stay.",
            discussion: "Refused while one of its issues is scheduled, sending or paused. On a terminal it asks you to type the slug; with no terminal it needs --yes."
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The list.") var slug: String
        @Flag(help: "Do not ask.") var yes = false
        @Flag(help: "Print what was deleted as JSON.") var json = false

        func run() async throws {
            try await global.withDatabase { database in
                let store = ListStore(database: database)
                guard try await store.find(slug) != nil else {
                    throw ListServiceError(code: .notFound, message: "no list named \"\(slug)\"; see `listctl lists`")
                }
                if !yes {
                    guard isatty(STDIN_FILENO) == 1 else {
                        throw ValidationError("no terminal to confirm on: add --yes to delete list \(slug) with its subscriptions and issues")
                    }
                    FileHandle.standardError.write(Data("Delete list \(slug), its subscriptions, issues and delivery records? Type the slug to confirm: ".utf8))
                    guard readLine()?.trimmingCharacters(in: .whitespaces) == slug else {
                        print("not deleted")
                        return
                    }
                }
                let deleted = try await store.delete(slug)
                if json { return try printJSON(deleted) }
                print("deleted list \(slug): \(deleted.subscriptions) subscription(s), \(deleted.issues) issue(s)")
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a list.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Short name: lower-case letters, digits, '-' and '_'.") var slug: String
        @OptionGroup var fields: Fields

        func run() async throws {
            try await global.withDatabase(shortStatements: true) { database in
                let list = try await ListStore(database: database).create(slug, fields.changes())
                print("created list \(list.slug)")
                if list.fromAddress == nil, global.configuration().defaultFrom == nil {
                    printError("note: list \(list.slug) has no sender yet; set one with `listctl lists set \(list.slug) --from \"Name <address>\"` before sending.")
                }
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a list's fields (an empty value clears an optional one).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The list's slug.") var slug: String
        @OptionGroup var fields: Fields
        @Option(help: ArgumentHelp(
            "The welcome issue (Markdown) each newly confirmed subscriber gets once; \"none\" removes it. Never sent to imports or `subscribers add`.",
            valueName: "file")) var welcome: String?

        func run() async throws {
            let configuration = global.configuration()
            try await global.withDatabase(shortStatements: true) { database in
                let list = try await ListStore(database: database).update(slug, fields.changes())
                if let welcome {
                    switch try await StandingIssues(database: database, configuration: configuration).setWelcome(
                        list: list.slug, file: welcome == "none" ? nil : welcome) {
                    case .set(let issue, let parts):
                        print("welcome issue of \(list.slug): issue \(issue) (\(parts) part\(parts == 1 ? "" : "s")), for each newly confirmed subscriber")
                    case .unchanged(let issue): print("welcome issue of \(list.slug) unchanged (issue \(issue))")
                    case .removed: print("\(list.slug) has no welcome issue now")
                    }
                }
                print("updated list \(list.slug)")
            }
        }
    }
}
