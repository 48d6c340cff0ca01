/// A DKIM key or signing failure.
public struct DKIMError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is. Extensible: switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case invalidKey, unsupportedKey, keyGeneration, signing, configuration, malformedMessage
        }
        let base: Base
        /// The key file could not be read or is not a PEM private key.
        public static let invalidKey = Code(base: .invalidKey)
        /// The key is of a type DKIM cannot use here (only RSA and Ed25519).
        public static let unsupportedKey = Code(base: .unsupportedKey)
        /// Generating a key pair failed.
        public static let keyGeneration = Code(base: .keyGeneration)
        /// OpenSSL refused to sign.
        public static let signing = Code(base: .signing)
        /// `LISTCTL_DKIM_*` settings are incomplete or inconsistent.
        public static let configuration = Code(base: .configuration)
        /// The message has no header section to sign (no `From:`).
        public static let malformedMessage = Code(base: .malformedMessage)
        public var description: String { base.rawValue }
    }

    public var code: Code
    /// What went wrong, where, and what to do.
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "DKIM: \(message)" }
}
