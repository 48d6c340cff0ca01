import ArgumentParser
import Foundation
import ListService

struct DBCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Manage the private PostgreSQL that listctl runs when DATABASE_URL is unset.",
        subcommands: [Start.self, Stop.self, Status.self, URLCommand.self]
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
}
