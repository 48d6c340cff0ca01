/// Why a token was refused. Decided from the token and the secrets alone,
/// with no database lookup. The message is safe to show to whoever sent the
/// token: it names no secret and no subscriber.
public struct TokenError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case malformed, unsupportedVersion, unknownKey, badSignature, wrongPurpose
        }
        let base: Base
        /// Not base64url, truncated, trailing bytes, or a field out of range.
        public static let malformed = Code(base: .malformed)
        /// A format version this listctl does not know.
        public static let unsupportedVersion = Code(base: .unsupportedVersion)
        /// Signed with a secret that is not (or no longer) configured.
        public static let unknownKey = Code(base: .unknownKey)
        /// The MAC does not match: forged or altered.
        public static let badSignature = Code(base: .badSignature)
        /// Genuine, but made for another purpose (an unsubscribe token used to confirm, say).
        public static let wrongPurpose = Code(base: .wrongPurpose)
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
