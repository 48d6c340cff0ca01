import Foundation
import Postgres
import TestSupport
import Testing

/// The pool against a real server. Bounds are generous: the machines are shared.
@Suite("Connection pool")
struct PostgresPoolTests {
    @Test("a borrower's LISTEN, advisory lock, SET and temp table are gone for the next; UTC and ISO dates stay")
    func sessionReset() async throws {
        try await withTemporaryDatabase { database in
            let pool = PostgresPool(connectionString: database.url, maximumConnections: 1)
            let firstPID = try await pool.withConnection { connection in
                try await connection.execute(script: "LISTEN leaked; SET work_mem = '77MB'; SET TimeZone = 'Asia/Tokyo'; CREATE TEMP TABLE scratch (x int)")
                #expect(try await connection.tryAdvisoryLock(4242))
                return try await connection.backendPID()
            }
            // Another session can take the lock now: the pooled session let go of it.
            try await withConnection(to: database) { other in
                #expect(try await other.tryAdvisoryLock(4242), "the session advisory lock was released on return")
                try await other.query("SELECT pg_advisory_unlock(4242)")
                try await other.execute(script: "NOTIFY leaked, 'should not arrive'")
            }
            try await pool.withConnection { connection in
                #expect(try await connection.backendPID() == firstPID, "the same session was reused, reset")
                let row = try await connection.query("""
                    SELECT current_setting('work_mem'), current_setting('TimeZone'), current_setting('DateStyle'),
                           current_setting('bytea_output'), to_regclass('pg_temp.scratch') IS NULL,
                           (SELECT count(*) FROM pg_listening_channels()), (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())
                    """)[0]
                #expect(try row.decode(String.self, at: 0) != "77MB")
                #expect(try row.decode(String.self, at: 1) == "UTC")
                #expect(try row.decode(String.self, at: 2) == "ISO, YMD")
                #expect(try row.decode(String.self, at: 3) == "hex")
                #expect(try row.decode(Bool.self, at: 4), "temp table dropped")
                #expect(try row.decode(Int.self, at: 5) == 0, "no channel listened to")
                #expect(try row.decode(Int.self, at: 6) == 0, "no advisory lock held")
                #expect(try await connection.nextNotification(timeout: .milliseconds(300)) == nil, "no notification piled up")
                let date = Date(timeIntervalSince1970: 1_764_243_425)
                #expect(try await connection.query("SELECT $1::timestamptz", date)[0].decode(Date.self, at: 0) == date)
            }
            await pool.close()
        }
    }

    @Test("a borrower that only read and wrote rows: no reset, its prepared statements stay; each session change alone, sent as a single statement, still gets the session reset")
    func resetOnlyWhenNeeded() async throws {
        try await withTemporaryDatabase { database in
            let pool = PostgresPool(connectionString: database.url, maximumConnections: 1)
            try await pool.withConnection { connection in
                try await connection.query("CREATE TABLE rows_only (x int)")
                try await connection.query(prepared: "INSERT INTO rows_only VALUES ($1)", [1])
                try await connection.query("UPDATE rows_only SET x = x + 1")
            }
            let kept: Int = try await pool.withConnection { connection in
                try await connection.query("SELECT count(*)::int FROM pg_prepared_statements")[0].decode(at: 0)
            }
            #expect(kept == 1, "the prepared INSERT is still there: the session was not discarded")

            // Each of these alone, through query() or a script, leaves state a reset must clear.
            let leaks: [(String, String)] = [
                ("SELECT set_config('work_mem', '77MB', false)", "SELECT current_setting('work_mem') = '77MB'"),
                ("SET work_mem = '77MB'", "SELECT current_setting('work_mem') = '77MB'"),
                ("select pg_advisory_lock(77)", "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"),
                ("LISTEN leaked", "SELECT count(*) > 0 FROM pg_listening_channels()"),
                ("CREATE TEMP TABLE scratch (x int)", "SELECT to_regclass('pg_temp.scratch') IS NOT NULL"),
                ("PREPARE p AS SELECT 1", "SELECT count(*) > 0 FROM pg_prepared_statements WHERE name = 'p'"),
            ]
            for (leak, check) in leaks {
                try await pool.withConnection { connection in try await connection.query(leak) }
                let leaked: Bool = try await pool.withConnection { connection in try await connection.query(check)[0].decode(at: 0) }
                #expect(!leaked, "\(leak) did not reach the next borrower")
            }
            await pool.close()
        }
    }

    @Test("exhaustion: a caller waits at most acquireTimeout and gets a clear error")
    func exhaustionTimesOut() async throws {
        try await withTemporaryDatabase { database in
            let pool = PostgresPool(
                configuration: PostgresConnectionConfiguration(connectionString: database.url), maximumConnections: 1,
                acquireTimeout: .seconds(1))
            let holding = Task { try await pool.withConnection { _ in try await Task.sleep(for: .seconds(40)) } }
            try await Task.sleep(for: .milliseconds(300))
            let started = ContinuousClock.now
            let error = await #expect(throws: PostgresError.self) { try await pool.withConnection { _ in } }
            let waited = ContinuousClock.now - started
            #expect(error?.code == .poolTimeout)
            #expect(error?.message.contains("1 connections") == true)
            #expect(error?.message.contains("stayed busy for 1 s") == true)
            #expect(waited >= .milliseconds(900) && waited < .seconds(25), "waited \(waited)")
            holding.cancel()
            _ = await holding.result
            // The pool still works afterwards.
            #expect(try await pool.withConnection { try await $0.query("SELECT 1")[0].decode(Int.self, at: 0) } == 1)
            await pool.close()
        }
    }

    @Test("close() with callers waiting returns promptly and fails them; later calls fail; a loaned connection closes on return")
    func closeWakesWaiters() async throws {
        try await withTemporaryDatabase { database in
            let pool = PostgresPool(
                configuration: PostgresConnectionConfiguration(connectionString: database.url), maximumConnections: 1,
                acquireTimeout: .seconds(120))
            let gate = AsyncGate()
            let holder = Task { try await pool.withConnection { _ in await gate.wait() } }
            try await Task.sleep(for: .milliseconds(300))
            let waiters = (0..<3).map { _ in Task { try await pool.withConnection { _ in 1 } } }
            try await Task.sleep(for: .milliseconds(300))
            #expect(await pool.statistics.waiting == 3)
            let started = ContinuousClock.now
            await pool.close()
            for waiter in waiters {
                let result = await waiter.result
                guard case .failure(let error as PostgresError) = result else {
                    Issue.record("a waiter should fail when the pool closes, got \(result)")
                    continue
                }
                #expect(error.code == .connectionClosed)
            }
            #expect(ContinuousClock.now - started < .seconds(20))
            await gate.open()
            _ = try await holder.value
            #expect(await pool.statistics.open == 0, "the loaned connection was closed when it came back")
            await #expect(throws: PostgresError.self) { try await pool.withConnection { _ in } }
        }
    }

    @Test("pg_terminate_backend of every pooled connection: the next calls succeed on new connections")
    func terminatedConnectionsAreReplaced() async throws {
        try await withTemporaryDatabase { database in
            let pool = PostgresPool(connectionString: database.url, maximumConnections: 3)
            // Open three connections at once so that three are idle afterwards.
            let pids = try await withThrowingTaskGroup(of: Int32.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        try await pool.withConnection { connection in
                            try await Task.sleep(for: .milliseconds(200))
                            return try await connection.backendPID()
                        }
                    }
                }
                return try await group.reduce(into: Set<Int32>()) { $0.insert($1) }
            }
            #expect(pids.count == 3)
            try await withConnection(to: database) { admin in
                for pid in pids { try await admin.query("SELECT pg_terminate_backend($1)", Int(pid)) }
            }
            try await Task.sleep(for: .milliseconds(300))
            for _ in 0..<6 {
                // A real round trip (backendPID() alone is libpq's cached value).
                let pid = try await pool.withConnection { try await $0.query("SELECT pg_backend_pid()")[0].decode(Int32.self, at: 0) }
                #expect(!pids.contains(pid))
            }
            await pool.close()
        }
    }

    @Test("application_name is listctl's unless the URL sets one")
    func applicationName() async throws {
        try await withTemporaryDatabase { database in
            let named = try await PostgresConnection.connect(
                PostgresConnectionConfiguration(connectionString: database.url, applicationName: "listctl/test"))
            #expect(try await named.query("SELECT current_setting('application_name')")[0].decode(String.self, at: 0) == "listctl/test")
            await named.close()
            let separator = database.url.contains("?") ? "&" : "?"
            let overridden = try await PostgresConnection.connect(
                PostgresConnectionConfiguration(connectionString: database.url + separator + "application_name=mine", applicationName: "listctl/test"))
            #expect(try await overridden.query("SELECT current_setting('application_name')")[0].decode(String.self, at: 0) == "mine")
            await overridden.close()
        }
    }
}

/// A one-shot gate for tests: `wait()` returns once `open()` was called.
actor AsyncGate {
    private(set) var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }
    func open() {
        isOpen = true
        waiters.forEach { $0.resume() }
        waiters.removeAll()
    }
}
