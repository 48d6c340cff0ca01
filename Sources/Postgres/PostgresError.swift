/// An error from PostgreSQL or from this layer, carrying the server's
/// SQLSTATE, message, detail and hint when the server sent them.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is. Extensible: switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case connectionFailed, server, connectionClosed, decoding, copyFailed, invalidArgument, transactionRolledBack, poolTimeout
        }
        let base: Base
        /// Could not connect, or lost the connection.
        public static let connectionFailed = Code(base: .connectionFailed)
        /// The server rejected a statement; see `sqlState`.
        public static let server = Code(base: .server)
        /// The connection was closed by this process before the call.
        public static let connectionClosed = Code(base: .connectionClosed)
        /// A value could not be decoded into the requested Swift type.
        public static let decoding = Code(base: .decoding)
        /// `COPY ... FROM STDIN` failed on the client side.
        public static let copyFailed = Code(base: .copyFailed)
        /// The caller passed something this layer cannot send (a NUL byte in text, say).
        public static let invalidArgument = Code(base: .invalidArgument)
        /// COMMIT was answered with ROLLBACK: an earlier statement in the transaction had failed.
        public static let transactionRolledBack = Code(base: .transactionRolledBack)
        /// No pooled connection came free in time.
        public static let poolTimeout = Code(base: .poolTimeout)
        public var description: String { base.rawValue }
    }

    public var code: Code
    /// Primary message, human readable.
    public var message: String
    /// Five-character SQLSTATE (`23505` for a unique violation), when the server sent one.
    public var sqlState: String?
    public var detail: String?
    public var hint: String?
    /// The constraint named by the server, when it named one.
    public var constraint: String?

    public init(
        code: Code, message: String, sqlState: String? = nil, detail: String? = nil,
        hint: String? = nil, constraint: String? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
    }

    public var description: String {
        var text = message
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let detail, !detail.isEmpty { text += "\nDETAIL: \(detail)" }
        if let hint, !hint.isEmpty { text += "\nHINT: \(hint)" }
        return text
    }

    /// `true` when the connection itself failed (could not connect, or lost),
    /// as opposed to a statement the server refused.
    public var isConnectionFailure: Bool { code == .connectionFailed }

    /// `true` for a unique violation (SQLSTATE 23505).
    public var isUniqueViolation: Bool { sqlState == "23505" }
}
