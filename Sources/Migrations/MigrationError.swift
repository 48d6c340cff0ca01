/// Why migrations could not be applied, or why a database is not usable by
/// this binary. Messages say what to do.
public struct MigrationError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable { case checksumMismatch, unknownMigration, behind, migrationFailed }
        let base: Base
        /// An applied migration's recorded checksum differs from this binary's file.
        public static let checksumMismatch = Code(base: .checksumMismatch)
        /// The database has a migration this binary does not know (it is newer).
        public static let unknownMigration = Code(base: .unknownMigration)
        /// The database lacks migrations this binary needs.
        public static let behind = Code(base: .behind)
        /// A migration's SQL failed; it was rolled back.
        public static let migrationFailed = Code(base: .migrationFailed)
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    /// The migration concerned, when there is one (`0002_name`).
    public var migration: String?
    public var underlying: (any Error)?

    public init(code: Code, message: String, migration: String? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.migration = migration
        self.underlying = underlying
    }

    public var description: String {
        if let underlying { return "\(message)\n\(underlying)" }
        return message
    }
}
