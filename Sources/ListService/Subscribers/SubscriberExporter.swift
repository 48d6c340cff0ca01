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

    /// One JSON object (attributes inline), for `--format json`.
    public var jsonObject: String {
        var text = "{\"email\":\(JSONText.quoted(email)),\"name\":\(JSONText.quoted(name)),\"status\":\(JSONText.quoted(status))"
        text += ",\"created_at\":\"\(Self.iso(createdAt))\",\"subscribed_at\":\"\(Self.iso(subscribedAt))\""
        text += ",\"unsubscribed_at\":" + (unsubscribedAt.map { "\"\(Self.iso($0))\"" } ?? "null")
        text += ",\"suppressed\":\(suppressed),\"list\":\(JSONText.quoted(list)),\"attributes\":\(attributesJSON)}"
        return text
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
