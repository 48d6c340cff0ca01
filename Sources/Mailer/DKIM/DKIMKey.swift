import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A DKIM private key (RSA or Ed25519), parsed once and shared by every
/// signing call.
public struct DKIMKey: Sendable {
    /// The signing algorithm a key implies.
    public enum Algorithm: String, Sendable, CaseIterable {
        /// `rsa-sha256` (RFC 6376); 2048-bit keys recommended.
        case rsaSHA256 = "rsa-sha256"
        /// `ed25519-sha256` (RFC 8463).
        case ed25519SHA256 = "ed25519-sha256"

        /// The `k=` tag of the DNS record.
        public var keyType: String { self == .rsaSHA256 ? "rsa" : "ed25519" }
    }

    let handle: PrivateKeyHandle

    /// The algorithm this key signs with.
    public var algorithm: Algorithm { handle.kind == .rsa ? .rsaSHA256 : .ed25519SHA256 }
    /// Key size in bits (2048 for a typical RSA key, 256 for Ed25519).
    public var bits: Int { handle.bits }

    /// Parses a PEM private key; the type is detected from the key.
    /// - Throws: `DKIMError.Code.invalidKey` or `.unsupportedKey`.
    public init(pem: [UInt8]) throws(DKIMError) {
        handle = try PrivateKeyHandle.parse(pem: pem)
    }

    /// Reads and parses a PEM key file.
    /// - Throws: `DKIMError.Code.invalidKey` naming the file when it cannot be read or parsed.
    public init(contentsOfFile path: String) throws(DKIMError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DKIMError(code: .invalidKey, message: "cannot read the DKIM key file \(path); check LISTCTL_DKIM_KEY_FILE")
        }
        do {
            handle = try PrivateKeyHandle.parse(pem: Array(data))
        } catch {
            throw DKIMError(code: error.code, message: "\(path): \(error.message)")
        }
    }

    private init(handle: PrivateKeyHandle) { self.handle = handle }

    /// Generates a new key: 2048-bit RSA (`rsaSHA256`) or Ed25519.
    public static func generate(_ algorithm: Algorithm, rsaBits: Int = 2048) throws(DKIMError) -> DKIMKey {
        DKIMKey(handle: try PrivateKeyHandle.generate(algorithm == .rsaSHA256 ? .rsa : .ed25519, rsaBits: rsaBits))
    }

    /// The private key as PKCS#8 PEM.
    public func privateKeyPEM() throws(DKIMError) -> String { try handle.privateKeyPEM() }

    /// Writes the private key as PEM to a new file readable by its owner only
    /// (mode 0600). Never overwrites: an existing key may be in DNS already.
    /// - Throws: `DKIMError.Code.invalidKey` naming the path when the file exists or cannot be written.
    public func writePrivateKey(toFile path: String) throws(DKIMError) {
        let pem = Array(try privateKeyPEM().utf8)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            let reason = errno == EEXIST ? "it already exists (move it away first; it may be published in DNS)" : String(cString: strerror(errno))
            throw DKIMError(code: .invalidKey, message: "cannot create \(path): \(reason)")
        }
        defer { _ = Glibc.close(fd) }
        let written = pem.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == pem.count else {
            throw DKIMError(code: .invalidKey, message: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// The base64 `p=` value for the DNS key record.
    public func publicKeyBase64() throws(DKIMError) -> String {
        Data(try handle.publicKeyRecordBytes()).base64EncodedString()
    }

    /// The TXT record value, `v=DKIM1; k=rsa; p=...`.
    public func dnsRecordValue() throws(DKIMError) -> String {
        "v=DKIM1; k=\(algorithm.keyType); p=\(try publicKeyBase64())"
    }

    /// The whole zone-file line, with the value split into quoted strings of
    /// at most 255 characters (the limit of one DNS character-string):
    /// `S._domainkey.D. IN TXT ( "v=DKIM1; k=rsa; p=..." "..." )`.
    public func dnsRecord(selector: String, domain: String) throws(DKIMError) -> String {
        let value = try dnsRecordValue()
        var chunks: [String] = []
        var rest = Substring(value)
        while !rest.isEmpty {
            chunks.append(String(rest.prefix(255)))
            rest = rest.dropFirst(255)
        }
        let quoted = chunks.map { "\"\($0)\"" }
        let name = "\(selector)._domainkey.\(domain)"
        if quoted.count == 1 { return "\(name) IN TXT \(quoted[0])" }
        return "\(name) IN TXT ( \(quoted.joined(separator: " ")) )"
    }
}
