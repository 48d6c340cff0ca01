import Foundation
@testable import ListService
import Postgres
import TestSupport
import Testing

@Suite("History deletion (schema 0002)")
struct HistoryDeletionTests {
    /// Under 0001 the first DELETE below failed with "events are append-only":
    /// ON DELETE SET NULL on events is an UPDATE, which the trigger refuses.
    @Test("Deleting a list, an issue and a subscriber with events works; no event keeps the address; events stay append-only")
    func deleteWithEvents() async throws {
        try await ImportHarness.with { harness in
            let db = harness.connection
            try await harness.run("tinyletter_variant.csv")  // dave@example.com unsubscribed: a status event
            try await harness.run("tinyletter_archive.csv", ImportOptions(list: "letters"))
            // A 'sent' event naming a list, an issue, the subscriber and the address
            // in its detail, and an address-only 'suppressed' event.
            try await db.query(
                """
                INSERT INTO events (kind, list_id, subscriber_id, issue_id, email_key, detail)
                SELECT 'sent', l.id, s.id, i.id, s.email_key, jsonb_build_object('to', s.email)
                FROM subscribers s, lists l, issues i
                WHERE s.email_key = 'dave@example.com' AND l.slug = 'letters' AND i.subject = 'Issue #1: Hello'
                """)
            try await db.query(
                "INSERT INTO events (kind, email_key, detail) VALUES ('suppressed', 'dave@example.com', '{\"note\": \"Dave@Example.com asked\"}')")
            let dave: Int64 = try await db.query("SELECT id FROM subscribers WHERE email_key = 'dave@example.com'")[0].decode(at: 0)
            #expect(try await count("SELECT count(*) FROM events WHERE subscriber_id = \(dave) OR email_key = 'dave@example.com'", on: db) == 3)

            #expect(try await db.query("DELETE FROM issues WHERE subject = 'Issue #1: Hello'").affectedRows == 1)
            #expect(try await db.query("DELETE FROM lists WHERE slug = 'letters'").affectedRows == 1)
            #expect(try await count("SELECT count(*) FROM issues", on: db) == 0, "the list's other issue went with it")
            // A list's and an issue's events stay, with the dangling id.
            #expect(try await count("SELECT count(*) FROM events WHERE kind = 'sent' AND issue_id IS NOT NULL", on: db) == 1)

            #expect(try await db.query("DELETE FROM subscribers WHERE email_key = 'dave@example.com'").affectedRows == 1)
            let naming = """
                SELECT count(*) FROM events
                WHERE subscriber_id = \(dave) OR lower(email_key) = 'dave@example.com' OR lower(detail::text) LIKE '%dave@example.com%'
                """
            #expect(try await count(naming, on: db) == 0)
            #expect(try await count("SELECT count(*) FROM events WHERE kind = 'imported'", on: db) == 2, "other events stay")
            #expect(try await count("SELECT count(*) FROM subscriptions", on: db) == 1)

            #expect(try await db.query("DELETE FROM lists WHERE slug = 'main'").affectedRows == 1)
            #expect(try await count("SELECT count(*) FROM subscriptions", on: db) == 0)

            // Append-only still: no event's content can be changed.
            let error = await #expect(throws: PostgresError.self) {
                try await db.query("UPDATE events SET detail = '{}'::jsonb")
            }
            #expect(error?.message.contains("append-only") == true)
            await #expect(throws: PostgresError.self) {
                try await db.query("UPDATE events SET list_id = NULL WHERE kind = 'imported'")
            }
        }
    }

    @Test("Deleting many subscribers at once deletes exactly their events")
    func bulkDelete() async throws {
        try await ImportHarness.with { harness in
            var text = "email,unsubscribed\n"
            for index in 0..<500 { text += "p\(index)@example.com,\(index % 2 == 0 ? "true" : "false")\n" }
            try await harness.run(url: try writeTemporaryFile(Array(text.utf8)))
            let db = harness.connection
            #expect(try await count("SELECT count(*) FROM events WHERE kind = 'unsubscribed'", on: db) == 250)
            try await db.query("DELETE FROM subscribers WHERE email_key < 'p3'")
            let left = try await count("SELECT count(*) FROM subscribers", on: db)
            #expect(try await count("SELECT count(*) FROM events WHERE kind = 'unsubscribed'", on: db)
                == (try await count("SELECT count(*) FROM subscribers s JOIN subscriptions sub ON sub.subscriber_id = s.id WHERE sub.status = 'unsubscribed'", on: db)))
            #expect(left < 500)
            #expect(try await count("SELECT count(*) FROM events e WHERE e.subscriber_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM subscribers s WHERE s.id = e.subscriber_id)", on: db) == 0)
        }
    }

    @Test("SQL's listctl_stops_mail agrees with SubscriptionStatus.doNotMail")
    func statusNames() async throws {
        try await ImportHarness.with { harness in
            for status in SubscriptionStatus.allCases {
                let stops: Bool = try await harness.connection.query("SELECT listctl_stops_mail($1)", status.rawValue)[0].decode(at: 0)
                #expect(stops == status.stopsMail, "\(status)")
            }
            // And the schema allows exactly these statuses.
            let check: String = try await harness.connection.query(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'subscriptions_status_check'")[0].decode(at: 0)
            for status in SubscriptionStatus.allCases { #expect(check.contains("'\(status.rawValue)'")) }
        }
    }
}

func count(_ sql: String, on connection: PostgresConnection) async throws -> Int {
    try await connection.query(sql)[0].decode(at: 0)
}
