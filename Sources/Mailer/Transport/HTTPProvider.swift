import Foundation

/// One HTTP request to a provider's API.
struct HTTPProviderRequest: Sendable {
    var method = "POST"
    var url: String
    /// Complete header lines, `Name: value`.
    var headers: [String]
    var body: [UInt8]
}

/// How one provider's API takes a message and names it in its answer.
protocol HTTPProvider: Sendable {
    /// Default base URL; `?endpoint=` replaces it.
    var defaultBaseURL: String { get }
    func request(for message: OutgoingMessage, baseURL: String, now: Date) throws(TransportError) -> HTTPProviderRequest
    /// The provider's id for an accepted message.
    func messageID(headers: [String], body: [UInt8]) -> String?
    /// True when a 4xx answer other than 429 still means "try later" (a
    /// quota, a paused account); the default is no.
    func isTemporaryRejection(status: Int, headers: [String], body: [UInt8]) -> Bool
    /// True when a permanent 4xx answer is about the recipient's address
    /// (so it may be suppressed), not about the sender, content or account.
    func isRecipientRejection(status: Int, headers: [String], body: [UInt8]) -> Bool
}

extension HTTPProvider {
    func isTemporaryRejection(status: Int, headers: [String], body: [UInt8]) -> Bool { false }
    func isRecipientRejection(status: Int, headers: [String], body: [UInt8]) -> Bool { false }
}
