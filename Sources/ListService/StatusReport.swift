import Foundation
import Postgres

/// What `listctl status` shows: per list, subscribers by status and issues by state.
public struct StatusReport: Sendable, Encodable {
    public struct ListSummary: Sendable, Encodable {
        public let slug: String
        public let subscriptions: [String: Int]
        public let issues: [String: Int]
    }
    public let embedded: Bool
    public let schemaVersion: Int
    public let lists: [ListSummary]
    public let suppressions: Int
    public let pendingDeliveries: Int

    /// Reads the report in one snapshot.
    public static func load(from database: ListDatabase) async throws -> StatusReport {
        try await database.pool.withConnection { connection in
            try await connection.transaction { connection in
                try await connection.execute(script: "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                let version = try await connection.query("SELECT coalesce(max(version), 0) FROM listctl_schema_migrations")[0].decode(Int.self, at: 0)
                var subscriptions: [String: [String: Int]] = [:]
                for row in try await connection.query("""
                    SELECT l.slug, s.status, count(*) FROM subscriptions s JOIN lists l ON l.id = s.list_id
                    GROUP BY l.slug, s.status
                    """) {
                    subscriptions[try row.decode(at: 0), default: [:]][try row.decode(at: 1)] = try row.decode(Int.self, at: 2)
                }
                var issues: [String: [String: Int]] = [:]
                for row in try await connection.query("""
                    SELECT l.slug, i.state, count(*) FROM issues i JOIN lists l ON l.id = i.list_id WHERE i.kind = 'issue' GROUP BY l.slug, i.state
                    """) {
                    issues[try row.decode(at: 0), default: [:]][try row.decode(at: 1)] = try row.decode(Int.self, at: 2)
                }
                let slugs = try await connection.query("SELECT slug FROM lists ORDER BY slug").map { try $0.decode(String.self, at: 0) }
                let suppressions = try await connection.query("SELECT count(*) FROM suppressions")[0].decode(Int.self, at: 0)
                let pending = try await connection.query("SELECT count(*) FROM deliveries WHERE state = 'pending'")[0].decode(Int.self, at: 0)
                return StatusReport(
                    embedded: database.isEmbedded, schemaVersion: version,
                    lists: slugs.map { ListSummary(slug: $0, subscriptions: subscriptions[$0] ?? [:], issues: issues[$0] ?? [:]) },
                    suppressions: suppressions, pendingDeliveries: pending)
            }
        }
    }
}
