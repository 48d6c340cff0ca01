import COpenSSL

/// The libcrypto calls the tokens make beyond the Mailer's `Digest`
/// (SHA-256, HMAC-SHA256): random bytes and constant-time comparison. No
/// pointer escapes this file.
enum TokenCrypto {
    /// `count` bytes from OpenSSL's CSPRNG (seeded from the kernel's getrandom), or nil if it fails.
    static func randomBytes(_ count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        let status = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        return status == 1 ? out : nil
    }

    /// `true` when `a` and `b` are equal; time depends only on the length, never on where they differ.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 }
        }
    }
}
