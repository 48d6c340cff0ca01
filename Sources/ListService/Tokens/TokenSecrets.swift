import Foundation

/// The installation's token secrets: the first signs, every one verifies
/// (the rest are kept for links mailed before a rotation).
///
/// A secret is a line of text used as the HMAC key exactly as written (no
/// decoding, so no ambiguity between hex and base64): at least 43 characters
/// (32 random bytes in unpadded base64) and at least 12 different characters
/// (a guard against placeholders such as `changeme…`; it cannot measure
/// entropy). `listctl secret generate` prints a good one.
///
/// Its `description` shows key ids only: a secret is never printed or logged.
public struct TokenSecrets: Sendable, CustomStringConvertible {
    public struct Key: Sendable {
        /// First 4 bytes of SHA-256("listctl-key-id\0" ‖ secret), big-endian: names the secret in each token.
        public let id: UInt32
        let bytes: [UInt8]

        init(secret: [UInt8]) {
            bytes = secret
            id = SecretFile.keyID(secret)
        }
    }

    public static let minimumLength = SecretFile.minimumLength

    /// Newest first; never empty.
    public let keys: [Key]
    /// Signs new tokens.
    public var current: Key { keys[0] }

    public var description: String {
        "TokenSecrets(" + keys.map { String(format: "%08x", $0.id) }.joined(separator: ", ") + ")"
    }

    /// Secrets given directly; `source` names them in errors.
    /// - Throws: ``ListServiceError`` `.configuration` for an empty list or a weak secret.
    public init(_ secrets: [String], source: String = "LISTCTL_SECRET") throws(ListServiceError) {
        var keys: [Key] = []
        for (index, secret) in secrets.enumerated() {
            try Self.check(secret, at: secrets.count == 1 ? source : "\(source) (secret \(index + 1))")
            keys.append(Key(secret: Array(secret.utf8)))
        }
        guard !keys.isEmpty else {
            throw ListServiceError(code: .configuration, message: "\(source): no secret given")
        }
        self.keys = keys
    }

    /// Secrets from the text of a secret file: one a line, the first current;
    /// blank lines and lines starting with `#` are ignored; spaces around a secret are trimmed.
    /// - Throws: ``ListServiceError`` `.configuration` naming `source:line` of a weak secret, or for a file with none.
    public static func parse(_ text: String, source: String) throws(ListServiceError) -> TokenSecrets {
        try TokenSecrets(try file.parse(text, source: source), source: source)
    }

    /// Reads a secret file (``parse(_:source:)``).
    public static func read(file path: String) throws(ListServiceError) -> TokenSecrets {
        try TokenSecrets(try file.read(file: path), source: path)
    }

    /// A new secret: 32 bytes from OpenSSL's CSPRNG, base64url without padding (43 characters).
    /// - Throws: ``ListServiceError`` `.configuration` if the random generator fails.
    public static func generate() throws(ListServiceError) -> String {
        try SecretFile.generate()
    }

    /// What an operator runs to make a secret file.
    public static let howToCreate = """
        Create one with `listctl secret generate > /etc/listctl/secret && chmod 600 /etc/listctl/secret` \
        (or `openssl rand -base64 32 > /etc/listctl/secret`) and set LISTCTL_SECRET_FILE=/etc/listctl/secret \
        on every host that sends or serves links.
        """

    /// Where the token secret comes from, and the rules it shares with the forget key.
    static let file = SecretFile(
        noun: "token secret", variable: "LISTCTL_SECRET", fileVariable: "LISTCTL_SECRET_FILE", homeFile: "secret",
        howToCreate: howToCreate,
        whyShared: "listctl needs a secret, the same on every host, to sign the unsubscribe and confirmation links it mails.",
        fileComment: "listctl token secret: signs the links in mail. Keep it, back it up, never share it.",
        createdNotice: "it signs the unsubscribe and confirmation links in mail. Back it up with the database; without it, links already mailed stop working.")

    /// The installation's secrets, from the configuration:
    /// `LISTCTL_SECRET`, else `LISTCTL_SECRET_FILE`, else (embedded database
    /// only) `LISTCTL_HOME/secret`, created on first use (mode 0600) with a
    /// `notice` saying so.
    ///
    /// With an external `DATABASE_URL` and neither setting, this refuses:
    /// every host that shares the database must share the secret, so one
    /// made up on one host would break links on another.
    /// - Throws: ``ListServiceError`` `.configuration`.
    public static func load(_ configuration: ListctlConfiguration) throws(ListServiceError)
        -> (secrets: TokenSecrets, notice: String?)
    {
        // Never nil with .createAtHome: it creates or throws.
        guard let loaded = try file.load(
            value: configuration.secret, file: configuration.secretFile, configuration: configuration, fallback: .createAtHome)
        else { throw ListServiceError(code: .configuration, message: "no token secret. \(howToCreate)") }
        return (try TokenSecrets(loaded.secrets, source: loaded.source), loaded.notice)
    }

    static func check(_ secret: String, at place: String) throws(ListServiceError) {
        try file.check(secret, at: place)
    }
}
