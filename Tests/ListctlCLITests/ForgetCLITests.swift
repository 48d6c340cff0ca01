import Foundation
import Postgres
import TestSupport
import Testing

/// `listctl subscribers forget EMAIL` (docs/SUPPRESSION.md "Erasure") with the
/// real binary against a real database: what goes, what stays (an issue's
/// counts, a keyed hash), and who checks the hash afterwards (imports of
/// every format, `subscribers add`).
@Suite("Forget: erasure of a person, a keyed hash kept")
struct ForgetCLITests {
    typealias Fixture = DeliveryCLITests.Fixture

    /// 43 characters, many distinct: the forget keys of these tests.
    static let key = "Fk2Lm9Qx4Rt7Vb1Nc6Hd3Jg8Ks5Pw0ZeYaUoXiTqWuE"
    static let newKey = "Nw5Kq8Zr2Xt6Vm9Lb3Hc7Jd1Gs4Pf0AeYoUiTkWxRqC"
    static let fixtures = JSONOutputCLITests.fixtures

    static func withFixture<T>(isolation: isolated (any Actor)? = #isolation, _ body: (Fixture) async throws -> T) async throws -> T {
        try await DeliveryCLITests.withFixture(environment: ["LISTCTL_FORGET_KEY": key], body)
    }

    static func json(_ result: CLI.Result) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
    }

    /// Every (table.column) of the public schema whose text holds `needle`,
    /// ignoring case: every text, varchar, jsonb, json and array column of every table.
    static func mentions(_ fixture: Fixture, _ needle: String) async throws -> [String] {
        try await withConnection(to: fixture.database) { connection in
            let columns = try await connection.query("""
                SELECT format('SELECT count(*) FROM %I WHERE strpos(lower(%I::text), lower($1)) > 0', c.table_name, c.column_name),
                       c.table_name || '.' || c.column_name
                FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
                WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
                  AND c.data_type IN ('text', 'character varying', 'character', 'jsonb', 'json', 'ARRAY', 'USER-DEFINED')
                ORDER BY 2
                """)
            #expect(columns.count > 20, "the query found the columns: \(columns.count)")
            var found: [String] = []
            for column in columns {
                let n: Int = try await connection.query(try column.decode(String.self, at: 0), needle)[0].decode(at: 0)
                if n > 0 { found.append("\(try column.decode(String.self, at: 1)) (\(n))") }
            }
            return found
        }
    }

    /// `pg_dump --data-only` of the test database, lower-cased: every row of every table, whatever its type.
    static func dump(_ fixture: Fixture) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["pg_dump", "--data-only", "--no-owner", "--dbname", fixture.database.url]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "pg_dump failed")
        return String(decoding: data, as: UTF8.self).lowercased()
    }

    static func rows(_ fixture: Fixture, _ sql: String) async throws -> Int {
        try await withConnection(to: fixture.database) { try await $0.query(sql)[0].decode(at: 0) }
    }

    /// Counts of every table a refused command must leave alone.
    static func tableCounts(_ fixture: Fixture) async throws -> [Int] {
        try await withConnection(to: fixture.database) { connection in
            let row = try await connection.query("""
                SELECT (SELECT count(*) FROM subscribers), (SELECT count(*) FROM subscriptions), (SELECT count(*) FROM events),
                       (SELECT count(*) FROM suppressions), (SELECT count(*) FROM deliveries), (SELECT count(*) FROM forgotten_addresses),
                       (SELECT count(*) FROM delivery_tallies), (SELECT count(*) FROM imports)
                """)[0]
            return try (0..<8).map { try row.decode(Int.self, at: $0) }
        }
    }

    static func statusCounts(_ fixture: Fixture, _ issue: Int) async throws -> [String: String] {
        let status = try await fixture.status(issue)
        var counts: [String: String] = [:]
        for key in ["recipients", "sent", "pending", "failed", "bounced", "skipped", "cancelled", "messagesSent", "state"] {
            counts[key] = "\(status[key] ?? "nil")"
        }
        return counts
    }

    @Test("forget a mailed, suppressed person: refused without --yes; then nothing anywhere holds the address (every column, pg_dump), the issue's status is unchanged, re-imports of every format leave them out and count them, subscribers add is refused, a second forget says so")
    func forgetThenReimport() async throws {
        try await Self.withFixture { fixture in
            let export = Self.fixtures.appendingPathComponent("tinyletter_subscribers.csv")
            #expect(try await fixture.run("migrate").status == 0)
            let imported = try await fixture.run("import", export.path, "--list", "monthly", "--json")
            #expect(imported.status == 0, "\(imported.stderr)")
            #expect(DeliveryCLITests.int(Self.json(imported)["inserted"]) == 5, "\(imported.stdout)")
            let (sent, status) = try await fixture.send(try fixture.shortIssue("one", subject: "One"), list: "monthly")
            #expect(sent.status == 0, "\(sent.stderr)")
            let issue = try #require(DeliveryCLITests.int(status?["issue"]))
            #expect(try fixture.accepted().contains { $0.rcpt.lowercased() == "ada@example.com" }, "Ada was mailed")
            #expect(try await fixture.run("suppressions", "add", "ada@example.com", "--detail", "asked by phone").status == 0)
            // A report that quotes her address without naming her in its columns (a forwarded complaint, say).
            try await withConnection(to: fixture.database) { connection in
                try await connection.query(#"INSERT INTO events (kind, detail) VALUES ('complained', '{"report": "from ADA@example.com"}')"#)
            }
            let statusBefore = try await Self.statusCounts(fixture, issue)
            #expect(statusBefore["recipients"] == "5" && statusBefore["sent"] == "5", "\(statusBefore)")
            let before = try await Self.mentions(fixture, "ada@example.com")
            #expect(before.contains { $0.hasPrefix("subscribers.email") } && before.contains { $0.hasPrefix("deliveries.email") }
                    && before.contains { $0.hasPrefix("suppressions.email_key") } && before.contains { $0.hasPrefix("events.") }, "\(before)")
            #expect(try Self.dump(fixture).contains("ada@example.com"))

            let counts = try await Self.tableCounts(fixture)
            let unconfirmed = try await fixture.run("subscribers", "forget", "Ada@EXAMPLE.com")
            #expect(unconfirmed.status != 0 && unconfirmed.stderr.contains("add --yes"), "\(unconfirmed.stderr)")
            #expect(try await Self.tableCounts(fixture) == counts, "nothing changed")

            let forgot = try await fixture.run("subscribers", "forget", "Ada@EXAMPLE.com", "--yes", "--json")
            #expect(forgot.status == 0, "\(forgot.stderr)")
            let outcome = Self.json(forgot)
            #expect(outcome["found"] as? Bool == true && outcome["alreadyForgotten"] as? Bool == false, "\(forgot.stdout)")
            #expect(outcome["lists"] as? [String] == ["monthly"] && DeliveryCLITests.int(outcome["subscriptions"]) == 1)
            #expect(DeliveryCLITests.int(outcome["deliveries"]) == 1 && outcome["suppression"] as? String == "manual", "\(forgot.stdout)")
            // The suppression's event and the report quoting her.
            #expect(DeliveryCLITests.int(outcome["events"]) == 2, "\(forgot.stdout)")
            #expect(!forgot.stdout.contains(Self.key) && !forgot.stderr.contains(Self.key), "the key is never printed")

            #expect(try await Self.mentions(fixture, "ada@example.com") == [], "no column holds the address")
            #expect(!(try Self.dump(fixture).contains("ada@example.com")), "pg_dump --data-only holds it nowhere")
            #expect(try await Self.rows(fixture, "SELECT count(*) FROM forgotten_addresses") == 1)
            #expect(try await Self.rows(fixture, "SELECT count(*) FROM suppressions") == 0)
            #expect(try await Self.statusCounts(fixture, issue) == statusBefore, "status counts unchanged")
            #expect(DeliveryCLITests.int(try await fixture.status(issue)["forgotten"]) == 1)
            #expect(try await fixture.recipients(issue, "sent").count == 4, "the sent list names the four others only")
            #expect(try await Self.mentions(fixture, "grace@navy.mil").count >= 2, "the others are untouched")

            // The same file, same list: already imported, nothing done.
            let again = try await fixture.run("import", export.path, "--list", "monthly", "--json")
            #expect(again.status == 0 && Self.json(again)["alreadyImported"] as? Bool == true, "\(again.stdout)")
            // The same file into another list: runs, leaves her out, counts her.
            let weekly = try await fixture.run("import", export.path, "--list", "weekly", "--json")
            #expect(weekly.status == 0, "\(weekly.stderr)")
            let summary = Self.json(weekly)
            #expect(DeliveryCLITests.int(summary["forgotten"]) == 1 && DeliveryCLITests.int(summary["inserted"]) == 4, "\(weekly.stdout)")
            #expect(DeliveryCLITests.int(summary["duplicates"]) == 0, "both of her rows (Ada@, ADA@) left out, none counted twice: \(weekly.stdout)")
            let text = try await fixture.run("import", export.path, "--list", "daily")
            #expect(text.stdout.contains("forgotten  1"), "\(text.stdout)")
            // Another format, another spelling: a generic CSV with a status column.
            let other = fixture.work.appendingPathComponent("other.csv")
            try "email,name,status\r\nada@Example.com,Ada L.,active\r\nnew@example.org,New,active\r\n".write(to: other, atomically: true, encoding: .utf8)
            let generic = try await fixture.run("import", other.path, "--list", "monthly", "--json")
            #expect(DeliveryCLITests.int(Self.json(generic)["forgotten"]) == 1 && DeliveryCLITests.int(Self.json(generic)["inserted"]) == 1,
                    "\(generic.stdout) \(generic.stderr)")
            #expect(try await Self.mentions(fixture, "ada@example.com") == [], "no import stored her")
            #expect(try await Self.rows(fixture, "SELECT coalesce(sum(forgotten), -1)::int FROM imports WHERE file_name LIKE '%/other.csv'") == 1, "imports.forgotten")

            try await SubscriberAdminCLITests.expectRefused(fixture, [
                (["subscribers", "add", "ADA@example.com", "--list", "monthly"], "ADA@example.com was forgotten"),
            ])
            let twice = try await fixture.run("subscribers", "forget", "ada@example.com", "--yes")
            #expect(twice.status == 0 && twice.stdout.contains("already forgotten"), "\(twice.stdout) \(twice.stderr)")
            #expect(try await Self.rows(fixture, "SELECT count(*) FROM forgotten_addresses") == 1, "one hash")
            try await SubscriberAdminCLITests.expectRefused(fixture, [
                (["subscribers", "show", "ada@example.com"], "ada@example.com was forgotten"),
                (["subscribers", "export-person", "ada@example.com"], "was forgotten"),
                (["suppressions", "add", "Ada@example.com"], "a suppression would store the address again; nothing changed"),
                (["subscribers", "unsubscribe", "ada@example.com", "--all"], "a suppression would store the address again"),
            ])
            #expect(try await Self.mentions(fixture, "ada@example.com") == [])
        }
    }

    @Test("counts stay: a compacted issue's sent and bounced deliveries of forgotten people, and a paused issue's pending one (counted as skipped); their compacted ids and bounced rows are gone")
    func countsAfterCompaction() async throws {
        try await DeliveryCLITests.withFixture(.init(rejectPrefix: "gone"), environment: ["LISTCTL_FORGET_KEY": Self.key]) { fixture in
            let people = DeliveryCLITests.people("kim", 3) + DeliveryCLITests.people("gone", 1)
            try await fixture.makeList("monthly", people)
            let (sent, status) = try await fixture.send(try fixture.shortIssue("one", subject: "One"), list: "monthly")
            #expect(sent.status == 0, "\(sent.stderr)")
            let issue = try #require(DeliveryCLITests.int(status?["issue"]))
            let compacted = try await fixture.run("db", "compact", String(issue), "--older-than", "0")
            #expect(compacted.status == 0, "\(compacted.stderr)")
            #expect(try await Self.rows(fixture, "SELECT count(*) FROM deliveries WHERE issue_id = \(issue)") == 1, "only the bounced row is left")
            let (second, secondStatus) = try await fixture.send(try fixture.shortIssue("two", subject: "Two"), list: "monthly")
            #expect(second.status == 0, "\(second.stderr)")
            let paused = try #require(DeliveryCLITests.int(secondStatus?["issue"]))
            // The second issue as if paused with kim2's delivery still to send (what `listctl pause` leaves mid-send).
            try await withConnection(to: fixture.database) { connection in
                try await connection.query("UPDATE issues SET state = 'paused', paused_reason = 'test' WHERE id = $1", paused)
                try await connection.query("""
                    UPDATE deliveries SET state = 'pending', next_part = 1, next_attempt_at = now() + interval '1 hour'
                    WHERE issue_id = $1 AND email = $2
                    """, paused, people[1].email)
            }
            let firstBefore = try await Self.statusCounts(fixture, issue)
            let pausedBefore = try await Self.statusCounts(fixture, paused)
            #expect(firstBefore["sent"] == "3" && firstBefore["bounced"] == "1" && firstBefore["recipients"] == "4", "\(firstBefore)")
            #expect(pausedBefore["pending"] == "1" && pausedBefore["sent"] == "2", "\(pausedBefore)")

            let kim = try await fixture.run("subscribers", "forget", people[1].email, "--yes", "--json")
            #expect(kim.status == 0, "\(kim.stderr)")
            #expect(DeliveryCLITests.int(Self.json(kim)["compactedDeliveries"]) == 1 && DeliveryCLITests.int(Self.json(kim)["deliveries"]) == 1,
                    "\(kim.stdout)")
            let gone = try await fixture.run("subscribers", "forget", people[3].email, "--yes", "--json")
            #expect(gone.status == 0 && Self.json(gone)["suppression"] as? String == "hard_bounce", "\(gone.stdout) \(gone.stderr)")
            #expect(DeliveryCLITests.int(Self.json(gone)["deliveries"]) == 1, "\(gone.stdout)")

            #expect(try await Self.statusCounts(fixture, issue) == firstBefore, "the compacted issue's counts")
            var expected = pausedBefore
            expected["pending"] = "0"
            expected["skipped"] = "1"
            #expect(try await Self.statusCounts(fixture, paused) == expected, "the paused issue: the pending delivery is now skipped")
            #expect(try await fixture.recipients(issue, "sent").compactMap { $0["email"] as? String } == [people[0].email, people[2].email])
            #expect(try await fixture.recipients(issue, "bounced").isEmpty)
            #expect(try await Self.rows(fixture, "SELECT sum(cardinality(subscriber_ids))::int FROM delivery_summaries") == 2)
            #expect(try await Self.mentions(fixture, people[1].email) == [])
            #expect(try await Self.mentions(fixture, people[3].email) == [], "the bounce's error text and suppression went too")
            #expect(try await Self.mentions(fixture, people[0].email).contains { $0.hasPrefix("subscribers.email") })
            let text = try await fixture.run("status", String(issue))
            #expect(text.stdout.contains("of these, 2 to people forgotten since"), "\(text.stdout)")
        }
    }

    @Test("bad addresses are refused with nothing changed; an address never stored is recorded and kept out of a later import (a Mailchimp zip too); without a key under an external DATABASE_URL forget, import and add are refused saying what to do; a rotated key keeps the old one's hashes only while the old key stays in the file")
    func refusalsAndKeys() async throws {
        try await Self.withFixture { fixture in
            try await fixture.makeList("monthly", DeliveryCLITests.people("lee", 2))
            let counts = try await Self.tableCounts(fixture)
            try await SubscriberAdminCLITests.expectRefused(fixture, [
                (["subscribers", "forget", "not an address", "--yes"], "not an address"),
                (["subscribers", "forget", "a@b@example.com", "--yes"], "a@b@example.com"),
                (["subscribers", "forget", "x@nodot", "--yes"], "nothing changed"),
            ])
            let noKey = try await fixture.run("subscribers", "forget", "lee1@example.net", "--yes", env: ["LISTCTL_FORGET_KEY": nil])
            #expect(noKey.status != 0, "\(noKey.stdout)")
            #expect(noKey.stderr.contains("no forget key is set, and DATABASE_URL names an external database"), "\(noKey.stderr)")
            #expect(noKey.stderr.contains("listctl secret generate > /etc/listctl/forget-key") && noKey.stderr.contains("LISTCTL_FORGET_KEY_FILE"),
                    "\(noKey.stderr)")
            #expect(!FileManager.default.fileExists(atPath: fixture.work.appendingPathComponent("forget-key").path), "no key made up")
            let weak = try await fixture.run("subscribers", "forget", "lee1@example.net", "--yes", env: ["LISTCTL_FORGET_KEY": "changeme"])
            #expect(weak.status != 0 && weak.stderr.contains("the forget key is too short") && !weak.stderr.contains("changeme"), "\(weak.stderr)")
            #expect(try await Self.tableCounts(fixture) == counts, "nothing changed by any refusal")

            // Never stored: recorded, and the answer says so.
            let stranger = try await fixture.run("subscribers", "forget", "erin@example.com", "--yes", "--json")
            #expect(stranger.status == 0, "\(stranger.stderr)")
            #expect(Self.json(stranger)["found"] as? Bool == false && DeliveryCLITests.int(Self.json(stranger)["events"]) == 0, "\(stranger.stdout)")
            let strangerText = try await fixture.run("subscribers", "forget", "frank@example.com", "--yes")
            #expect(strangerText.stdout.contains("nothing was stored about frank@example.com; recorded it as forgotten"), "\(strangerText.stdout)")
            // The Mailchimp audience zip holds both of them (subscribed file): each entry's import leaves them out.
            let zip = try await fixture.run("import", Self.fixtures.appendingPathComponent("mailchimp_audience.zip").path, "--list", "zipped", "--json")
            #expect(zip.status == 0, "\(zip.stderr)")
            #expect(DeliveryCLITests.int(Self.json(zip)["forgotten"]) == 2, "\(zip.stdout)")
            #expect(try await Self.mentions(fixture, "erin@example.com") == [])
            #expect(try await Self.mentions(fixture, "frank@example.com") == [])

            // Someone is forgotten now: with no key, nobody can tell who, so import and add refuse.
            let csv = fixture.work.appendingPathComponent("more.csv")
            try "Email\r\nerin@example.com\r\nmore@example.org\r\n".write(to: csv, atomically: true, encoding: .utf8)
            let before = try await Self.tableCounts(fixture)
            try await Self.expectRefused(fixture, env: ["LISTCTL_FORGET_KEY": nil], [
                (["import", csv.path, "--list", "monthly"], "2 people were forgotten, and no forget key is set"),
                (["subscribers", "add", "more@example.org", "--list", "monthly"], "no forget key is set"),
            ])
            #expect(try await Self.tableCounts(fixture) == before, "nothing imported or added")

            // Rotation: a new key first, the old one kept below it, still recognises them.
            let keyFile = fixture.work.appendingPathComponent("forget-keys")
            try "# current\n\(Self.newKey)\n# before\n\(Self.key)\n".write(to: keyFile, atomically: true, encoding: .utf8)
            let rotated = try await fixture.run("import", csv.path, "--list", "monthly", "--json",
                                                env: ["LISTCTL_FORGET_KEY": nil, "LISTCTL_FORGET_KEY_FILE": keyFile.path])
            #expect(rotated.status == 0 && DeliveryCLITests.int(Self.json(rotated)["forgotten"]) == 1, "\(rotated.stdout) \(rotated.stderr)")
            // Forgetting again under the new key adds its hash, so the old key can go.
            _ = try await fixture.run("subscribers", "forget", "erin@example.com", "--yes", env: ["LISTCTL_FORGET_KEY": Self.newKey])
            let onlyNew = fixture.work.appendingPathComponent("only-new.csv")
            try "Email\r\nERIN@example.com\r\nfrank@example.com\r\n".write(to: onlyNew, atomically: true, encoding: .utf8)
            let newOnly = try await fixture.run("import", onlyNew.path, "--list", "monthly", "--json", env: ["LISTCTL_FORGET_KEY": Self.newKey])
            #expect(newOnly.status == 0, "\(newOnly.stderr)")
            // Erin was re-hashed under the new key; Frank only under the old one, which is gone: he is imported (as documented).
            #expect(DeliveryCLITests.int(Self.json(newOnly)["forgotten"]) == 1 && DeliveryCLITests.int(Self.json(newOnly)["inserted"]) == 1,
                    "\(newOnly.stdout)")
            #expect(try await Self.mentions(fixture, "erin@example.com") == [])
            #expect(try await Self.mentions(fixture, "frank@example.com").contains { $0.hasPrefix("subscribers.email") })
        }
    }

    static func expectRefused(_ fixture: Fixture, env: [String: String?], _ cases: [([String], String)]) async throws {
        for (arguments, expected) in cases {
            let refused = try await fixture.cli(env).run(arguments)
            #expect(refused.status != 0, "\(arguments)")
            #expect(refused.stderr.contains(expected), "\(arguments): \(refused.stderr)")
        }
    }
}
