import Foundation
import ListService
import Logging
import Migrations
import Postgres
import TestSupport
import Testing

@Suite("Embedded PostgreSQL")
struct EmbeddedPostgresTests {
    @Test("initdb on first use, migrated, and data survives stop and restart")
    func startStopRestart() async throws {
        let home = try makeTemporaryDirectory("embedded")
        defer { try? FileManager.default.removeItem(at: home) }
        let configuration = ListctlConfiguration(databaseURL: nil, home: home)
        let embedded = EmbeddedPostgres(home: home, noSync: true)
        #expect(try await onThread { try embedded.state() } == .absent)

        let database = try await ListDatabase.open(configuration, logger: Logger(label: "test"))
        #expect(database.isEmbedded)
        #expect(try await onThread { try embedded.state() } == .running)
        #expect(try await database.migrationStatus().isCurrent)
        try await ListStore(database: database).create("kept", MailingListChanges(name: "Kept across restarts"))
        await database.close()

        #expect(try await onThread { try embedded.stop() } == true)
        #expect(try await onThread { try embedded.state() } == .stopped)
        #expect(try await onThread { try embedded.stop() } == false)

        // Opening again starts it on demand; the list is still there.
        let reopened = try await ListDatabase.open(configuration, logger: Logger(label: "test"))
        #expect(try await ListStore(database: reopened).find("kept")?.name == "Kept across restarts")
        await reopened.close()

        // Only a Unix socket, only for its owner.
        let socketDirectory = embedded.socketDirectory.path
        let attributes = try FileManager.default.attributesOfItem(atPath: socketDirectory)
        #expect((attributes[.posixPermissions] as? Int) == 0o700)
        #expect(embedded.connectionURL.contains("host=") && !embedded.connectionURL.contains("localhost"))
        let connection = try await PostgresConnection.connect(to: embedded.connectionURL)
        let listen = try await connection.query("SHOW listen_addresses")[0].decode(String.self, at: 0)
        #expect(listen == "")
        await connection.close()
        try await onThread { try embedded.stop() }
    }

    @Test("two processes starting it at once both succeed")
    func concurrentStart() async throws {
        let home = try makeTemporaryDirectory("embedded")
        defer { try? FileManager.default.removeItem(at: home) }
        let embedded = EmbeddedPostgres(home: home, noSync: true)
        let started = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<2 { group.addTask { try await onThread { try embedded.start() } } }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(started.filter { $0 }.count == 1)
        #expect(try await onThread { try embedded.state() } == .running)
        try await onThread { try embedded.stop() }
    }

    @Test("an external database that is behind is refused with what to do")
    func externalBehind() async throws {
        try await withTemporaryDatabase { database in
            let configuration = ListctlConfiguration(databaseURL: database.url, home: URL(fileURLWithPath: "/nonexistent"))
            let error = await #expect(throws: (any Error).self) {
                _ = try await ListDatabase.open(configuration, logger: Logger(label: "test"))
            }
            #expect("\(error.map { "\($0)" } ?? "")".contains("Run `listctl migrate`"))
            // It did not migrate by itself.
            let connection = try await database.connect()
            #expect(try await connection.query("SELECT to_regclass('lists') IS NULL")[0].decode(Bool.self, at: 0))
            await connection.close()
        }
    }
}
