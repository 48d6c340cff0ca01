import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Cancellation, timeouts and transactions")
struct PostgresCancellationTests {
    @Test("cancelling a task running pg_sleep(30) returns within seconds; the connection stays usable")
    func cancelQuery() async throws {
        try await withTemporaryDatabase { database in
            try await withConnection(to: database) { connection in
                let started = ContinuousClock.now
                let sleeper = Task { try await connection.query("SELECT pg_sleep(30)") }
                try await Task.sleep(for: .milliseconds(500))
                sleeper.cancel()
                let result = await sleeper.result
                let took = ContinuousClock.now - started
                guard case .failure(let error) = result else {
                    Issue.record("the cancelled query should throw")
                    return
                }
                #expect(error is CancellationError, "got \(error)")
                #expect(took < .seconds(20), "took \(took)")
                #expect(try await connection.query("SELECT 41 + 1")[0].decode(Int.self, at: 0) == 42)
            }
        }
    }

    @Test("a cancelled pooled query returns promptly and its connection is not lent again")
    func cancelPooledQuery() async throws {
        try await withTemporaryDatabase { database in
            let pool = PostgresPool(connectionString: database.url, maximumConnections: 1)
            let firstPID = try await pool.withConnection { try await $0.backendPID() }
            let started = ContinuousClock.now
            let sleeper = Task { try await pool.withConnection { try await $0.query("SELECT pg_sleep(30)") } }
            try await Task.sleep(for: .milliseconds(500))
            sleeper.cancel()
            _ = await sleeper.result
            #expect(ContinuousClock.now - started < .seconds(20))
            let nextPID = try await pool.withConnection { try await $0.backendPID() }
            #expect(nextPID != firstPID, "a connection that got a cancel request is replaced, so a late cancel cannot stop the next statement")
            await pool.close()
        }
    }

    @Test("a task cancelled before its query starts never runs it")
    func cancelledBeforeStart() async throws {
        try await withTemporaryDatabase { database in
            try await withConnection(to: database) { connection in
                try await connection.execute(script: "CREATE TABLE marks (x int)")
                let task = Task {
                    withUnsafeCurrentTask { $0?.cancel() }
                    try await connection.query("INSERT INTO marks VALUES (1)")
                }
                _ = await task.result
                #expect(try await connection.query("SELECT count(*) FROM marks")[0].decode(Int.self, at: 0) == 0)
            }
        }
    }

    @Test("nextNotification stops at once when its task is cancelled")
    func cancelNotificationWait() async throws {
        try await withTemporaryDatabase { database in
            try await withConnection(to: database) { listener in
                try await listener.execute(script: "LISTEN wake")
                let started = ContinuousClock.now
                let waiting = Task { try await listener.nextNotification(timeout: .seconds(60)) }
                try await Task.sleep(for: .milliseconds(300))
                waiting.cancel()
                let result = await waiting.result
                #expect(ContinuousClock.now - started < .seconds(20))
                if case .failure(let error) = result { #expect(error is CancellationError) } else { Issue.record("should throw") }
                // The connection is still usable and still listening.
                try await withConnection(to: database) { try await $0.execute(script: "NOTIFY wake, 'after'") }
                #expect(try await listener.nextNotification(timeout: .seconds(10))?.payload == "after")
            }
        }
    }

    @Test("a transaction whose body swallowed a server error throws on commit, and nothing is kept")
    func swallowedErrorThrowsOnCommit() async throws {
        try await withTemporaryDatabase { database in
            try await withConnection(to: database) { connection in
                try await connection.execute(script: "CREATE TABLE t (k int PRIMARY KEY)")
                let error = await #expect(throws: PostgresError.self) {
                    try await connection.transaction { connection in
                        try await connection.query("INSERT INTO t VALUES (1)")
                        _ = try? await connection.query("INSERT INTO t VALUES (1)")  // unique violation, swallowed
                    }
                }
                #expect(error?.code == .transactionRolledBack)
                #expect(try await connection.query("SELECT count(*) FROM t")[0].decode(Int.self, at: 0) == 0)
                // A dry run: the body runs, nothing stays.
                try await connection.transaction(end: .rollback) { try await $0.query("INSERT INTO t VALUES (2)") }
                #expect(try await connection.query("SELECT count(*) FROM t")[0].decode(Int.self, at: 0) == 0)
                try await connection.transaction { try await $0.query("INSERT INTO t VALUES (3)") }
                #expect(try await connection.query("SELECT count(*) FROM t")[0].decode(Int.self, at: 0) == 1)
            }
        }
    }

    @Test("statement_timeout applies only when asked for, and its error says where and what")
    func statementTimeout() async throws {
        try await withTemporaryDatabase { database in
            let short = try await PostgresConnection.connect(
                PostgresConnectionConfiguration(connectionString: database.url, statementTimeout: .seconds(1)))
            let error = await #expect(throws: PostgresError.self) { try await short.query("SELECT pg_sleep(5)") }
            #expect(error?.sqlState == "57014")
            #expect(error?.message.contains("statement timeout") == true)
            #expect(error?.message.contains("127.0.0.1") == true, "\(error?.message ?? "")")
            #expect(error?.hint?.contains("statement_timeout") == true)
            await short.close()
            let plain = try await PostgresConnection.connect(PostgresConnectionConfiguration(connectionString: database.url))
            #expect(try await plain.query("SELECT current_setting('statement_timeout')")[0].decode(String.self, at: 0) == "0")
            await plain.close()
        }
    }

    @Test("idle_in_transaction_session_timeout ends a session left in a transaction")
    func idleInTransaction() async throws {
        try await withTemporaryDatabase { database in
            let connection = try await PostgresConnection.connect(
                PostgresConnectionConfiguration(connectionString: database.url, idleInTransactionTimeout: .seconds(1)))
            try await connection.execute(script: "BEGIN")
            try await Task.sleep(for: .seconds(3))
            let error = await #expect(throws: PostgresError.self) { try await connection.query("SELECT 1") }
            #expect(error?.isConnectionFailure == true, "\(String(describing: error))")
            #expect(error?.message.contains("127.0.0.1") == true)
            await connection.close()
        }
    }

    @Test("a malformed connection string is a clear error without the password")
    func malformedConnectionString() async throws {
        let error = await #expect(throws: PostgresError.self) {
            try await PostgresConnection.connect(to: "postgresql://ada:s3cret@localhost:notaport/x")
        }
        #expect(error?.message.contains("s3cret") == false)
        let refused = await #expect(throws: PostgresError.self) {
            try await PostgresConnection.connect(to: "postgresql://ada:s3cret@127.0.0.1:1/x")
        }
        #expect(refused?.message.contains("127.0.0.1:1") == true)
        #expect(refused?.message.contains("s3cret") == false)
    }
}
