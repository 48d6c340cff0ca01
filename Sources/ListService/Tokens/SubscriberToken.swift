import Mailer

/// A signed statement "this link was made by this installation for
/// (purpose, list, subscriber, issue)", carried in public URLs and the VERP
/// envelope sender. Verifying needs only the secrets, never the database.
///
/// Wire format (docs/TOKENS.md), then base64url without padding:
///
///     version (1 byte, = 1) | purpose (1 byte)
///     | list id | subscriber id | issue id + 1, or 0 for none   (unsigned LEB128, minimal)
///     | key id (4 bytes) | MAC (16 bytes)
///
/// MAC = the first 16 bytes of HMAC-SHA256(secret, "listctl-token\0" ‖ every byte before it).
public struct SubscriberToken: Hashable, Sendable {
    public static let version: UInt8 = 1
    /// No genuine token is longer (ids at their largest): what the splitter reserves per link.
    public static let maxEncodedLength = 70
    static let macLength = 16
    static let keyIDLength = 4
    static let domain = Array("listctl-token\u{0}".utf8)

    public var purpose: TokenPurpose
    public var listID: Int64
    public var subscriberID: Int64
    public var issueID: Int64?
    /// The key id of the secret that signed it: set by ``verify(_:purpose:secrets:)``,
    /// `nil` for a token made here and not yet encoded. Compare with
    /// ``TokenSecrets/current`` to tell a token signed before a rotation.
    public internal(set) var keyID: UInt32?

    /// Ids are database ids: `0...Int64.max` (a negative id is a programming error).
    public init(purpose: TokenPurpose, listID: Int64, subscriberID: Int64, issueID: Int64? = nil) {
        precondition(listID >= 0 && subscriberID >= 0 && (issueID ?? 0) >= 0, "token ids must not be negative")
        self.purpose = purpose
        self.listID = listID
        self.subscriberID = subscriberID
        self.issueID = issueID
    }

    /// The token text (base64url, 35–70 characters), signed with the current secret.
    public func encode(with secrets: TokenSecrets) -> String {
        let key = secrets.current
        var bytes: [UInt8] = [Self.version, purpose.rawValue]
        Varint.append(UInt64(listID), to: &bytes)
        Varint.append(UInt64(subscriberID), to: &bytes)
        Varint.append(issueID.map { UInt64($0) + 1 } ?? 0, to: &bytes)
        withUnsafeBytes(of: key.id.bigEndian) { bytes += $0 }
        bytes += Self.mac(key: key, over: bytes)
        return Base64URL.encode(bytes)
    }

    /// The token in `text`, if it is genuine, signed by one of `secrets`, and made for `purpose`.
    ///
    /// The MAC is compared in constant time (`CRYPTO_memcmp`); its purpose is
    /// checked only after the MAC, so an unauthenticated token learns nothing.
    /// - Throws: ``TokenError`` `.malformed`, `.unsupportedVersion`,
    ///   `.unknownKey`, `.badSignature` or `.wrongPurpose`.
    public static func verify(_ text: some StringProtocol, purpose: TokenPurpose, secrets: TokenSecrets)
        throws(TokenError) -> SubscriberToken
    {
        // The longest genuine token is 70 characters; refuse a long input before decoding it.
        guard text.utf8.count <= 128, let bytes = Base64URL.decode(text) else {
            throw TokenError(code: .malformed, message: "the link is not a valid listctl token")
        }
        guard let version = bytes.first else {
            throw TokenError(code: .malformed, message: "the link is not a valid listctl token")
        }
        guard version == Self.version else {
            throw TokenError(code: .unsupportedVersion, message: "the link's token has an unknown format version (\(version))")
        }
        var reader = Varint.Reader(bytes: bytes, offset: 2)
        guard bytes.count >= 2 + 3 + keyIDLength + macLength,
            let list = reader.next(), let subscriber = reader.next(), let issue = reader.next(),
            list <= UInt64(Int64.max), subscriber <= UInt64(Int64.max), issue <= UInt64(Int64.max) + 1,
            bytes.count - reader.offset == keyIDLength + macLength
        else {
            throw TokenError(code: .malformed, message: "the link is not a valid listctl token")
        }
        let keyStart = reader.offset
        let keyID = bytes[keyStart..<keyStart + keyIDLength].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let signed = Array(bytes[..<(keyStart + keyIDLength)])
        let mac = Array(bytes[(keyStart + keyIDLength)...])
        let candidates = secrets.keys.filter { $0.id == keyID }
        guard !candidates.isEmpty else {
            throw TokenError(code: .unknownKey, message: "the link was signed with a secret this installation no longer has")
        }
        // Two secrets can share a 32-bit key id; try each.
        var genuine = false
        for key in candidates where TokenCrypto.constantTimeEqual(Self.mac(key: key, over: signed), mac) { genuine = true }
        guard genuine else {
            throw TokenError(code: .badSignature, message: "the link's token is not genuine")
        }
        let found = TokenPurpose(rawValue: bytes[1])
        guard found == purpose else {
            throw TokenError(code: .wrongPurpose, message: "the link is a \(found) link, not a \(purpose) link")
        }
        var token = SubscriberToken(
            purpose: found, listID: Int64(list), subscriberID: Int64(subscriber),
            issueID: issue == 0 ? nil : Int64(issue - 1))
        token.keyID = keyID
        return token
    }

    static func mac(key: TokenSecrets.Key, over bytes: [UInt8]) -> [UInt8] {
        Array(Digest.hmacSHA256(key: key.bytes, data: domain + bytes).prefix(macLength))
    }
}

/// Unsigned LEB128, minimal form only, so each token has exactly one encoding.
enum Varint {
    static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    struct Reader {
        let bytes: [UInt8]
        var offset: Int

        /// The next value, or nil when truncated, longer than 10 bytes, overflowing or not minimal.
        mutating func next() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            var index = offset
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                if shift == 63 && byte > 1 { return nil }
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 {
                    if byte == 0 && index - offset > 1 { return nil }
                    offset = index
                    return value
                }
                shift += 7
                if shift > 63 { return nil }
            }
            return nil
        }
    }
}
