import COpenSSL
import Foundation

/// Every call into OpenSSL libcrypto made by Mailer lives in this file, so no
/// pointer escapes it: digests, HMAC, key parsing/generation and signing.
public enum LibCrypto {
    /// SHA-256 of `bytes`.
    static func sha256(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        out.withUnsafeMutableBufferPointer { o in
            _ = EVP_Digest(bytes.baseAddress, bytes.count, o.baseAddress, &length, EVP_sha256(), nil)
        }
        return out
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { sha256($0) }
    }

    static func sha256(_ string: String) -> [UInt8] {
        sha256(Array(string.utf8))
    }

    /// HMAC-SHA256 of `data` under `key`.
    static func hmacSHA256(key: [UInt8], data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        key.withUnsafeBufferPointer { k in
            data.withUnsafeBufferPointer { d in
                out.withUnsafeMutableBufferPointer { o in
                    _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), d.baseAddress, d.count, o.baseAddress, &length)
                }
            }
        }
        return out
    }

    /// The queued OpenSSL errors as one line, clearing the queue.
    public static func errorText() -> String {
        var parts: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            parts.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return parts.isEmpty ? "unknown OpenSSL error" : parts.joined(separator: "; ")
    }
}

/// An owned `EVP_PKEY`. The key is immutable after creation, and OpenSSL 3
/// allows concurrent signing with one key from several threads (each call
/// uses its own `EVP_MD_CTX`), hence `@unchecked Sendable`.
final class PrivateKeyHandle: @unchecked Sendable {
    enum Kind: Sendable { case rsa, ed25519 }

    let pointer: OpaquePointer
    let kind: Kind
    let bits: Int

    private init(pointer: OpaquePointer) throws(DKIMError) {
        self.pointer = pointer
        switch EVP_PKEY_get_base_id(pointer) {
        case EVP_PKEY_RSA: kind = .rsa
        case EVP_PKEY_ED25519: kind = .ed25519
        default:
            EVP_PKEY_free(pointer)
            throw DKIMError(code: .unsupportedKey, message: "the key is neither RSA nor Ed25519")
        }
        bits = Int(EVP_PKEY_get_bits(pointer))
    }

    deinit { EVP_PKEY_free(pointer) }

    /// Parses a PEM private key (PKCS#8 `PRIVATE KEY` or traditional `RSA PRIVATE KEY`).
    static func parse(pem: [UInt8]) throws(DKIMError) -> PrivateKeyHandle {
        ERR_clear_error()
        let parsed: OpaquePointer? = pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        guard let parsed else {
            throw DKIMError(code: .invalidKey, message: "not a PEM private key (\(LibCrypto.errorText()))")
        }
        return try PrivateKeyHandle(pointer: parsed)
    }

    /// Generates a fresh key: RSA with `rsaBits` bits, or Ed25519.
    static func generate(_ kind: Kind, rsaBits: Int = 2048) throws(DKIMError) -> PrivateKeyHandle {
        ERR_clear_error()
        let id = kind == .rsa ? EVP_PKEY_RSA : EVP_PKEY_ED25519
        guard let ctx = EVP_PKEY_CTX_new_id(id, nil) else {
            throw DKIMError(code: .keyGeneration, message: LibCrypto.errorText())
        }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_keygen_init(ctx) == 1 else { throw DKIMError(code: .keyGeneration, message: LibCrypto.errorText()) }
        if kind == .rsa, EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(rsaBits)) != 1 {
            throw DKIMError(code: .keyGeneration, message: LibCrypto.errorText())
        }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen(ctx, &key) == 1, let key else {
            throw DKIMError(code: .keyGeneration, message: LibCrypto.errorText())
        }
        return try PrivateKeyHandle(pointer: key)
    }

    /// PKCS#8 PEM of the private key.
    func privateKeyPEM() throws(DKIMError) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw DKIMError(code: .keyGeneration, message: "BIO_new failed") }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PrivateKey(bio, pointer, nil, nil, 0, nil, nil) == 1 else {
            throw DKIMError(code: .keyGeneration, message: LibCrypto.errorText())
        }
        var data: UnsafeMutablePointer<CChar>?
        let length = listctl_BIO_get_mem_data(bio, &data)
        guard let data, length > 0 else { throw DKIMError(code: .keyGeneration, message: "empty PEM") }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }

    /// The `p=` value of the DKIM key record: for RSA the DER
    /// SubjectPublicKeyInfo (what opendkim publishes), for Ed25519 the raw
    /// 32-byte key (RFC 8463 §4.2).
    func publicKeyRecordBytes() throws(DKIMError) -> [UInt8] {
        switch kind {
        case .ed25519:
            var length = 0
            guard EVP_PKEY_get_raw_public_key(pointer, nil, &length) == 1 else {
                throw DKIMError(code: .invalidKey, message: LibCrypto.errorText())
            }
            var out = [UInt8](repeating: 0, count: length)
            guard EVP_PKEY_get_raw_public_key(pointer, &out, &length) == 1 else {
                throw DKIMError(code: .invalidKey, message: LibCrypto.errorText())
            }
            return Array(out.prefix(length))
        case .rsa:
            let length = i2d_PUBKEY(pointer, nil)
            guard length > 0 else { throw DKIMError(code: .invalidKey, message: LibCrypto.errorText()) }
            var out = [UInt8](repeating: 0, count: Int(length))
            let written = out.withUnsafeMutableBufferPointer { buffer -> Int32 in
                var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
                return i2d_PUBKEY(pointer, &cursor)
            }
            guard written == length else { throw DKIMError(code: .invalidKey, message: LibCrypto.errorText()) }
            return out
        }
    }

    /// Signs `input` for DKIM: RSASSA-PKCS1-v1_5 with SHA-256, or PureEdDSA
    /// over the SHA-256 of the input (RFC 8463 §3: Ed25519 signs the hash,
    /// and takes no digest of its own).
    func sign(_ input: [UInt8]) throws(DKIMError) -> [UInt8] {
        let data = kind == .rsa ? input : LibCrypto.sha256(input)
        guard let ctx = EVP_MD_CTX_new() else { throw DKIMError(code: .signing, message: "EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(ctx) }
        let md = kind == .rsa ? EVP_sha256() : nil
        guard EVP_DigestSignInit(ctx, nil, md, nil, pointer) == 1 else {
            throw DKIMError(code: .signing, message: LibCrypto.errorText())
        }
        var length = 0
        let ok = data.withUnsafeBufferPointer { d -> Bool in
            guard EVP_DigestSign(ctx, nil, &length, d.baseAddress, d.count) == 1 else { return false }
            return true
        }
        guard ok else { throw DKIMError(code: .signing, message: LibCrypto.errorText()) }
        var signature = [UInt8](repeating: 0, count: length)
        let signed = data.withUnsafeBufferPointer { d in
            signature.withUnsafeMutableBufferPointer { s in
                EVP_DigestSign(ctx, s.baseAddress, &length, d.baseAddress, d.count) == 1
            }
        }
        guard signed else { throw DKIMError(code: .signing, message: LibCrypto.errorText()) }
        return Array(signature.prefix(length))
    }
}
