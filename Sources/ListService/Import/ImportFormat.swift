import Foundation

/// The exports `listctl import` understands, detected from the header row.
public enum ImportFormat: String, Sendable, CaseIterable, Codable {
    /// TinyLetter's subscriber export (columns vary; aliases accepted).
    case tinyletter
    /// TinyLetter's letter archive, `Subject,Content,Created_At`: past issues.
    case tinyletterArchive = "tinyletter-archive"
    /// Mailchimp audience export: subscribed, unsubscribed or cleaned members.
    case mailchimp
    /// Substack `email_list.*.csv`.
    case substack
    /// Buttondown subscriber export.
    case buttondown
    /// Ghost members export.
    case ghost
    /// listmonk subscriber CSV (`email,name,attributes`).
    case listmonk
    /// Any CSV, with `--map email=COLUMN,...`.
    case generic

    /// `true` when rows are subscribers (everything but the letter archive).
    public var isSubscriberFormat: Bool { self != .tinyletterArchive }

    /// A header name folded for matching: lower-case, trimmed, spaces and
    /// hyphens as underscores (`E-mail Address` → `e_mail_address`).
    static func fold(_ name: String) -> String {
        var folded = ""
        for scalar in name.trimmingCharacters(in: .whitespaces).lowercased().unicodeScalars {
            folded.unicodeScalars.append(scalar == " " || scalar == "-" ? "_" : scalar)
        }
        return folded
    }

    static let emailAliases = ["email", "email_address", "e_mail", "e_mail_address", "emailaddress", "mail", "subscriber_email"]

    /// The format a header row belongs to, or `nil` when it matches none.
    public static func detect(header: [String]) -> ImportFormat? {
        let names = Set(header.map(fold))
        let hasEmail = emailAliases.contains(where: names.contains)
        if !hasEmail, names.contains("subject"), names.contains("content") { return .tinyletterArchive }
        guard hasEmail else { return nil }
        if names.contains("email_address"), !names.isDisjoint(with: ["leid", "euid", "optin_time", "confirm_time", "member_rating"]) {
            return .mailchimp
        }
        if names.contains("email_disabled") || names.contains("active_subscription") { return .substack }
        if names.contains("subscribed_to_emails") { return .ghost }
        if names.contains("subscriber_type") || names.contains("creation_date") { return .buttondown }
        if names.contains("attributes") || (names.contains("uuid") && names.contains("status")) { return .listmonk }
        return .tinyletter
    }
}
