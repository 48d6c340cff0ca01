/// HTTPS GETs over libcurl, on threads of their own (libcurl blocks; nothing
/// here runs on Swift's cooperative pool). For the few documents a webhook
/// must fetch: the SNS signing certificate and its SubscribeURL.
///
/// Only `https` is spoken and redirects are never followed, so a URL that was
/// checked is the URL that is fetched. The peer is verified against the
/// system trust store, or against `caFile` when one is given.
public final class HTTPSFetcher: Sendable {
    /// What the server answered.
    public struct Response: Sendable {
        /// The HTTP status.
        public var status: Int
        /// The body (at most 1 MB is kept).
        public var body: [UInt8]
    }

    private let pool: CurlWorkerPool

    /// - Parameters:
    ///   - caFile: a PEM bundle to trust instead of the system store (a test CA).
    ///   - connections: threads, each with one libcurl handle.
    ///   - timeoutSeconds: the whole request's limit.
    public init(caFile: String? = nil, connections: Int = 2, timeoutSeconds: Int = 10) {
        var options = CurlHandleOptions()
        options.connectTimeoutSeconds = min(5, timeoutSeconds)
        options.commandTimeoutSeconds = timeoutSeconds
        options.totalTimeoutSeconds = timeoutSeconds
        options.caFile = caFile
        pool = CurlWorkerPool(size: connections, name: "listctl-https-fetch", options: options)
    }

    /// GETs `url` (an `https` URL; anything else fails without a request).
    /// - Throws: ``TransportError`` `.tls` for an untrusted peer, `.connectionFailed`
    ///   or `.timeout` when the server cannot be reached, `.configuration` for a URL
    ///   that is not https. An HTTP error status is not thrown: see ``Response/status``.
    public func get(_ url: String) async throws(TransportError) -> Response {
        try await pool.run { easy in
            let result = easy.get(url: url, protocols: "https")
            switch result.curlCode {
            case CurlResult.ok:
                return .success(Response(status: result.responseCode, body: result.body))
            case CurlResult.peerFailedVerification, CurlResult.sslConnectError, CurlResult.sslCACert:
                return .failure(TransportError(
                    code: .tls, classification: .permanent, message: "GET \(url): TLS failed (\(result.errorText))"))
            case CurlResult.operationTimedOut:
                return .failure(TransportError(
                    code: .timeout, classification: .temporary, message: "GET \(url): no answer in time (\(result.errorText))"))
            case CurlResult.unsupportedProtocol:
                return .failure(TransportError(
                    code: .configuration, classification: .permanent, message: "GET \(url): only https URLs are fetched"))
            default:
                return .failure(TransportError(
                    code: .connectionFailed, classification: .temporary, message: "GET \(url): \(result.errorText)"))
            }
        }
    }

    /// Ends the threads once queued requests are done.
    public func shutdown() async { await pool.shutdown() }
}
