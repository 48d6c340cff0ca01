public import Hummingbird
public import Logging
import Foundation
import HTTPTypes
import Postgres

/// `listctl serve`: the HTTP service behind a reverse proxy (shared/DESIGN.md
/// §5a). Under every list's public root: `/unsubscribe/{token}` (the link in
/// every message and the RFC 8058 one-click endpoint of `List-Unsubscribe`),
/// `/subscribe` and `/confirm/{token}` (double opt-in), `/preferences/{token}`,
/// the public archive (`/archive`, `/issues/{slug}`, `/feed.xml`: ArchiveRoutes.swift);
/// `/healthz` at the top. Database errors become a plain 503; their text
/// never reaches a client.
public struct SubscriberHTTPService: Sendable {
    public let database: ListDatabase
    public let configuration: ListctlConfiguration
    public let secrets: TokenSecrets
    /// Recognise people erased by `forget` when they sign up again (``DoubleOptIn``); nil: none configured.
    public let forgetKeys: ForgetKeys?
    public let settings: ServiceSettings
    public let logger: Logger
    /// What `/metrics` shows; the webhook routes count into it too.
    public let metrics: ServiceMetrics
    let limiter: RequestRateLimiter
    /// The lists tokens name, read at most every few seconds.
    let lists: ListCache
    /// The public archive's issues, each rendered once while it is unchanged.
    let archive: PublicArchive
    /// The archive's pages and feed as last built, while what they show is unchanged.
    let archiveAnswers = ArchiveResponseCache()
    /// `POST /webhooks/{provider}` at the top of `LISTCTL_BASE_URL`; nil: no webhook is served.
    public var webhooks: WebhookRoutes?

    /// The largest request body read (a form of a few fields; the one-click POST is 26 bytes).
    static let maximumBody = 16 * 1024

    public init(
        database: ListDatabase, configuration: ListctlConfiguration, secrets: TokenSecrets, forgetKeys: ForgetKeys?,
        settings: ServiceSettings = ServiceSettings(), logger: Logger
    ) {
        self.database = database
        self.configuration = configuration
        self.secrets = secrets
        self.forgetKeys = forgetKeys
        self.settings = settings
        self.logger = logger
        self.limiter = RequestRateLimiter(limit: settings.subscribeLimit, window: .seconds(3600))
        self.metrics = ServiceMetrics()
        self.lists = ListCache(store: ListStore(database: database))
        self.archive = PublicArchive(database: database)
    }

    /// The router: `/healthz` at the top, and the per-list actions under any prefix.
    public func router() -> Router<ServiceRequestContext> {
        let router = Router(context: ServiceRequestContext.self)
        router.get("healthz") { _, _ in self.counted("healthz", await self.health()) }
        router.get("metrics") { request, context in self.counted("metrics", await self.scrape(request, context)) }
        router.get("**") { request, context in await self.action(request, context) }
        router.post("**") { request, context in await self.action(request, context) }
        return router
    }

    /// The application, a `ServiceLifecycle` service; `onRunning` gets the bound port (for `--port 0`).
    public func application(host: String, port: Int, onRunning: @escaping @Sendable (Int) async -> Void)
        -> some ApplicationProtocol
    {
        Application(
            router: router(),
            configuration: .init(address: .hostname(host, port: port), serverName: "listctl"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }

    // MARK: Health

    func health() async -> Response {
        do {
            try await database.pool.withConnection { connection in _ = try await connection.query("SELECT 1") }
            return Self.text(.ok, "ok\n")
        } catch {
            logger.warning("healthz: database unreachable", metadata: ["error": "\(error)"])
            return Self.text(.serviceUnavailable, "database unreachable\n")
        }
    }

    // MARK: Metrics

    func counted(_ route: String, _ response: Response) -> Response {
        metrics.request(route: route, status: Int(response.status.code))
        return response
    }

    /// Prometheus text for a loopback client that did not come through a proxy (no `X-Forwarded-For` or
    /// `Forwarded`), or for anyone with `Authorization: Bearer <LISTCTL_METRICS_TOKEN>`; else 403.
    func scrape(_ request: Request, _ context: ServiceRequestContext) async -> Response {
        let peer = context.remoteAddress?.ipAddress ?? ""
        let proxied = request.headers[HTTPField.Name.xForwardedFor] != nil || request.headers[HTTPField.Name.forwarded] != nil
        let loopback = TrustedProxies.loopback.contains(peer)
        var allowed = loopback && !proxied
        if let token = settings.metricsToken, let given = request.headers[.authorization], given.hasPrefix("Bearer ") {
            allowed = allowed || TokenCrypto.constantTimeEqual(Array(given.dropFirst(7).utf8), Array(token.utf8))
        }
        guard allowed else {
            return Self.text(.forbidden, "metrics answer loopback clients, or a bearer token (LISTCTL_METRICS_TOKEN)\n")
        }
        do {
            let rows = try await database.pool.withConnection { connection in
                try await connection.query("""
                    SELECT state, count(*) FROM deliveries GROUP BY state
                    UNION ALL SELECT 'sent_compacted', coalesce(sum(cardinality(subscriber_ids)), 0)::bigint FROM delivery_summaries
                    """).map { (state: try $0.decode(String.self, at: 0), count: try $0.decode(Int64.self, at: 1)) }
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.text(deliveries: rows))))
        } catch {
            logger.warning("metrics: database unreachable", metadata: ["error": "\(error)"])
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.text(deliveries: []))))
        }
    }

    // MARK: Actions under a list's root

    func action(_ request: Request, _ context: ServiceRequestContext) async -> Response {
        let segments = request.uri.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let route = Self.route(segments)
        return counted(route, await act(request, context, segments: segments))
    }

    /// The route's name for metrics and logs: never the token or the path itself.
    static func route(_ segments: [String]) -> String {
        if segments.last == "subscribe" { return "subscribe" }
        if segments.last == "archive" { return "archive" }
        if segments.last == "feed.xml" { return "feed" }
        if segments.count >= 2, ["unsubscribe", "confirm", "preferences", "webhooks", "issues"].contains(segments[segments.count - 2]) {
            return segments[segments.count - 2]
        }
        return "other"
    }

    func act(_ request: Request, _ context: ServiceRequestContext, segments: [String]) async -> Response {
        if let webhooks, let answer = await webhooks.respond(to: request, segments: segments, metrics: metrics) { return answer }
        do {
            if segments.count >= 2 {
                let prefix = Array(segments.dropLast(2)), token = segments[segments.count - 1]
                switch segments[segments.count - 2] {
                case "unsubscribe": return try await unsubscribe(request, token: token, prefix: prefix)
                case "confirm": return try await confirm(request, context, token: token, prefix: prefix)
                case "preferences": return try await preferences(request, context, token: token, prefix: prefix)
                case "issues": return try await archivedIssue(request, slug: token, prefix: prefix)
                default: break
                }
            }
            if segments.last == "subscribe" {
                return try await subscribe(request, context, prefix: Array(segments.dropLast()))
            }
            if segments.last == "archive" { return try await archiveIndex(request, prefix: Array(segments.dropLast())) }
            if segments.last == "feed.xml" { return try await archiveFeed(request, prefix: Array(segments.dropLast())) }
            if let front = try await archiveFront(request, prefix: segments) { return front }
            return Self.notFound("There is no page here.")
        } catch {
            logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return Self.page(.serviceUnavailable, ServicePages.problem(
                title: "Please try again later", message: "Something went wrong on our side; nothing was changed."), list: nil)
        }
    }

    /// The token's list, when the token is good and the request came in under that list's root; else the refusal.
    /// A forged, truncated or wrong-purpose token is refused before any database lookup.
    func tokenAndList(_ text: String, purpose: TokenPurpose, request: Request, prefix: [String]) async throws
        -> Result<(SubscriberToken, MailingList), RefusedRequest>
    {
        let token: SubscriberToken
        do {
            token = try SubscriberToken.verify(text, purpose: purpose, secrets: secrets)
        } catch {
            return .failure(RefusedRequest(response: Self.page(.badRequest, ServicePages.problem(
                title: "This link does not work",
                message: "\(Self.sentence(error.message)) Use the link of a recent message, or reply to it."), list: nil)))
        }
        guard let list = try await lists.list(id: token.listID), root(of: list)?.matches(
            host: request.head.authority, prefix: prefix) == true
        else {
            return .failure(RefusedRequest(response: Self.notFound("This list is not here.")))
        }
        return .success((token, list))
    }

    struct RefusedRequest: Error {
        let response: Response
    }

    func root(of list: MailingList) -> PublicRoot? {
        list.publicBaseURL(default: configuration.defaultBaseURL).flatMap { PublicRoot(url: $0) }
    }

    /// GET: a page with one button (mail scanners prefetch links, so a GET changes nothing).
    /// POST: unsubscribe; with `List-Unsubscribe=One-Click` (RFC 8058) a tiny 200 answer, no redirect.
    func unsubscribe(_ request: Request, token text: String, prefix: [String]) async throws -> Response {
        let (token, list): (SubscriberToken, MailingList)
        switch try await tokenAndList(text, purpose: .unsubscribe, request: request, prefix: prefix) {
        case .failure(let refused): return refused.response
        case .success(let found): (token, list) = found
        }
        switch request.method {
        case .post:
            let body = String(buffer: try await request.body.collect(upTo: Self.maximumBody))
            let oneClick = FormBody.isOneClick(body: body, contentType: request.headers[.contentType])
            let outcome = try await SubscriptionChanges(database: database).unsubscribe(
                listID: token.listID, subscriberID: token.subscriberID, issueID: token.issueID, source: oneClick ? "one-click" : "link")
            logger.info("unsubscribe", metadata: [
                "list.id": "\(token.listID)", "subscriber.id": "\(token.subscriberID)", "one_click": "\(oneClick)", "outcome": "\(outcome)",
            ])
            if case .unsubscribed = outcome { metrics.unsubscribed(source: oneClick ? "one-click" : "link") }
            if case .unknown = outcome {
                return Self.page(.notFound, ServicePages.problem(
                    title: "Not on this list", message: "This address is not on \(list.name) (any more): nothing to do."), list: list)
            }
            return oneClick ? Self.text(.ok, "unsubscribed\n") : Self.page(.ok, ServicePages.unsubscribed(listName: list.name), list: list)
        default:
            return Self.page(.ok, ServicePages.unsubscribeForm(listName: list.name), list: list)
        }
    }

    // MARK: Double opt-in

    /// The client's address (through a trusted proxy's `X-Forwarded-For`), for rate limits and the proof of consent.
    func client(_ request: Request, _ context: ServiceRequestContext) -> String? {
        ClientAddress.resolve(
            peer: context.remoteAddress?.ipAddress, forwardedFor: request.headers[HTTPField.Name.xForwardedFor], trusted: settings.trustedProxies
        ).address
    }

    /// GET: the form. POST (form-urlencoded or JSON): a pending subscription and a confirmation mail; the same
    /// answer whether or not the address is known, is on the list, or was just sent a link.
    func subscribe(_ request: Request, _ context: ServiceRequestContext, prefix: [String]) async throws -> Response {
        let host = request.head.authority
        let lists = try await ListStore(database: database).all().filter { root(of: $0)?.matches(host: host, prefix: prefix) == true }
        guard let first = lists.first else { return Self.notFound("There is no list here.") }
        guard request.method == .post else { return Self.page(.ok, ServicePages.subscribeForm(lists: lists), list: first) }

        let type = request.headers[.contentType]?.lowercased() ?? ""
        let json = type.hasPrefix("application/json")
        let clientAddress = client(request, context)
        guard await limiter.allow(clientAddress ?? "unknown") else {
            logger.notice("subscribe: client over its limit", metadata: ["client": "\(clientAddress ?? "unknown")"])
            return json
                ? Self.json(.tooManyRequests, ["error": "too many requests from your address; try again in an hour"])
                : Self.page(.tooManyRequests, ServicePages.problem(
                    title: "Too many requests", message: "Too many subscriptions came from your address. Please try again in an hour."), list: first)
        }
        let body = try await request.body.collect(upTo: Self.maximumBody)
        guard let fields = FormBody.fields(Array(buffer: body), json: json) else {
            return json ? Self.json(.badRequest, ["error": "the body is not a JSON object of strings"])
                : Self.page(.badRequest, ServicePages.subscribeForm(lists: lists, error: "The form could not be read; please try again."), list: first)
        }
        let email = fields["email"]?.trimmingCharacters(in: .whitespaces) ?? ""
        func refuse(_ message: String) -> Response {
            json ? Self.json(.badRequest, ["error": message])
                : Self.page(.badRequest, ServicePages.subscribeForm(lists: lists, error: message, email: email), list: first)
        }
        let list: MailingList
        if let slug = fields["list"], !slug.isEmpty {
            guard let named = lists.first(where: { $0.slug == slug }) else { return refuse("There is no list \"\(slug)\" here.") }
            list = named
        } else if lists.count == 1 {
            list = first
        } else {
            return refuse("Which list? Choose one of: \(lists.map(\.slug).joined(separator: ", ")).")
        }
        let accepted = json
            ? Self.json(.accepted, ["status": "pending", "message": "check your inbox for a link to confirm"])
            : Self.page(.ok, ServicePages.checkInbox(listName: list.name), list: list)
        // A bot fills every field, the hidden one too: the answer a person gets, and nothing stored.
        if let trap = fields["website"], !trap.isEmpty {
            logger.notice("subscribe: honeypot field filled; ignored", metadata: ["client": "\(clientAddress ?? "unknown")"])
            metrics.subscribeRequest(outcome: "honeypot")
            return accepted
        }
        let outcome: DoubleOptIn.RequestOutcome
        do {
            outcome = try await DoubleOptIn(database: database, configuration: configuration, forgetKeys: forgetKeys).request(
                email: email, list: list, name: fields["name"],
                consent: .init(source: json ? "api" : "form", clientAddress: clientAddress, userAgent: request.headers[.userAgent]))
        } catch let error as ListServiceError where error.code == .invalidInput {
            return refuse(email.isEmpty ? "Please give your email address." : "\(email) is not an email address we can send to.")
        }
        logger.info("subscribe", metadata: ["list": "\(list.slug)", "outcome": "\(outcome)"])
        switch outcome {
        case .queued: metrics.subscribeRequest(outcome: "queued")
        case .alreadyActive: metrics.subscribeRequest(outcome: "already_active")
        case .limited: metrics.subscribeRequest(outcome: "limited")
        }
        return accepted
    }

    /// GET: a page with a button; POST: the person confirms (active, suppression lifted, welcome queued).
    func confirm(_ request: Request, _ context: ServiceRequestContext, token text: String, prefix: [String]) async throws -> Response {
        let (token, list): (SubscriberToken, MailingList)
        switch try await tokenAndList(text, purpose: .confirm, request: request, prefix: prefix) {
        case .failure(let refused): return refused.response
        case .success(let found): (token, list) = found
        }
        guard request.method == .post else { return Self.page(.ok, ServicePages.confirmForm(listName: list.name), list: list) }
        let outcome = try await DoubleOptIn(database: database, configuration: configuration, forgetKeys: forgetKeys).confirm(
            token: token, consent: .init(source: "form", clientAddress: client(request, context), userAgent: request.headers[.userAgent]))
        logger.info("confirm", metadata: ["list.id": "\(token.listID)", "subscriber.id": "\(token.subscriberID)", "outcome": "\(outcome)"])
        let again = "Subscribe again for a new link."
        switch outcome {
        case .confirmed: metrics.confirmation(outcome: "confirmed")
        case .alreadyConfirmed: metrics.confirmation(outcome: "already_confirmed")
        case .expired: metrics.confirmation(outcome: "expired")
        case .withdrawn: metrics.confirmation(outcome: "withdrawn")
        case .unknown: metrics.confirmation(outcome: "unknown")
        }
        switch outcome {
        case .confirmed(let welcome):
            return Self.page(.ok, ServicePages.confirmed(listName: list.name, welcome: welcome), list: list)
        case .alreadyConfirmed(active: true):
            return Self.page(.ok, ServicePages.confirmed(listName: list.name, welcome: false), list: list)
        case .alreadyConfirmed(active: false), .withdrawn:
            return Self.page(.gone, ServicePages.problem(title: "This link was used", message: "This link no longer works. \(again)"), list: list)
        case .expired:
            return Self.page(.gone, ServicePages.problem(
                title: "This link has expired", message: "Confirmation links work for \(DoubleOptIn.confirmDays) days. \(again)"), list: list)
        case .unknown:
            return Self.page(.notFound, ServicePages.problem(title: "This link does not work", message: "We have no such request (any more). \(again)"), list: list)
        }
    }

    // MARK: Preferences

    /// GET: the person's lists with a toggle each, and "unsubscribe from all". POST saves: an unticked list is
    /// left; a list ticked again gets a confirmation mail (only the person's own confirmation brings them back).
    func preferences(_ request: Request, _ context: ServiceRequestContext, token text: String, prefix: [String]) async throws -> Response {
        let (token, list): (SubscriberToken, MailingList)
        switch try await tokenAndList(text, purpose: .preferences, request: request, prefix: prefix) {
        case .failure(let refused): return refused.response
        case .success(let found): (token, list) = found
        }
        let store = SubscriberPreferences(database: database, configuration: configuration, forgetKeys: forgetKeys)
        guard var current = try await store.load(subscriberID: token.subscriberID) else {
            return Self.page(.notFound, ServicePages.problem(title: "Not found", message: "This address is not on any list (any more)."), list: list)
        }
        var notice: String?
        if request.method == .post {
            let body = try await request.body.collect(upTo: Self.maximumBody)
            let fields = FormBody.pairs(Array(buffer: body))
            let consent = DoubleOptIn.Consent(source: "preferences", clientAddress: client(request, context), userAgent: request.headers[.userAgent])
            if fields.contains(where: { $0 == ("action", "all") }) {
                _ = try await SubscriptionChanges(database: database).unsubscribeEverywhere(email: current.email, source: "preferences")
                notice = "You are unsubscribed from every list, and we will not email you again."
            } else {
                let wanted = Set(fields.filter { $0.0 == "list" }.map(\.1))
                let changed = try await store.save(current, wanted: wanted, issueID: token.issueID, consent: consent)
                for _ in changed.left { metrics.unsubscribed(source: "preferences") }
                notice = changed.summary
            }
            logger.info("preferences saved", metadata: ["subscriber.id": "\(token.subscriberID)"])
            current = try await store.load(subscriberID: token.subscriberID) ?? current
        }
        return Self.page(.ok, ServicePages.preferences(email: current.email, choices: current.choices, notice: notice), list: list)
    }

    // MARK: Responses

    /// `text` as a sentence for a page: a capital first letter and a closing full stop (token errors are lower-case phrases).
    static func sentence(_ text: String) -> String {
        guard let first = text.first else { return text }
        let body = first.uppercased() + text.dropFirst()
        return body.hasSuffix(".") || body.hasSuffix("!") || body.hasSuffix("?") ? body : body + "."
    }

    /// A page in the list's page template (the built-in one when the list has none, or for no list).
    static func page(_ status: HTTPResponse.Status, _ page: ServicePages.Page, list: MailingList?) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store", .contentSecurityPolicy: servicePagePolicy,
                      HTTPField.Name.referrerPolicy: "no-referrer"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: PageTemplate.frame(page, list: list))))
    }

    /// Every page's Content-Security-Policy: no script of any origin, styles only inline, images from https.
    static let servicePagePolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https:; form-action 'self'; frame-ancestors 'none'"

    static func notFound(_ message: String) -> Response {
        page(.notFound, ServicePages.problem(title: "Not found", message: message), list: nil)
    }

    static func text(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: String]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// `listctl serve`'s own settings, from the environment.
public struct ServiceSettings: Sendable, Equatable {
    /// Proxies whose `X-Forwarded-For` is believed (`LISTCTL_TRUSTED_PROXIES`).
    public var trustedProxies: TrustedProxies
    /// Subscribe POSTs per client address per hour (`LISTCTL_SUBSCRIBE_LIMIT`, default 10).
    public var subscribeLimit: Int
    /// A bearer token that opens `/metrics` to clients beyond loopback (`LISTCTL_METRICS_TOKEN` or `_FILE`).
    public var metricsToken: String?

    public init(trustedProxies: TrustedProxies = .none, subscribeLimit: Int = 10, metricsToken: String? = nil) {
        self.trustedProxies = trustedProxies
        self.subscribeLimit = subscribeLimit
        self.metricsToken = metricsToken
    }

    /// - Throws: ``ListServiceError`` `.configuration` naming the setting that is wrong.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServiceSettings {
        var settings = ServiceSettings(trustedProxies: try TrustedProxies.fromEnvironment(environment))
        if let text = environment["LISTCTL_SUBSCRIBE_LIMIT"], !text.isEmpty {
            guard let limit = Int(text), limit >= 1 else {
                throw ListServiceError(code: .configuration, message: "LISTCTL_SUBSCRIBE_LIMIT=\(text): give a whole number of requests per client address per hour, 1 or more")
            }
            settings.subscribeLimit = limit
        }
        var token = environment["LISTCTL_METRICS_TOKEN"]
        if let file = environment["LISTCTL_METRICS_TOKEN_FILE"], !file.isEmpty {
            guard token == nil else {
                throw ListServiceError(code: .configuration, message: "set LISTCTL_METRICS_TOKEN or LISTCTL_METRICS_TOKEN_FILE, not both")
            }
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ListServiceError(code: .configuration, message: "LISTCTL_METRICS_TOKEN_FILE: cannot read \(file)")
            }
            token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if let given = token, !given.isEmpty {
            guard given.utf8.count >= 16 else {
                throw ListServiceError(code: .configuration, message: "the metrics token must be at least 16 characters (`listctl secret generate` makes one)")
            }
            settings.metricsToken = given
        }
        return settings
    }
}
