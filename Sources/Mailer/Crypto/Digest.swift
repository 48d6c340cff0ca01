/// SHA-256 and HMAC-SHA256 for the other modules (link tokens in
/// ListService), over the same libcrypto calls DKIM and SigV4 use, so the
/// pointer work stays in `LibCrypto`.
public enum Digest {
    /// SHA-256 of `bytes` (32 bytes).
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        LibCrypto.sha256(bytes)
    }

    /// HMAC-SHA256 of `data` under `key` (32 bytes).
    public static func hmacSHA256(key: [UInt8], data: [UInt8]) -> [UInt8] {
        LibCrypto.hmacSHA256(key: key, data: data)
    }
}
