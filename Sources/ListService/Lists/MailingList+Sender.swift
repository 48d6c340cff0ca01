extension MailingList {
    /// The sender for mail from this list: the list's own From, else
    /// `LISTCTL_FROM`. Sending without either is refused.
    ///
    /// - Throws: `.configuration` saying how to set a sender.
    public func sender(defaultFrom: String?) throws -> NamedAddress {
        if let fromAddress {
            return try NamedAddress(parsing: from ?? fromAddress, field: "list \(slug) from")
        }
        if let defaultFrom {
            return try NamedAddress(parsing: defaultFrom, field: "LISTCTL_FROM")
        }
        throw ListServiceError(
            code: .configuration,
            message: "list \"\(slug)\" has no sender. Set one with `listctl lists set \(slug) --from \"Name <news@example.com>\"`, or set LISTCTL_FROM for all lists.")
    }

    /// The list's public root (DESIGN §5a): its own base URL, else
    /// `LISTCTL_BASE_URL/<slug>`, so two lists never share links.
    public func publicBaseURL(default fallback: String?) -> String? {
        baseURL ?? fallback.map { ($0.hasSuffix("/") ? String($0.dropLast()) : $0) + "/" + slug }
    }
}
