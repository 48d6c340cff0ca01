public import Mailer

extension MailingList {
    /// What the Mailer needs to know of this list: its name, sender (the
    /// list's own, else `LISTCTL_FROM`) and links (else `LISTCTL_BASE_URL`).
    ///
    /// - Throws: `.configuration` when neither the list nor the environment names a sender.
    public func identity(_ configuration: ListctlConfiguration) throws -> ListIdentity {
        let sender = try sender(defaultFrom: configuration.defaultFrom)
        return ListIdentity(
            name: name, slug: slug, fromName: sender.name.isEmpty ? name : sender.name,
            fromAddress: sender.address, replyTo: replyTo,
            baseURL: publicBaseURL(default: configuration.defaultBaseURL),
            postalAddress: postalAddress ?? "", allowRawHTML: allowRawHTML,
            archiveURL: publicArchiveURL(default: configuration.defaultBaseURL))
    }
}

extension ListctlConfiguration {
    /// An identity with no list behind it (`preview`, `send --to` without
    /// `--list`): `LISTCTL_FROM`, else a placeholder sender.
    public func standaloneIdentity(slug: String) throws -> ListIdentity {
        let sender = try NamedAddress(parsing: defaultFrom ?? "Newsletter <newsletter@example.com>", field: "LISTCTL_FROM")
        let name = sender.name.isEmpty ? "Newsletter" : sender.name
        return ListIdentity(
            name: name, slug: slug, fromName: name, fromAddress: sender.address,
            baseURL: defaultBaseURL, postalAddress: "")
    }
}
