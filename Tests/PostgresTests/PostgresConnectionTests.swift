import Foundation
import Postgres
import TestSupport
import Testing

@Suite("PostgreSQL layer over libpq")
struct PostgresConnectionTests {
    @Test("every decoded type round-trips, NULL included")
    func roundTripTypes() async throws {
        try await withTemporaryDatabase { database in
            let connection = try await database.connect()
            let text = "Grüße, 世界 🎉 'quotes' \"double\" \\ backslash"
            let date = Date(timeIntervalSince1970: 1_764_243_425.123456)
            let bytes = Data((0...255).map { UInt8($0) })
            let row = try await connection.query(
                "SELECT $1::text, $2::bigint, $3::int, $4::boolean, $5::float8, $6::timestamptz, $7::bytea, $8::jsonb, $9::text[], $10::bigint[], $11::text, $12::int",
                text, Int64.max, Int32.min, true, 3.25, date, bytes, PostgresJSON(text: #"{"a": [1, "ü"]}"#),
                ["a", "b c", "\"q\"", "back\\slash", "", "NULL"], [1, -2, 3], String?.none, Int?.none
            )[0]
            #expect(try row.decode(String.self, at: 0) == text)
            #expect(try row.decode(Int64.self, at: 1) == Int64.max)
            #expect(try row.decode(Int32.self, at: 2) == Int32.min)
            #expect(try row.decode(Bool.self, at: 3) == true)
            #expect(try row.decode(Double.self, at: 4) == 3.25)
            let decodedDate = try row.decode(Date.self, at: 5)
            #expect(abs(decodedDate.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.000_002)
            #expect(try row.decode(Data.self, at: 6) == bytes)
            struct Doc: Decodable, Equatable { let a: [Value]; enum Value: Decodable, Equatable { case int(Int), string(String)
                init(from decoder: any Decoder) throws { let c = try decoder.singleValueContainer(); if let i = try? c.decode(Int.self) { self = .int(i) } else { self = .string(try c.decode(String.self)) } } } }
            #expect(try row.decode(PostgresJSON.self, at: 7).decode(Doc.self) == Doc(a: [.int(1), .string("ü")]))
            #expect(try row.decode([String].self, at: 8) == ["a", "b c", "\"q\"", "back\\slash", "", "NULL"])
            #expect(try row.decode([Int].self, at: 9) == [1, -2, 3])
            #expect(try row.decode(String?.self, at: 10) == nil)
            #expect(try row.decode(Int?.self, at: 11) == nil)
            #expect(try row.decode(String?.self, column: "text") == text)
            #expect(throws: PostgresError.self) { try row.decode(String.self, at: 10) }
            #expect(throws: PostgresError.self) { try row.decode(Int.self, at: 0) }
            await connection.close()
        }
    }

    @Test("prepared statements: prepared once per session, the same rows as unprepared, again after DEALLOCATE ALL, errors as usual")
    func preparedStatements() async throws {
        try await withTemporaryDatabase { database in
            let connection = try await database.connect()
            let sql = "SELECT $1::int + 1, $2::text"
            for value in [1, 41, -5] {
                let row = try await connection.query(prepared: sql, [value, "v\(value)"])[0]
                #expect(try row.decode(Int.self, at: 0) == value + 1)
                #expect(try row.decode(String.self, at: 1) == "v\(value)")
            }
            let prepared = "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1"
            #expect(try await connection.query(prepared, sql)[0].decode(Int.self, at: 0) == 1, "prepared once, not per call")
            // Forgotten behind the connection's back: prepared again, once.
            try await connection.execute(script: "DEALLOCATE ALL")
            #expect(try await connection.query(prepared: sql, [9, "x"])[0].decode(Int.self, at: 0) == 10)
            #expect(try await connection.query(prepared, sql)[0].decode(Int.self, at: 0) == 1)
            // A statement that does not parse fails like an unprepared one, and the session goes on.
            let bad = await #expect(throws: PostgresError.self) { try await connection.query(prepared: "SELEC 1", []) }
            #expect(bad?.sqlState == "42601")
            let failing = await #expect(throws: PostgresError.self) { try await connection.query(prepared: "SELECT 1 / $1::int", [0]) }
            #expect(failing?.sqlState == "22012")
            #expect(try await connection.query(prepared: "SELECT 1 / $1::int", [1])[0].decode(Int.self, at: 0) == 1)
            await connection.close()
        }
    }

    @Test("a large value survives intact")
    func largeValue() async throws {
        try await withTemporaryDatabase { database in
            let connection = try await database.connect()
            let big = String(repeating: "abcdefghij€", count: 500_000)  // ~6.5 MB
            let echoed = try await connection.query("SELECT $1::text, length($1::text)", big)[0]
            #expect(try echoed.decode(String.self, at: 0) == big)
            #expect(try echoed.decode(Int.self, at: 1) == big.count)
            await connection.close()
        }
    }

    @Test("server errors carry SQLSTATE, detail and constraint")
    func serverErrors() async throws {
        try await withTemporaryDatabase { database in
            let connection = try await database.connect()
            try await connection.execute(script: "CREATE TABLE t (k text CONSTRAINT t_k_key UNIQUE)")
            try await connection.query("INSERT INTO t VALUES ($1)", "x")
            let unique = await #expect(throws: PostgresError.self) {
                try await connection.query("INSERT INTO t VALUES ($1)", "x")
            }
            #expect(unique?.sqlState == "23505")
            #expect(unique?.isUniqueViolation == true)
            #expect(unique?.constraint == "t_k_key")
            #expect(unique?.detail?.contains("(k)=(x)") == true)
            let syntax = await #expect(throws: PostgresError.self) { try await connection.query("SELEC 1") }
            #expect(syntax?.sqlState == "42601")
            #expect(syntax?.code == .server)
            // The connection stays usable after errors.
            #expect(try await connection.query("SELECT 1")[0].decode(Int.self, at: 0) == 1)
            let nul = await #expect(throws: PostgresError.self) { try await connection.query("SELECT $1::text", "a\u{0}b") }
            #expect(nul?.code == .invalidArgument)
            await connection.close()
            let closed = await #expect(throws: PostgresError.self) { try await connection.query("SELECT 1") }
            #expect(closed?.code == .connectionClosed)
        }
    }

    @Test("connection refused is a readable error")
    func connectionRefused() async throws {
        let error = await #expect(throws: PostgresError.self) {
            _ = try await PostgresConnection.connect(to: "postgresql://nobody:s3cret-password@127.0.0.1:1/none?connect_timeout=2")
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("127.0.0.1") == true)
        #expect(error?.message.lowercased().contains("refused") == true)
        #expect(error?.description.contains("s3cret-password") == false)
    }

    @Test("transactions commit, and roll back on error")
    func transactions() async throws {
        try await withTemporaryDatabase { database in
            let connection = try await database.connect()
            try await connection.execute(script: "CREATE TABLE t (n int)")
            _ = try await connection.transaction { try await $0.query("INSERT INTO t VALUES (1)") }
            struct Boom: Error {}
            await #expect(throws: Boom.self) {
                try await connection.transaction { connection in
                    try await connection.query("INSERT INTO t VALUES (2)")
                    throw Boom()
                }
            }
            await #expect(throws: PostgresError.self) {
                try await connection.transaction { try await $0.query("INSERT INTO t VALUES ('x')") }
            }
            #expect(try await connection.query("SELECT array_agg(n ORDER BY n) FROM t")[0].decode([Int].self, at: 0) == [1])
            await connection.close()
        }
    }

    @Test("COPY FROM STDIN streams 100k rows; an aborted COPY writes nothing")
    func copy100k() async throws {
        try await withTemporaryDatabase { database in
            let connection = try await database.connect()
            try await connection.execute(script: "CREATE TABLE t (n int, s text)")
            let copied = try await connection.copyFrom("COPY t (n, s) FROM STDIN") { writer in
                for n in 0..<100_000 { try await writer.write("\(n)\trow \(n) é\n") }
            }
            #expect(copied == 100_000)
            let row = try await connection.query("SELECT count(*), sum(n), max(s) FROM t WHERE s LIKE 'row % é'")[0]
            #expect(try row.decode(Int.self, at: 0) == 100_000)
            #expect(try row.decode(Int.self, at: 1) == 4_999_950_000)
            struct Stop: Error {}
            await #expect(throws: Stop.self) {
                _ = try await connection.copyFrom("COPY t (n, s) FROM STDIN") { writer in
                    try await writer.write("1\tone\n")
                    throw Stop()
                }
            }
            let bad = await #expect(throws: PostgresError.self) {
                _ = try await connection.copyFrom("COPY t (n, s) FROM STDIN") { try await $0.write("not-a-number\tx\n") }
            }
            #expect(bad?.sqlState == "22P02")
            #expect(try await connection.query("SELECT count(*) FROM t")[0].decode(Int.self, at: 0) == 100_000)
            await connection.close()
        }
    }

    @Test("LISTEN/NOTIFY between two connections")
    func listenNotify() async throws {
        try await withTemporaryDatabase { database in
            let listener = try await database.connect()
            let sender = try await database.connect()
            try await listener.execute(script: "LISTEN listctl_test")
            #expect(try await listener.nextNotification(timeout: .milliseconds(50)) == nil)
            try await sender.query("SELECT pg_notify('listctl_test', $1)", "hello ü")
            let notification = try await listener.nextNotification(timeout: .seconds(5))
            #expect(notification?.channel == "listctl_test")
            #expect(notification?.payload == "hello ü")
            #expect(try await notification?.senderPID == sender.backendPID())
            await listener.close()
            await sender.close()
        }
    }

    @Test("advisory locks exclude a second session")
    func advisoryLocks() async throws {
        try await withTemporaryDatabase { database in
            let first = try await database.connect()
            let second = try await database.connect()
            let heldElsewhere = try await first.withAdvisoryLock(42) {
                try await second.tryAdvisoryLock(42)
            }
            #expect(heldElsewhere == false)
            #expect(try await second.tryAdvisoryLock(42) == true)
            await first.close()
            await second.close()
        }
    }

    @Test("the pool serves concurrent callers with at most N connections")
    func pool() async throws {
        try await withTemporaryDatabase { database in
            let pool = PostgresPool(connectionString: database.url, maximumConnections: 3)
            let pids = try await withThrowingTaskGroup(of: Int32.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        try await pool.withConnection { connection in
                            try await connection.query("SELECT pg_sleep(0.02)")
                            return try await connection.backendPID()
                        }
                    }
                }
                return try await group.reduce(into: Set<Int32>()) { $0.insert($1) }
            }
            #expect(pids.count <= 3)
            #expect(pids.count >= 1)
            // A connection returned inside an open transaction is not reused in that state.
            try await pool.withConnection { try await $0.execute(script: "BEGIN; CREATE TABLE leaked (n int)") }
            for _ in 0..<3 {
                let leaked = try await pool.withConnection { connection in
                    try await connection.query("SELECT to_regclass('leaked') IS NOT NULL")[0].decode(Bool.self, at: 0)
                }
                #expect(leaked == false)
            }
            await pool.close()
        }
    }
}
