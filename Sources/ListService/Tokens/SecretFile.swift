import Foundation
import Mailer

/// What the installation's secrets have in common (the token secret,
/// ``TokenSecrets``, and the forget key, ``ForgetKeys``): where each comes
/// from, the file of one secret a line (the first current), the strength
/// rule, and the file made once under `LISTCTL_HOME` for the embedded
/// database. Each kind names itself in messages; no value is ever printed.
struct SecretFile: Sendable {
    /// "token secret", "forget key": in every message.
    let noun: String
    /// `LISTCTL_SECRET`: the secret itself.
    let variable: String
    /// `LISTCTL_SECRET_FILE`: a file of them.
    let fileVariable: String
    /// `secret`: the file under `LISTCTL_HOME` for the embedded database.
    let homeFile: String
    /// What to run to make one (ends the refusals).
    let howToCreate: String
    /// Why it must be the same on every host (the refusal for an external database).
    let whyShared: String
    /// The first line of the created file, a comment.
    let fileComment: String
    /// What the notice after creating it says after the path.
    let createdNotice: String

    static let minimumLength = 43
    static let minimumDistinct = 12

    /// The secrets of a file's text: one a line, the first current; blank
    /// lines and lines starting with `#` are ignored; spaces around a secret are trimmed.
    /// - Throws: ``ListServiceError`` `.configuration` naming `source:line` of a weak secret, or for a file with none.
    func parse(_ text: String, source: String) throws(ListServiceError) -> [String] {
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
                message: "\(source): no \(secretWord) in the file (one \(secretWord) a line; blank lines and # comments are ignored). \(howToCreate)")
        }
        return secrets
    }

    /// "secret" or "key": the last word of the noun.
    private var secretWord: String { noun.split(separator: " ").last.map(String.init) ?? noun }

    /// Reads a file (``parse(_:source:)``).
    func read(file path: String) throws(ListServiceError) -> [String] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ListServiceError(
                code: .configuration, message: "\(path): cannot read the \(noun) file (\(error.localizedDescription))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ListServiceError(code: .configuration, message: "\(path): the \(noun) file is not UTF-8 text")
        }
        return try parse(text, source: path)
    }

    /// Where the secrets come from, once read.
    struct Loaded {
        var secrets: [String]
        /// `LISTCTL_SECRET`, or the file's path: names the secrets in errors.
        var source: String
        /// Set when the file under `LISTCTL_HOME` was just created.
        var notice: String?
    }

    /// What ``load(value:file:configuration:create:)`` does when neither variable is set.
    enum Fallback {
        /// The embedded database: read `LISTCTL_HOME/<homeFile>`, or create it.
        case createAtHome
        /// Read `LISTCTL_HOME/<homeFile>` if it exists (embedded database only); never create one.
        case existingAtHome
    }

    /// The variable, else the file variable, else (embedded database only)
    /// the file under `LISTCTL_HOME`. `nil` only for `.existingAtHome` when
    /// nothing is configured and no file exists.
    ///
    /// With an external `DATABASE_URL` and neither variable, `.createAtHome`
    /// refuses: every host that shares the database must share the secret,
    /// so one made up on one host would not match another's.
    /// - Throws: ``ListServiceError`` `.configuration`.
    func load(value: String?, file: String?, configuration: ListctlConfiguration, fallback: Fallback) throws(ListServiceError) -> Loaded? {
        switch (value, file) {
        case (.some, .some):
            throw ListServiceError(
                code: .configuration,
                message: "both \(variable) and \(fileVariable) are set; set one (the file keeps old \(secretWord)s for rotation)")
        case (.some(let value), nil):
            try check(value, at: variable)
            return Loaded(secrets: [value], source: variable)
        case (nil, .some(let path)):
            return Loaded(secrets: try read(file: path), source: path)
        case (nil, nil):
            break
        }
        let path = configuration.home.appendingPathComponent(homeFile).path
        guard configuration.databaseURL == nil else {
            if case .existingAtHome = fallback { return nil }
            throw ListServiceError(
                code: .configuration,
                message: "no \(noun) is set, and DATABASE_URL names an external database: \(whyShared) \(howToCreate)")
        }
        if FileManager.default.fileExists(atPath: path) { return Loaded(secrets: try read(file: path), source: path) }
        guard case .createAtHome = fallback else { return nil }
        return try createAtHome(configuration.home)
    }

    /// `home/<homeFile>`: created once (32 random bytes, mode 0600) and announced,
    /// or read if another process won the race.
    func createAtHome(_ home: URL) throws(ListServiceError) -> Loaded {
        let path = home.appendingPathComponent(homeFile).path
        do {
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        } catch {
            throw ListServiceError(code: .configuration, message: "\(home.path): cannot create the folder (\(error.localizedDescription))")
        }
        let secret = try Self.generate()
        let contents = Array("# \(fileComment)\n\(secret)\n".utf8)
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
            throw ListServiceError(code: .configuration, message: "\(path): cannot write the \(noun) (\(String(cString: strerror(errno))))")
        }
        if link(temporary, path) != 0 {
            if errno == EEXIST { return Loaded(secrets: try read(file: path), source: path) }
            throw ListServiceError(code: .configuration, message: "\(path): cannot create (\(String(cString: strerror(errno))))")
        }
        return Loaded(secrets: [secret], source: path, notice: "created a \(noun) in \(path) (mode 0600): \(createdNotice)")
    }

    /// A new secret: 32 bytes from OpenSSL's CSPRNG, base64url without padding (43 characters).
    /// - Throws: ``ListServiceError`` `.configuration` if the random generator fails.
    static func generate() throws(ListServiceError) -> String {
        guard let bytes = TokenCrypto.randomBytes(32) else {
            throw ListServiceError(code: .configuration, message: "OpenSSL's random generator failed; no secret was made")
        }
        return Base64URL.encode(bytes)
    }

    /// At least 43 characters (32 random bytes in unpadded base64) and 12 different ones.
    func check(_ secret: String, at place: String) throws(ListServiceError) {
        let count = secret.utf8.count
        guard count >= Self.minimumLength else {
            throw ListServiceError(
                code: .configuration,
                message: "\(place): the \(noun) is too short (\(count) characters; at least \(Self.minimumLength) needed). \(howToCreate)")
        }
        guard Set(secret.utf8).count >= Self.minimumDistinct else {
            throw ListServiceError(
                code: .configuration,
                message: "\(place): the \(noun) looks like a placeholder (fewer than \(Self.minimumDistinct) different characters). \(howToCreate)")
        }
    }

    /// The key id of a secret: first 4 bytes of SHA-256("listctl-key-id\0" ‖ secret), big-endian.
    static func keyID(_ secret: [UInt8]) -> UInt32 {
        Digest.sha256(Array("listctl-key-id\u{0}".utf8) + secret).prefix(4).reduce(0) { $0 << 8 | UInt32($1) }
    }
}
