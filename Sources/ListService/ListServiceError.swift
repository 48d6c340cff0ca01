/// An error from ListService, for people: what was wrong, where, what to do.
public struct ListServiceError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case embeddedDatabase, notFound, invalidInput, conflict, configuration, database, backup
        }
        let base: Base
        /// The private PostgreSQL cluster could not be set up, started or stopped.
        public static let embeddedDatabase = Code(base: .embeddedDatabase)
        /// A list, issue or subscriber named by the caller does not exist.
        public static let notFound = Code(base: .notFound)
        /// A value given by the caller is not acceptable.
        public static let invalidInput = Code(base: .invalidInput)
        /// The change conflicts with what is stored (a list that already exists, say).
        public static let conflict = Code(base: .conflict)
        /// A required setting is missing or wrong.
        public static let configuration = Code(base: .configuration)
        /// The database failed in a way the caller cannot fix by changing input.
        public static let database = Code(base: .database)
        /// `pg_dump` or `pg_restore` failed, or a backup file cannot be written.
        public static let backup = Code(base: .backup)
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    public var underlying: (any Error)?

    public init(code: Code, message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        if let underlying { return "\(message)\n\(underlying)" }
        return message
    }
}
