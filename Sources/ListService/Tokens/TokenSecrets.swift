import Foundation
import Mailer

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
            id = Digest.sha256(Array("listctl-key-id\u{0}".utf8) + secret).prefix(4).reduce(0) { $0 << 8 | UInt32($1) }
        }
    }

    public static let minimumLength = 43
    static let minimumDistinct = 12

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
        var secrets: [String] = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            try check(line, at: "\(source):\(number + 1)")
            secrets.append(line)
        }
        guard !secrets.isEmpty else {
            throw ListServiceError(
                code: .configuration,
                message: "\(source): no secret in the file (one secret a line; blank lines and # comments are ignored). \(howToCreate)")
        }
        return try TokenSecrets(secrets, source: source)
    }

    /// Reads a secret file (``parse(_:source:)``).
    public static func read(file path: String) throws(ListServiceError) -> TokenSecrets {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ListServiceError(
                code: .configuration, message: "\(path): cannot read the token secret file (\(error.localizedDescription))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ListServiceError(code: .configuration, message: "\(path): the token secret file is not UTF-8 text")
        }
        return try parse(text, source: path)
    }

    /// A new secret: 32 bytes from OpenSSL's CSPRNG, base64url without padding (43 characters).
    /// - Throws: ``ListServiceError`` `.configuration` if the random generator fails.
    public static func generate() throws(ListServiceError) -> String {
        guard let bytes = TokenCrypto.randomBytes(32) else {
            throw ListServiceError(code: .configuration, message: "OpenSSL's random generator failed; no secret was made")
        }
        return Base64URL.encode(bytes)
    }

    /// What an operator runs to make a secret file.
    public static let howToCreate = """
        Create one with `listctl secret generate > /etc/listctl/secret && chmod 600 /etc/listctl/secret` \
        (or `openssl rand -base64 32 > /etc/listctl/secret`) and set LISTCTL_SECRET_FILE=/etc/listctl/secret \
        on every host that sends or serves links.
        """

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
        switch (configuration.secret, configuration.secretFile) {
        case (.some, .some):
            throw ListServiceError(
                code: .configuration,
                message: "both LISTCTL_SECRET and LISTCTL_SECRET_FILE are set; set one (the file keeps old secrets for rotation)")
        case (.some(let secret), nil):
            return (try TokenSecrets([secret], source: "LISTCTL_SECRET"), nil)
        case (nil, .some(let path)):
            return (try read(file: path), nil)
        case (nil, nil):
            break
        }
        guard configuration.databaseURL == nil else {
            throw ListServiceError(
                code: .configuration,
                message: """
                    no token secret is set, and DATABASE_URL names an external database: listctl needs a secret, \
                    the same on every host, to sign the unsubscribe and confirmation links it mails. \(howToCreate)
                    """)
        }
        return try embeddedDefault(home: configuration.home)
    }

    /// `home/secret`: read, or created once (32 random bytes, mode 0600) and announced.
    static func embeddedDefault(home: URL) throws(ListServiceError) -> (secrets: TokenSecrets, notice: String?) {
        let path = home.appendingPathComponent("secret").path
        if FileManager.default.fileExists(atPath: path) { return (try read(file: path), nil) }
        do {
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        } catch {
            throw ListServiceError(code: .configuration, message: "\(home.path): cannot create the folder (\(error.localizedDescription))")
        }
        let secret = try generate()
        let contents = Array("# listctl token secret: signs the links in mail. Keep it, back it up, never share it.\n\(secret)\n".utf8)
        // Written whole to a private temporary file, then linked into place:
        // link(2) fails if another process won the race, and nobody ever reads a half-written secret.
        let temporary = "\(path).\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            throw ListServiceError(code: .configuration, message: "\(temporary): cannot create (\(String(cString: strerror(errno))))")
        }
        let written = contents.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        defer { unlink(temporary) }
        guard written == contents.count, synced == 0 else {
            throw ListServiceError(code: .configuration, message: "\(path): cannot write the token secret (\(String(cString: strerror(errno))))")
        }
        if link(temporary, path) != 0 {
            if errno == EEXIST { return (try read(file: path), nil) }
            throw ListServiceError(code: .configuration, message: "\(path): cannot create (\(String(cString: strerror(errno))))")
        }
        let notice = """
            created a token secret in \(path) (mode 0600): it signs the unsubscribe and confirmation links in mail. \
            Back it up with the database; without it, links already mailed stop working.
            """
        return (try TokenSecrets([secret], source: path), notice)
    }

    static func check(_ secret: String, at place: String) throws(ListServiceError) {
        let count = secret.utf8.count
        guard count >= minimumLength else {
            throw ListServiceError(
                code: .configuration,
                message: "\(place): the token secret is too short (\(count) characters; at least \(minimumLength) needed). \(howToCreate)")
        }
        guard Set(secret.utf8).count >= minimumDistinct else {
            throw ListServiceError(
                code: .configuration,
                message: "\(place): the token secret looks like a placeholder (fewer than \(minimumDistinct) different characters). \(howToCreate)")
        }
    }
}
