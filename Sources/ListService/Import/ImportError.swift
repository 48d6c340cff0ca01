/// Why an import was refused: a file that cannot be read as CSV, a header
/// that matches no known export, or rows that failed validation.
///
/// The message names the file and line and says what to do; for invalid rows
/// `rowErrors` holds the first 20 and `rowErrorCount` how many there were.
public struct ImportError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case unreadable, encoding, malformed, empty, unknownFormat, invalidRows, invalidOption, conflict
        }
        let base: Base
        /// The file could not be opened or read.
        public static let unreadable = Code(base: .unreadable)
        /// The bytes are not valid in the file's encoding (or hold NUL bytes).
        public static let encoding = Code(base: .encoding)
        /// The CSV structure is broken (unterminated quote, stray quote, huge field).
        public static let malformed = Code(base: .malformed)
        /// The file holds no header row.
        public static let empty = Code(base: .empty)
        /// The header matches no known export and no `--map` says where the address is.
        public static let unknownFormat = Code(base: .unknownFormat)
        /// One or more rows are invalid; nothing was imported.
        public static let invalidRows = Code(base: .invalidRows)
        /// An option (`--map`, `--format`) is not acceptable.
        public static let invalidOption = Code(base: .invalidOption)
        /// A concurrent change collided with the import; nothing was written, run it again.
        public static let conflict = Code(base: .conflict)
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    /// The first rows that failed (at most ``ImportError/maximumReportedRows``).
    public var rowErrors: [ImportRowError]
    /// How many rows failed in all.
    public var rowErrorCount: Int

    /// How many row errors an error carries and prints.
    public static let maximumReportedRows = 20

    public init(code: Code, message: String, rowErrors: [ImportRowError] = [], rowErrorCount: Int = 0) {
        self.code = code
        self.message = message
        self.rowErrors = rowErrors
        self.rowErrorCount = rowErrorCount
    }

    public var description: String {
        guard !rowErrors.isEmpty else { return message }
        var lines = [message]
        lines += rowErrors.map { "  \($0)" }
        if rowErrorCount > rowErrors.count {
            lines.append("  … and \(rowErrorCount - rowErrors.count) more")
        }
        return lines.joined(separator: "\n")
    }
}

/// One rejected row: where it is and why.
public struct ImportRowError: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var reason: String

    public init(file: String, line: Int, reason: String) {
        self.file = file
        self.line = line
        self.reason = reason
    }

    public var description: String { "\(file):\(line): \(reason)" }
}
