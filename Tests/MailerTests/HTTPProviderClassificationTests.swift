import Foundation
@testable import Mailer
import Testing

/// Answers the test servers cannot be made to give, classified directly.
@Suite("HTTP provider answers")
struct HTTPProviderClassificationTests {
    static let ses = SESProvider(signer: SigV4(accessKeyID: "AKID", secretAccessKey: "s", region: "us-east-1", service: "ses"))

    static func answer(_ status: Int, headers: [String] = [], body: String = "") -> CurlResult {
        CurlResult(
            curlCode: CurlResult.ok, errorText: "", responseCode: status, headerLines: ["HTTP/1.1 \(status) X"] + headers,
            body: Array(body.utf8))
    }

    @Test("SES quota and pause answers are temporary; MessageRejected is permanent")
    func sesQuota() throws {
        let quota = HTTPProviderTransport.interpret(
            Self.answer(400, headers: ["x-amzn-ErrorType: LimitExceededException:http://internal.amazon.com/"],
                        body: #"{"message":"Maximum sending rate exceeded."}"#),
            provider: Self.ses, messageID: "m", displayName: "ses")
        guard case .failure(let error) = quota else { Issue.record("expected a failure"); return }
        #expect(error.classification == .temporary && error.httpStatus == 400)

        let rejected = HTTPProviderTransport.interpret(
            Self.answer(400, headers: ["x-amzn-ErrorType: MessageRejected"], body: #"{"message":"Email address is not verified."}"#),
            provider: Self.ses, messageID: "m", displayName: "ses")
        guard case .failure(let permanent) = rejected else { Issue.record("expected a failure"); return }
        #expect(permanent.classification == .permanent && permanent.serverText?.contains("not verified") == true)
    }

    @Test("Retry-After as an HTTP date")
    func retryAfterDate() {
        let later = Date().addingTimeInterval(120)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let value = HTTPProviderTransport.retryAfterValue(["Retry-After: \(formatter.string(from: later))"])
        let seconds = value?.components.seconds ?? -1
        #expect((115...121).contains(seconds), "\(String(describing: value))")
        #expect(HTTPProviderTransport.retryAfterValue(["retry-after: 30"]) == .seconds(30))
        #expect(HTTPProviderTransport.retryAfterValue(["Retry-After: soon"]) == nil)
    }

    @Test("a connection that fails before any answer is temporary")
    func noAnswer() {
        let result = CurlResult(curlCode: CurlResult.couldntConnect, errorText: "Failed to connect", responseCode: 0, headerLines: [], body: [])
        guard case .failure(let error) = HTTPProviderTransport.interpret(result, provider: Self.ses, messageID: "m", displayName: "ses") else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.classification == .temporary && error.code == .connectionFailed)
    }

    @Test("no answer after the whole body was sent is unknown; before it, temporary; a reset TLS handshake, temporary")
    func outcomeUnknown() {
        func classify(_ code: Int, _ text: String, uploadComplete: Bool) -> TransportError.Classification? {
            let result = CurlResult(curlCode: code, errorText: text, responseCode: 0, headerLines: [], body: [], uploadComplete: uploadComplete)
            guard case .failure(let error) = HTTPProviderTransport.interpret(result, provider: Self.ses, messageID: "m", displayName: "ses") else {
                return nil
            }
            return error.classification
        }
        #expect(classify(CurlResult.gotNothing, "Empty reply from server", uploadComplete: true) == .unknown)
        #expect(classify(CurlResult.recvError, "Connection reset by peer", uploadComplete: true) == .unknown)
        #expect(classify(CurlResult.operationTimedOut, "Operation timed out", uploadComplete: true) == .unknown)
        #expect(classify(CurlResult.recvError, "Connection reset by peer", uploadComplete: false) == .temporary)
        #expect(classify(CurlResult.sendError, "Broken pipe", uploadComplete: true) == .temporary)
        #expect(classify(CurlResult.couldntConnect, "Failed to connect", uploadComplete: false) == .temporary)
        #expect(classify(CurlResult.sslConnectError, "OpenSSL SSL_connect: Connection reset by peer in connection to x:443", uploadComplete: false) == .temporary)
        #expect(classify(CurlResult.sslConnectError, "error:0A00010B:SSL routines::wrong version number", uploadComplete: false) == .permanent)
        #expect(classify(CurlResult.peerFailedVerification, "SSL certificate problem", uploadComplete: false) == .permanent)
    }

    @Test("encoded display names are decoded and re-quoted when needed")
    func addresses() {
        #expect(MIMEContent.decodeAddress("=?UTF-8?Q?Doe=2C_J=C3=BCrgen?= <j@example.org>") == "\"Doe, Jürgen\" <j@example.org>")
        #expect(MIMEContent.decodeAddress("=?UTF-8?B?R3LDvMOfZQ==?= <g@example.org>") == "Grüße <g@example.org>")
        #expect(MIMEContent.decodeAddress("Plain Name <p@example.org>") == "Plain Name <p@example.org>")
        #expect(MIMEContent.decodeAddress("bare@example.org") == "bare@example.org")
        #expect(MIMEContent.decodeWords("=?UTF-8?Q?a?= =?UTF-8?Q?b?= c") == "ab c")
    }
}
