/// An error from rendering, splitting or building messages, with the file and
/// line it concerns when there is one.
public struct MailerError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is. Extensible: switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case unreadableFile, frontMatter, template, blockTooLarge, budgetTooSmall, invalidHeader, invalidRecipient, invalidArgument
        }
        let base: Base
        /// The issue or template file could not be read.
        public static let unreadableFile = Code(base: .unreadableFile)
        /// The front matter is malformed or has an unknown key.
        public static let frontMatter = Code(base: .frontMatter)
        /// The e-mail template does not parse or lacks `{{{content}}}`.
        public static let template = Code(base: .template)
        /// One block is over the budget and cannot be cut (an image, raw HTML, a heading, a huge list item).
        public static let blockTooLarge = Code(base: .blockTooLarge)
        /// The budget leaves no room for content once the template (and, for the
        /// whole-message scope, the headers and text frame) are counted.
        public static let budgetTooSmall = Code(base: .budgetTooSmall)
        /// A header value holds CR or LF, or cannot be encoded.
        public static let invalidHeader = Code(base: .invalidHeader)
        /// A recipient's field is malformed or longer than the room reserved for it.
        public static let invalidRecipient = Code(base: .invalidRecipient)
        /// A caller passed a value this module cannot use (a budget too small, say).
        public static let invalidArgument = Code(base: .invalidArgument)
        public var description: String { base.rawValue }
    }

    public var code: Code
    /// What went wrong and what to do, for people.
    public var message: String
    /// The file concerned, when there is one.
    public var file: String?
    /// The 1-based line in `file`, when known.
    public var line: Int?

    public init(code: Code, message: String, file: String? = nil, line: Int? = nil) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String {
        switch (file, line) {
        case (let file?, let line?): return "\(file):\(line): \(message)"
        case (let file?, nil): return "\(file): \(message)"
        case (nil, let line?): return "line \(line): \(message)"
        case (nil, nil): return message
        }
    }
}
