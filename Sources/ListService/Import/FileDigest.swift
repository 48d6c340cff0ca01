import COpenSSL
import Foundation

/// SHA-256 of a file, read in chunks (the import's identity: the same file
/// imported twice into a list is recognised by it).
enum FileDigest {
    /// Lower-case hex SHA-256 of the file at `url`.
    ///
    /// - Throws: ``ImportError`` `.unreadable`.
    static func sha256(of url: URL, fileName: String) throws -> String {
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: url)
        } catch {
            throw ImportError(code: .unreadable, message: "\(fileName): cannot open the file (\(error.localizedDescription))")
        }
        defer { try? handle.close() }
        guard let context = EVP_MD_CTX_new() else {
            throw ImportError(code: .unreadable, message: "\(fileName): OpenSSL could not allocate a digest")
        }
        defer { EVP_MD_CTX_free(context) }
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
        while true {
            let data: Data?
            do {
                data = try handle.read(upToCount: 1 << 20)
            } catch {
                throw ImportError(code: .unreadable, message: "\(fileName): read failed (\(error.localizedDescription))")
            }
            guard let data, !data.isEmpty else { break }
            data.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
        }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        return digest.prefix(Int(length)).map { String(format: "%02x", $0) }.joined()
    }
}
