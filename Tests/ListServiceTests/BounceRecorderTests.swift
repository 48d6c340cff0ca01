import Foundation
@testable import ListService
import Logging
import Postgres
import TestSupport
import Testing

/// `BounceRecorder` against a real database: each way of tracing a report,
/// what it refuses, idempotency, the soft bounce limit, compacted issues.
@Suite("Bounce recorder")
struct BounceRecorderTests {
    static let secrets = try! TokenSecrets(["qT7vK2mXz9LpR4wYcN8bHd3Fj6Gs1AeUoVi5ZkWxCtB"])
    static let otherSecrets = try! TokenSecrets(["Zp3Wm8Qx1Lk6Rt9Vb2Nc5Hd7Fj4Gs0AeUoYiTkWxCqE"])

    /// Lists `main` and `other`; ann, bob and cat active on both; issues 1 and 2 of `main` sent to all three
    /// (ann's deliveries carry a provider message id), issue 3 of `main` too.
    struct World {
        let main: Int64, other: Int64
        let issues: [Int64]
        let people: [String: Int64]

        func messageID(issue: Int64, part: Int, subscriber: Int64, key: [UInt8]) -> String {
            "listctl.\(issue).\(part).\(IssueMessages.messageIDMAC(key: key, issue: issue, part: part, subscriber: subscriber))@example.org"
        }
    }

    static func world(on connection: PostgresConnection) async throws -> World {
        try await connection.execute(script: """
            INSERT INTO lists (slug, name, from_address) VALUES ('main', 'Main', 'news@example.org'), ('other', 'Other', 'news@example.org');
            INSERT INTO subscribers (email, email_key) VALUES ('Ann@example.net', 'ann@example.net'),
                ('bob@example.net', 'bob@example.net'), ('cat@example.net', 'cat@example.net');
            INSERT INTO subscriptions (list_id, subscriber_id, status) SELECT l.id, s.id, 'active' FROM lists l, subscribers s;
            INSERT INTO issues (list_id, subject, source, content_sha256, state, sent_at)
                SELECT id, 'Issue ' || g, '# ' || g, repeat(g::text, 64), 'sent', now() FROM lists, generate_series(1, 3) g
                WHERE slug = 'main';
            INSERT INTO deliveries (issue_id, subscriber_id, email, part_count, next_part, state, message_ids)
                SELECT i.id, s.id, s.email, 2, 3, 'sent',
                       CASE WHEN s.email_key = 'ann@example.net' THEN ARRAY['prov-' || i.id || '-1', 'prov-' || i.id || '-2'] ELSE '{}' END
                FROM issues i, subscribers s;
            """)
        let lists = try await connection.query("SELECT id FROM lists ORDER BY slug").map { try $0.decode(Int64.self, at: 0) }
        let issues = try await connection.query("SELECT id FROM issues ORDER BY id").map { try $0.decode(Int64.self, at: 0) }
        var people: [String: Int64] = [:]
        for row in try await connection.query("SELECT email_key, id FROM subscribers") {
            people[String(try row.decode(String.self, at: 0).prefix { $0 != "@" })] = try row.decode(at: 1)
        }
        return World(main: lists[0], other: lists[1], issues: issues, people: people)
    }

    static func key(_ issue: Int64, on connection: PostgresConnection) async throws -> [UInt8] {
        Array(try await connection.query("SELECT message_key FROM issues WHERE id = $1", issue)[0].decode(Data.self, at: 0))
    }

    static func recorder(_ database: ListDatabase, limit: Int = 5) -> BounceRecorder {
        BounceRecorder(database: database, secrets: secrets, softBounceLimit: limit, logger: Logger(label: "test"))
    }

    /// What a report can change: suppressions, subscription statuses, events, bounce reports.
    static func state(_ connection: PostgresConnection) async throws -> [String: String] {
        try await tableFingerprints(connection).filter { ["suppressions", "subscriptions", "events", "bounce_reports"].contains($0.key) }
    }

    static func status(_ connection: PostgresConnection, _ person: String, list: String) async throws -> String {
        try await connection.query("""
            SELECT s.status FROM subscriptions s JOIN subscribers sub ON sub.id = s.subscriber_id JOIN lists l ON l.id = s.list_id
            WHERE sub.email_key = $1 AND l.slug = $2
            """, "\(person)@example.net", list)[0].decode(at: 0)
    }

    static func suppression(_ connection: PostgresConnection, _ person: String) async throws -> String? {
        try await connection.query("SELECT reason FROM suppressions WHERE email_key = $1", "\(person)@example.net").first?.decode(at: 0)
    }

    static func events(_ connection: PostgresConnection, _ person: String) async throws -> [String] {
        try await connection.query(
            "SELECT kind || ':' || (detail->>'type') FROM events WHERE email_key = $1 ORDER BY id", "\(person)@example.net"
        ).map { try $0.decode(String.self, at: 0) }
    }

    // MARK: Tracing

    @Test("VERP token: a hard bounce suppresses the address, bounces that list's subscription only, one event; again: already recorded, nothing changes")
    func verpHardBounceIdempotent() async throws {
        try await withMigratedDatabase { database, connection in
            let world = try await Self.world(on: connection)
            let bob = world.people["bob"]!
            let token = SubscriberToken(purpose: .bounce, listID: world.main, subscriberID: bob, issueID: world.issues[0]).encode(with: Self.secrets)
            let notice = BounceNotice(kind: .hardBounce, source: "dsn", recipient: "bob@example.net", verpToken: token, detail: "5.1.1 user unknown")
            let outcome = try await Self.recorder(database).record(notice)
            guard case .suppressed(let match, let reason) = outcome else { Issue.record("\(outcome)"); return }
            #expect(reason == "hard_bounce" && match.tracedBy == .verp && match.email == "bob@example.net" && match.list == "main")
            #expect(match.issueID == world.issues[0] && match.subscriberID == bob && !match.compacted)
            #expect(try await Self.suppression(connection, "bob") == "hard_bounce")
            #expect(try await Self.status(connection, "bob", list: "main") == "bounced")
            #expect(try await Self.status(connection, "bob", list: "other") == "active", "other lists keep their status; the suppression stops them")
            #expect(try await Self.events(connection, "bob") == ["bounced:hard_bounce"])
            let detail: String = try await connection.query("SELECT detail::text FROM events WHERE kind = 'bounced'")[0].decode(at: 0)
            #expect(detail.contains("\"traced_by\": \"verp\"") && detail.contains("\"status_before\": \"active\"") && detail.contains("5.1.1"), "\(detail)")

            let before = try await Self.state(connection)
            let again = try await Self.recorder(database).record(notice)
            #expect(again == .alreadyRecorded(match))
            #expect(try await Self.state(connection) == before, "the same report twice changes nothing")
        }
    }

    @Test("a forged or foreign VERP token is refused and nothing changes; a genuine one of another purpose too")
    func verpRefused() async throws {
        try await withMigratedDatabase { database, connection in
            let world = try await Self.world(on: connection)
            let before = try await Self.state(connection)
            let bob = world.people["bob"]!
            let foreign = SubscriberToken(purpose: .bounce, listID: world.main, subscriberID: bob, issueID: world.issues[0])
                .encode(with: Self.otherSecrets)
            var forged = Array(SubscriberToken(purpose: .bounce, listID: world.main, subscriberID: bob, issueID: world.issues[0])
                .encode(with: Self.secrets))
            forged[forged.count - 3] = forged[forged.count - 3] == "A" ? "B" : "A"
            let unsubscribe = SubscriberToken(purpose: .unsubscribe, listID: world.main, subscriberID: bob, issueID: world.issues[0])
                .encode(with: Self.secrets)
            for (token, why) in [(foreign, "no longer has"), (String(forged), "not genuine"), (unsubscribe, "not a bounce link")] {
                let outcome = try await Self.recorder(database).record(
                    BounceNotice(kind: .hardBounce, source: "dsn", verpToken: token, detail: "5.1.1"))
                guard case .unknown(let reason) = outcome else { Issue.record("\(token): \(outcome)"); continue }
                #expect(reason.contains("VERP token refused") && reason.contains(why), "\(reason)")
            }
            #expect(try await Self.state(connection) == before)
        }
    }

    @Test("provider message id: found through the GIN index; another recipient than the delivery's is refused")
    func providerMessageID() async throws {
        try await withMigratedDatabase { database, connection in
            let world = try await Self.world(on: connection)
            let refused = try await Self.recorder(database).record(BounceNotice(
                kind: .complaint, source: "ses", recipient: "bob@example.net", providerMessageID: "prov-\(world.issues[1])-2", detail: "abuse"))
            guard case .unknown(let reason) = refused else { Issue.record("\(refused)"); return }
            #expect(reason.contains("another address"), "\(reason)")
            #expect(try await Self.suppression(connection, "ann") == nil)
            #expect(try await Self.suppression(connection, "bob") == nil)

            let missing = try await Self.recorder(database).record(BounceNotice(
                kind: .complaint, source: "ses", recipient: "ann@example.net", providerMessageID: "prov-999-1", detail: "abuse"))
            #expect(missing.label == "unknown")

            // The delivery's address keeps its case (Ann@): the report's lower-case recipient is the same address.
            let outcome = try await Self.recorder(database).record(BounceNotice(
                kind: .complaint, source: "ses", recipient: "ann@example.net", providerMessageID: "prov-\(world.issues[1])-2", detail: "abuse"))
            guard case .suppressed(let match, "complaint") = outcome else { Issue.record("\(outcome)"); return }
            #expect(match.tracedBy == .providerMessageID && match.issueID == world.issues[1] && match.email == "Ann@example.net")
            #expect(try await Self.suppression(connection, "ann") == "complaint")
            #expect(try await Self.status(connection, "ann", list: "main") == "complained")
            #expect(try await Self.events(connection, "ann") == ["complained:complaint"])
        }
    }

    @Test("Message-ID: its MAC checked for the recipient's subscriber or the trace's; another subscriber's Message-ID or a bad MAC is refused")
    func messageID() async throws {
        try await withMigratedDatabase { database, connection in
            let world = try await Self.world(on: connection)
            let issue = world.issues[2]
            let key = try await Self.key(issue, on: connection)
            let cat = world.people["cat"]!, bob = world.people["bob"]!
            let catsID = world.messageID(issue: issue, part: 2, subscriber: cat, key: key)
            let before = try await Self.state(connection)

            // cat's Message-ID in a report for bob: the MAC does not hold for bob.
            let wrong = try await Self.recorder(database).record(BounceNotice(
                kind: .hardBounce, source: "dsn", recipient: "bob@example.net", messageID: "<\(catsID)>", detail: "5.1.1"))
            guard case .unknown(let reason) = wrong else { Issue.record("\(wrong)"); return }
            #expect(reason.contains("not one listctl made for this recipient"), "\(reason)")
            // A MAC changed by one character.
            var bad = Array(catsID)
            let index = bad.firstIndex(of: "@")! - 1
            bad[index] = bad[index] == "A" ? "B" : "A"
            #expect(try await Self.recorder(database).record(BounceNotice(
                kind: .hardBounce, source: "dsn", recipient: "cat@example.net", messageID: String(bad), detail: "5.1.1")).label == "unknown")
            // No recipient and no trace: nobody to check the MAC against.
            #expect(try await Self.recorder(database).record(BounceNotice(
                kind: .hardBounce, source: "dsn", messageID: catsID, detail: "5.1.1")).label == "unknown")
            // Not a listctl Message-ID at all.
            #expect(try await Self.recorder(database).record(BounceNotice(
                kind: .hardBounce, source: "dsn", recipient: "cat@example.net", messageID: "<CAF=abc@mail.gmail.com>", detail: "5.1.1")).label == "unknown")
            #expect(try await Self.state(connection) == before)

            // Recipient given: found.
            let outcome = try await Self.recorder(database).record(BounceNotice(
                kind: .hardBounce, source: "dsn", recipient: "CAT@EXAMPLE.NET", messageID: "<\(catsID)>", detail: "5.1.1"))
            guard case .suppressed(let match, "hard_bounce") = outcome else { Issue.record("\(outcome)"); return }
            #expect(match.tracedBy == .messageID && match.part == 2 && match.subscriberID == cat)
            // No recipient, but the trace header names bob and the MAC holds for him: signed after all.
            let bobsID = world.messageID(issue: issue, part: 1, subscriber: bob, key: key)
            let traced = try await Self.recorder(database).record(BounceNotice(
                kind: .hardBounce, source: "arf", trace: "\(issue).\(bob).1", messageID: bobsID, detail: "5.1.1"))
            guard case .suppressed(let bobMatch, _) = traced else { Issue.record("\(traced)"); return }
            #expect(bobMatch.tracedBy == .messageID && bobMatch.subscriberID == bob)
        }
    }

    @Test("X-Listctl-Trace (unsigned): taken when the delivery went to the report's recipient, refused for another address or none")
    func traceHeader() async throws {
        try await withMigratedDatabase { database, connection in
            let world = try await Self.world(on: connection)
            let bob = world.people["bob"]!, issue = world.issues[0]
            let before = try await Self.state(connection)
            let mismatch = try await Self.recorder(database).record(BounceNotice(
                kind: .hardBounce, source: "dsn", recipient: "cat@example.net", trace: "\(issue).\(bob).1", detail: "5.1.1"))
            guard case .unknown(let reason) = mismatch else { Issue.record("\(mismatch)"); return }
            #expect(reason.contains("another address") && reason.contains("refused"), "\(reason)")
            let none = try await Self.recorder(database).record(BounceNotice(
                kind: .hardBounce, source: "dsn", trace: "\(issue).\(bob).1", detail: "5.1.1"))
            #expect(none.label == "unknown")
            let nonsense = try await Self.recorder(database).record(BounceNotice(
                kind: .hardBounce, source: "dsn", recipient: "bob@example.net", trace: "\(issue).\(bob)", detail: "5.1.1"))
            guard case .unknown(let why) = nonsense else { Issue.record("\(nonsense)"); return }
            #expect(why.contains("issue.subscriber.part"), "\(why)")
            let noDelivery = try await Self.recorder(database).record(BounceNotice(
                kind: .hardBounce, source: "dsn", recipient: "bob@example.net", trace: "999.\(bob).1", detail: "5.1.1"))
            #expect(noDelivery.label == "unknown")
            #expect(try await Self.state(connection) == before)

            let outcome = try await Self.recorder(database).record(BounceNotice(
                kind: .hardBounce, source: "dsn", recipient: "bob@example.net", trace: "\(issue).\(bob).1", detail: "5.1.1"))
            guard case .suppressed(let match, _) = outcome else { Issue.record("\(outcome)"); return }
            #expect(match.tracedBy == .trace && match.part == 1)
        }
    }

    @Test("a report with nothing to trace, or for an address never mailed: unknown, nothing changes")
    func untraceable() async throws {
        try await withMigratedDatabase { database, connection in
            _ = try await Self.world(on: connection)
            let before = try await Self.state(connection)
            let empty = try await Self.recorder(database).record(BounceNotice(kind: .hardBounce, source: "dsn", recipient: "zed@example.net", detail: "5.1.1"))
            guard case .unknown(let reason) = empty else { Issue.record("\(empty)"); return }
            #expect(reason.contains("no VERP token"), "\(reason)")
            let stranger = try await Self.recorder(database).record(BounceNotice(
                kind: .hardBounce, source: "dsn", recipient: "zed@example.net", messageID: "listctl.1.1.AAAAAAAAAAAAAAAAAAAAAA@example.org",
                detail: "5.1.1"))
            #expect(stranger.label == "unknown")
            #expect(try await Self.state(connection) == before)
        }
    }

    // MARK: Soft bounces

    @Test("soft bounces: counted once per issue (a second part or a resend counts nothing); the limit suppresses as soft_bounce_limit")
    func softBounceLimit() async throws {
        try await withMigratedDatabase { database, connection in
            let world = try await Self.world(on: connection)
            let cat = world.people["cat"]!
            func soft(_ issue: Int64, part: Int) -> BounceNotice {
                BounceNotice(kind: .softBounce, source: "dsn", recipient: "cat@example.net", trace: "\(issue).\(cat).\(part)", detail: "4.2.2 mailbox full")
            }
            let recorder = Self.recorder(database, limit: 2)
            let first = try await recorder.record(soft(world.issues[0], part: 1))
            guard case .counted(let match, soft: 1, limit: 2) = first else { Issue.record("\(first)"); return }
            let otherPart = try await recorder.record(soft(world.issues[0], part: 2))
            #expect(otherPart.label == "already-recorded" && otherPart.match?.issueID == match.issueID, "the same issue's other part: \(otherPart)")
            #expect(try await recorder.record(soft(world.issues[0], part: 1)) == .alreadyRecorded(match))
            #expect(try await Self.suppression(connection, "cat") == nil)
            #expect(try await Self.status(connection, "cat", list: "main") == "active")

            let second = try await recorder.record(soft(world.issues[1], part: 1))
            guard case .suppressed(_, "soft_bounce_limit") = second else { Issue.record("\(second)"); return }
            #expect(try await Self.suppression(connection, "cat") == "soft_bounce_limit")
            #expect(try await Self.status(connection, "cat", list: "main") == "bounced")
            #expect(try await Self.events(connection, "cat") == ["bounced:soft_bounce", "bounced:soft_bounce"])

            // Lifted by the operator: the count starts again.
            _ = try await SuppressionList(database: database).remove("cat@example.net")
            let third = try await recorder.record(soft(world.issues[2], part: 1))
            guard case .counted(_, soft: 1, limit: 2) = third else { Issue.record("\(third)"); return }
            #expect(try await Self.suppression(connection, "cat") == nil)
        }
    }

    @Test("LISTCTL_SOFT_BOUNCE_LIMIT: default 5, a number from 1 to 1000, anything else a configuration error naming it")
    func softBounceLimitSetting() throws {
        #expect(try BounceRecorder.softBounceLimit(from: [:]) == 5)
        #expect(try BounceRecorder.softBounceLimit(from: ["LISTCTL_SOFT_BOUNCE_LIMIT": " 2 "]) == 2)
        for bad in ["0", "-1", "two", "1.5", "1001"] {
            let error = #expect(throws: ListServiceError.self) {
                try BounceRecorder.softBounceLimit(from: ["LISTCTL_SOFT_BOUNCE_LIMIT": bad])
            }
            #expect(error?.code == .configuration && error?.message.contains("LISTCTL_SOFT_BOUNCE_LIMIT=\(bad)") == true)
        }
    }

    // MARK: Compaction, erasure

    @Test("a compacted issue: found in its summaries by Message-ID or trace (the subscriber's current address); provider ids are gone")
    func compactedIssue() async throws {
        try await withMigratedDatabase { database, connection in
            let world = try await Self.world(on: connection)
            let issue = world.issues[0]
            let key = try await Self.key(issue, on: connection)
            try await connection.query("UPDATE issues SET sent_at = now() - interval '60 days' WHERE id = $1", issue)
            let compacted = try await LedgerCompaction(database: database).compact(issue: issue)
            #expect(compacted.first?.deliveriesCompacted == 3)
            #expect(try await connection.query("SELECT count(*) FROM deliveries WHERE issue_id = $1", issue)[0].decode(Int.self, at: 0) == 0)

            let ann = world.people["ann"]!, bob = world.people["bob"]!
            let lost = try await Self.recorder(database).record(BounceNotice(
                kind: .hardBounce, source: "ses", recipient: "ann@example.net", providerMessageID: "prov-\(issue)-1", detail: "5.1.1"))
            guard case .unknown(let reason) = lost else { Issue.record("\(lost)"); return }
            #expect(reason.contains("compacted"), "\(reason)")

            let byID = try await Self.recorder(database).record(BounceNotice(
                kind: .hardBounce, source: "dsn", recipient: "ann@example.net", messageID: world.messageID(issue: issue, part: 1, subscriber: ann, key: key),
                detail: "5.1.1"))
            guard case .suppressed(let match, _) = byID else { Issue.record("\(byID)"); return }
            #expect(match.compacted && match.email == "Ann@example.net" && match.tracedBy == .messageID)

            #expect(try await Self.recorder(database).record(BounceNotice(
                kind: .complaint, source: "arf", recipient: "cat@example.net", trace: "\(issue).\(bob).1", detail: "abuse")).label == "unknown",
                "trace of bob's delivery, report for cat")
            let byTrace = try await Self.recorder(database).record(BounceNotice(
                kind: .complaint, source: "arf", recipient: "bob@example.net", trace: "\(issue).\(bob).1", detail: "abuse"))
            guard case .suppressed(let bobMatch, "complaint") = byTrace else { Issue.record("\(byTrace)"); return }
            #expect(bobMatch.compacted && bobMatch.tracedBy == .trace)
        }
    }

    @Test("erasing a subscriber removes their bounce reports with their events")
    func erasure() async throws {
        try await withMigratedDatabase { database, connection in
            let world = try await Self.world(on: connection)
            let bob = world.people["bob"]!
            for issue in world.issues.prefix(2) {
                let outcome = try await Self.recorder(database).record(BounceNotice(
                    kind: .softBounce, source: "dsn", recipient: "bob@example.net", trace: "\(issue).\(bob).1", detail: "4.2.2"))
                #expect(outcome.label == "counted")
            }
            #expect(try await connection.query("SELECT count(*) FROM bounce_reports")[0].decode(Int.self, at: 0) == 2)
            try await connection.query("DELETE FROM subscribers WHERE id = $1", bob)
            #expect(try await connection.query("SELECT count(*) FROM bounce_reports")[0].decode(Int.self, at: 0) == 0)
            #expect(try await connection.query("SELECT count(*) FROM events WHERE kind = 'bounced'")[0].decode(Int.self, at: 0) == 0)
        }
    }

    @Test("the same report recorded from two tasks at once: one records it, the other finds it recorded")
    func concurrentDuplicates() async throws {
        try await withMigratedDatabase { database, connection in
            let world = try await Self.world(on: connection)
            let bob = world.people["bob"]!
            let notice = BounceNotice(kind: .hardBounce, source: "ses", recipient: "bob@example.net", trace: "\(world.issues[0]).\(bob).1", detail: "5.1.1")
            let recorder = Self.recorder(database)
            async let a = recorder.record(notice)
            async let b = recorder.record(notice)
            let labels = try await [a, b].map(\.label).sorted()
            #expect(labels == ["already-recorded", "suppressed"], "\(labels)")
            #expect(try await Self.events(connection, "bob") == ["bounced:hard_bounce"])
        }
    }
}
