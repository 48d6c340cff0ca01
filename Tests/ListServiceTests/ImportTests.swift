import Foundation
import ListService
import Logging
import Migrations
import Postgres
import TestSupport
import Testing

/// A migrated test database with one connection for importing and inspecting.
struct ImportHarness {
    let test: TestDatabase
    let database: ListDatabase
    let connection: PostgresConnection
    let importer: SubscriberImporter

    static func make() async throws -> ImportHarness {
        let test = try await TestDatabase.make()
        let connection = try await test.connect()
        try await Migrator().migrate(on: connection)
        let database = ListDatabase(
            pool: PostgresPool(connectionString: test.url, maximumConnections: 2), connectionString: test.url, isEmbedded: false,
            logger: Logger(label: "test"))
        return ImportHarness(test: test, database: database, connection: connection, importer: SubscriberImporter(database: database))
    }

    func close() async {
        await connection.close()
        await database.close()
        await test.drop()
    }

    /// A harness for `body`, closed and dropped (awaited) however `body` ends.
    static func with<T>(isolation: isolated (any Actor)? = #isolation, _ body: (ImportHarness) async throws -> T) async throws -> T {
        let harness = try await make()
        do {
            let value = try await body(harness)
            await harness.close()
            return value
        } catch {
            await harness.close()
            throw error
        }
    }

    @discardableResult
    func run(_ name: String, _ options: ImportOptions = ImportOptions()) async throws -> ImportSummary {
        try await importer.importFile(at: importFixture(name), options: options, on: connection)
    }

    @discardableResult
    func run(url: URL, _ options: ImportOptions = ImportOptions()) async throws -> ImportSummary {
        try await importer.importFile(at: url, options: options, on: connection)
    }

    /// email → status on `list`.
    func statuses(list: String = "main") async throws -> [String: String] {
        let rows = try await connection.query(
            """
            SELECT s.email, sub.status FROM subscriptions sub
            JOIN subscribers s ON s.id = sub.subscriber_id JOIN lists l ON l.id = sub.list_id
            WHERE l.slug = $1
            """, list)
        return Dictionary(uniqueKeysWithValues: try rows.map { (try $0.decode(String.self, at: 0), try $0.decode(String.self, at: 1)) })
    }

    func suppressed() async throws -> Set<String> {
        Set(try await connection.query("SELECT email_key FROM suppressions").map { try $0.decode(String.self, at: 0) })
    }

    /// Every row of every table an import touches, as text: equal snapshots mean an unchanged database.
    func snapshot() async throws -> [String] {
        var lines: [String] = []
        for table in ["lists", "subscribers", "subscriptions", "suppressions", "imports", "issues", "events"] {
            let rows = try await connection.query("SELECT t::text FROM \(table) t ORDER BY 1")
            lines += try rows.map { "\(table): " + (try $0.decode(String.self, at: 0)) }
        }
        return lines
    }
}

@Suite("Import")
struct ImportTests {
    @Test("TinyLetter subscribers: BOM, CRLF, duplicates merged, IDN, names, created times, notes kept")
    func tinyletter() async throws {
        try await ImportHarness.with { harness in
            let summary = try await harness.run("tinyletter_subscribers.csv")
            #expect(summary.format == .tinyletter)
            #expect(summary.rows == 6)
            #expect(summary.inserted == 5)
            #expect(summary.duplicates == 1)
            #expect(summary.suppressed == 0)
            #expect(try await harness.statuses() == [
                "ADA@example.com": "active", "grace@navy.mil": "active", "bob@example.org": "active",
                "jose@xn--bcher-kva.de": "active", "robert@example.net": "active",
            ])
            let ada = try await harness.connection.query(
                "SELECT name, created_at::text, attributes::text FROM subscribers WHERE email_key = 'ada@example.com'")[0]
            #expect(try ada.decode(String.self, at: 0) == "Ada Lovelace")
            #expect(try ada.decode(String.self, at: 1) == "2013-01-01 00:00:00+00", "the earliest created time of the duplicates")
            #expect(try ada.decode(String.self, at: 2) == #"{"Notes": "repeat"}"#)
            let jose = try await harness.connection.query("SELECT name FROM subscribers WHERE email = 'jose@xn--bcher-kva.de'")[0]
            #expect(try jose.decode(String.self, at: 0) == "José Müller")
        }
    }

    @Test("'); DROP TABLE is stored verbatim")
    func injection() async throws {
        try await ImportHarness.with { harness in
            try await harness.run("tinyletter_subscribers.csv")
            let row = try await harness.connection.query(
                "SELECT name, attributes->>'Notes' FROM subscribers WHERE email = 'robert@example.net'")[0]
            #expect(try row.decode(String.self, at: 0) == "Robert'); DROP TABLE subscribers;--")
            #expect(try row.decode(String.self, at: 1) == "'); DROP TABLE events;--")
            #expect(try await harness.connection.query("SELECT count(*) FROM events")[0].decode(Int.self, at: 0) >= 1)
        }
    }

    @Test("TinyLetter variant headers: E-mail, first/last name, subscribed_at, unsubscribed")
    func tinyletterVariant() async throws {
        try await ImportHarness.with { harness in
            let summary = try await harness.run("tinyletter_variant.csv")
            #expect(summary.suppressed == 1)
            #expect(try await harness.statuses() == ["carol@example.com": "active", "dave@example.com": "unsubscribed"])
            #expect(try await harness.suppressed().isEmpty, "an unsubscribe in an export is of its list only")
            let carol = try await harness.connection.query("SELECT name, created_at::text FROM subscribers WHERE email = 'carol@example.com'")[0]
            #expect(try carol.decode(String.self, at: 0) == "Carol King")
            #expect(try carol.decode(String.self, at: 1) == "2015-07-08 09:10:11+00")
        }
    }

    @Test("Mailchimp: subscribed active, unsubscribed (this list), cleaned bounced and suppressed; unknown columns kept")
    func mailchimp() async throws {
        try await ImportHarness.with { harness in
            for file in ["subscribed_members_export_1a2b3c.csv", "unsubscribed_members_export_1a2b3c.csv", "cleaned_members_export_1a2b3c.csv"] {
                #expect(try await harness.run(file).format == .mailchimp)
            }
            #expect(try await harness.statuses() == [
                "erin@example.com": "active", "frank@example.com": "active", "gina@example.com": "unsubscribed",
                "ada@example.com": "unsubscribed", "hank@example.com": "bounced",
            ])
            let reasons = try await harness.connection.query("SELECT email_key, reason FROM suppressions ORDER BY 1")
                .map { "\(try $0.decode(String.self, at: 0))=\(try $0.decode(String.self, at: 1))" }
            #expect(reasons == ["hank@example.com=hard_bounce"], "only the cleaned (bounced) address is suppressed everywhere")
            let erin = try await harness.connection.query("SELECT name, attributes->>'TAGS', attributes->>'LEID' FROM subscribers WHERE email = 'erin@example.com'")[0]
            #expect(try erin.decode(String.self, at: 0) == "Erin Smith")
            #expect(try erin.decode(String.self, at: 1) == "news,friends")
            #expect(try erin.decode(String.self, at: 2) == "11")
        }
    }

    @Test("A Mailchimp audience zip imports its three files; again is a no-op; a bad row anywhere refuses it all")
    func mailchimpZip() async throws {
        try await ImportHarness.with { harness in
            let summary = try await harness.run("mailchimp_audience.zip")
            #expect(summary.format == .mailchimp)
            #expect(summary.inserted == 5 && summary.suppressed == 3 && summary.rows == 5)
            #expect(try await harness.statuses() == [
                "erin@example.com": "active", "frank@example.com": "active", "gina@example.com": "unsubscribed",
                "ada@example.com": "unsubscribed", "hank@example.com": "bounced",
            ])
            #expect(try await harness.run("mailchimp_audience.zip").alreadyImported)
            let before = try await harness.snapshot()
            let error = await #expect(throws: ImportError.self) { try await harness.run("mailchimp_audience_bad.zip", ImportOptions(list: "other")) }
            #expect(error.map { "\($0)" }?.contains("mailchimp_audience_bad.zip/cleaned_members_export_1a2b3c.csv:3:") == true)
            #expect(try await harness.snapshot() == before, "not even the subscribed file of the bad zip was imported")
        }
    }

    @Test("Substack: email_disabled unsubscribes, deletion requests skipped")
    func substack() async throws {
        try await ImportHarness.with { harness in
            let summary = try await harness.run("email_list.my-letter.csv")
            #expect(summary.format == .substack)
            #expect(summary.skipped == 1)
            #expect(try await harness.statuses() == ["ivy@example.com": "active", "jack@example.com": "unsubscribed"])
            #expect(try await harness.suppressed().isEmpty)
        }
    }

    @Test("Buttondown, Ghost, listmonk and a generic CSV with --map")
    func otherFormats() async throws {
        try await ImportHarness.with { harness in
            #expect(try await harness.run("buttondown_subscribers.csv", ImportOptions(list: "bd")).format == .buttondown)
            #expect(try await harness.statuses(list: "bd") == [
                "kim@example.com": "active", "lee@example.com": "unsubscribed", "max@example.com": "pending",
            ])
            #expect(try await harness.run("ghost_members.csv", ImportOptions(list: "ghost")).format == .ghost)
            #expect(try await harness.statuses(list: "ghost") == ["nina@example.com": "active", "otto@example.com": "unsubscribed"])
            #expect(try await harness.run("listmonk_subscribers.csv", ImportOptions(list: "lm")).format == .listmonk)
            let pia = try await harness.connection.query("SELECT attributes::text FROM subscribers WHERE email = 'pia@example.com'")[0]
            #expect(try pia.decode(String.self, at: 0) == #"{"city": "Bergen", "projects": 3}"#)

            await #expect(throws: ImportError.self) { try await harness.run("generic_export.csv", ImportOptions(list: "gen")) }
            let map = try ImportOptions.parseColumnMap("email=Courriel,name=Nom,created_at=Inscrit le")
            let summary = try await harness.run("generic_export.csv", ImportOptions(list: "gen", columnMap: map))
            #expect(summary.format == .generic)
            let rene = try await harness.connection.query("SELECT name, created_at::date::text, attributes::text FROM subscribers WHERE email = 'rene@example.fr'")[0]
            #expect(try rene.decode(String.self, at: 0) == "René")
            #expect(try rene.decode(String.self, at: 1) == "2019-09-09")
            #expect(try rene.decode(String.self, at: 2) == #"{"Ville": "Lyon"}"#)
        }
    }

    @Test("UTF-16 and Latin-1 files import")
    func encodings() async throws {
        try await ImportHarness.with { harness in
            try await harness.run("utf16le_bom.csv")
            try await harness.run("utf16be_bom.csv")
            try await harness.run("latin1.csv", ImportOptions(encoding: .latin1))
            let names = try await harness.connection.query("SELECT name FROM subscribers ORDER BY name").map { try $0.decode(String.self, at: 0) }
            #expect(names == ["François Lefèvre", "Sven Ångström", "Zoë 𝄞"])
        }
    }

    @Test("Re-importing the same file is a no-op")
    func reimport() async throws {
        try await ImportHarness.with { harness in
            try await harness.run("tinyletter_subscribers.csv")
            let before = try await harness.snapshot()
            let again = try await harness.run("tinyletter_subscribers.csv")
            #expect(again.alreadyImported)
            #expect(again.inserted == 0 && again.updated == 0)
            #expect(try await harness.snapshot() == before)
            // The same rows in another file: nothing new, all unchanged.
            let copy = try makeTemporaryDirectory("import").appendingPathComponent("copy.csv")
            var bytes = try Data(contentsOf: importFixture("tinyletter_subscribers.csv"))
            bytes.append(contentsOf: Array("\r\n".utf8))
            try bytes.write(to: copy)
            let second = try await harness.run(url: copy)
            #expect(!second.alreadyImported)
            #expect(second.inserted == 0 && second.updated == 0 && second.unchanged == 5)
        }
    }

    @Test("Unsubscribed stays unsubscribed, across formats and lists")
    func neverResubscribe() async throws {
        try await ImportHarness.with { harness in
            try await harness.run("unsubscribed_members_export_1a2b3c.csv")  // ada@example.com unsubscribed
            try await harness.run("cleaned_members_export_1a2b3c.csv")  // hank bounced
            // TinyLetter says Ada is an active subscriber: she stays unsubscribed.
            let summary = try await harness.run("tinyletter_subscribers.csv")
            #expect(try await harness.statuses()["ada@example.com"] == "unsubscribed", "the stored spelling is kept")
            #expect(summary.suppressed == 1)
            // A file that lists Hank and Gina as active, into another list: Hank's bounce is of his address and carries
            // over; Gina left the main list only, so she is on the other one.
            let url = try writeTemporaryFile(Array("email,name\nhank@example.com,Hank\nGina@Example.com,Gina\nnew@example.com,New\n".utf8))
            try await harness.run(url: url, ImportOptions(list: "other"))
            #expect(try await harness.statuses(list: "other") == [
                "hank@example.com": "bounced", "gina@example.com": "active", "new@example.com": "active",
            ])
            // And back in main, an active row never undoes a status.
            let again = try writeTemporaryFile(Array("email,status\nhank@example.com,active\ngina@example.com,subscribed\n".utf8))
            let summary2 = try await harness.run(url: again)
            #expect(summary2.updated == 0 && summary2.suppressed == 2)
            #expect(try await harness.statuses()["hank@example.com"] == "bounced")
        }
    }

    @Test("An active subscriber marked unsubscribed in a later export is unsubscribed from that list, not suppressed")
    func laterUnsubscribe() async throws {
        try await ImportHarness.with { harness in
            try await harness.run("tinyletter_subscribers.csv")
            let summary = try await harness.run("unsubscribed_members_export_1a2b3c.csv")
            #expect(summary.updated == 1 && summary.inserted == 1)
            #expect(try await harness.statuses()["ADA@example.com"] == "unsubscribed", "the last spelling in the file is kept")
            #expect(try await !harness.suppressed().contains("ada@example.com"))
            let events = try await harness.connection.query("SELECT kind FROM events WHERE email_key = 'ada@example.com'")
            #expect(events.count == 1)
        }
    }

    @Test("Malformed files are refused whole, with file:line, and the database is unchanged", arguments: [
        ("malformed_unterminated_quote.csv", "malformed_unterminated_quote.csv:3:"),
        ("malformed_ragged.csv", "malformed_ragged.csv:3:"),
        ("malformed_nul.csv", "malformed_nul.csv:2:"),
        ("malformed_empty.csv", "malformed_empty.csv:1:"),
        ("malformed_no_email_column.csv", "malformed_no_email_column.csv:1:"),
        ("malformed_invalid_utf8.csv", "malformed_invalid_utf8.csv:3:"),
        ("malformed_text_after_quote.csv", "malformed_text_after_quote.csv:2:"),
        ("invalid_rows.csv", "invalid_rows.csv:3:"),
    ])
    func malformed(file: String, location: String) async throws {
        try await ImportHarness.with { harness in
            try await harness.run("tinyletter_variant.csv")
            let before = try await harness.snapshot()
            let error = await #expect(throws: ImportError.self) { try await harness.run(file) }
            #expect(error.map { "\($0)" }?.contains(location) == true, "\(error.map { "\($0)" } ?? "")")
            #expect(try await harness.snapshot() == before)
        }
    }

    @Test("Every bad row is reported, first 20 and a count")
    func rowErrors() async throws {
        try await ImportHarness.with { harness in
            let error = await #expect(throws: ImportError.self) { try await harness.run("invalid_rows.csv") }
            #expect(error?.code == .invalidRows)
            #expect(error?.rowErrors.map(\.line) == [3, 4, 5, 6, 8])
            #expect(error?.rowErrors.last?.reason.contains("line break inside the name") == true)

            var text = "email\n"
            for index in 0..<30 { text += "bad\(index)-at-example.com\n" }
            let many = try writeTemporaryFile(Array(text.utf8))
            let lots = await #expect(throws: ImportError.self) { try await harness.run(url: many) }
            #expect(lots?.rowErrors.count == 20)
            #expect(lots?.rowErrorCount == 30)
            #expect(lots.map { "\($0)" }?.contains("and 10 more") == true)
            #expect(try await harness.connection.query("SELECT count(*) FROM subscribers")[0].decode(Int.self, at: 0) == 0)
        }
    }

    @Test("--skip-invalid imports the rest and writes a rejects file")
    func skipInvalid() async throws {
        try await ImportHarness.with { harness in
            let rejects = try makeTemporaryDirectory("import").appendingPathComponent("rejects.csv")
            let summary = try await harness.run("invalid_rows.csv", ImportOptions(skipInvalid: true, rejectsURL: rejects))
            #expect(summary.inserted == 1 && summary.rejected == 5)
            #expect(try await harness.statuses() == ["good@example.com": "active"])
            let rows = try readCSV(rejects)
            #expect(rows.count == 6)
            #expect(rows[0].fields == ["line", "reason", "Email", "Name"])
            #expect(rows[1].fields[0] == "3" && rows[1].fields[2] == "no-at-sign.example.com")
            #expect(rows[4].fields[2] == "line\nbreak@example.com", "the row is written as it was")
            let clean = try makeTemporaryDirectory("import").appendingPathComponent("none.csv")
            try await harness.run("tinyletter_variant.csv", ImportOptions(skipInvalid: true, rejectsURL: clean))
            #expect(!FileManager.default.fileExists(atPath: clean.path), "no rejects, no rejects file")
        }
    }

    @Test("--dry-run reports counts and writes nothing")
    func dryRun() async throws {
        try await ImportHarness.with { harness in
            let before = try await harness.snapshot()
            let summary = try await harness.run("tinyletter_subscribers.csv", ImportOptions(list: "new-list", dryRun: true))
            #expect(summary.dryRun && summary.inserted == 5)
            #expect(try await harness.snapshot() == before, "not even the list is created")
        }
    }

    @Test("TinyLetter letter archive: past issues, sent, original dates; twice is a no-op")
    func archive() async throws {
        try await ImportHarness.with { harness in
            let summary = try await harness.run("tinyletter_archive.csv", ImportOptions(list: "letters"))
            #expect(summary.format == .tinyletterArchive)
            #expect(summary.inserted == 2)
            let issues = try await IssueList(database: harness.database).issues(list: "letters")
            #expect(issues.map(\.subject) == ["Issue #2: Caf&eacute; notes", "Issue #1: Hello"])
            #expect(issues.allSatisfy { $0.state == "sent" && $0.sourceFormat == "html" })
            #expect(issues.last?.sentAt == Date(timeIntervalSince1970: 1_399_737_600))
            let source = try await harness.connection.query("SELECT source FROM issues WHERE subject = 'Issue #1: Hello'")[0]
            #expect(try source.decode(String.self, at: 0).contains("&quot;subscribing&quot;.</p>\r\n<p>"))
            let copy = try writeTemporaryFile(Array(try Data(contentsOf: importFixture("tinyletter_archive.csv"))) + Array("\n".utf8), name: "archive.csv")
            let again = try await harness.run(url: copy, ImportOptions(list: "letters"))
            #expect(again.inserted == 0 && again.unchanged == 2)
        }
    }

    @Test("--exclusive imports check the subscription keys in bulk and restore them exactly")
    func bulkKeys() async throws {
        try await ImportHarness.with { harness in
            let constraints = """
                SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
                WHERE conrelid = 'subscriptions'::regclass ORDER BY 1
                """
            let before = try await harness.connection.query(constraints).map { try $0.decode(String.self, at: 0) }
            var options = ImportOptions(exclusive: true)
            options.bulkKeyThreshold = 1
            let summary = try await harness.run("tinyletter_subscribers.csv", options)
            #expect(summary.inserted == 5)
            #expect(try await harness.connection.query(constraints).map { try $0.decode(String.self, at: 0) } == before)
            #expect(before.contains { $0.contains("FOREIGN KEY (subscriber_id) REFERENCES subscribers(id) ON DELETE CASCADE") })
            // The keys work: deleting a subscriber cascades to the subscription.
            try await harness.connection.query("DELETE FROM subscribers WHERE email = 'grace@navy.mil'")
            #expect(try await harness.statuses().count == 4)
        }
    }

    @Test("A subscriber already on another list gets the new name and attributes; a second import updates")
    func existingSubscriberOtherList() async throws {
        try await ImportHarness.with { harness in
            try await harness.run(url: try writeTemporaryFile(Array("email,name,city\nx@example.com,Old,Oslo\n".utf8)), ImportOptions(list: "a"))
            let summary = try await harness.run(url: try writeTemporaryFile(Array("email,name,zip\nX@example.com,New,0150\n".utf8)), ImportOptions(list: "b"))
            #expect(summary.inserted == 1 && summary.updated == 0)
            let row = try await harness.connection.query("SELECT email, name, attributes::text FROM subscribers")[0]
            #expect(try row.decode(String.self, at: 0) == "x@example.com")
            #expect(try row.decode(String.self, at: 1) == "New")
            #expect(try row.decode(String.self, at: 2) == #"{"zip": "0150", "city": "Oslo"}"#)
            let again = try await harness.run(url: try writeTemporaryFile(Array("email,name\nx@example.com,Newer\n".utf8)), ImportOptions(list: "b"))
            #expect(again.updated == 1 && again.inserted == 0)
            #expect(try await harness.connection.query("SELECT name FROM subscribers")[0].decode(String.self, at: 0) == "Newer")
        }
    }

    @Test("Two imports at once with the same addresses: one waits for the other, no duplicates")
    func concurrentImports() async throws {
        try await ImportHarness.with { harness in
            var text = "email,name\n"
            for index in 0..<2000 { text += "reader\(index)@example.com,Reader \(index)\n" }
            let first = try writeTemporaryFile(Array(text.utf8), name: "a.csv")
            let second = try writeTemporaryFile(Array((text + "extra@example.com,Extra\n").utf8), name: "b.csv")
            let other = try await harness.test.connect()
            async let a = harness.importer.importFile(at: first, options: ImportOptions(list: "one"), on: harness.connection)
            async let b = harness.importer.importFile(at: second, options: ImportOptions(list: "two"), on: other)
            let (one, two) = try await (a, b)
            await other.close()
            #expect(one.inserted == 2000 && two.inserted == 2001)
            #expect(try await harness.connection.query("SELECT count(*) FROM subscribers")[0].decode(Int.self, at: 0) == 2001)
        }
    }

    @Test("Per list or everywhere: an export's unsubscribes leave its list only; its bounces, complaints and block lists suppress the address on every list")
    func suppressionScope() async throws {
        try await ImportHarness.with { harness in
            // Everyone on list "two" first.
            let everyone = "email,status\numa@example.com,active\nvic@example.com,active\nwes@example.com,active\nxia@example.com,active\nyan@example.com,active\nzed@example.com,active\n"
            try await harness.run(url: try writeTemporaryFile(Array(everyone.utf8)), ImportOptions(list: "two"))
            // List "one"'s export: each way of leaving, as the services write them.
            let export = "email,status\numa@example.com,unsubscribed\nvic@example.com,removed\nwes@example.com,bounced\nxia@example.com,complained\nyan@example.com,blocklisted\nzed@example.com,active\n"
            let summary = try await harness.run(url: try writeTemporaryFile(Array(export.utf8)), ImportOptions(list: "one"))
            #expect(summary.suppressed == 5, "five not mailable on list one")
            #expect(try await harness.statuses(list: "one") == [
                "uma@example.com": "unsubscribed", "vic@example.com": "unsubscribed", "wes@example.com": "bounced",
                "xia@example.com": "complained", "yan@example.com": "unsubscribed", "zed@example.com": "active",
            ])
            let reasons = try await harness.connection.query("SELECT email_key, reason FROM suppressions ORDER BY 1")
                .map { "\(try $0.decode(String.self, at: 0))=\(try $0.decode(String.self, at: 1))" }
            #expect(reasons == ["wes@example.com=hard_bounce", "xia@example.com=complaint", "yan@example.com=imported"])
            // On list two the stored statuses are untouched; who can be mailed there is the active and unsuppressed.
            let mailable = try await harness.connection.query("""
                SELECT sub.email_key FROM subscriptions s JOIN subscribers sub ON sub.id = s.subscriber_id JOIN lists l ON l.id = s.list_id
                WHERE l.slug = 'two' AND s.status = 'active'
                  AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email_key = sub.email_key) ORDER BY 1
                """).map { try $0.decode(String.self, at: 0) }
            #expect(mailable == ["uma@example.com", "vic@example.com", "zed@example.com"])
            // A new list's import starts the suppressed addresses as their reason says, and Uma and Vic as the file says.
            let three = "email\numa@example.com\nwes@example.com\nxia@example.com\nyan@example.com\n"
            try await harness.run(url: try writeTemporaryFile(Array(three.utf8)), ImportOptions(list: "three"))
            #expect(try await harness.statuses(list: "three") == [
                "uma@example.com": "active", "wes@example.com": "bounced", "xia@example.com": "complained", "yan@example.com": "unsubscribed",
            ])
            // And list one's export again, now saying everyone is active: nobody there is resubscribed.
            let back = "email,status\numa@example.com,active\nvic@example.com,active\nwes@example.com,active\n"
            try await harness.run(url: try writeTemporaryFile(Array(back.utf8)), ImportOptions(list: "one"))
            let one = try await harness.statuses(list: "one")
            #expect(one["uma@example.com"] == "unsubscribed" && one["vic@example.com"] == "unsubscribed" && one["wes@example.com"] == "bounced")
        }
    }

    @Test("Export writes what is stored; the export imports back into another list unchanged")
    func exportRoundTrip() async throws {
        try await ImportHarness.with { harness in
            try await harness.run("tinyletter_subscribers.csv")
            try await harness.run("unsubscribed_members_export_1a2b3c.csv")
            let exporter = SubscriberExporter(database: harness.database)
            let collected = ExportCollector()
            try await exporter.export(list: "main", status: nil, pageSize: 2) { page in await collected.add(page) }
            let rows = await collected.rows
            #expect(rows.count == 6)
            #expect(Set(rows.map(\.email)) == Set(try await harness.statuses().keys))
            #expect(rows.first { $0.email == "gina@example.com" }?.suppressed == false, "unsubscribed from main, not suppressed")

            let unsubscribed = ExportCollector()
            try await exporter.export(list: "main", status: "unsubscribed") { page in await unsubscribed.add(page) }
            #expect(await unsubscribed.rows.map(\.email).sorted() == ["ADA@example.com", "gina@example.com"])
            await #expect(throws: ListServiceError.self) { try await exporter.export(list: "nope", status: nil) { _ in } }

            let url = try makeTemporaryDirectory("export").appendingPathComponent("export.csv")
            let text = CSVWriter.line(ExportedSubscriber.csvHeader) + rows.map { CSVWriter.line($0.csvFields) }.joined()
            try Data(text.utf8).write(to: url)
            // Into a fresh database: what comes back is what went out.
            try await ImportHarness.with { fresh in
                try await fresh.run(url: url, ImportOptions(list: "main"))
                #expect(try await fresh.statuses() == (try await harness.statuses()))
                #expect(try await fresh.suppressed() == (try await harness.suppressed()))
                let attributes = "SELECT email_key, attributes::text FROM subscribers ORDER BY 1"
                #expect(try await fresh.connection.query(attributes).map { try $0.decode(String.self, at: 1) }
                    == (try await harness.connection.query(attributes).map { try $0.decode(String.self, at: 1) }))
                // And into another list of the same database.
                try await harness.run(url: url, ImportOptions(list: "copy"))
                let original = try await harness.statuses()
                #expect(try await harness.statuses(list: "copy") == original)
                let json = rows.map(\.jsonObject).joined(separator: ",")
                #expect((try? JSONSerialization.jsonObject(with: Data("[\(json)]".utf8))) != nil, "--format json is valid JSON")
            }
        }
    }
}

actor ExportCollector {
    var rows: [ExportedSubscriber] = []
    func add(_ page: [ExportedSubscriber]) { rows += page }
}
