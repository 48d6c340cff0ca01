import Foundation
import Postgres
import TestSupport
import Testing

/// Real faults on a cluster of the test's own (never the shared test server):
/// a full `pg_ctl restart` under a pool in use, a LISTEN connection across a
/// restart, and a server that accepts TCP and never answers.
@Suite("Restarts and unreachable servers")
struct PostgresRestartTests {
    @Test("pg_ctl restart while a pool is in use: calls after it succeed without restarting the process")
    func poolSurvivesRestart() async throws {
        try await withThrowawayPostgres { server in
            let pool = PostgresPool(connectionString: server.url, maximumConnections: 3)
            try await pool.withConnection { try await $0.execute(script: "CREATE TABLE ticks (n int)") }
            // Three busy callers keep the pool's connections in use while the server restarts.
            let stop = AsyncGate()
            let workers = (0..<3).map { worker in
                Task {
                    var failures = 0
                    var successes = 0
                    var n = 0
                    while await !stop.isOpen {
                        n += 1
                        let value = worker * 1_000_000 + n
                        do {
                            try await pool.withConnection { try await $0.query("INSERT INTO ticks VALUES ($1)", value) }
                            successes += 1
                        } catch {
                            failures += 1
                            try? await Task.sleep(for: .milliseconds(50))
                        }
                    }
                    return (successes, failures)
                }
            }
            try await Task.sleep(for: .milliseconds(500))
            try await server.restart()
            // After the restart: every call works, on new connections.
            for _ in 0..<10 {
                let pid = try await pool.withConnection { try await $0.query("SELECT pg_backend_pid()")[0].decode(Int.self, at: 0) }
                #expect(pid > 0)
            }
            // The busy callers go on succeeding after the restart too.
            let count = "SELECT count(*) FROM ticks"
            let before = try await pool.withConnection { try await $0.query(count)[0].decode(Int.self, at: 0) }
            try await Task.sleep(for: .milliseconds(500))
            let after = try await pool.withConnection { try await $0.query(count)[0].decode(Int.self, at: 0) }
            #expect(after > before, "the workers kept inserting after the restart")
            await stop.open()
            for worker in workers { #expect(await worker.value.0 > 0) }
            try await withTimedChecks(pool: pool, count: 20)
            await pool.close()
        }
    }

    @Test("the listener reconnects after a restart, says notifications may have been missed, and gets a NOTIFY sent after it")
    func listenerReconnects() async throws {
        try await withThrowawayPostgres { server in
            let listener = PostgresListener(
                configuration: PostgresConnectionConfiguration(connectionString: server.url), channels: ["work queued"])
            let events = EventCollector()
            let consumer = Task {
                for await event in listener.events() { await events.add(event) }
            }
            defer { consumer.cancel() }
            // Before the restart: a NOTIFY arrives.
            try await eventually("the first notification") {
                try await notify(server.url, "before")
                return await events.payloads.contains("before")
            }
            try await server.restart()
            try await eventually("the reconnection") { await events.reconnections > 0 }
            try await eventually("a notification after the restart") {
                try await notify(server.url, "after")
                return await events.payloads.contains("after")
            }
            consumer.cancel()
            _ = await consumer.value
        }
    }

    @Test("the listener keeps trying while the server is down and listens again when it is back")
    func listenerWaitsForServer() async throws {
        try await withThrowawayPostgres { server in
            let listener = PostgresListener(
                configuration: PostgresConnectionConfiguration(connectionString: server.url, connectTimeout: .seconds(2)),
                channels: ["jobs"])
            let events = EventCollector()
            let consumer = Task { for await event in listener.events() { await events.add(event) } }
            try await eventually("the first notification") {
                try await notify(server.url, "one")
                return await events.payloads.contains("one")
            }
            try await server.stop()
            try await Task.sleep(for: .seconds(2))
            try await server.startAgain()
            try await eventually("a notification after the server came back") {
                try await notify(server.url, "two")
                return await events.payloads.contains("two")
            }
            #expect(await events.reconnections >= 1)
            consumer.cancel()
            let started = ContinuousClock.now
            _ = await consumer.value
            #expect(ContinuousClock.now - started < .seconds(20), "cancelling the consumer stops the listener")
        }
    }

    @Test("a server that accepts TCP and never answers: connect fails within the timeout with a readable error")
    func silentServer() async throws {
        let silent = try SilentServer.start()
        defer { silent.close() }
        let url = "postgresql://ada:s3cret@127.0.0.1:\(silent.port)/listctl?connect_timeout=3"
        let started = ContinuousClock.now
        let error = await #expect(throws: PostgresError.self) { try await PostgresConnection.connect(to: url) }
        let took = ContinuousClock.now - started
        // Generous: a busy 2-core machine can keep a finished wait from resuming
        // for seconds. Before connect_timeout this hung for good.
        #expect(took >= .seconds(2) && took < .seconds(90), "took \(took)")
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("127.0.0.1:\(silent.port)") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("no answer within 3 s") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("s3cret") == false)
        // The default (no connect_timeout in the URL) is 10 s, and a pool reports the same error.
        let pool = PostgresPool(
            configuration: PostgresConnectionConfiguration(connectionString: "postgresql://127.0.0.1:\(silent.port)/listctl", connectTimeout: .seconds(2)))
        let pooled = await #expect(throws: PostgresError.self) { try await pool.withConnection { _ in } }
        #expect(pooled?.message.contains("no answer within 2 s") == true)
        await pool.close()
    }

    @Test("cancelling a connect to a silent server stops it at once")
    func cancelConnect() async throws {
        let silent = try SilentServer.start()
        defer { silent.close() }
        let started = ContinuousClock.now
        // connect_timeout=600: only the cancellation can end it within the bound.
        let task = Task { try await PostgresConnection.connect(to: "postgresql://127.0.0.1:\(silent.port)/listctl?connect_timeout=600") }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        let result = await task.result
        #expect(ContinuousClock.now - started < .seconds(120))
        if case .failure(let error) = result { #expect(error is CancellationError) } else { Issue.record("should fail") }
    }
}

/// Runs a few calls through the pool; each must succeed.
private func withTimedChecks(pool: PostgresPool, count: Int) async throws {
    for _ in 0..<count {
        #expect(try await pool.withConnection { try await $0.query("SELECT 1")[0].decode(Int.self, at: 0) } == 1)
    }
}

/// Sends NOTIFY on a fresh connection (the channel all these tests use is named in the call).
private func notify(_ url: String, _ payload: String) async throws {
    let connection = try await PostgresConnection.connect(to: url)
    try await connection.query("SELECT pg_notify('work queued', $1), pg_notify('jobs', $1)", payload)
    await connection.close()
}

/// Retries `condition` every 200 ms for up to 20 s (a restart takes a few seconds on a busy machine).
private func eventually(_ what: String, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(20)
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: .milliseconds(200))
    }
    Issue.record("timed out waiting for \(what)")
}

actor EventCollector {
    var payloads: [String] = []
    var reconnections = 0
    func add(_ event: PostgresListener.Event) {
        switch event {
        case .notification(let notification): payloads.append(notification.payload)
        case .reconnected: reconnections += 1
        }
    }
}
