import Foundation
import Mailer

/// The providers whose webhooks `listctl serve` takes, by their path segment
/// (`/webhooks/ses`, …) and the name in their settings (`LISTCTL_WEBHOOK_SES_…`).
public enum WebhookProvider: String, CaseIterable, Sendable {
    case ses, postmark, mailgun, sendgrid, resend

    /// `SES`, `POSTMARK`, …: the part of the setting names.
    public var settingName: String { rawValue.uppercased() }
}

/// What a verifier sees of a request: the headers and the body exactly as received.
struct WebhookRequest: Sendable {
    /// Lower-cased names; a repeated field's values joined with ", ".
    var headers: [String: String]
    var body: [UInt8]
    var receivedAt: Date

    init(headers: [String: String], body: [UInt8], receivedAt: Date = Date()) {
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { "\($0), \($1)" })
        self.body = body
        self.receivedAt = receivedAt
    }

    func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// What one verified request said.
struct WebhookEvents: Sendable {
    /// The bounces and complaints, in the order the request gave them.
    var notices: [BounceNotice] = []
    /// The event types acknowledged and ignored (deliveries, opens, deferrals…), for the log.
    var ignored: [String] = []
    /// The replay key claimed for this request; released when recording fails.
    var replayKey: String?
    /// What the answer says besides `ok` (an SNS subscription confirmed).
    var note: String?
}

/// One provider's signature check and payload reader.
protocol WebhookVerifier: Sendable {
    /// Verifies `request` and reads its events.
    /// - Throws: ``WebhookError``: `.unauthorized` for a forged, tampered, stale or replayed
    ///   request (nothing is read from it), `.malformed` for an authentic one in no known shape.
    func events(for request: WebhookRequest) async throws(WebhookError) -> WebhookEvents

    /// Releases the replay claim of a request that could not be recorded.
    func release(_ events: WebhookEvents) async
}

/// Helpers every provider's reader uses.
enum WebhookSupport {
    /// How far a signed timestamp may be from our clock (Svix's and Mailgun's advice: 5 minutes).
    static let tolerance: TimeInterval = 5 * 60

    static func jsonObject(_ body: [UInt8], provider: WebhookProvider) throws(WebhookError) -> [String: Any] {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            throw WebhookError(.malformed, "\(provider.rawValue): the body is not a JSON object")
        }
        return object
    }

    static func string(_ value: Any?) -> String? {
        switch value {
        case let text as String: return text.isEmpty ? nil : text
        case let number as NSNumber: return number.stringValue
        default: return nil
        }
    }

    /// An ISO 8601 time, with or without fractional seconds (`2024-11-22T23:41:12.126Z`, `2019-11-05T16:33:54.9070259Z`).
    static func date(_ value: Any?) -> Date? {
        guard var text = value as? String else { return nil }
        // Foundation takes at most milliseconds; .NET and PostgreSQL write up to seven digits.
        if let dot = text.firstIndex(of: "."), let end = text[dot...].dropFirst().firstIndex(where: { !$0.isNumber }) {
            let digits = text[text.index(after: dot)..<end]
            if digits.count > 3 { text.replaceSubrange(text.index(dot, offsetBy: 4)..<end, with: "") }
        } else if let dot = text.firstIndex(of: "."), text[dot...].dropFirst().allSatisfy(\.isNumber) {
            text += "Z"
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    /// A Message-ID without angle brackets or spaces.
    static func bare(messageID: String?) -> String? {
        guard let messageID else { return nil }
        let trimmed = messageID.trimmingCharacters(in: CharacterSet(charactersIn: "<> \t"))
        return trimmed.isEmpty ? nil : trimmed
    }

    /// `X-Listctl-Trace` and `Message-ID` from a list of `{name, value}` header objects (SES, Resend).
    static func originalHeaders(_ value: Any?) -> (trace: String?, messageID: String?) {
        guard let list = value as? [[String: Any]] else { return (nil, nil) }
        var trace: String?, messageID: String?
        for header in list {
            guard let name = (header["name"] as? String)?.lowercased(), let value = header["value"] as? String else { continue }
            if name == "x-listctl-trace" { trace = value.trimmingCharacters(in: .whitespaces) }
            if name == "message-id" { messageID = bare(messageID: value) }
        }
        return (trace, messageID)
    }

    /// The `X-Listctl-Trace` value in raw message text (a bounce's copy of the original), if any.
    static func trace(inRawMessage text: String?) -> String? {
        guard let text else { return nil }
        // `\r\n` is one Character in Swift: split on any line break, not on "\n".
        for line in text.split(whereSeparator: \.isNewline) {
            let line = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard line.lowercased().hasPrefix("x-listctl-trace:") else { continue }
            let value = line.dropFirst("x-listctl-trace:".count).trimmingCharacters(in: .whitespaces)
            if !value.isEmpty { return value }
        }
        return nil
    }

    /// `true` when `a` and `b` are equal, in time that does not depend on where they differ
    /// (nor on their lengths: both are hashed first).
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        TokenCrypto.constantTimeEqual(Digest.sha256(a), Digest.sha256(b))
    }

    /// Whether `timestamp` (Unix seconds) is within ``tolerance`` of `now`.
    static func isFresh(_ timestamp: String, now: Date) -> Bool {
        guard let seconds = Double(timestamp), seconds.isFinite else { return false }
        return abs(now.timeIntervalSince1970 - seconds) <= tolerance
    }
}
