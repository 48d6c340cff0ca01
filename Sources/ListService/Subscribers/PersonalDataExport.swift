import Postgres
import Foundation

/// `listctl subscribers export-person EMAIL`: everything listctl holds about
/// one person, as one JSON object, for a GDPR access request (Art. 15): the
/// subscriber row, each subscription, the suppression, every event that
/// names them, and every delivery of an issue to them (compacted ones too).
public struct PersonalDataExport: Sendable, Codable {
    public struct Delivery: Sendable, Codable {
        public var issue: Int64
        public var list: String?
        public var subject: String
        public var state: String
        public var partsSent: Int
        public var parts: Int
        public var messageIDs: [String]
        public var lastError: String?
        public var updatedAt: Date?
    }

    public var exportedAt: Date
    public var subscriber: SubscriberRecord
    public var deliveries: [Delivery]

    public static func load(_ email: String, database: ListDatabase) async throws -> PersonalDataExport {
        let record = try await SubscriberRecord.load(email, database: database, eventLimit: nil)
        let address = try SuppressionList.key(email)
        let deliveries: [Delivery] = try await database.pool.withConnection { connection in
            guard let id: Int64 = try await connection.query("SELECT id FROM subscribers WHERE email_key = lower($1)", address).first?
                .decode(at: 0)
            else { return [] }
            let rows = try await connection.query("""
                SELECT d.issue_id, l.slug, i.subject, d.state, d.next_part - 1, d.part_count, array_to_string(d.message_ids, E'\\n'), d.last_error, d.updated_at
                FROM deliveries d JOIN issues i ON i.id = d.issue_id LEFT JOIN lists l ON l.id = i.list_id
                WHERE d.subscriber_id = $1
                UNION ALL
                SELECT s.issue_id, l.slug, i.subject, 'sent', s.part_count, s.part_count, '', NULL, s.last_sent_at
                FROM delivery_summaries s JOIN issues i ON i.id = s.issue_id LEFT JOIN lists l ON l.id = i.list_id
                WHERE $1 = ANY (s.subscriber_ids)
                ORDER BY 1
                """, id)
            return try rows.map {
                Delivery(issue: try $0.decode(at: 0), list: try $0.decode(at: 1), subject: try $0.decode(at: 2), state: try $0.decode(at: 3),
                         partsSent: try $0.decode(at: 4), parts: try $0.decode(at: 5), messageIDs: (try $0.decode(String.self, at: 6)).split(separator: "\n").map(String.init),
                         lastError: try $0.decode(at: 7), updatedAt: try $0.decode(at: 8))
            }
        }
        return PersonalDataExport(exportedAt: Date(), subscriber: record, deliveries: deliveries)
    }
}
