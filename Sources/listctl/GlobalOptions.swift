import ArgumentParser
import Foundation
import ListService
import Mailer
import Logging

/// Options every command that touches the database takes.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "libpq connection string or URI; overrides DATABASE_URL.",
            discussion: "Prefer DATABASE_URL for a URL with a password: arguments are visible in `ps`."))
    var databaseURL: String?

    @Flag(name: [.short, .long], help: "Log what listctl does to stderr.")
    var verbose = false

    /// The environment's settings with flags applied; bootstraps logging once.
    func configuration() -> ListctlConfiguration {
        Self.bootstrapLogging(verbose: verbose)
        var configuration = ListctlConfiguration.fromEnvironment()
        if let databaseURL, !databaseURL.isEmpty { configuration.databaseURL = databaseURL }
        configuration.applicationName = Self.applicationName(CommandLine.arguments)
        return configuration
    }

    /// `listctl/<command>` for `pg_stat_activity`: the first word of the
    /// command line that is not an option (never an option's value, which could be a URL).
    static func applicationName(_ arguments: [String]) -> String {
        var words = arguments.dropFirst().makeIterator()
        while let word = words.next() {
            if word == "--database-url" { _ = words.next(); continue }
            if word.hasPrefix("-") { continue }
            return "listctl/\(word)"
        }
        return "listctl"
    }

    var logger: Logger { Logger(label: "listctl") }

    /// Opens the database (the embedded one when no URL is set).
    /// `shortStatements`: the command runs only short statements, so its
    /// sessions get `LISTCTL_STATEMENT_TIMEOUT` (30 s unless set).
    func openDatabase(requireSchema: Bool = true, shortStatements: Bool = false, maximumConnections: Int = 4) async throws -> ListDatabase {
        let configuration = configuration()
        return try await ListDatabase.open(
            configuration, requireSchema: requireSchema, maximumConnections: maximumConnections, shortStatements: shortStatements,
            logger: logger)
    }

    /// Opens the database, lends it to `body`, and closes it however `body` ends.
    func withDatabase<T>(
        requireSchema: Bool = true, shortStatements: Bool = false, maximumConnections: Int = 4,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (ListDatabase) async throws -> T
    ) async throws -> T {
        let database = try await openDatabase(
            requireSchema: requireSchema, shortStatements: shortStatements, maximumConnections: maximumConnections)
        do {
            let value = try await body(database)
            await database.close()
            return value
        } catch {
            await database.close()
            throw error
        }
    }

    /// The Mailer's view of list `listSlug` (from the database), or of no list
    /// (from the environment, no database needed) when `listSlug` is nil.
    func identity(listSlug: String?, standaloneSlug: String) async throws -> ListIdentity {
        try await listLook(listSlug: listSlug, standaloneSlug: standaloneSlug).identity
    }

    /// The list's identity and e-mail template (its own, else the built-in
    /// one); with no list, from the environment and the built-in template.
    func listLook(listSlug: String?, standaloneSlug: String) async throws -> (identity: ListIdentity, template: EmailTemplate) {
        let configuration = configuration()
        guard let listSlug else { return (try configuration.standaloneIdentity(slug: standaloneSlug), .default) }
        return try await withDatabase(shortStatements: true) { database in
            let list = try await ListStore(database: database).require(listSlug)
            return (try list.identity(configuration), try list.emailTemplate())
        }
    }

    nonisolated(unsafe) private static var bootstrapped = false
    private static func bootstrapLogging(verbose: Bool) {
        guard !bootstrapped else { return }
        bootstrapped = true
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = verbose ? .debug : .warning
            return handler
        }
    }
}

/// Writes a line to stderr (diagnostics; results go to stdout).
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Prints rows as a left-aligned table with a header.
func printTable(_ header: [String], _ rows: [[String]]) {
    var widths = header.map(\.count)
    for row in rows {
        for (index, cell) in row.enumerated() where index < widths.count {
            widths[index] = max(widths[index], cell.count)
        }
    }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { index, cell in
            index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }
    print(line(header))
    for row in rows { print(line(row)) }
}

/// JSON for `--json` output: sorted keys, one line.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// `2026-11-27T11:37:05Z`
func formatTimestamp(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.string(from: date)
}

/// "View in browser" link of an issue file: `<base>/issues/<file stem>`,
/// percent-encoded; `nil` without a public base URL.
func archiveURL(base: String?, fileStem: String) -> String? {
    guard let base else { return nil }
    let segment = fileStem.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? "issue"
    return "\(base)/issues/\(segment)"
}
