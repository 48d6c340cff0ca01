import Foundation
import Logging
import Mailer
import Postgres

/// Records bounce and complaint reports (docs/BOUNCES.md): matches each
/// ``BounceNotice`` to the delivery it is about, then, in one transaction,
/// suppresses the address everywhere and stops that list's subscription (a
/// hard bounce, a complaint, or soft bounces on `softBounceLimit` issues),
/// with an event.
///
/// It never guesses. A report is matched by what it carries, in order of
/// trust: the VERP token (signed), the provider's message id (as the
/// transport stored it), listctl's Message-ID (its MAC recomputed for the
/// candidate subscriber), and the unsigned `X-Listctl-Trace` header, taken
/// only when the delivery's address is the report's recipient. A report
/// that matches nothing is ``BounceOutcome/unknown(reason:)`` and changes
/// nothing. Recording is idempotent per (address, issue, kind): a webhook
/// resent or a DSN ingested twice is ``BounceOutcome/alreadyRecorded(_:)``.
public struct BounceRecorder: Sendable {
    public let database: ListDatabase
    public let secrets: TokenSecrets
    /// Soft bounces on this many different issues suppress the address (`LISTCTL_SOFT_BOUNCE_LIMIT`).
    public let softBounceLimit: Int
    let logger: Logger

    public static let defaultSoftBounceLimit = 5

    /// - Parameter softBounceLimit: at least 1 (a programming error otherwise; read it with
    ///   ``softBounceLimit(from:)``).
    public init(database: ListDatabase, secrets: TokenSecrets, softBounceLimit: Int = defaultSoftBounceLimit, logger: Logger) {
        precondition(softBounceLimit >= 1, "the soft bounce limit must be at least 1")
        self.database = database
        self.secrets = secrets
        self.softBounceLimit = softBounceLimit
        self.logger = logger
    }

    /// `LISTCTL_SOFT_BOUNCE_LIMIT`, default 5.
    /// - Throws: ``ListServiceError`` `.configuration` for anything but a whole number from 1 to 1000.
    public static func softBounceLimit(from environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(ListServiceError) -> Int
    {
        guard let text = environment["LISTCTL_SOFT_BOUNCE_LIMIT"]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else {
            return defaultSoftBounceLimit
        }
        guard let limit = Int(text), (1...1000).contains(limit) else {
            throw ListServiceError(
                code: .configuration,
                message: "LISTCTL_SOFT_BOUNCE_LIMIT=\(text): must be a whole number from 1 to 1000 (soft bounces on that many issues suppress an address)")
        }
        return limit
    }

    /// Records one report, in one transaction.
    /// - Throws: `PostgresError` when the database fails (then nothing of this report was kept).
    public func record(_ notice: BounceNotice) async throws -> BounceOutcome {
        let outcome = try await database.pool.withConnection { connection in
            try await connection.transaction { connection in
                switch try await trace(notice, on: connection) {
                case .failure(let why):
                    return BounceOutcome.unknown(reason: why.reason)
                case .success(let match):
                    return try await apply(notice, to: match, on: connection)
                }
            }
        }
        switch outcome {
        case .unknown(let reason):
            logger.info("bounce.unknown", metadata: ["bounce.source": "\(notice.source)", "bounce.reason": "\(reason)"])
        case .suppressed(let match, _), .counted(let match, _, _), .alreadyRecorded(let match):
            logger.info("bounce.recorded", metadata: [
                "bounce.source": "\(notice.source)", "bounce.kind": "\(notice.kind.rawValue)", "bounce.outcome": "\(outcome.label)",
                "issue.id": "\(match.issueID)", "subscriber.id": "\(match.subscriberID)", "bounce.traced_by": "\(match.tracedBy.rawValue)",
            ])
        }
        return outcome
    }

    /// Records each report in turn, each in its own transaction.
    public func record(_ notices: [BounceNotice]) async throws -> [BounceOutcome] {
        var outcomes: [BounceOutcome] = []
        outcomes.reserveCapacity(notices.count)
        for notice in notices { outcomes.append(try await record(notice)) }
        return outcomes
    }

    // MARK: Tracing

    struct NotTraced: Error {
        var reason: String
    }

    /// The delivery `notice` is about, by the first of its fields that proves it; else why not.
    func trace(_ notice: BounceNotice, on connection: PostgresConnection) async throws -> Result<BounceMatch, NotTraced> {
        var refusals: [String] = []
        let recipient = notice.recipient.flatMap { Self.normalized($0) }
        if let text = notice.recipient, recipient == nil, !text.isEmpty {
            refusals.append("the recipient \(EmailAddress.quoted(text)) is not an address")
        }

        if let token = nonEmpty(notice.verpToken) {
            switch try await traceVERP(token, on: connection) {
            case .success(let match): return .success(match)
            case .failure(let why): refusals.append(why.reason)
            }
        }
        if let id = nonEmpty(notice.providerMessageID) {
            switch try await traceProviderID(id, recipient: recipient, on: connection) {
            case .success(let match): return .success(match)
            case .failure(let why): refusals.append(why.reason)
            }
        }
        let trace = nonEmpty(notice.trace).flatMap { MessageBuilder.parseTrace($0) }
        if let text = nonEmpty(notice.trace), trace == nil {
            refusals.append("X-Listctl-Trace \(text.debugDescription) is not issue.subscriber.part")
        }
        if let id = nonEmpty(notice.messageID) {
            switch try await traceMessageID(id, recipient: recipient, trace: trace, on: connection) {
            case .success(let match): return .success(match)
            case .failure(let why): refusals.append(why.reason)
            }
        }
        if let trace {
            switch try await traceHeader(trace, recipient: recipient, on: connection) {
            case .success(let match): return .success(match)
            case .failure(let why): refusals.append(why.reason)
            }
        }
        if refusals.isEmpty {
            refusals.append("the report carries no VERP token, provider message id, listctl Message-ID or X-Listctl-Trace")
        }
        return .failure(NotTraced(reason: refusals.joined(separator: "; ")))
    }

    /// A VERP token is signed: it names (list, subscriber, issue) for certain; the delivery must still exist.
    func traceVERP(_ text: String, on connection: PostgresConnection) async throws -> Result<BounceMatch, NotTraced> {
        let token: SubscriberToken
        do {
            token = try SubscriberToken.verify(text, purpose: .bounce, secrets: secrets)
        } catch {
            return .failure(NotTraced(reason: "VERP token refused: \(error.message)"))
        }
        guard let issue = token.issueID else {
            return .failure(NotTraced(reason: "VERP token names no issue"))
        }
        guard let delivery = try await delivery(issue: issue, subscriber: token.subscriberID, on: connection),
            delivery.listID == token.listID
        else {
            return .failure(NotTraced(
                reason: "VERP token names issue \(issue), subscriber \(token.subscriberID): no such delivery (deleted or erased since)"))
        }
        return .success(delivery.match(part: nil, tracedBy: .verp))
    }

    /// The provider's id of the message: unique to one delivery, and the recipient must be its address.
    func traceProviderID(_ id: String, recipient: String?, on connection: PostgresConnection) async throws
        -> Result<BounceMatch, NotTraced>
    {
        let rows = try await connection.query(Self.byProviderID, id)
        guard rows.count == 1 else {
            return .failure(NotTraced(
                reason: rows.isEmpty
                    ? "no delivery has provider message id \(id.debugDescription) (it may be of a compacted issue, whose ids are not kept)"
                    : "provider message id \(id.debugDescription) is on more than one delivery"))
        }
        let issue: Int64 = try rows[0].decode(at: 0), subscriber: Int64 = try rows[0].decode(at: 1)
        guard let delivery = try await delivery(issue: issue, subscriber: subscriber, on: connection) else {
            return .failure(NotTraced(reason: "the delivery of provider message id \(id.debugDescription) is gone"))
        }
        if let recipient, recipient.lowercased() != delivery.email.lowercased() {
            return .failure(NotTraced(reason: "provider message id \(id.debugDescription) was sent to another address than the report's recipient"))
        }
        return .success(delivery.match(part: nil, tracedBy: .providerMessageID))
    }

    /// `listctl.<issue>.<part>.<mac>@domain`: the MAC names no subscriber, so it is recomputed for the
    /// candidates the report offers (the trace header's subscriber, the recipient's subscriber id) only.
    func traceMessageID(
        _ text: String, recipient: String?, trace: (issue: String, subscriber: String, part: Int)?, on connection: PostgresConnection
    ) async throws -> Result<BounceMatch, NotTraced> {
        guard let id = Self.parseMessageID(text) else {
            return .failure(NotTraced(reason: "Message-ID <\(Self.bare(text))> is not one listctl makes"))
        }
        var candidates: [Int64] = []
        if let trace, trace.issue == String(id.issue), trace.part == id.part, let subscriber = Int64(trace.subscriber) {
            candidates.append(subscriber)
        }
        if let recipient,
            let subscriber: Int64 = try await connection.query("SELECT id FROM subscribers WHERE email_key = lower($1)", recipient)
                .first?.decode(at: 0), !candidates.contains(subscriber)
        {
            candidates.append(subscriber)
        }
        guard !candidates.isEmpty else {
            return .failure(NotTraced(
                reason: "Message-ID <\(Self.bare(text))>: the report names no subscriber of ours to check it against"))
        }
        guard let keyRow = try await connection.query("SELECT message_key FROM issues WHERE id = $1", id.issue).first else {
            return .failure(NotTraced(reason: "Message-ID <\(Self.bare(text))> names issue \(id.issue), which does not exist"))
        }
        let stored: Data? = try keyRow.decode(at: 0)
        // Issues made before schema 0005 keyed their Message-IDs with the secret then current.
        let keys = stored.map { [Array($0)] } ?? secrets.keys.map(\.bytes)
        for subscriber in candidates {
            let genuine = keys.contains { key in
                TokenCrypto.constantTimeEqual(
                    Array(IssueMessages.messageIDMAC(key: key, issue: id.issue, part: id.part, subscriber: subscriber).utf8),
                    Array(id.mac.utf8))
            }
            guard genuine else { continue }
            guard let delivery = try await delivery(issue: id.issue, subscriber: subscriber, on: connection) else {
                return .failure(NotTraced(reason: "Message-ID <\(Self.bare(text))>: its delivery is gone (deleted or erased since)"))
            }
            return .success(delivery.match(part: id.part, tracedBy: .messageID))
        }
        return .failure(NotTraced(reason: "Message-ID <\(Self.bare(text))> is not one listctl made for this recipient"))
    }

    /// `X-Listctl-Trace: issue.subscriber.part` is not signed: anyone can write one. Taken only when that
    /// delivery exists and went to the report's recipient.
    func traceHeader(_ trace: (issue: String, subscriber: String, part: Int), recipient: String?, on connection: PostgresConnection)
        async throws -> Result<BounceMatch, NotTraced>
    {
        let text = MessageBuilder.trace(issue: trace.issue, subscriber: trace.subscriber, part: trace.part)
        guard let issue = Int64(trace.issue), let subscriber = Int64(trace.subscriber), issue >= 0, subscriber >= 0 else {
            return .failure(NotTraced(reason: "X-Listctl-Trace \(text) does not name an issue and a subscriber"))
        }
        guard let recipient else {
            return .failure(NotTraced(reason: "X-Listctl-Trace \(text) is not signed, and the report names no recipient to check it against"))
        }
        guard let delivery = try await delivery(issue: issue, subscriber: subscriber, on: connection) else {
            return .failure(NotTraced(reason: "X-Listctl-Trace \(text): no such delivery"))
        }
        guard delivery.email.lowercased() == recipient.lowercased() else {
            return .failure(NotTraced(reason: "X-Listctl-Trace \(text): that delivery went to another address than the report's recipient (refused)"))
        }
        return .success(delivery.match(part: trace.part, tracedBy: .trace))
    }

    /// A delivery as found in the ledger or, for a compacted issue, its summaries.
    struct FoundDelivery {
        var issueID: Int64
        var subscriberID: Int64
        var listID: Int64
        var list: String
        /// The address it went to: as stored in the ledger row; for a compacted issue the subscriber's
        /// current address (the summaries keep ids only, docs/LEDGER.md §11).
        var email: String
        var compacted: Bool

        func match(part: Int?, tracedBy: BounceMatch.TracedBy) -> BounceMatch {
            BounceMatch(
                email: email, list: list, listID: listID, issueID: issueID, subscriberID: subscriberID, part: part,
                tracedBy: tracedBy, compacted: compacted)
        }
    }

    func delivery(issue: Int64, subscriber: Int64, on connection: PostgresConnection) async throws -> FoundDelivery? {
        guard let row = try await connection.query(Self.delivery, issue, subscriber).first else { return nil }
        return FoundDelivery(
            issueID: issue, subscriberID: subscriber, listID: try row.decode(at: 0), list: try row.decode(at: 1),
            email: try row.decode(at: 2), compacted: try row.decode(at: 3))
    }

    // MARK: Recording

    func apply(_ notice: BounceNotice, to match: BounceMatch, on connection: PostgresConnection) async throws -> BounceOutcome {
        // One report at a time per person: the soft count and the suppression see each other's rows.
        try await connection.query("SELECT 1 FROM subscribers WHERE id = $1 FOR UPDATE", match.subscriberID)
        let inserted = try await connection.query(
            Self.insertReport, match.email, match.issueID, notice.kind.rawValue, match.listID, match.subscriberID,
            notice.source, match.tracedBy.rawValue, String(notice.detail.prefix(Self.maxDetail)), notice.occurredAt)
        guard !inserted.isEmpty else { return .alreadyRecorded(match) }

        let reason: String?
        var softCount: Int?
        switch notice.kind {
        case .hardBounce: reason = "hard_bounce"
        case .complaint: reason = "complaint"
        case .softBounce:
            let count: Int = try await connection.query(Self.softBounces, match.email)[0].decode(at: 0)
            softCount = count
            reason = count >= softBounceLimit ? "soft_bounce_limit" : nil
        }
        var suppressed = false
        var before: String?
        if let reason {
            suppressed = !(try await connection.query(
                Self.suppress, match.email, reason, Self.suppressionDetail(notice, match)).isEmpty)
            let status = notice.kind == .complaint ? "complained" : "bounced"
            if let row = try await connection.query(Self.stopSubscription, match.listID, match.subscriberID, status).first {
                let changed: Bool = try row.decode(at: 1)
                if changed { before = try row.decode(at: 0) }
            }
        }
        try await connection.query(
            Self.event, notice.kind == .complaint ? "complained" : "bounced", match.listID, match.subscriberID, match.issueID,
            match.email, notice.source, notice.kind.rawValue, match.tracedBy.rawValue, String(notice.detail.prefix(Self.maxDetail)),
            notice.recipient, match.part, suppressed, before, softCount, reason)
        if let reason { return .suppressed(match, reason: reason) }
        return .counted(match, soft: softCount ?? 0, limit: softBounceLimit)
    }

    /// Reports can carry a whole SMTP transcript; the stored diagnostic is cut here.
    static let maxDetail = 1000

    static func suppressionDetail(_ notice: BounceNotice, _ match: BounceMatch) -> String {
        let what = switch notice.kind {
        case .hardBounce: "hard bounce"
        case .softBounce: "soft bounces on issues up to"
        case .complaint: "complaint"
        }
        return "\(notice.source) \(what) issue \(match.issueID): \(notice.detail.prefix(200))"
    }

    // MARK: Parsing

    /// `listctl.<issue>.<part>.<mac>@domain`, with or without `<>`.
    static func parseMessageID(_ text: String) -> (issue: Int64, part: Int, mac: String)? {
        let id = bare(text)
        guard let at = id.lastIndex(of: "@") else { return nil }
        let fields = id[..<at].split(separator: ".", omittingEmptySubsequences: false)
        guard fields.count == 4, fields[0] == "listctl", let issue = Int64(fields[1]), issue >= 0,
            let part = Int(fields[2]), part >= 1, fields[3].utf8.count == 22
        else { return nil }
        return (issue, part, String(fields[3]))
    }

    static func bare(_ text: String) -> String {
        var id = text.trimmingCharacters(in: .whitespaces)
        if id.hasPrefix("<") && id.hasSuffix(">") && id.count >= 2 { id = String(id.dropFirst().dropLast()) }
        return id
    }

    /// The address as subscribers store it (punycode domain), or nil for something that is not one.
    static func normalized(_ text: String) -> String? {
        try? SuppressionList.key(text.trimmingCharacters(in: .whitespaces))
    }

    private func nonEmpty(_ text: String?) -> String? {
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        return text
    }

    // MARK: SQL

    /// $1 issue, $2 subscriber: the delivery's list and address, from the ledger or a compacted summary.
    static let delivery = """
        SELECT i.list_id, l.slug, d.email, false
        FROM deliveries d JOIN issues i ON i.id = d.issue_id JOIN lists l ON l.id = i.list_id
        WHERE d.issue_id = $1::bigint AND d.subscriber_id = $2::bigint
        UNION ALL
        SELECT i.list_id, l.slug, sub.email, true
        FROM delivery_summaries s JOIN issues i ON i.id = s.issue_id JOIN lists l ON l.id = i.list_id
             JOIN subscribers sub ON sub.id = $2::bigint
        WHERE s.issue_id = $1::bigint AND s.id_block = $2::bigint / 10000 AND $2::bigint = ANY (s.subscriber_ids)
        LIMIT 1
        """

    /// $1 provider message id; at most two rows (two mean it is ambiguous). The `<> '{}'` lets the partial GIN index serve it.
    static let byProviderID = """
        SELECT issue_id, subscriber_id FROM deliveries
        WHERE message_ids @> ARRAY[$1::text] AND message_ids <> '{}'
        LIMIT 2
        """

    /// $1 address, $2 issue, $3 kind, $4 list, $5 subscriber, $6 source, $7 traced by, $8 detail, $9 occurred at.
    /// No row back: this report was recorded before.
    static let insertReport = """
        INSERT INTO bounce_reports (email_key, issue_id, kind, list_id, subscriber_id, source, traced_by, detail, occurred_at)
        VALUES (lower($1), $2, $3, $4, $5, $6, $7, $8, $9::timestamptz)
        ON CONFLICT (email_key, issue_id, kind) DO NOTHING
        RETURNING 1
        """

    /// $1 address: the issues it soft-bounced on since its suppression was last lifted (`listctl suppressions remove`).
    static let softBounces = """
        SELECT count(*) FROM bounce_reports b
        WHERE b.email_key = lower($1) AND b.kind = 'soft_bounce'
          AND b.recorded_at > coalesce((
                SELECT max(e.occurred_at) FROM events e
                WHERE e.email_key = lower($1) AND e.kind = 'suppressed' AND e.detail->>'action' = 'removed'), '-infinity')
        """

    /// $1 address, $2 reason, $3 detail. A row back: suppressed now (not before).
    static let suppress = """
        INSERT INTO suppressions (email_key, reason, detail) VALUES (lower($1), $2, $3)
        ON CONFLICT (email_key) DO NOTHING
        RETURNING 1
        """

    /// $1 list, $2 subscriber, $3 bounced | complained: the status before and whether it changed.
    /// A subscription that already stops mail keeps its status.
    static let stopSubscription = """
        WITH before AS (
            SELECT status FROM subscriptions WHERE list_id = $1 AND subscriber_id = $2 FOR UPDATE
        ), changed AS (
            UPDATE subscriptions SET status = $3, status_changed_at = now()
            WHERE list_id = $1 AND subscriber_id = $2 AND NOT listctl_stops_mail(status)
            RETURNING 1
        )
        SELECT b.status, EXISTS (SELECT 1 FROM changed) FROM before b
        """

    /// The report's event: what it was, how it was traced, and what it changed.
    static let event = """
        INSERT INTO events (kind, list_id, subscriber_id, issue_id, email_key, detail)
        VALUES ($1, $2, $3, $4, lower($5), jsonb_strip_nulls(jsonb_build_object(
            'source', $6::text, 'type', $7::text, 'traced_by', $8::text, 'detail', $9::text,
            'recipient', $10::text, 'part', $11::int, 'suppressed', $12::boolean, 'status_before', $13::text,
            'soft_bounces', $14::int, 'reason', $15::text)))
        """
}

/// Which delivery a report was about, and how that was established.
public struct BounceMatch: Sendable, Equatable, Codable {
    /// How the report was matched to its delivery, most trusted first.
    public enum TracedBy: String, Sendable, Equatable, Codable {
        /// The signed token of the VERP envelope sender.
        case verp
        /// The provider's id of the sent message (`deliveries.message_ids`).
        case providerMessageID = "provider-message-id"
        /// listctl's Message-ID, its MAC checked for the subscriber.
        case messageID = "message-id"
        /// The unsigned `X-Listctl-Trace` header, with the delivery's address equal to the report's recipient.
        case trace
    }

    /// The address the delivery went to (the one suppressed).
    public var email: String
    /// The slug of the issue's list.
    public var list: String
    public var listID: Int64
    public var issueID: Int64
    public var subscriberID: Int64
    /// The part, when the report says which.
    public var part: Int?
    public var tracedBy: TracedBy
    /// The issue's ledger rows were compacted: found in its summaries (the address is the subscriber's current one).
    public var compacted: Bool
}

/// What recording one report did.
public enum BounceOutcome: Sendable, Equatable {
    /// The report is new and the address is now suppressed everywhere (now, or already for another reason),
    /// the list's subscription stopped (`bounced` or `complained`, unless it had stopped already), with an event.
    /// `reason`: `hard_bounce`, `complaint` or `soft_bounce_limit`.
    case suppressed(BounceMatch, reason: String)
    /// A new soft bounce, counted: the address soft-bounced on `soft` issues, fewer than `limit`.
    case counted(BounceMatch, soft: Int, limit: Int)
    /// This report (address, issue, kind) was recorded before: nothing changed.
    case alreadyRecorded(BounceMatch)
    /// Not matched to any delivery: nothing changed.
    case unknown(reason: String)

    /// The delivery it was matched to, if any.
    public var match: BounceMatch? {
        switch self {
        case .suppressed(let match, _), .counted(let match, _, _), .alreadyRecorded(let match): match
        case .unknown: nil
        }
    }

    /// `suppressed`, `counted`, `already-recorded`, `unknown`.
    public var label: String {
        switch self {
        case .suppressed: "suppressed"
        case .counted: "counted"
        case .alreadyRecorded: "already-recorded"
        case .unknown: "unknown"
        }
    }
}
