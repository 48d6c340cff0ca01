import COpenSSL
import Foundation

/// One schema migration: `sql/migrations/NNNN_name.sql`, carried in the binary.
public struct Migration: Sendable, Hashable {
    public let version: Int
    public let name: String
    public let sql: String
    /// SHA-256 of the file's text, hex. A database that recorded a different
    /// checksum for the same version is refused.
    public let checksum: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = sha256Hex(Array(sql.utf8))
    }

    /// The migrations built into this binary, in version order.
    public static let embedded: [Migration] = {
        embeddedMigrationFiles.map { file in
            guard let migration = Migration(fileName: file.fileName, sql: file.sql) else {
                // EmbedSQL only embeds *.sql files; a misnamed one is a build mistake.
                preconditionFailure("sql/migrations/\(file.fileName) is not named NNNN_name.sql")
            }
            return migration
        }.sorted { $0.version < $1.version }
    }()

    /// Parses `NNNN_name.sql`; `nil` if the name does not have that shape.
    public init?(fileName: String, sql: String) {
        guard fileName.hasSuffix(".sql") else { return nil }
        let stem = fileName.dropLast(4)
        guard let underscore = stem.firstIndex(of: "_"),
            let version = Int(stem[..<underscore]), version > 0
        else { return nil }
        let name = String(stem[stem.index(after: underscore)...])
        guard !name.isEmpty else { return nil }
        self.init(version: version, name: name, sql: sql)
    }

    /// `0001_initial`
    public var label: String {
        let digits = String(version)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits + "_" + name
    }
}

func sha256Hex(_ bytes: [UInt8]) -> String {
    var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
    _ = bytes.withUnsafeBufferPointer { SHA256($0.baseAddress, $0.count, &digest) }
    return digest.map { String(format: "%02x", $0) }.joined()
}
