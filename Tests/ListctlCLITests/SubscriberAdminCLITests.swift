import Foundation
import Postgres
import TestSupport
import Testing

/// `listctl suppressions list|add|remove` and `listctl subscribers
/// show|unsubscribe`, against a real database, with sends into an outbox to
/// see who is mailed afterwards.
@Suite("Subscriber admin: suppressions, unsubscribe by address, show")
struct SubscriberAdminCLITests {
    typealias Fixture = DeliveryCLITests.Fixture

    static func json(_ result: CLI.Result) -> Any? { try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) }

    /// Each command exits non-zero with `expected` in its error output.
    static func expectRefused(_ fixture: Fixture, _ cases: [([String], String)]) async throws {
        for (arguments, expected) in cases {
            let refused = try await fixture.cli().run(arguments)
            #expect(refused.status != 0, "\(arguments)")
            #expect(refused.stderr.contains(expected), "\(arguments): \(refused.stderr)")
        }
    }

    /// Who a send of a fresh one-part issue to `slug` mails.
    static func mailed(_ fixture: Fixture, _ slug: String, _ name: String) async throws -> Set<String> {
        Set(try await ServeCLITests.sendAndReadLinks(fixture, slug: slug, name: name).keys)
    }

    @Test("suppressions: bad address or reason refused with nothing stored; add stops mail on every list; again is a no-op; remove lifts it but resubscribes nobody; remove of an unknown address is an error")
    func suppressions() async throws {
        try await DeliveryCLITests.withFixture { fixture in
            let people = DeliveryCLITests.people("dee", 3)
            try await fixture.makeList("monthly", people)
            try await fixture.makeList("weekly", people)
            let emails = people.map(\.email).sorted()

            try await Self.expectRefused(fixture, [
                (["suppressions", "add", "not an address"], "not an address"),
                (["suppressions", "add", "a@b@example.com"], "a@b@example.com"),
                (["suppressions", "add", emails[0], "--reason", "because"], "--reason because"),
            ])
            let empty = try await fixture.run("suppressions", "list", "--json")
            #expect(empty.status == 0 && (Self.json(empty) as? [Any])?.isEmpty == true, "nothing stored: \(empty.stdout)")

            let added = try await fixture.run("suppressions", "add", emails[0].uppercased(), "--detail", "asked by phone")
            #expect(added.status == 0 && added.stdout.contains("suppressed"), "\(added.stderr)")
            let again = try await fixture.run("suppressions", "add", emails[0], "--reason", "complaint")
            #expect(again.status == 0 && again.stdout.contains("already suppressed"), "\(again.stdout)")
            let listed = try await fixture.run("suppressions", "--json")
            let entries = Self.json(listed) as? [[String: Any]] ?? []
            #expect(entries.count == 1 && entries.first?["email"] as? String == emails[0], "\(listed.stdout)")
            #expect(entries.first?["reason"] as? String == "manual" && entries.first?["detail"] as? String == "asked by phone", "the first add stands")

            #expect(try await Self.mailed(fixture, "monthly", "m1") == Set(emails.dropFirst()), "suppressed: not mailed on monthly")
            #expect(try await Self.mailed(fixture, "weekly", "w1") == Set(emails.dropFirst()), "nor on weekly")

            // A bounced subscription stays bounced when its address's suppression is lifted.
            try await withConnection(to: fixture.database) { connection in
                _ = try await connection.query("""
                    UPDATE subscriptions SET status = 'bounced' FROM subscribers sub, lists l
                    WHERE sub.id = subscriptions.subscriber_id AND l.id = subscriptions.list_id AND sub.email_key = $1 AND l.slug = 'weekly'
                    """, emails[0])
            }
            let removed = try await fixture.run("suppressions", "remove", emails[0])
            #expect(removed.status == 0 && removed.stdout.contains("was manual"), "\(removed.stdout) \(removed.stderr)")
            #expect(try await Self.mailed(fixture, "monthly", "m2") == Set(emails), "active on monthly: mailed again")
            #expect(try await Self.mailed(fixture, "weekly", "w2") == Set(emails.dropFirst()), "bounced on weekly: still not")
            let unknown = try await fixture.run("suppressions", "remove", emails[0])
            #expect(unknown.status != 0 && unknown.stderr.contains("is not suppressed"), "\(unknown.stderr)")

            let shown = try await fixture.run("subscribers", "show", emails[0], "--json")
            let events = (Self.json(shown) as? [String: Any])?["events"] as? [[String: Any]] ?? []
            let actions = events.filter { $0["kind"] as? String == "suppressed" }.compactMap { $0["detail"] as? String }
            #expect(actions.count == 2 && actions[0].contains("removed") && actions[1].contains("added"), "\(actions)")
        }
    }

    @Test("subscribers unsubscribe --list leaves that list only, again says so; --all suppresses and leaves every list; unknown list, unknown person, neither flag: errors, nothing changed; show tells it all")
    func unsubscribeByAddress() async throws {
        try await DeliveryCLITests.withFixture { fixture in
            let people = DeliveryCLITests.people("eli", 3)
            try await fixture.makeList("monthly", people)
            try await fixture.makeList("weekly", people)
            let emails = people.map(\.email).sorted()

            try await Self.expectRefused(fixture, [
                (["subscribers", "unsubscribe", emails[0]], "--list SLUG"),
                (["subscribers", "unsubscribe", emails[0], "--list", "monthly", "--all"], "--list SLUG"),
                (["subscribers", "unsubscribe", emails[0], "--list", "nope"], "no list named \"nope\""),
                (["subscribers", "unsubscribe", "nobody@example.net", "--list", "monthly"], "is not a subscriber"),
                (["subscribers", "show", "nobody@example.net"], "no subscriber nobody@example.net"),
            ])

            let one = try await fixture.run("subscribers", "unsubscribe", emails[0], "--list", "monthly")
            #expect(one.status == 0 && one.stdout.contains("unsubscribed"), "\(one.stderr)")
            let again = try await fixture.run("subscribers", "unsubscribe", emails[0], "--list", "monthly")
            #expect(again.status == 0 && again.stdout.contains("already unsubscribed"), "\(again.stdout)")
            #expect(try await Self.mailed(fixture, "monthly", "m1") == Set(emails.dropFirst()))
            #expect(try await Self.mailed(fixture, "weekly", "w1") == Set(emails), "still on weekly")

            let all = try await fixture.run("subscribers", "unsubscribe", emails[1], "--all")
            #expect(all.status == 0 && all.stdout.contains("unsubscribed from monthly, weekly"), "\(all.stdout) \(all.stderr)")
            #expect(try await Self.mailed(fixture, "monthly", "m2") == [emails[2]])
            #expect(try await Self.mailed(fixture, "weekly", "w2") == [emails[0], emails[2]])

            let shown = try await fixture.run("subscribers", "show", emails[1], "--json")
            let record = Self.json(shown) as? [String: Any] ?? [:]
            let statuses = (record["subscriptions"] as? [[String: Any]] ?? []).map { "\($0["list"] ?? "")=\($0["status"] ?? "")" }
            #expect(statuses == ["monthly=unsubscribed", "weekly=unsubscribed"], "\(shown.stdout)")
            #expect((record["suppression"] as? [String: Any])?["reason"] as? String == "unsubscribed")
            let kinds = (record["events"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
            #expect(kinds.filter { $0 == "unsubscribed" }.count == 2, "\(kinds)")
            let text = try await fixture.run("subscribers", "show", emails[0])
            #expect(text.status == 0 && text.stdout.contains("not suppressed") && text.stdout.contains("monthly"), "\(text.stdout)")
        }
    }

    @Test("lists delete: no --yes without a terminal, a scheduled issue, an unknown list: refused, nothing deleted; after cancel: the list, its subscriptions and issues go, subscribers, suppressions and events stay, the other list is untouched")
    func deleteList() async throws {
        try await DeliveryCLITests.withFixture { fixture in
            let people = DeliveryCLITests.people("fay", 3)
            try await fixture.makeList("monthly", people)
            try await fixture.makeList("weekly", people)
            _ = try await Self.mailed(fixture, "monthly", "sent-one")
            let (scheduled, status) = try await fixture.send(
                try fixture.shortIssue("later", subject: "Later"), list: "monthly", ["--at", DeliveryCLITests.at(3600).text])
            #expect(scheduled.status == 0, "\(scheduled.stderr)")
            let issue = try #require(DeliveryCLITests.int(status?["issue"]))
            _ = try await fixture.run("suppressions", "add", people[0].email)

            func counts() async throws -> [Int] {
                try await withConnection(to: fixture.database) { connection in
                    let row = try await connection.query("""
                        SELECT (SELECT count(*) FROM lists), (SELECT count(*) FROM subscriptions), (SELECT count(*) FROM issues),
                               (SELECT count(*) FROM subscribers), (SELECT count(*) FROM suppressions), (SELECT count(*) FROM events),
                               (SELECT count(*) FROM deliveries)
                        """)[0]
                    return try (0..<7).map { try row.decode(Int.self, at: $0) }
                }
            }
            let before = try await counts()
            let noTerminal = try await fixture.run("lists", "delete", "monthly")
            #expect(noTerminal.status != 0 && noTerminal.stderr.contains("add --yes"), "\(noTerminal.stderr)")
            let live = try await fixture.run("lists", "delete", "monthly", "--yes")
            #expect(live.status != 0 && live.stderr.contains("listctl cancel \(issue)"), "\(live.stderr)")
            let unknown = try await fixture.run("lists", "delete", "nope", "--yes")
            #expect(unknown.status != 0 && unknown.stderr.contains("no list named \"nope\""), "\(unknown.stderr)")
            #expect(try await counts() == before, "nothing deleted")

            #expect(try await fixture.run("cancel", String(issue)).status == 0)
            let deleted = try await fixture.run("lists", "delete", "monthly", "--yes", "--json")
            #expect(deleted.status == 0, "\(deleted.stderr)")
            let answer = (try? JSONSerialization.jsonObject(with: Data(deleted.stdout.utf8))) as? [String: Any] ?? [:]
            #expect(answer["subscriptions"] as? Int == 3 && answer["issues"] as? Int == 2, "\(deleted.stdout)")
            let after = try await counts()
            #expect(after[0] == before[0] - 1 && after[1] == before[1] - 3 && after[2] == before[2] - 2, "list, subscriptions, issues: \(before) → \(after)")
            #expect(after[3] == before[3] && after[4] == before[4] && after[5] == before[5], "subscribers, suppressions, events stay")
            #expect(after[6] == 0, "the ledger rows of its issues went with them")
            #expect(try await Self.mailed(fixture, "weekly", "w1") == Set(people.dropFirst().map(\.email)))
            let again = try await fixture.run("lists", "delete", "monthly", "--yes")
            #expect(again.status != 0, "\(again.stdout)")
        }
    }

    @Test("export-person: one JSON object with the subscriber, subscriptions, suppression, every event and each delivery (a compacted issue too); an unknown address is an error")
    func exportPerson() async throws {
        try await DeliveryCLITests.withFixture { fixture in
            let people = DeliveryCLITests.people("gus", 2)
            try await fixture.makeList("monthly", people)
            try await fixture.makeList("weekly", people)
            _ = try await Self.mailed(fixture, "monthly", "one")
            _ = try await Self.mailed(fixture, "weekly", "two")
            let compacted = try await fixture.run("db", "compact", "1", "--older-than", "0")
            #expect(compacted.status == 0, "\(compacted.stdout) \(compacted.stderr)")
            _ = try await fixture.run("subscribers", "unsubscribe", people[0].email, "--list", "weekly")

            let exported = try await fixture.run("subscribers", "export-person", people[0].email.uppercased())
            #expect(exported.status == 0, "\(exported.stderr)")
            let object = try #require((try? JSONSerialization.jsonObject(with: Data(exported.stdout.utf8))) as? [String: Any], "\(exported.stdout)")
            let subscriber = object["subscriber"] as? [String: Any] ?? [:]
            #expect(subscriber["email"] as? String == people[0].email)
            let statuses = (subscriber["subscriptions"] as? [[String: Any]] ?? []).map { "\($0["list"] ?? "")=\($0["status"] ?? "")" }
            #expect(statuses == ["monthly=active", "weekly=unsubscribed"], "\(statuses)")
            let kinds = (subscriber["events"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
            // Imports record an event only for addresses that stop mail, so the one event here is the unsubscribe.
            #expect(kinds == ["unsubscribed"], "\(kinds)")
            let deliveries = object["deliveries"] as? [[String: Any]] ?? []
            #expect(deliveries.map { "\($0["issue"] ?? "")/\($0["list"] ?? "")/\($0["state"] ?? "")/\($0["partsSent"] ?? "")" } == ["1/monthly/sent/1", "2/weekly/sent/1"],
                    "the compacted issue 1 is there too: \(deliveries)")
            #expect(!exported.stdout.contains(people[1].email), "nobody else's data")

            let unknown = try await fixture.run("subscribers", "export-person", "nobody@example.net")
            #expect(unknown.status != 0 && unknown.stderr.contains("no subscriber"), "\(unknown.stderr)")
        }
    }

    @Test("subscribers add: a new person is mailed; again is a no-op; a suppressed address, one who left, a bad address, an unknown list: refused, nothing changed")
    func addByOperator() async throws {
        try await DeliveryCLITests.withFixture { fixture in
            try await fixture.makeList("monthly", DeliveryCLITests.people("hal", 1) + [("left@example.net", "unsubscribed")])
            let added = try await fixture.run("subscribers", "add", "New.Person@Example.NET", "--list", "monthly", "--name", "New Person")
            #expect(added.status == 0 && added.stdout.contains("added"), "\(added.stderr)")
            let again = try await fixture.run("subscribers", "add", "new.person@example.net", "--list", "monthly")
            #expect(again.status == 0 && again.stdout.contains("already on monthly"), "\(again.stdout)")
            _ = try await fixture.run("suppressions", "add", "blocked@example.net", "--reason", "complaint")
            try await Self.expectRefused(fixture, [
                (["subscribers", "add", "blocked@example.net", "--list", "monthly"], "is suppressed on every list (complaint)"),
                (["subscribers", "add", "left@example.net", "--list", "monthly"], "is unsubscribed on monthly"),
                (["subscribers", "add", "not an address", "--list", "monthly"], "not an address"),
                (["subscribers", "add", "x@example.net", "--list", "nope"], "no list named \"nope\""),
                (["subscribers", "add", "x@example.net", "--list", "monthly", "--name", "Evil\r\nBcc: all"], "line break"),
            ])
            #expect(try await Self.mailed(fixture, "monthly", "m1") == ["hal1@example.net", "New.Person@example.net"],
                    "the new person (the local part as given, the domain lower-cased) and nobody refused")
            let shown = try await fixture.run("subscribers", "show", "new.person@example.net", "--json")
            let record = (try? JSONSerialization.jsonObject(with: Data(shown.stdout.utf8))) as? [String: Any] ?? [:]
            #expect(record["name"] as? String == "New Person")
            #expect(((record["events"] as? [[String: Any]]) ?? []).compactMap { $0["kind"] as? String } == ["subscribed"])
            let x = try await fixture.run("subscribers", "show", "x@example.net")
            #expect(x.status != 0, "refused adds stored nobody: \(x.stdout)")
        }
    }
}
