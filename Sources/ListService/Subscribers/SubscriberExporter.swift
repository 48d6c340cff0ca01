public import Foundation
import Postgres

/// One subscription as exported: who, on which list, in which state, since when.
public struct ExportedSubscriber: Sendable, Hashable {
    public var list: String
    public var email: String
    public var name: String
    public var status: String
    /// When the person first appeared (carried over from the source export on import).
    public var createdAt: Date
    /// When the subscription to this list was created.
    public var subscribedAt: Date
    public var unsubscribedAt: Date?
    /// The address is on the suppression list (never mailed, whatever the status).
    public var suppressed: Bool
    /// The subscriber's attributes, a JSON object as stored.
    public var attributesJSON: String

    /// The CSV header of ``csvFields``.
    public static let csvHeader = ["email", "name", "status", "created_at", "subscribed_at", "unsubscribed_at", "suppressed", "list", "attributes"]

    /// The fields in the order of ``csvHeader``; times in ISO 8601 UTC.
    public var csvFields: [String] {
        [email, name, status, Self.iso(createdAt), Self.iso(subscribedAt), unsubscribedAt.map(Self.iso) ?? "", suppressed ? "true" : "false",
         list, attributesJSON]
    }

    /// One JSON object for `--format json`, keys in camelCase and sorted:
    /// `attributes` (the stored object, inline and as stored: its keys are the
    /// source export's column names), `createdAt`, `email`, `list`, `name`,
    /// `status`, `subscribedAt`, `suppressed`, `unsubscribedAt` (null when subscribed).
    public var jsonObject: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let fields = JSONFields(
            createdAt: Self.iso(createdAt), email: email, list: list, name: name, status: status,
            subscribedAt: Self.iso(subscribedAt), suppressed: suppressed, unsubscribedAt: unsubscribedAt.map(Self.iso))
        let text = (try? encoder.encode(fields)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        // "attributes" sorts first: splice the stored JSON in verbatim after the
        // brace, so it is exactly what the database holds (no number rounding).
        return "{\"attributes\":\(attributesJSON.isEmpty ? "{}" : attributesJSON)," + text.dropFirst()
    }

    private struct JSONFields: Encodable {
        let createdAt: String
        let email: String
        let list: String
        let name: String
        let status: String
        let subscribedAt: String
        let suppressed: Bool
        let unsubscribedAt: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(createdAt, forKey: .createdAt)
            try container.encode(email, forKey: .email)
            try container.encode(list, forKey: .list)
            try container.encode(name, forKey: .name)
            try container.encode(status, forKey: .status)
            try container.encode(subscribedAt, forKey: .subscribedAt)
            try container.encode(suppressed, forKey: .suppressed)
            // null rather than absent: every object has the same keys.
            try container.encode(unsubscribedAt, forKey: .unsubscribedAt)
        }

        enum CodingKeys: String, CodingKey {
            case createdAt, email, list, name, status, subscribedAt, suppressed, unsubscribedAt
        }
    }

    static func iso(_ date: Date) -> String {
        date.ISO8601Format()
    }
}

/// Streams a list's subscribers out of the database, a page at a time
/// (keyset pagination on the subscriptions key), so memory stays flat.
public struct SubscriberExporter: Sendable {
    public let database: ListDatabase
    public static let statuses = ["pending", "active", "unsubscribed", "bounced", "complained"]

    public init(database: ListDatabase) { self.database = database }

    /// Calls `body` with successive pages of subscribers of `list` (every list
    /// when `nil`), optionally only those with `status`, in a stable order.
    ///
    /// - Throws: ``ListServiceError`` `.notFound` for an unknown list,
    ///   `.invalidInput` for an unknown status; what `body` throws.
    public func export(
        list: String?, status: String?, pageSize: Int = 5000,
        _ body: @Sendable ([ExportedSubscriber]) async throws -> Void
    ) async throws {
        if let status, !Self.statuses.contains(status) {
            throw ListServiceError(code: .invalidInput, message: "--status \(status): use one of \(Self.statuses.joined(separator: ", "))")
        }
        try await database.pool.withConnection { connection in
            var listID: Int64?
            if let list {
                guard let row = try await connection.query("SELECT id FROM lists WHERE slug = $1", list).first else {
                    throw ListServiceError(code: .notFound, message: "no list named \"\(list)\"; see `listctl lists`")
                }
                listID = try row.decode(at: 0)
            }
            var after: (Int64, Int64) = (0, 0)
            while true {
                let rows = try await connection.query(
                    """
                    SELECT sub.list_id, sub.subscriber_id, l.slug, s.email, s.name, sub.status, s.created_at, sub.created_at,
                           sub.unsubscribed_at, sp.email_key IS NOT NULL, s.attributes::text
                    FROM subscriptions sub
                    JOIN subscribers s ON s.id = sub.subscriber_id
                    JOIN lists l ON l.id = sub.list_id
                    LEFT JOIN suppressions sp ON sp.email_key = s.email_key
                    WHERE (sub.list_id, sub.subscriber_id) > ($1, $2)
                      AND ($3::bigint IS NULL OR sub.list_id = $3)
                      AND ($4::text IS NULL OR sub.status = $4)
                    ORDER BY sub.list_id, sub.subscriber_id
                    LIMIT $5
                    """, after.0, after.1, listID, status, pageSize)
                if rows.isEmpty { return }
                var page: [ExportedSubscriber] = []
                page.reserveCapacity(rows.count)
                for row in rows {
                    after = (try row.decode(at: 0), try row.decode(at: 1))
                    page.append(ExportedSubscriber(
                        list: try row.decode(at: 2), email: try row.decode(at: 3), name: try row.decode(at: 4),
                        status: try row.decode(at: 5), createdAt: try row.decode(at: 6), subscribedAt: try row.decode(at: 7),
                        unsubscribedAt: try row.decode(at: 8), suppressed: try row.decode(at: 9), attributesJSON: try row.decode(at: 10)))
                }
                try await body(page)
                if rows.count < pageSize { return }
            }
        }
    }
}
