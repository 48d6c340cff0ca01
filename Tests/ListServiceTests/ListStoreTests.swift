import Foundation
import ListService
import Logging
import Migrations
import Postgres
import TestSupport
import Testing

/// A migrated database opened the way the CLI opens an external one, for `body`;
/// closed and dropped (awaited) however `body` ends.
func withListDatabase<T>(
    isolation: isolated (any Actor)? = #isolation, _ body: (ListDatabase, TestDatabase) async throws -> T
) async throws -> T {
    try await withTemporaryDatabase { test in
        let connection = try await test.connect()
        try await Migrator().migrate(on: connection)
        await connection.close()
        let configuration = ListctlConfiguration(databaseURL: test.url, home: URL(fileURLWithPath: "/nonexistent"))
        let database = try await ListDatabase.open(configuration, logger: Logger(label: "test"))
        do {
            let value = try await body(database, test)
            await database.close()
            return value
        } catch {
            await database.close()
            throw error
        }
    }
}

@Suite("Lists")
struct ListStoreTests {
    @Test("create, set, show")
    func createAndUpdate() async throws {
        try await withListDatabase { database, test in
            let store = ListStore(database: database)
            let created = try await store.create("weekly", MailingListChanges(
                name: "Weekly", from: "Ada Lovelace <Ada@Example.COM>", baseURL: "https://news.example.com/"))
            #expect(created.fromName == "Ada Lovelace")
            #expect(created.fromAddress == "Ada@example.com")
            #expect(created.baseURL == "https://news.example.com")
            let updated = try await store.update("weekly", MailingListChanges(replyTo: "replies@example.com", postalAddress: "1 Main St"))
            #expect(updated.replyTo == "replies@example.com")
            #expect(updated.postalAddress == "1 Main St")
            #expect(updated.fromAddress == "Ada@example.com")
            let cleared = try await store.update("weekly", MailingListChanges(postalAddress: ""))
            #expect(cleared.postalAddress == nil)
            #expect(try await store.all().map(\.slug) == ["weekly"])
        }
    }

    @Test("bad input is refused with what to do, and nothing is stored")
    func badInput() async throws {
        try await withListDatabase { database, test in
            let store = ListStore(database: database)
            for slug in ["", "Upper", "has space", "-dash", String(repeating: "a", count: 64), "x'); DROP TABLE lists;--"] {
                let error = await #expect(throws: ListServiceError.self) { try await store.create(slug) }
                #expect(error?.code == .invalidInput)
            }
            let badFrom = await #expect(throws: ListServiceError.self) {
                try await store.create("a", MailingListChanges(from: "Ann <not-an-address>"))
            }
            #expect(badFrom?.message.contains("--from") == true)
            let injected = await #expect(throws: ListServiceError.self) {
                try await store.create("a", MailingListChanges(from: "Ann <a@example.com>\r\nBcc: x@example.com"))
            }
            #expect(injected?.code == .invalidInput)
            #expect(injected?.message.contains("line break") == true, "CRLF is one Character: checked by bytes: \(injected?.message ?? "")")
            let injectedName = await #expect(throws: ListServiceError.self) {
                try await store.create("a", MailingListChanges(from: "Ann\r\nBcc: x@example.com <a@example.com>"))
            }
            #expect(injectedName?.message.contains("line break") == true, "\(injectedName?.message ?? "")")
            let badURL = await #expect(throws: ListServiceError.self) {
                try await store.create("a", MailingListChanges(baseURL: "javascript:alert(1)"))
            }
            #expect(badURL?.message.contains("--base-url") == true)
            #expect(try await store.all().isEmpty)
            try await store.create("a")
            let duplicate = await #expect(throws: ListServiceError.self) { try await store.create("a") }
            #expect(duplicate?.code == .conflict)
            let missing = await #expect(throws: ListServiceError.self) { try await store.update("nope", MailingListChanges(name: "x")) }
            #expect(missing?.code == .notFound)
        }
    }

    @Test("a list without a sender falls back to LISTCTL_FROM, else sending is refused")
    func sender() async throws {
        try await withListDatabase { database, test in
            let list = try await ListStore(database: database).create("plain")
            #expect(try list.sender(defaultFrom: "News <news@example.org>").address == "news@example.org")
            let error = #expect(throws: ListServiceError.self) { try list.sender(defaultFrom: nil) }
            #expect(error?.message.contains("listctl lists set plain --from") == true)
        }
    }
}
