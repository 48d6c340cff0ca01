public import Foundation
import Mailer

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
    public var allowRawHTML: Bool
    public var createdAt: Date

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

    public init(
        name: String? = nil, from: String? = nil, replyTo: String? = nil, baseURL: String? = nil,
        postalAddress: String? = nil, allowRawHTML: Bool? = nil
    ) {
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
        if trimmed.contains(where: { $0 == "\r" || $0 == "\n" }) {
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
