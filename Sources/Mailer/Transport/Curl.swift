import CCurl
import Foundation

/// Every call into libcurl made by Mailer lives in this file: the easy handle,
/// its callbacks, and the threads that own the handles. Nothing unsafe leaves it.

enum CurlGlobal {
    /// `curl_global_init` is not thread-safe; a static let runs it exactly once.
    static let initialized: Bool = listctl_curl_global_init() == CURLE_OK
}

/// The bytes one transfer uploads (SMTP DATA); read by libcurl's read callback.
private final class UploadSource {
    var bytes: [UInt8] = []
    var offset = 0
}

/// What one transfer received: SMTP reply lines or HTTP headers, and an HTTP body.
private final class ResponseSink {
    var headerLines: [String] = []
    var body: [UInt8] = []
    var captureBody = false
}

private let readCallback: listctl_curl_io_callback = { buffer, size, count, userdata in
    guard let buffer, let userdata else { return 0 }
    let source = Unmanaged<UploadSource>.fromOpaque(userdata).takeUnretainedValue()
    let n = min(size * count, source.bytes.count - source.offset)
    guard n > 0 else { return 0 }
    source.bytes.withUnsafeBytes { raw in
        UnsafeMutableRawPointer(buffer).copyMemory(from: raw.baseAddress! + source.offset, byteCount: n)
    }
    source.offset += n
    return n
}

private let headerCallback: listctl_curl_io_callback = { buffer, size, count, userdata in
    let n = size * count
    guard let buffer, let userdata else { return n }
    let sink = Unmanaged<ResponseSink>.fromOpaque(userdata).takeUnretainedValue()
    let line = String(decoding: UnsafeRawBufferPointer(start: buffer, count: n), as: UTF8.self)
    sink.headerLines.append(line.trimmingCharacters(in: .whitespacesAndNewlines))
    return n
}

private let writeCallback: listctl_curl_io_callback = { buffer, size, count, userdata in
    let n = size * count
    guard let buffer, let userdata else { return n }
    let sink = Unmanaged<ResponseSink>.fromOpaque(userdata).takeUnretainedValue()
    // Provider answers are small; cap what we keep so a broken server cannot fill memory.
    if sink.body.count < 1 << 20 {
        sink.body.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: n))
    }
    return n
}

/// The outcome of one `perform`.
struct CurlResult {
    /// `CURLE_*` as an integer (0 is success).
    var curlCode: Int
    /// curl's error text (from `CURLOPT_ERRORBUFFER`), empty on success.
    var errorText: String
    /// `CURLINFO_RESPONSE_CODE`: the last SMTP reply code or the HTTP status.
    var responseCode: Int
    /// SMTP reply lines, or HTTP response header lines.
    var headerLines: [String]
    var body: [UInt8]
    /// libcurl took the last byte of the upload (SMTP DATA, HTTP body) from
    /// the read callback. libcurl 7.x/8.x calls it again only once the bytes it
    /// gave before were written to the socket, so when this is set every byte
    /// but the last buffer-full (at most `CURLOPT_UPLOAD_BUFFERSIZE`, 64 KB)
    /// has reached the kernel, and libcurl's next step is to send that last
    /// buffer (SMTP: then the `\r\n.\r\n` terminator) and wait for the answer.
    /// A failure then in *receiving* (reset, EOF, timeout) leaves the outcome
    /// unknown; a failure in *sending* (`CURLE_SEND_ERROR`) means the server
    /// never got the end of it. The uncertain case errs towards "unknown".
    var uploadComplete = false

    /// The transfer failed after the whole upload was handed over, waiting
    /// for or reading the server's answer: the server may have accepted it.
    /// `CURLE_SEND_FAIL_REWIND` counts: on a reused HTTP connection that
    /// answered nothing, libcurl tries to send the request again and cannot
    /// rewind our body (no seek callback, on purpose: a silent resend could
    /// be a second copy), so that code too means "sent, no answer".
    var failedAwaitingAnswer: Bool {
        uploadComplete
            && [Self.recvError, Self.gotNothing, Self.operationTimedOut, Self.partialFile, Self.weirdServerReply, Self.sendFailRewind]
                .contains(curlCode)
    }

    /// A TLS handshake cut short by the network (a reset or an early EOF),
    /// as opposed to one the peer refused: temporary, like a refused connect.
    var tlsHandshakeInterrupted: Bool {
        guard curlCode == Self.sslConnectError else { return false }
        let text = errorText.lowercased()
        return ["syscall", "reset", "eof", "broken pipe"].contains { text.contains($0) }
    }

    static let ok = 0
    static let couldntResolveHost = Int(CURLE_COULDNT_RESOLVE_HOST.rawValue)
    static let couldntConnect = Int(CURLE_COULDNT_CONNECT.rawValue)
    static let weirdServerReply = Int(CURLE_WEIRD_SERVER_REPLY.rawValue)
    static let operationTimedOut = Int(CURLE_OPERATION_TIMEDOUT.rawValue)
    static let sendError = Int(CURLE_SEND_ERROR.rawValue)
    static let recvError = Int(CURLE_RECV_ERROR.rawValue)
    static let gotNothing = Int(CURLE_GOT_NOTHING.rawValue)
    static let loginDenied = Int(CURLE_LOGIN_DENIED.rawValue)
    static let useSSLFailed = Int(CURLE_USE_SSL_FAILED.rawValue)
    static let sslConnectError = Int(CURLE_SSL_CONNECT_ERROR.rawValue)
    static let peerFailedVerification = Int(CURLE_PEER_FAILED_VERIFICATION.rawValue)
    static let sslCACert = Int(CURLE_SSL_CACERT_BADFILE.rawValue)
    static let abortedByCallback = Int(CURLE_ABORTED_BY_CALLBACK.rawValue)
    static let partialFile = Int(CURLE_PARTIAL_FILE.rawValue)
    static let sendFailRewind = Int(CURLE_SEND_FAIL_REWIND.rawValue)
    static let unsupportedProtocol = Int(CURLE_UNSUPPORTED_PROTOCOL.rawValue)
}

/// Settings an easy handle keeps across transfers.
struct CurlHandleOptions: Sendable {
    var connectTimeoutSeconds: Int = 10
    /// SMTP: the longest wait for any one server reply.
    var commandTimeoutSeconds: Int = 60
    /// HTTP: the whole request's limit.
    var totalTimeoutSeconds: Int = 0
    var verifyPeer = true
    var caFile: String?
    var username: String?
    var password: String?
    /// smtp:// only: require STARTTLS.
    var requireTLS = false
}

/// One libcurl easy handle. Not thread-safe: it lives and dies on one
/// worker thread. libcurl keeps the connection open in the handle between
/// transfers, so one SMTP session carries many transactions.
final class CurlEasy {
    private let handle: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private let upload = UploadSource()
    private let sink = ResponseSink()

    init?(options: CurlHandleOptions) {
        _ = CurlGlobal.initialized
        guard let handle = curl_easy_init() else { return nil }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(listctl_curl_error_size()))
        errorBuffer.initialize(repeating: 0, count: Int(listctl_curl_error_size()))
        _ = listctl_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        // Worker threads: no signals for timeouts.
        _ = listctl_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = listctl_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT, options.connectTimeoutSeconds)
        _ = listctl_curl_setopt_long(handle, CURLOPT_SERVER_RESPONSE_TIMEOUT, options.commandTimeoutSeconds)
        if options.totalTimeoutSeconds > 0 {
            _ = listctl_curl_setopt_long(handle, CURLOPT_TIMEOUT, options.totalTimeoutSeconds)
        }
        // A stalled upload or download counts as a timeout too.
        _ = listctl_curl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1)
        _ = listctl_curl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, options.commandTimeoutSeconds)
        _ = listctl_curl_setopt_long(handle, CURLOPT_TCP_NODELAY, 1)
        _ = listctl_curl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1)
        if !options.verifyPeer {
            _ = listctl_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 0)
            _ = listctl_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 0)
        }
        if let caFile = options.caFile { _ = listctl_curl_setopt_string(handle, CURLOPT_CAINFO, caFile) }
        if let username = options.username { _ = listctl_curl_setopt_string(handle, CURLOPT_USERNAME, username) }
        if let password = options.password { _ = listctl_curl_setopt_string(handle, CURLOPT_PASSWORD, password) }
        if options.requireTLS { _ = listctl_curl_setopt_long(handle, CURLOPT_USE_SSL, Int(CURLUSESSL_ALL.rawValue)) }

        _ = listctl_curl_setopt_io_callback(handle, CURLOPT_READFUNCTION, readCallback)
        _ = listctl_curl_setopt_pointer(handle, CURLOPT_READDATA, Unmanaged.passUnretained(upload).toOpaque())
        _ = listctl_curl_setopt_io_callback(handle, CURLOPT_HEADERFUNCTION, headerCallback)
        _ = listctl_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, Unmanaged.passUnretained(sink).toOpaque())
        _ = listctl_curl_setopt_io_callback(handle, CURLOPT_WRITEFUNCTION, writeCallback)
        _ = listctl_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, Unmanaged.passUnretained(sink).toOpaque())
    }

    deinit {
        // Sends QUIT on an open SMTP session.
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// One SMTP transaction (MAIL FROM, RCPT TO, DATA) on the handle's session.
    func sendMail(url: String, from: String, recipient: String, data: [UInt8]) -> CurlResult {
        _ = listctl_curl_setopt_string(handle, CURLOPT_URL, url)
        _ = listctl_curl_setopt_string(handle, CURLOPT_MAIL_FROM, "<\(from)>")
        let recipients = curl_slist_append(nil, "<\(recipient)>")
        defer { curl_slist_free_all(recipients) }
        _ = listctl_curl_setopt_slist(handle, CURLOPT_MAIL_RCPT, recipients)
        _ = listctl_curl_setopt_long(handle, CURLOPT_UPLOAD, 1)
        _ = listctl_curl_setopt_off(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(data.count))
        upload.bytes = data
        upload.offset = 0
        defer { upload.bytes = [] }
        return perform()
    }

    /// One HTTP request; the body is sent as given (POST/PUT).
    func http(method: String, url: String, headers: [String], body: [UInt8]) -> CurlResult {
        _ = listctl_curl_setopt_string(handle, CURLOPT_URL, url)
        var list: UnsafeMutablePointer<curl_slist>? = nil
        // libcurl's "Expect: 100-continue" costs a round trip on every large POST.
        for header in headers + ["Expect:"] { list = curl_slist_append(list, header) }
        defer { curl_slist_free_all(list) }
        _ = listctl_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, list)
        _ = listctl_curl_setopt_long(handle, CURLOPT_POST, 1)
        _ = listctl_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method)
        _ = listctl_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
        upload.bytes = body
        upload.offset = 0
        sink.captureBody = true
        defer { upload.bytes = [] }
        // With POSTFIELDS unset libcurl reads the body through the read callback.
        _ = listctl_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, nil)
        return perform()
    }

    /// One HTTP GET of `url`, only over the schemes in `protocols` (e.g. `"https"`),
    /// never following a redirect; the body is kept (at most 1 MB).
    func get(url: String, protocols: String) -> CurlResult {
        _ = listctl_curl_setopt_string(handle, CURLOPT_URL, url)
        _ = listctl_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, protocols)
        _ = listctl_curl_setopt_string(handle, CURLOPT_REDIR_PROTOCOLS_STR, protocols)
        _ = listctl_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
        _ = listctl_curl_setopt_long(handle, CURLOPT_HTTPGET, 1)
        upload.bytes = []
        upload.offset = 0
        sink.captureBody = true
        return perform()
    }

    private func perform() -> CurlResult {
        sink.headerLines.removeAll(keepingCapacity: true)
        sink.body.removeAll(keepingCapacity: true)
        errorBuffer[0] = 0
        let code = curl_easy_perform(handle)
        var response = 0
        _ = listctl_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &response)
        var text = String(cString: errorBuffer)
        if text.isEmpty, code != CURLE_OK { text = String(cString: curl_easy_strerror(code)) }
        return CurlResult(
            curlCode: Int(code.rawValue), errorText: text, responseCode: response, headerLines: sink.headerLines,
            body: sink.body, uploadComplete: !upload.bytes.isEmpty && upload.offset == upload.bytes.count)
    }
}

/// N threads, each owning one `CurlEasy`, taking jobs from one queue. libcurl
/// blocks, so these are real threads, never tasks on the cooperative pool.
final class CurlWorkerPool: @unchecked Sendable {
    typealias Job = (CurlEasy?) -> Void

    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var head = 0
    private var closed = false
    private var running = 0
    private let options: CurlHandleOptions

    init(size: Int, name: String, options: CurlHandleOptions) {
        self.options = options
        _ = CurlGlobal.initialized
        running = max(1, size)
        for index in 0..<running {
            let thread = Thread { [self] in work() }
            thread.name = "\(name)-\(index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    private func work() {
        // The handle is created lazily and kept for the thread's life.
        var easy: CurlEasy?
        var triedCreate = false
        while true {
            condition.lock()
            while head == jobs.count && !closed { condition.wait() }
            if head == jobs.count && closed {
                running -= 1
                condition.broadcast()
                condition.unlock()
                break
            }
            let job = jobs[head]
            head += 1
            if head > 1024 && head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            if !triedCreate {
                triedCreate = true
                easy = CurlEasy(options: options)
            }
            job(easy)
        }
        easy = nil
    }

    /// Runs `body` on a worker thread with its handle and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable (CurlEasy) -> Result<T, TransportError>) async throws(TransportError) -> T {
        let result: Result<T, TransportError> = await withCheckedContinuation { continuation in
            let job: Job = { easy in
                guard let easy else {
                    continuation.resume(returning: .failure(TransportError(
                        code: .configuration, classification: .temporary, message: "libcurl could not create a handle")))
                    return
                }
                continuation.resume(returning: body(easy))
            }
            condition.lock()
            if closed {
                condition.unlock()
                continuation.resume(returning: .failure(TransportError(
                    code: .closed, classification: .temporary, message: "the transport was closed")))
                return
            }
            jobs.append(job)
            condition.signal()
            condition.unlock()
        }
        return try result.get()
    }

    /// Stops taking jobs; the threads end once the queue is empty.
    func closeWithoutWaiting() { markClosed() }

    private func markClosed() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Lets queued jobs finish, then ends the threads (closing connections).
    func shutdown() async {
        markClosed()
        // Wait off the cooperative pool for the threads to finish.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread { [self] in
                condition.lock()
                while running > 0 { condition.wait() }
                condition.unlock()
                continuation.resume()
            }.start()
        }
    }
}
