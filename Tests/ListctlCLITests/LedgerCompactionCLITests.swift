import Foundation
import Postgres
import TestSupport
import Testing

/// `listctl db compact` (docs/LEDGER.md §11) on real sends: the ledger's
/// `sent` rows of a finished issue become summaries, and status, "who got
/// it", retry and erasure answer as before.
@Suite("Ledger compaction through the command line")
struct LedgerCompactionCLITests {
    typealias Fixture = DeliveryCLITests.Fixture

    static func rows(_ fixture: Fixture, _ sql: String, _ parameters: any PostgresEncodable...) async throws -> Int {
        let parameters = parameters
        return try await withConnection(to: fixture.database) { connection in
            try await connection.query(sql, parameters)[0].decode(Int.self, at: 0)
        }
    }

    static func json(_ result: CLI.Result) throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]], "\(result.stdout) \(result.stderr)")
    }

    /// (email, parts sent of parts) of `--recipients STATE`, sorted.
    static func who(_ fixture: Fixture, _ issue: Int, _ state: String) async throws -> [String] {
        try await fixture.recipients(issue, state).map { "\($0["email"] ?? "") \($0["partsSent"] ?? "")/\($0["parts"] ?? "")" }.sorted()
    }

    @Test("a sent issue compacts into summaries: status and the sent list unchanged, bounced rows kept, dry run and second run change nothing")
    func compactKeepsTheAnswers() async throws {
        try await DeliveryCLITests.withFixture(.init(rejectPrefix: "gone")) { fixture in
            let readers = DeliveryCLITests.people("reader", 25) + DeliveryCLITests.people("gone", 2)
            try await fixture.makeList("weekly", readers)
            let issueFile = DeliveryCLITests.examples.appendingPathComponent("long-issue.md").path
            let (sent, status) = try await fixture.send(issueFile, list: "weekly")
            #expect(sent.status == 0, "\(sent.stderr)")
            let issue = try #require(DeliveryCLITests.int(status?["issue"]))
            let before = try await fixture.status(issue)
            #expect(DeliveryCLITests.int(before["sent"]) == 25 && DeliveryCLITests.int(before["bounced"]) == 2, "\(before)")
            let sentBefore = try await Self.who(fixture, issue, "sent")
            let bouncedBefore = try await Self.who(fixture, issue, "bounced")
            #expect(sentBefore.count == 25 && sentBefore.allSatisfy { $0.hasSuffix(" 2/2") }, "\(sentBefore)")

            // Finished seconds ago: not older than 30 days, so the default leaves it.
            let young = try await fixture.run("db", "compact")
            #expect(young.status == 0 && young.stdout.contains("no finished issue older than 30 day(s)"), "\(young.stdout) \(young.stderr)")
            #expect(try await Self.rows(fixture, "SELECT count(*) FROM deliveries") == 27)

            let dry = try Self.json(try await fixture.run("db", "compact", "--older-than", "0", "--dry-run", "--json"))
            #expect(dry.count == 1 && DeliveryCLITests.int(dry.first?["deliveriesCompacted"]) == 25, "\(dry)")
            #expect(dry.first?["dryRun"] as? Bool == true)
            #expect(try await Self.rows(fixture, "SELECT count(*) FROM deliveries") == 27, "a dry run changes nothing")
            #expect(try await Self.rows(fixture, "SELECT count(*) FROM delivery_summaries") == 0)

            let done = try Self.json(try await fixture.run("db", "compact", "--older-than", "0", "--json"))
            #expect(done.count == 1 && DeliveryCLITests.int(done.first?["deliveriesCompacted"]) == 25, "\(done)")
            #expect(try await Self.rows(fixture, "SELECT count(*) FROM deliveries") == 2, "only the bounced rows stay")
            #expect(try await Self.rows(fixture, "SELECT count(*) FROM deliveries WHERE state = 'bounced'") == 2)
            #expect(try await Self.rows(fixture, "SELECT sum(cardinality(subscriber_ids))::int FROM delivery_summaries") == 25)
            #expect(try await Self.rows(fixture, "SELECT count(*) FROM issues WHERE compacted_at IS NOT NULL") == 1)

            let after = try await fixture.status(issue)
            for key in ["recipients", "sent", "pending", "failed", "bounced", "skipped", "cancelled", "messagesSent", "parts", "state"] {
                #expect("\(after[key] ?? "nil")" == "\(before[key] ?? "nil")", "status \(key) after compaction: \(after) vs \(before)")
            }
            #expect(try await Self.who(fixture, issue, "sent") == sentBefore)
            #expect(try await Self.who(fixture, issue, "bounced") == bouncedBefore)

            let again = try await fixture.run("db", "compact", String(issue))
            #expect(again.status == 0 && again.stdout.contains("nothing to compact"), "\(again.stdout) \(again.stderr)")
            #expect(try await Self.rows(fixture, "SELECT sum(cardinality(subscriber_ids))::int FROM delivery_summaries") == 25)

            // The same file again still mails nobody: the issue is known by its content, not by its ledger rows.
            let repeated = try await fixture.send(issueFile, list: "weekly")
            #expect(repeated.result.status == 0, "\(repeated.result.stderr)")
            #expect(try fixture.accepted().count == 50, "nobody mailed twice after compaction")
        }
    }

    @Test("refused for an issue still scheduled or unknown, nothing changed; retry after compaction re-sends only the failed")
    func refusalsAndRetry() async throws {
        try await DeliveryCLITests.withFixture(.init(tempfailPrefix: "slow", tempfailTimes: 1), environment: ["LISTCTL_RETRY_MAX_ATTEMPTS": "1"]) { fixture in
            try await fixture.makeList("weekly", DeliveryCLITests.people("reader", 6) + DeliveryCLITests.people("slow", 2))
            let (sent, status) = try await fixture.send(try fixture.shortIssue("a", subject: "Once"), list: "weekly")
            #expect(sent.status == 0, "\(sent.stderr)")
            let issue = try #require(DeliveryCLITests.int(status?["issue"]))
            #expect(DeliveryCLITests.int(status?["failed"]) == 2 && DeliveryCLITests.int(status?["sent"]) == 6, "\(status ?? [:])")

            let later = DeliveryCLITests.at(3600)
            let scheduled = try await fixture.send(try fixture.shortIssue("b", subject: "Later"), list: "weekly", ["--at", later.text])
            let second = try #require(DeliveryCLITests.int(scheduled.status?["issue"]), "\(scheduled.result.stdout) \(scheduled.result.stderr)")
            let refused = try await fixture.run("db", "compact", String(second))
            #expect(refused.status != 0 && refused.stderr.contains("issue \(second) is scheduled"), "\(refused.stderr)")
            let unknown = try await fixture.run("db", "compact", "999")
            #expect(unknown.status != 0 && unknown.stderr.contains("no issue 999"), "\(unknown.stderr)")
            let badAge = try await fixture.run("db", "compact", "--older-than", "-1")
            #expect(badAge.status != 0 && badAge.stderr.contains("--older-than"), "\(badAge.stderr)")
            #expect(try await Self.rows(fixture, "SELECT count(*) FROM delivery_summaries") == 0)

            let done = try Self.json(try await fixture.run("db", "compact", String(issue), "--json"))
            #expect(DeliveryCLITests.int(done.first?["deliveriesCompacted"]) == 6, "\(done)")
            let retry = try await fixture.run("retry", String(issue))
            #expect(retry.status == 0, "\(retry.stderr)")
            let delivered = try await fixture.deliver()
            #expect(DeliveryCLITests.int(delivered["messagesSent"]) == 2, "only the two failed: \(delivered)")
            let copies = DeliveryCLITests.copies(try fixture.accepted())
            #expect(copies.count == 8 && copies.values.allSatisfy { $0 == 1 }, "\(copies)")
            let after = try await fixture.status(issue)
            #expect(DeliveryCLITests.int(after["sent"]) == 8 && after["state"] as? String == "sent", "\(after)")
            // A second compaction merges the newly sent into the same summaries.
            let merged = try Self.json(try await fixture.run("db", "compact", String(issue), "--json"))
            #expect(DeliveryCLITests.int(merged.first?["deliveriesCompacted"]) == 2, "\(merged)")
            #expect(try await Self.rows(fixture, "SELECT sum(cardinality(subscriber_ids))::int FROM delivery_summaries") == 8)
            #expect(try await Self.who(fixture, issue, "sent").count == 8)
            #expect(DeliveryCLITests.int(try await fixture.status(issue)["sent"]) == 8)
        }
    }

    @Test("erasing a subscriber removes their id from every summary, the issue's counts stay (schema 0009's tally); a block left empty goes")
    func erasureAfterCompaction() async throws {
        try await DeliveryCLITests.withFixture { fixture in
            try await fixture.makeList("weekly", DeliveryCLITests.people("reader", 5))
            for name in ["a", "b"] {
                let (sent, _) = try await fixture.send(try fixture.shortIssue(name, subject: "Issue \(name)"), list: "weekly")
                #expect(sent.status == 0, "\(sent.stderr)")
            }
            let done = try Self.json(try await fixture.run("db", "compact", "--older-than", "0", "--json"))
            #expect(done.count == 2, "\(done)")
            let id = try await Self.rows(fixture, "SELECT id::int FROM subscribers WHERE email = 'reader3@example.net'")
            #expect(try await Self.rows(fixture, "SELECT count(*) FROM delivery_summaries WHERE $1::bigint = ANY (subscriber_ids)", id) == 2)
            #expect(try await Self.rows(fixture, "WITH d AS (DELETE FROM subscribers WHERE id = $1 RETURNING 1) SELECT count(*) FROM d", id) == 1)
            #expect(try await Self.rows(fixture, "SELECT count(*) FROM delivery_summaries WHERE $1::bigint = ANY (subscriber_ids)", id) == 0)
            for issue in [1, 2] {
                let status = try await fixture.status(issue)
                #expect(DeliveryCLITests.int(status["sent"]) == 5 && DeliveryCLITests.int(status["forgotten"]) == 1, "\(status)")
                #expect(!(try await Self.who(fixture, issue, "sent")).contains { $0.hasPrefix("reader3@") })
            }
            // Everyone gone: the summary rows go too (an empty array is not kept).
            #expect(try await Self.rows(fixture, "WITH d AS (DELETE FROM subscribers RETURNING 1) SELECT count(*) FROM d") == 4)
            #expect(try await Self.rows(fixture, "SELECT count(*) FROM delivery_summaries") == 0)
            #expect(DeliveryCLITests.int(try await fixture.status(1)["sent"]) == 5, "counted on, with nobody left")
        }
    }
}
