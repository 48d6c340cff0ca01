public import Foundation
import Postgres

/// A fresh, empty database on the throwaway server that `make test` starts,
/// one per test (or suite) so tests can run in parallel.
public struct TestDatabase: Sendable {
    /// libpq URI of the new database.
    public let url: String
    public let name: String

    /// Creates `test_<random>` on the server named by `LISTCTL_TEST_DATABASE_URL`.
    /// Fails (never skips) when the variable is missing: run the tests with `make test`.
    public static func make() async throws -> TestDatabase {
        let admin = try adminURL()
        let name = "test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let connection = try await PostgresConnection.connect(to: admin)
        try await connection.execute(script: "CREATE DATABASE \(name)")
        await connection.close()
        guard let slash = admin.range(of: "/", options: .backwards) else {
            throw TestSupportError(message: "LISTCTL_TEST_DATABASE_URL must be a URI ending in /DBNAME")
        }
        return TestDatabase(url: admin[..<slash.lowerBound] + "/" + name, name: String(name))
    }

    /// The server's maintenance database (`postgres`) URI.
    public static func adminURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["LISTCTL_TEST_DATABASE_URL"], !url.isEmpty else {
            throw TestSupportError(message: "LISTCTL_TEST_DATABASE_URL is not set: run the tests with `make test`, which starts a throwaway PostgreSQL")
        }
        return url
    }

    public func connect() async throws -> PostgresConnection {
        try await PostgresConnection.connect(to: url)
    }

    /// Drops the database (best effort; the server is thrown away anyway).
    /// Prefer ``withTemporaryDatabase(isolation:_:)``, which awaits it.
    public func drop() async {
        guard let admin = try? Self.adminURL(), let connection = try? await PostgresConnection.connect(to: admin) else { return }
        _ = try? await connection.execute(script: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        await connection.close()
    }
}

/// Runs `body` with a fresh database and drops it, awaited, however `body`
/// ends: a failed test leaves nothing behind.
public func withTemporaryDatabase<T>(
    isolation: isolated (any Actor)? = #isolation, _ body: (TestDatabase) async throws -> T
) async throws -> T {
    let database = try await TestDatabase.make()
    do {
        let value = try await body(database)
        await database.drop()
        return value
    } catch {
        await database.drop()
        throw error
    }
}

/// Runs `body` with a connection to `database` and closes it, awaited, however `body` ends.
public func withConnection<T>(
    to database: TestDatabase, isolation: isolated (any Actor)? = #isolation,
    _ body: (PostgresConnection) async throws -> T
) async throws -> T {
    let connection = try await database.connect()
    do {
        let value = try await body(connection)
        await connection.close()
        return value
    } catch {
        await connection.close()
        throw error
    }
}

public struct TestSupportError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// A scratch directory under the test run's work folder.
public func makeTemporaryDirectory(_ prefix: String = "listctl") throws -> URL {
    let base = ProcessInfo.processInfo.environment["LISTCTL_TEST_WORK"] ?? NSTemporaryDirectory()
    let url = URL(fileURLWithPath: base).appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
