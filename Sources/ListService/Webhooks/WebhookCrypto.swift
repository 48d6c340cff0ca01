import COpenSSL
import Foundation
import Mailer

/// The libcrypto calls the webhooks make beyond Mailer's `Digest` (SHA-256,
/// HMAC-SHA256): X.509 certificates (SNS), public-key signature checks (RSA
/// for SNS, ECDSA P-256 for SendGrid). No pointer escapes this file.
enum WebhookCrypto {
    enum DigestKind: Sendable { case sha1, sha256 }

    /// The RSA public key of a PEM certificate that is valid at the moment of the call.
    /// - Throws: ``WebhookError`` `.unauthorized` for something that is not such a certificate.
    static func rsaKey(certificatePEM pem: [UInt8]) throws(WebhookError) -> WebhookPublicKey {
        ERR_clear_error()
        let certificate: OpaquePointer? = pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_X509(bio, nil, nil, nil)
        }
        guard let certificate else {
            throw WebhookError(.unauthorized, "the signing certificate is not a PEM certificate (\(LibCrypto.errorText()))")
        }
        defer { X509_free(certificate) }
        // X509_cmp_current_time: -1 when the time is before now, 1 when after, 0 on error.
        guard X509_cmp_current_time(X509_get0_notBefore(certificate)) == -1,
              X509_cmp_current_time(X509_get0_notAfter(certificate)) == 1
        else { throw WebhookError(.unauthorized, "the signing certificate is not valid now (expired or not yet valid)") }
        guard let key = X509_get_pubkey(certificate) else {
            throw WebhookError(.unauthorized, "the signing certificate has no public key (\(LibCrypto.errorText()))")
        }
        guard EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA else {
            EVP_PKEY_free(key)
            throw WebhookError(.unauthorized, "the signing certificate's key is not RSA")
        }
        return WebhookPublicKey(pointer: key)
    }

    /// An ECDSA P-256 public key from DER SubjectPublicKeyInfo (what SendGrid shows, once base64-decoded).
    /// - Throws: ``WebhookError`` `.configuration` for anything else.
    static func p256Key(subjectPublicKeyInfo der: [UInt8]) throws(WebhookError) -> WebhookPublicKey {
        ERR_clear_error()
        let key: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_PUBKEY(nil, &cursor, buffer.count)
        }
        guard let key else { throw WebhookError(.configuration, "not a DER public key (\(LibCrypto.errorText()))") }
        guard EVP_PKEY_get_base_id(key) == EVP_PKEY_EC, EVP_PKEY_get_bits(key) == 256 else {
            EVP_PKEY_free(key)
            throw WebhookError(.configuration, "not an ECDSA P-256 public key")
        }
        return WebhookPublicKey(pointer: key)
    }

    /// `true` when `signature` is `key`'s signature of `data` (RSASSA-PKCS1-v1_5 for an RSA
    /// key, a DER ECDSA signature for an EC key) with the digest `kind`.
    static func verify(_ signature: [UInt8], of data: [UInt8], key: WebhookPublicKey, digest kind: DigestKind) -> Bool {
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        let md = kind == .sha1 ? EVP_sha1() : EVP_sha256()
        guard EVP_DigestVerifyInit(context, nil, md, nil, key.pointer) == 1 else {
            ERR_clear_error()
            return false
        }
        let status = signature.withUnsafeBufferPointer { s in
            data.withUnsafeBufferPointer { d in EVP_DigestVerify(context, s.baseAddress, s.count, d.baseAddress, d.count) }
        }
        ERR_clear_error()
        return status == 1
    }
}

/// An owned `EVP_PKEY` holding a public key. Immutable once made; OpenSSL 3
/// verifies with one key from several threads at once (each call has its own
/// `EVP_MD_CTX`), hence `@unchecked Sendable`.
final class WebhookPublicKey: @unchecked Sendable {
    fileprivate let pointer: OpaquePointer

    fileprivate init(pointer: OpaquePointer) { self.pointer = pointer }

    deinit { EVP_PKEY_free(pointer) }
}
