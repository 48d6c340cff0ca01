/// Why a webhook request was refused. The message is for the operator's log;
/// what the client sees is only the status (``WebhookRoutes``), and neither
/// ever holds a secret.
public struct WebhookError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable { case unauthorized, forbidden, malformed, unavailable, configuration }
        let base: Base
        /// The signature, credentials or timestamp do not check out, or the request was seen before: 401.
        public static let unauthorized = Code(base: .unauthorized)
        /// Authentic, but not for us (an SNS topic that is not configured): 403.
        public static let forbidden = Code(base: .forbidden)
        /// Authentic, but not in the provider's documented shape: 400.
        public static let malformed = Code(base: .malformed)
        /// Something this side depends on failed (fetching the SNS certificate or SubscribeURL): 502; the provider retries.
        public static let unavailable = Code(base: .unavailable)
        /// A setting is missing or wrong (at start-up).
        public static let configuration = Code(base: .configuration)
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
