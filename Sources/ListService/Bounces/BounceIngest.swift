import Foundation
import Logging
import Postgres

/// `listctl bounces ingest PATH...`: reads every message of the paths
/// (``MailboxReader``), tells what each is (``BounceMessageReader``) and
/// acts on it: a DSN or ARF report through ``BounceRecorder``, a `mailto:`
/// unsubscribe through ``SubscriptionChanges`` for the person its signed
/// token names (never the From address, which anyone can write). Anything
/// else is listed as unrecognised, never guessed at.
public struct BounceIngest: Sendable {
    public let recorder: BounceRecorder

    public init(recorder: BounceRecorder) { self.recorder = recorder }

    /// What became of one report in one message (a DSN for two recipients gives two).
    public struct Entry: Sendable, Codable, Equatable {
        public var file: String
        /// The message's number in an mbox file, from 1.
        public var message: Int?
        /// `dsn`, `arf`, `unsubscribe`, `unrecognised`, `malformed`.
        public var type: String
        /// `hard_bounce`, `soft_bounce`, `complaint` for reports.
        public var kind: String?
        /// suppressed, counted, already-recorded, unknown (reports); unsubscribed, already-stopped, unknown,
        /// refused (unsubscribes); unrecognised; malformed.
        public var outcome: String
        /// The address the report names (for a traced report: the delivery's address).
        public var email: String?
        public var list: String?
        public var issue: Int64?
        public var tracedBy: String?
        /// The suppression reason, the soft count, why unknown or refused, what is malformed.
        public var reason: String?
        /// The report's own diagnostic.
        public var detail: String?

        public var label: String { message.map { "\(file)#\($0)" } ?? file }
    }

    public struct Report: Sendable, Codable, Equatable {
        public var entries: [Entry]
        /// Messages read.
        public var messages: Int
        /// Entries per outcome.
        public var outcomes: [String: Int]
        /// Messages that could not be parsed (the command exits 1 when there are any).
        public var malformed: Int
    }

    /// Reads every path first (so an unreadable path stops the run before anything is recorded), then acts
    /// on each message in turn, each report in its own transaction.
    /// - Throws: ``BounceIngestError`` for an unreadable path (nothing recorded); `PostgresError` when the
    ///   database fails (reports before it are kept, and ingesting again is harmless).
    public func ingest(paths: [String]) async throws -> Report {
        var mails: [ReceivedMail] = []
        for path in paths { mails += try MailboxReader.read(path) }
        return try await ingest(mails)
    }

    /// Acts on messages already read, in order.
    public func ingest(_ mails: [ReceivedMail]) async throws -> Report {
        var entries: [Entry] = []
        var malformed = 0
        for mail in mails {
            let message: BounceMessage
            do {
                message = try BounceMessageReader.read(mail.bytes)
            } catch {
                malformed += 1
                entries.append(Entry(file: mail.file, message: mail.number, type: "malformed", outcome: "malformed", reason: error.message))
                continue
            }
            entries += try await act(on: message, mail: mail)
        }
        var outcomes: [String: Int] = [:]
        for entry in entries { outcomes[entry.outcome, default: 0] += 1 }
        return Report(entries: entries, messages: mails.count, outcomes: outcomes, malformed: malformed)
    }

    func act(on message: BounceMessage, mail: ReceivedMail) async throws -> [Entry] {
        switch message {
        case .delivery(let notices):
            var entries: [Entry] = []
            for notice in notices { entries.append(try await record(notice, type: "dsn", mail: mail)) }
            return entries
        case .complaint(let notice):
            return [try await record(notice, type: "arf", mail: mail)]
        case .unsubscribe(let text, _):
            var entry = Entry(file: mail.file, message: mail.number, type: "unsubscribe", outcome: "refused")
            let token: SubscriberToken
            do {
                token = try SubscriberToken.verify(text, purpose: .unsubscribe, secrets: recorder.secrets)
            } catch {
                entry.reason = "the token in the subject is refused (\(error.message)); nobody was unsubscribed"
                return [entry]
            }
            let outcome = try await SubscriptionChanges(database: recorder.database).unsubscribe(
                listID: token.listID, subscriberID: token.subscriberID, issueID: token.issueID, source: "mailto")
            let who = try await recorder.database.pool.withConnection { connection in
                try await connection.query("""
                    SELECT sub.email, l.slug FROM subscribers sub, lists l WHERE sub.id = $1 AND l.id = $2
                    """, token.subscriberID, token.listID).first.map { (try $0.decode(String.self, at: 0), try $0.decode(String.self, at: 1)) }
            }
            entry.email = who?.0
            entry.list = who?.1
            entry.issue = token.issueID
            switch outcome {
            case .unsubscribed:
                entry.outcome = "unsubscribed"
            case .alreadyStopped(let status):
                entry.outcome = "already-stopped"
                entry.reason = "the subscription was \(status) already"
            case .unknown:
                entry.outcome = "unknown"
                entry.reason = "the token is genuine, but that subscription no longer exists"
            }
            return [entry]
        case .unrecognised(let reason):
            return [Entry(file: mail.file, message: mail.number, type: "unrecognised", outcome: "unrecognised", reason: reason)]
        }
    }

    func record(_ notice: BounceNotice, type: String, mail: ReceivedMail) async throws -> Entry {
        var entry = Entry(
            file: mail.file, message: mail.number, type: type, kind: notice.kind.rawValue, outcome: "", email: notice.recipient,
            detail: notice.detail)
        let outcome = try await recorder.record(notice)
        entry.outcome = outcome.label
        if let match = outcome.match {
            entry.email = match.email
            entry.list = match.list
            entry.issue = match.issueID
            entry.tracedBy = match.tracedBy.rawValue
        }
        switch outcome {
        case .suppressed(_, let reason): entry.reason = reason
        case .counted(_, let soft, let limit): entry.reason = "soft bounces on \(soft) of \(limit) issues"
        case .alreadyRecorded: entry.reason = "recorded before; nothing changed"
        case .unknown(let reason): entry.reason = reason
        }
        return entry
    }
}
