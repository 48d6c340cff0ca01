public import Foundation
public import Mailer

/// A list as stored: who it is from and where its public pages live.
public struct MailingList: Sendable, Hashable, Codable {
    public var id: Int64
    public var slug: String
    public var name: String
    public var fromName: String?
    public var fromAddress: String?
    public var replyTo: String?
    public var baseURL: String?
    public var postalAddress: String?
    /// The list's own envelope sender for bounces (`--bounce-address`).
    public var bounceAddress: String?
    public var allowRawHTML: Bool
    /// The list's own e-mail template (Mustache source); `nil` for the built-in one.
    public var template: String?
    /// The list's own page template for `serve`'s pages (Mustache source); `nil` for the built-in one.
    public var pageTemplate: String?
    /// The welcome issue each newly confirmed subscriber gets (`lists set --welcome`), if any.
    public var welcomeIssueID: Int64?
    /// Whether the list's archive of past issues is public (`lists set --archive public|private`; public by default).
    public var archiveIsPublic = true
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, slug, name, fromName, fromAddress, replyTo, baseURL, postalAddress, bounceAddress, allowRawHTML, createdAt, hasTemplate, hasPageTemplate, welcomeIssue, archive
    }

    public init(
        id: Int64, slug: String, name: String, fromName: String?, fromAddress: String?, replyTo: String?,
        baseURL: String?, postalAddress: String?, allowRawHTML: Bool, template: String? = nil, createdAt: Date
    ) {
        self.id = id
        self.slug = slug
        self.name = name
        self.fromName = fromName
        self.fromAddress = fromAddress
        self.replyTo = replyTo
        self.baseURL = baseURL
        self.postalAddress = postalAddress
        self.allowRawHTML = allowRawHTML
        self.template = template
        self.createdAt = createdAt
    }

    /// JSON (`lists --json`) says whether a template is set, not the template itself.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(slug, forKey: .slug)
        try container.encode(name, forKey: .name)
        try container.encodeIfPresent(fromName, forKey: .fromName)
        try container.encodeIfPresent(fromAddress, forKey: .fromAddress)
        try container.encodeIfPresent(replyTo, forKey: .replyTo)
        try container.encodeIfPresent(baseURL, forKey: .baseURL)
        try container.encodeIfPresent(postalAddress, forKey: .postalAddress)
        try container.encodeIfPresent(bounceAddress, forKey: .bounceAddress)
        try container.encode(allowRawHTML, forKey: .allowRawHTML)
        try container.encode(template != nil, forKey: .hasTemplate)
        try container.encode(pageTemplate != nil, forKey: .hasPageTemplate)
        try container.encodeIfPresent(welcomeIssueID, forKey: .welcomeIssue)
        try container.encode(archiveIsPublic ? "public" : "private", forKey: .archive)
        try container.encode(createdAt, forKey: .createdAt)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try container.decode(Int64.self, forKey: .id), slug: try container.decode(String.self, forKey: .slug),
            name: try container.decode(String.self, forKey: .name),
            fromName: try container.decodeIfPresent(String.self, forKey: .fromName),
            fromAddress: try container.decodeIfPresent(String.self, forKey: .fromAddress),
            replyTo: try container.decodeIfPresent(String.self, forKey: .replyTo),
            baseURL: try container.decodeIfPresent(String.self, forKey: .baseURL),
            postalAddress: try container.decodeIfPresent(String.self, forKey: .postalAddress),
            allowRawHTML: try container.decode(Bool.self, forKey: .allowRawHTML),
            createdAt: try container.decode(Date.self, forKey: .createdAt))
        bounceAddress = try container.decodeIfPresent(String.self, forKey: .bounceAddress)
        welcomeIssueID = try container.decodeIfPresent(Int64.self, forKey: .welcomeIssue)
        archiveIsPublic = try container.decodeIfPresent(String.self, forKey: .archive) != "private"
    }

    /// The template every message of this list is poured into: its own, or the built-in one.
    ///
    /// - Throws: `MailerError` `.template` if the stored template no longer parses.
    public func emailTemplate() throws -> EmailTemplate {
        guard let template else { return .default }
        return try EmailTemplate(string: template, name: "the template of list \(slug)")
    }

    /// "Name <address>" or `nil` when the list sets no sender.
    public var from: String? {
        guard let fromAddress else { return nil }
        guard let fromName, !fromName.isEmpty else { return fromAddress }
        return "\(fromName) <\(fromAddress)>"
    }
}

/// Changes to a list; `nil` fields are left as they are.
public struct MailingListChanges: Sendable {
    public var name: String?
    /// "Name <address>" or a bare address.
    public var from: String?
    public var replyTo: String?
    public var baseURL: String?
    public var postalAddress: String?
    public var allowRawHTML: Bool?
    /// The envelope sender for bounces; `""` clears it.
    public var bounceAddress: String?
    /// Mustache source of the list's template; `""` returns to the built-in one.
    public var template: String?
    /// Where `template` came from (its file), for messages.
    public var templateName: String?
    /// Mustache source of the list's page template (`serve`'s pages); `""` returns to the built-in one.
    public var pageTemplate: String?
    /// Where `pageTemplate` came from, for messages.
    public var pageTemplateName: String?
    /// `--archive public|private`.
    public var archiveIsPublic: Bool?

    public init(
        name: String? = nil, from: String? = nil, replyTo: String? = nil, baseURL: String? = nil,
        postalAddress: String? = nil, allowRawHTML: Bool? = nil, template: String? = nil
    ) {
        self.template = template
        self.name = name
        self.from = from
        self.replyTo = replyTo
        self.baseURL = baseURL
        self.postalAddress = postalAddress
        self.allowRawHTML = allowRawHTML
    }
}

/// A parsed "Display Name <local@domain>" or bare address.
public struct NamedAddress: Sendable, Hashable {
    public var name: String
    public var address: String

    /// Parses `Name <addr>`, `"Name" <addr>` or `addr`; the address is
    /// normalised as ``EmailAddress/init(normalizing:)`` does (domain
    /// lower-cased, IDN as Punycode) and must be all ASCII.
    ///
    /// - Throws: `ListServiceError.invalidInput` saying what is wrong with `text`.
    public init(parsing text: String, field: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        // By bytes: "\r\n" is one Character, equal to neither "\r" nor "\n".
        if trimmed.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) {
            throw ListServiceError(code: .invalidInput, message: "\(field): a line break is not allowed in an address")
        }
        var name = ""
        var address = trimmed
        if let open = trimmed.lastIndex(of: "<") {
            guard trimmed.hasSuffix(">") else {
                throw ListServiceError(code: .invalidInput, message: "\(field): \"\(text)\" has '<' without a closing '>'; write it as \"Name <address@example.com>\"")
            }
            name = String(trimmed[..<open]).trimmingCharacters(in: .whitespaces)
            if name.hasPrefix("\""), name.hasSuffix("\""), name.count >= 2 { name = String(name.dropFirst().dropLast()) }
            address = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)])
        }
        do {
            // Normalised first, then held to what a header can carry as is.
            address = try EmailAddress(validating: EmailAddress(normalizing: address).address).address
        } catch {
            throw ListServiceError(code: .invalidInput, message: "\(field): \(error.reason)")
        }
        self.name = name
        self.address = address
    }
}
