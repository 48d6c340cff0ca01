public import Hummingbird
public import Logging
import Foundation
public import Mailer

/// `POST /webhooks/{ses,postmark,mailgun,sendgrid,resend}` at the top of
/// `LISTCTL_BASE_URL` (its host, under its path): each provider's signature
/// check (`Webhooks/`), then every bounce and complaint to the ``BounceSink``.
///
/// Answers: 200 once every notice is recorded (unknown event types too: they
/// are acknowledged and ignored); 401 for a forged, altered, stale or replayed
/// request, which changes nothing; 403 for an SNS topic not configured; 400 for
/// a body in no known shape; 404 for a provider with no secret set (the log
/// says which setting); 413 for a body over 4 MB; 502 when the SNS certificate
/// or SubscribeURL cannot be fetched; 503 when recording failed (the provider
/// retries). Bodies are one short line; no error text, secret or database
/// detail reaches them.
public struct WebhookRoutes: Sendable {
    let root: PublicRoot?
    let verifiers: [WebhookProvider: any WebhookVerifier]
    let sink: any BounceSink
    let logger: Logger

    /// The largest body read: SendGrid batches events, SNS messages are up to 256 KB.
    static let maximumBody = 4 * 1024 * 1024

    /// - Parameters:
    ///   - baseURL: `LISTCTL_BASE_URL`; the webhooks answer under its host and path (nil: at `/webhooks/…` on any host).
    ///   - fetcher: for SNS certificates and subscription confirmations; made from the SES settings when nil.
    /// - Throws: ``ListServiceError`` `.configuration` for a secret not in its provider's form.
    public init(
        settings: WebhookSettings, baseURL: String?, sink: any BounceSink, fetcher: HTTPSFetcher? = nil,
        logger: Logger = Logger(label: "listctl.webhooks")
    ) throws(ListServiceError) {
        try settings.validate()
        root = baseURL.flatMap { PublicRoot(url: $0) }
        var verifiers: [WebhookProvider: any WebhookVerifier] = [:]
        do {
            if let ses = settings.ses {
                verifiers[.ses] = SESWebhook(settings: ses, fetcher: fetcher ?? HTTPSFetcher(caFile: ses.caFile))
            }
            if let postmark = settings.postmark { verifiers[.postmark] = PostmarkWebhook(credentials: postmark) }
            if let mailgun = settings.mailgun { verifiers[.mailgun] = MailgunWebhook(signingKey: mailgun) }
            if let sendgrid = settings.sendgrid { verifiers[.sendgrid] = try SendGridWebhook(secret: sendgrid) }
            if let resend = settings.resend { verifiers[.resend] = try ResendWebhook(secret: resend) }
        } catch {
            throw ListServiceError(code: .configuration, message: "webhooks: \(error.message)")
        }
        self.verifiers = verifiers
        self.sink = sink
        self.logger = logger
    }

    /// The webhook URLs this service answers, for the start-up line.
    public var enabledPaths: [String] {
        let prefix = root.map { $0.prefix.map { "/\($0)" }.joined() } ?? ""
        return WebhookProvider.allCases.filter { verifiers[$0] != nil }.map { "\(prefix)/webhooks/\($0.rawValue)" }
    }

    /// The provider a request's path and host name, or nil when it is not a webhook URL.
    func provider(host: String?, segments: [String]) -> WebhookProvider? {
        guard segments.count >= 2, segments[segments.count - 2] == "webhooks",
              let provider = WebhookProvider(rawValue: segments[segments.count - 1])
        else { return nil }
        let prefix = Array(segments.dropLast(2))
        if let root {
            guard root.matches(host: host, prefix: prefix) else { return nil }
        } else if !prefix.isEmpty {
            return nil
        }
        return provider
    }

    /// The answer to a webhook request, or nil when `request` is not for a webhook URL.
    /// - Parameter metrics: counts each event by provider and kind (`refused` for a request turned away).
    public func respond(to request: Request, segments: [String], metrics: ServiceMetrics? = nil) async -> Response? {
        guard let provider = provider(host: request.head.authority, segments: segments) else { return nil }
        let metadata: Logger.Metadata = ["webhook.provider": "\(provider.rawValue)"]
        guard request.method == .post else {
            return Response(status: .methodNotAllowed, headers: [.allow: "POST", .contentType: "text/plain; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: "POST only\n")))
        }
        guard let verifier = verifiers[provider] else {
            logger.warning("webhook: \(provider.rawValue) is not configured; set LISTCTL_WEBHOOK_\(provider.settingName)_SECRET (or _SECRET_FILE)\(provider == .ses ? " or LISTCTL_WEBHOOK_SES_TOPIC_ARN" : "") to take its events (docs/WEBHOOKS.md)", metadata: metadata)
            return SubscriberHTTPService.text(.notFound, "not found\n")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maximumBody)
        } catch {
            logger.warning("webhook: body over \(Self.maximumBody) bytes refused", metadata: metadata)
            return SubscriberHTTPService.text(.contentTooLarge, "too large\n")
        }
        var headers: [String: String] = [:]
        for field in request.headers {
            let name = field.name.canonicalName
            headers[name] = headers[name].map { "\($0), \(field.value)" } ?? field.value
        }
        let answer = await handle(provider, verifier, WebhookRequest(headers: headers, body: Array(buffer: body)), metadata: metadata,
                                  metrics: metrics)
        return SubscriberHTTPService.text(HTTPResponse.Status(code: answer.status), answer.text)
    }

    /// A status and a one-line body.
    struct Answer: Sendable, Equatable {
        var status: Int
        var text: String
    }

    func handle(
        _ provider: WebhookProvider, _ verifier: any WebhookVerifier, _ request: WebhookRequest, metadata: Logger.Metadata,
        metrics: ServiceMetrics? = nil
    ) async -> Answer {
        let events: WebhookEvents
        do {
            events = try await verifier.events(for: request)
        } catch {
            if [.unauthorized, .forbidden, .malformed].contains(error.code) {
                metrics?.webhookEvent(provider: provider.rawValue, kind: "refused")
            }
            var metadata = metadata
            metadata["error"] = "\(error.message)"
            switch error.code {
            case .unauthorized:
                logger.warning("webhook: refused", metadata: metadata)
                return Answer(status: 401, text: "unauthorized\n")
            case .forbidden:
                logger.warning("webhook: refused", metadata: metadata)
                return Answer(status: 403, text: "forbidden\n")
            case .malformed:
                logger.warning("webhook: malformed", metadata: metadata)
                return Answer(status: 400, text: "malformed\n")
            default:
                logger.error("webhook: could not be checked", metadata: metadata)
                return Answer(status: 502, text: "try again later\n")
            }
        }
        var outcomes: [String] = []
        for notice in events.notices {
            do {
                outcomes.append("\(notice.kind.rawValue): " + (try await sink.record(notice)))
            } catch {
                // Recorded ones stay recorded (recording is idempotent); the provider's retry brings the rest.
                await verifier.release(events)
                var metadata = metadata
                metadata["error"] = "\(error)"
                logger.error("webhook: a notice could not be recorded; the provider will retry", metadata: metadata)
                return Answer(status: 503, text: "try again later\n")
            }
        }
        for notice in events.notices { metrics?.webhookEvent(provider: provider.rawValue, kind: notice.kind.rawValue) }
        for _ in events.ignored { metrics?.webhookEvent(provider: provider.rawValue, kind: "ignored") }
        var metadata = metadata
        metadata["notices"] = "\(events.notices.count)"
        if !outcomes.isEmpty { metadata["outcomes"] = "\(outcomes.joined(separator: "; "))" }
        if !events.ignored.isEmpty { metadata["ignored"] = "\(events.ignored.joined(separator: ","))" }
        if let note = events.note { metadata["note"] = "\(note)" }
        logger.info("webhook: accepted", metadata: metadata)
        return Answer(status: 200, text: "ok\n")
    }
}
