extension MailingList {
    /// `<root>/archive` when the list's archive is public and the list has a public root (its own base URL,
    /// else `LISTCTL_BASE_URL/<slug>`): where the `List-Archive` header points. Nil otherwise.
    public func publicArchiveURL(default fallback: String?) -> String? {
        guard archiveIsPublic else { return nil }
        return publicBaseURL(default: fallback).map { $0 + "/archive" }
    }

    /// One sentence on where the list's past issues can be read (after importing a letter archive, say).
    public func archiveWhereabouts(default fallback: String?) -> String {
        guard archiveIsPublic else {
            return """
                the archive of list \(slug) is private: its issues are kept but shown nowhere; \
                `listctl lists set \(slug) --archive public` publishes them
                """
        }
        guard let root = publicBaseURL(default: fallback) else {
            return """
                list \(slug) has no public root (`listctl lists set \(slug) --base-url URL`, or LISTCTL_BASE_URL): \
                `listctl archive export --list \(slug) --out DIR` writes its archive as static files
                """
        }
        return """
            the issues are public at \(root)/archive (each at \(root)/issues/<slug>) where `listctl serve` answers \
            for \(root); `listctl archive export --list \(slug) --out DIR` writes them as static files
            """
    }
}
