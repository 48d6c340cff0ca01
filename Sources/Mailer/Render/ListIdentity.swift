/// Who an issue comes from: the list's name, sender, addresses and links.
public struct ListIdentity: Sendable, Equatable {
    /// The list's name as readers see it ("The Long Letter").
    public var name: String
    /// Short machine name, used in List-Id (`<slug.domain>`).
    public var slug: String
    /// Display name in From.
    public var fromName: String
    /// Address in From and the envelope sender unless `envelopeFrom` is set.
    public var fromAddress: String
    /// Reply-To address, when replies go elsewhere.
    public var replyTo: String?
    /// Bounce address for MAIL FROM / Return-Path; `fromAddress` when nil.
    public var envelopeFrom: String?
    /// Public https base URL of the list's pages (unsubscribe, archive), no trailing slash.
    public var baseURL: String?
    /// The postal address line the footer must carry (CAN-SPAM and friends).
    public var postalAddress: String
    /// Whether raw HTML in Markdown is passed through instead of dropped.
    public var allowRawHTML: Bool
    /// Mailbox for `List-Unsubscribe: <mailto:...>`; `unsubscribe@<from domain>` when nil.
    public var unsubscribeMailbox: String?
    /// The list's public archive (`<root>/archive`), for the `List-Archive` header (RFC 2369); nil: none is public.
    public var archiveURL: String?
    /// The longest unsubscribe URL a recipient can have, in bytes. The
    /// splitter reserves that much room in every part; a longer URL at send
    /// time is an error rather than a clipped message.
    public var maxUnsubscribeURLLength: Int
    /// The longest preferences URL a recipient can have, in bytes; reserved
    /// and enforced like ``maxUnsubscribeURLLength``.
    public var maxPreferencesURLLength: Int

    /// The path segments the two per-recipient URLs have under the list's root (DESIGN §5a).
    public static let unsubscribePath = "/unsubscribe/"
    public static let preferencesPath = "/preferences/"
    /// The double opt-in link's segment; its room is that of the preferences URL (a shorter segment, the same token).
    public static let confirmPath = "/confirm/"

    /// - Parameters:
    ///   - baseURL: the list's public root; a trailing slash is dropped.
    ///   - maxUnsubscribeURLLength: the longest unsubscribe URL, in bytes,
    ///     when it is known outright; wins over `maxTokenLength` for that URL.
    ///   - maxTokenLength: the longest token the URLs carry, in bytes. When
    ///     given, the room reserved is exactly `baseURL + "/unsubscribe/" +
    ///     token` and `baseURL + "/preferences/" + token` (a base of 40
    ///     bytes is assumed when `baseURL` is nil). When nil (and no
    ///     explicit length), both get the base plus 220 bytes, room for
    ///     tokens of up to 207.
    public init(
        name: String, slug: String, fromName: String, fromAddress: String, replyTo: String? = nil,
        envelopeFrom: String? = nil, baseURL: String? = nil, postalAddress: String = "",
        allowRawHTML: Bool = false, unsubscribeMailbox: String? = nil, maxUnsubscribeURLLength: Int? = nil,
        maxTokenLength: Int? = nil, archiveURL: String? = nil
    ) {
        self.name = name
        self.slug = slug
        self.fromName = fromName
        self.fromAddress = fromAddress
        self.replyTo = replyTo
        self.envelopeFrom = envelopeFrom
        self.baseURL = baseURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.postalAddress = postalAddress
        self.allowRawHTML = allowRawHTML
        self.unsubscribeMailbox = unsubscribeMailbox
        self.archiveURL = archiveURL
        let base = self.baseURL?.utf8.count ?? 40
        if let maxTokenLength {
            let token = max(0, maxTokenLength)
            self.maxUnsubscribeURLLength = maxUnsubscribeURLLength ?? (base + Self.unsubscribePath.utf8.count + token)
            self.maxPreferencesURLLength = base + Self.preferencesPath.utf8.count + token
        } else {
            // Room for "<base>/unsubscribe/" and a signed token of up to 207 characters.
            self.maxUnsubscribeURLLength = maxUnsubscribeURLLength ?? (base + 220)
            self.maxPreferencesURLLength = self.maxUnsubscribeURLLength
        }
    }

    /// The domain of `fromAddress`: Message-IDs and List-Id live under it.
    public var domain: String {
        guard let at = fromAddress.lastIndex(of: "@") else { return "localhost" }
        return String(fromAddress[fromAddress.index(after: at)...]).lowercased()
    }

    /// The sample of each recipient field the splitter measures with: the
    /// longest value allowed, made of the characters that encode largest.
    func worstCase(_ field: RecipientField) -> String {
        switch field {
        case .unsubscribeURL:
            let prefix = (baseURL ?? "https://example.com") + Self.unsubscribePath
            return prefix + String(repeating: "A", count: max(0, maxUnsubscribeURLLength - prefix.utf8.count))
        case .preferencesURL:
            let prefix = (baseURL ?? "https://example.com") + Self.preferencesPath
            return prefix + String(repeating: "A", count: max(0, maxPreferencesURLLength - prefix.utf8.count))
        case .confirmURL:
            let prefix = (baseURL ?? "https://example.com") + Self.confirmPath
            return prefix + String(repeating: "A", count: max(0, maxPreferencesURLLength - prefix.utf8.count))
        case .email:
            // 254 octets: RFC 5321's path limit. `&` is the costliest character
            // that a local part can hold once HTML-escaped.
            return String(repeating: "&", count: 64) + "@" + String(repeating: "a", count: 189)
        case .name:
            return String(repeating: "\"", count: Recipient.maxNameBytes)
        }
    }

    /// Like ``worstCase(_:)``, for the text alternative, where other
    /// characters cost most once quoted-printable encoded: `=` (`=3D`) in the
    /// address, bytes above ASCII in the name.
    func worstCaseText(_ field: RecipientField) -> String {
        switch field {
        case .email: return String(repeating: "=", count: 64) + "@" + String(repeating: "a", count: 189)
        case .name: return String(repeating: "é", count: Recipient.maxNameBytes / 2)
        default: return worstCase(field)
        }
    }
}
