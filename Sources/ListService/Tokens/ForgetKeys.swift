import Foundation
import Mailer

/// The keys of the forgotten addresses' hashes (`forgotten_addresses`,
/// docs/SUPPRESSION.md "Erasure"): the first hashes new erasures, every one
/// is checked (the rest are kept so that people forgotten before a rotation
/// stay forgotten).
///
/// Its own key, never the token secret: rotating `LISTCTL_SECRET` (say after
/// a leak) must not let forgotten people back in, and the forget key never
/// needs to leave the hosts that import or add subscribers. Same rules as
/// the secret: a line of text used as the HMAC key as written, at least 43
/// characters, 12 different ones; `listctl secret generate` prints a good one.
///
/// Its `description` shows key ids only: a key is never printed or logged.
public struct ForgetKeys: Sendable, CustomStringConvertible {
    public struct Key: Sendable {
        /// First 4 bytes of SHA-256("listctl-key-id\0" ‖ key), big-endian (stored beside each hash).
        public let id: UInt32
        let bytes: [UInt8]

        init(key: [UInt8]) {
            bytes = key
            id = SecretFile.keyID(key)
        }
    }

    /// Newest first; never empty.
    public let keys: [Key]
    /// Hashes new erasures.
    public var current: Key { keys[0] }

    public var description: String {
        "ForgetKeys(" + keys.map { String(format: "%08x", $0.id) }.joined(separator: ", ") + ")"
    }

    /// Keys given directly; `source` names them in errors.
    /// - Throws: ``ListServiceError`` `.configuration` for an empty list or a weak key.
    public init(_ keys: [String], source: String = "LISTCTL_FORGET_KEY") throws(ListServiceError) {
        guard !keys.isEmpty else { throw ListServiceError(code: .configuration, message: "\(source): no forget key given") }
        for (index, key) in keys.enumerated() {
            try Self.file.check(key, at: keys.count == 1 ? source : "\(source) (key \(index + 1))")
        }
        self.keys = keys.map { Key(key: Array($0.utf8)) }
    }

    /// Keys from the text of a key file: one a line, the first current; `#` comments and blank lines ignored.
    public static func parse(_ text: String, source: String) throws(ListServiceError) -> ForgetKeys {
        try ForgetKeys(try file.parse(text, source: source), source: source)
    }

    /// The hash of `address` (normalised, any case) under `key`: HMAC-SHA256 of
    /// "listctl-forget\0" and the lower-cased address (``EmailAddress/key``).
    static func hash(emailKey: String, with key: Key) -> [UInt8] {
        Digest.hmacSHA256(key: key.bytes, data: Array("listctl-forget\u{0}".utf8) + Array(emailKey.utf8))
    }

    /// The hash of `emailKey` under every key, current first.
    func hashes(emailKey: String) -> [[UInt8]] {
        keys.map { Self.hash(emailKey: emailKey, with: $0) }
    }

    /// What an operator runs to make a key file.
    public static let howToCreate = """
        Create one with `listctl secret generate > /etc/listctl/forget-key && chmod 600 /etc/listctl/forget-key` \
        and set LISTCTL_FORGET_KEY_FILE=/etc/listctl/forget-key on every host that imports or adds subscribers \
        (a key of its own, not the token secret; keep it: with a new key, people forgotten before are no longer recognised).
        """

    static let file = SecretFile(
        noun: "forget key", variable: "LISTCTL_FORGET_KEY", fileVariable: "LISTCTL_FORGET_KEY_FILE", homeFile: "forget-key",
        howToCreate: howToCreate,
        whyShared: "listctl keeps a forgotten person's address only as a hash under this key, and every host that imports or adds subscribers must use the same key to recognise them.",
        fileComment: "listctl forget key: hashes the addresses of forgotten people. Keep it, back it up, never share it; not rotated with the token secret.",
        createdNotice: "it hashes the addresses of forgotten people, so that no import brings them back. Back it up with the database; without it, they are no longer recognised.")

    /// The forget keys for an erasure: `LISTCTL_FORGET_KEY`, else
    /// `LISTCTL_FORGET_KEY_FILE`, else (embedded database only)
    /// `LISTCTL_HOME/forget-key`, created on first use (mode 0600) with a
    /// `notice` saying so. With an external `DATABASE_URL` and neither, this
    /// refuses, saying what to do.
    /// - Throws: ``ListServiceError`` `.configuration`.
    public static func load(_ configuration: ListctlConfiguration) throws(ListServiceError) -> (keys: ForgetKeys, notice: String?) {
        guard let loaded = try file.load(
            value: configuration.forgetKey, file: configuration.forgetKeyFile, configuration: configuration, fallback: .createAtHome)
        else { throw ListServiceError(code: .configuration, message: "no forget key. \(howToCreate)") }
        return (try ForgetKeys(loaded.secrets, source: loaded.source), loaded.notice)
    }

    /// The forget keys for a check (an import, `subscribers add`, a sign-up):
    /// as ``load(_:)``, but never creates one; `nil` when none is configured
    /// (then only an empty `forgotten_addresses` lets the check pass, see ``ForgottenAddresses``).
    /// - Throws: ``ListServiceError`` `.configuration` for a key that is set but unreadable or weak.
    public static func loadIfConfigured(_ configuration: ListctlConfiguration) throws(ListServiceError) -> ForgetKeys? {
        guard let loaded = try file.load(
            value: configuration.forgetKey, file: configuration.forgetKeyFile, configuration: configuration, fallback: .existingAtHome)
        else { return nil }
        return try ForgetKeys(loaded.secrets, source: loaded.source)
    }
}
