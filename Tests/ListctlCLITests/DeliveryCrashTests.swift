import Foundation
import Postgres
import TestSupport
import Testing

/// The ledger under real faults: `listctl` processes killed with SIGKILL at
/// random instants, two senders racing, PostgreSQL restarted mid-send, a
/// server slower than the lease. Every test counts what the SMTP sink
/// received: nobody lost, duplicates only for messages on the wire at a
/// crash, and a duplicate always carries the first copy's Message-ID.
@Suite("delivery under faults", .serialized)
struct DeliveryCrashTests {
    static let secret = "kR7vQ2xLm9Pz4TcW8yHn3BfJ6sDg1AeU5oZiXqVbN0M"

    /// A list of `count` subscribers and an issue file; returns the CLI and paths.
    static func setUp(
        database url: String, sink: DeliverySink, count: Int, lease: Double = 1.5, extra: [String: String] = [:], twoParts: Bool = false
    ) async throws -> (CLI, URL) {
        let work = try makeTemporaryDirectory("crash")
        var environment = [
            "LISTCTL_SECRET": secret, "LISTCTL_FROM": "Letters <news@example.org>",
            "LISTCTL_BASE_URL": "https://news.example.org", "LISTCTL_TRANSPORT": sink.transportURL,
            "LISTCTL_LEASE_SECONDS": String(lease), "LISTCTL_RETRY_BASE": "0.2",
        ]
        for (key, value) in extra { environment[key] = value }
        let cli = CLI(databaseURL: url, home: work, extra: environment)
        var csv = "Email,Name,Created_At,Notes,Unsubscribed\n"
        for n in 0..<count { csv += "reader\(n)@example.com,Reader \(n),2020-01-01 00:00:00 UTC,,false\n" }
        let csvFile = work.appendingPathComponent("subscribers.csv")
        try csv.write(to: csvFile, atomically: true, encoding: .utf8)
        let issue = work.appendingPathComponent("issue.md")
        if twoParts {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            try FileManager.default.copyItem(at: root.appendingPathComponent("examples/long-issue.md"), to: issue)
        } else {
            try "---\nsubject: Crash test \(UUID().uuidString.prefix(8))\n---\n\nHello, this is one short part.\n".write(to: issue, atomically: true, encoding: .utf8)
        }
        let migrate = try await cli.run("migrate")
        #expect(migrate.status == 0, "\(migrate.stderr)")
        let imported = try await cli.run("import", csvFile.path, "--list", "crash")
        #expect(imported.status == 0, "\(imported.stderr)")
        return (cli, issue)
    }

    /// Schedules the issue (of list `crash`) `seconds` ahead and checks that it was scheduled, not sent at once: on a
    /// loaded machine the command can take longer than a second to start, and a time in the past means now (the send
    /// itself would then deliver everything, and the test would test nothing). Returns when the issue falls due.
    @discardableResult
    static func schedule(_ cli: CLI, _ issue: URL, in seconds: Double = 3) async throws -> Date {
        let due = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + seconds).rounded(.up))
        let scheduled = try await cli.run("send", issue.path, "--list", "crash", "--yes", "--at", ISO8601DateFormatter().string(from: due))
        #expect(scheduled.status == 0, "\(scheduled.stderr)")
        #expect(scheduled.stdout.contains("scheduled for"), "scheduled, not sent at once: \(scheduled.stdout) \(scheduled.stderr)")
        return due
    }

    /// Receipts per (recipient, subject) and the Message-IDs each had.
    static func tally(_ sink: DeliverySink) throws -> [String: [String]] {
        var copies: [String: [String]] = [:]
        for message in try sink.accepted() where !message.dropped {
            copies["\(message.rcpt)|\(message.subject)", default: []].append(message.messageID)
        }
        return copies
    }

    static func status(_ cli: CLI, issue: Int = 1) async throws -> [String: Any] {
        let result = try await cli.run("status", String(issue), "--json")
        #expect(result.status == 0, "\(result.stderr)")
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
    }

    /// Runs deliver until the issue has nothing pending (leases of killed senders must run out first).
    static func finish(_ cli: CLI, lease: Double) async throws {
        for _ in 0..<20 {
            let status = try await status(cli)
            if status["pending"] as? Int == 0 { return }
            try await Task.sleep(for: .milliseconds(Int64(lease * 1000) + 200))
            let run = try await cli.run("deliver")
            #expect(run.status == 0, "\(run.stderr)")
        }
    }

    @Test("kill -9 of the sender at random points, ten times: nobody lost, duplicates bounded and sharing their Message-ID")
    func killNine() async throws {
        try await withTemporaryDatabase { database in
            let sink = try await onThread { try DeliverySink.start(.init(delayMilliseconds: 15)) }
            defer { sink.stop() }
            let lease = 1.5
            let (cli, issue) = try await Self.setUp(database: database.url, sink: sink, count: 300, lease: lease, twoParts: true)
            let concurrency = 4
            var kills = 0
            // The first run is the send itself; the rest are deliver runs; each is killed mid-flight.
            var arguments = ["send", issue.path, "--list", "crash", "--yes", "--concurrency", String(concurrency)]
            while kills < 10 {
                let process = try cli.start(arguments)
                if kills == 0 {
                    // Kill the send only once it has stored the issue: before that there is nothing to resume.
                    for _ in 0..<200 {
                        let stored = try await withConnection(to: database) { connection in
                            try await connection.query("SELECT count(*) FROM deliveries")[0].decode(Int.self, at: 0)
                        }
                        if stored > 0 || !process.isRunning { break }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                }
                try await Task.sleep(for: .milliseconds(Int64.random(in: 100...600)))
                if process.isRunning {
                    kill(process.processIdentifier, SIGKILL)
                    kills += 1
                }
                try await onThread { process.waitUntilExit() }
                arguments = ["deliver", "--concurrency", String(concurrency)]
                // Let some leases of the dead run out, but not always all of them.
                try await Task.sleep(for: .milliseconds(Int64.random(in: 0...Int64(lease * 1000))))
            }
            try await Self.finish(cli, lease: lease)
            let status = try await Self.status(cli)
            #expect(status["state"] as? String == "sent")
            #expect(status["sent"] as? Int == 300)
            let copies = try Self.tally(sink)
            // Two parts each: 600 (recipient, part) pairs, every one received.
            #expect(copies.count == 600, "every recipient got every part")
            let extra = copies.values.reduce(0) { $0 + $1.count - 1 }
            #expect(extra <= kills * concurrency, "duplicates (\(extra)) only for messages on the wire at a kill")
            for (key, ids) in copies where ids.count > 1 {
                #expect(Set(ids).count == 1, "\(key): a re-sent copy has the first one's Message-ID")
            }
            #expect(status["messagesSent"] as? Int == 600, "the ledger counts each part once, duplicates or not")
        }
    }

    @Test("two workers racing on one scheduled issue falling due: no duplicates")
    func twoWorkers() async throws {
        try await withTemporaryDatabase { database in
            let sink = try await onThread { try DeliverySink.start(.init(delayMilliseconds: 5)) }
            defer { sink.stop() }
            let (cli, issue) = try await Self.setUp(database: database.url, sink: sink, count: 200)
            // Both workers are waiting when it falls due.
            try await Self.schedule(cli, issue)
            let workers = try (0..<2).map { _ in try cli.start(["worker", "--poll", "0.3", "--concurrency", "4"]) }
            var state = ""
            for _ in 0..<60 {
                try await Task.sleep(for: .milliseconds(250))
                state = try await Self.status(cli)["state"] as? String ?? ""
                if state == "sent" { break }
            }
            for worker in workers { kill(worker.processIdentifier, SIGTERM) }
            for worker in workers { try await onThread { worker.waitUntilExit() } }
            #expect(state == "sent")
            let copies = try Self.tally(sink)
            #expect(copies.count == 200)
            #expect(copies.values.allSatisfy { $0.count == 1 }, "nobody got a second copy")
            for worker in workers { #expect(worker.terminationStatus == 0, "SIGTERM ends a worker cleanly") }
        }
    }

    @Test("PostgreSQL restarted mid-send: the sender reconnects and finishes; nothing lost")
    func databaseRestart() async throws {
        try await withThrowawayPostgres { server in
            let sink = try await onThread { try DeliverySink.start(.init(delayMilliseconds: 10)) }
            defer { sink.stop() }
            let (cli, issue) = try await Self.setUp(database: server.url, sink: sink, count: 300, lease: 3)
            let sender = try cli.start(["send", issue.path, "--list", "crash", "--yes", "--concurrency", "4"])
            try await Task.sleep(for: .milliseconds(600))
            try await server.restart()
            try await onThread { sender.waitUntilExit() }
            #expect(sender.terminationStatus == 0, "the send survives the restart")
            try await Self.finish(cli, lease: 3)
            let copies = try Self.tally(sink)
            #expect(copies.count == 300, "nobody lost")
            let extra = copies.values.reduce(0) { $0 + $1.count - 1 }
            #expect(extra <= 4, "duplicates only for what was on the wire (\(extra))")
            #expect(try await Self.status(cli)["sent"] as? Int == 300)
        }
    }

    @Test("a server slower than the lease: renewals keep the claims, two workers, no duplicates")
    func slowServerRenewals() async throws {
        try await withTemporaryDatabase { database in
            // Each message takes 1.6 s against a 1.2 s lease.
            let sink = try await onThread { try DeliverySink.start(.init(delayMilliseconds: 1600)) }
            defer { sink.stop() }
            let (cli, issue) = try await Self.setUp(database: database.url, sink: sink, count: 12, lease: 1.2)
            let due = try await Self.schedule(cli, issue)
            try await Task.sleep(for: .milliseconds(Int64(max(0, due.timeIntervalSinceNow) * 1000) + 100))
            async let first = cli.run("deliver", "--concurrency", "3", "--json")
            async let second = cli.run("deliver", "--concurrency", "3", "--json")
            let results = try await [first, second]
            for result in results { #expect(result.status == 0, "\(result.stderr)") }
            let lost = results.compactMap { try? JSONSerialization.jsonObject(with: Data($0.stdout.utf8)) as? [String: Any] }
                .compactMap { $0["leasesLost"] as? Int }
            #expect(lost == [0, 0], "no claim was lost to the other worker")
            let copies = try Self.tally(sink)
            #expect(copies.count == 12)
            #expect(copies.values.allSatisfy { $0.count == 1 }, "a slow message is never sent twice")
        }
    }

    @Test("the transport's rate budget is shared by two workers: together they keep within 10 % of it")
    func sharedRate() async throws {
        try await withTemporaryDatabase { database in
            let sink = try await onThread { try DeliverySink.start() }
            defer { sink.stop() }
            let rate = 40.0
            let (cli, issue) = try await Self.setUp(
                database: database.url, sink: sink, count: 280, extra: ["LISTCTL_TRANSPORT": sink.transportURL + "&rate=\(Int(rate))"])
            let due = try await Self.schedule(cli, issue)
            try await Task.sleep(for: .milliseconds(Int64(max(0, due.timeIntervalSinceNow) * 1000) + 100))
            async let first = cli.run("deliver", "--concurrency", "4")
            async let second = cli.run("deliver", "--concurrency", "4")
            for result in try await [first, second] { #expect(result.status == 0, "\(result.stderr)") }
            let times = try sink.accepted().map(\.time).sorted()
            #expect(times.count == 280)
            // The bucket starts full (one second's worth), then refills at the rate.
            let span = (times.last ?? 0) - (times.first ?? 0)
            let measured = Double(times.count) - rate
            let achieved = measured / max(span, 0.001)
            #expect(abs(achieved - rate) / rate <= 0.10, "two workers together sent \(achieved)/s against a budget of \(rate)/s")
        }
    }

    @Test("unsubscribed during the send: no further part")
    func unsubscribeMidSend() async throws {
        try await withTemporaryDatabase { database in
            let sink = try await onThread { try DeliverySink.start(.init(delayMilliseconds: 20)) }
            defer { sink.stop() }
            let (cli, issue) = try await Self.setUp(database: database.url, sink: sink, count: 120, twoParts: true)
            let sender = try cli.start(["send", issue.path, "--list", "crash", "--yes", "--concurrency", "2"])
            // Wait for the send to start, then unsubscribe 20 people nobody has claimed yet.
            var leaving: [String] = []
            for _ in 0..<100 where leaving.isEmpty {
                try await Task.sleep(for: .milliseconds(100))
                leaving = try await withConnection(to: database) { connection in
                    try await connection.transaction { connection in
                        let rows = try await connection.query(
                            """
                            SELECT d.subscriber_id, d.email FROM deliveries d
                            WHERE d.state = 'pending' AND d.next_part = 1 AND d.lease_owner IS NULL
                            ORDER BY d.subscriber_id DESC LIMIT 20 FOR UPDATE SKIP LOCKED
                            """)
                        guard rows.count == 20 else { return [] }
                        let ids = try rows.map { try $0.decode(Int64.self, at: 0) }
                        try await connection.query(
                            "UPDATE subscriptions SET status = 'unsubscribed', unsubscribed_at = now() WHERE subscriber_id = ANY ($1)", ids)
                        return try rows.map { try $0.decode(String.self, at: 1) }
                    }
                }
            }
            try await onThread { sender.waitUntilExit() }
            // Rows the test held locked when the send looked last are left for `deliver`, as a crash's would be.
            try await Self.finish(cli, lease: 1.5)
            #expect(leaving.count == 20)
            let received = Set(try sink.accepted().map(\.rcpt))
            for address in leaving { #expect(!received.contains(address), "\(address) left and got nothing more") }
            let status = try await Self.status(cli)
            #expect(status["skipped"] as? Int == 20)
            #expect(status["sent"] as? Int == 100)
        }
    }
}

extension CLI {
    /// Starts listctl in the background (output discarded) for a test to kill.
    func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }
}
