public import Hummingbird
public import Logging
import Foundation
import Postgres

/// `listctl serve`: the HTTP service behind a reverse proxy (shared/DESIGN.md
/// §5a). Built so far: `/healthz` and `/unsubscribe/{token}` (the link in
/// every message and the RFC 8058 one-click endpoint of `List-Unsubscribe`),
/// under every list's public root. Database errors become a plain 503; their
/// text never reaches a client.
public struct SubscriberHTTPService: Sendable {
    public let database: ListDatabase
    public let configuration: ListctlConfiguration
    public let secrets: TokenSecrets
    public let logger: Logger
    /// `POST /webhooks/{provider}` at the top of `LISTCTL_BASE_URL`; nil: no webhook is served.
    public var webhooks: WebhookRoutes?

    /// The largest request body read (a form of a few fields; the one-click POST is 26 bytes).
    static let maximumBody = 16 * 1024

    public init(database: ListDatabase, configuration: ListctlConfiguration, secrets: TokenSecrets, logger: Logger) {
        self.database = database
        self.configuration = configuration
        self.secrets = secrets
        self.logger = logger
    }

    /// The router: `/healthz` at the top, and the per-list actions under any prefix.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("healthz") { _, _ in await self.health() }
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

    // MARK: Actions under a list's root

    func action(_ request: Request, _ context: BasicRequestContext) async -> Response {
        let segments = request.uri.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if let webhooks, let answer = await webhooks.respond(to: request, segments: segments) { return answer }
        guard segments.count >= 2, segments[segments.count - 2] == "unsubscribe" else {
            return Self.page(.notFound, ServicePages.problem(title: "Not found", message: "There is no page here."))
        }
        let prefix = Array(segments.dropLast(2))
        do {
            return try await unsubscribe(request, token: segments[segments.count - 1], prefix: prefix)
        } catch {
            logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return Self.page(.serviceUnavailable, ServicePages.problem(
                title: "Please try again later", message: "Something went wrong on our side; nothing was changed."))
        }
    }

    /// GET: a page with one button (mail scanners prefetch links, so a GET changes nothing).
    /// POST: unsubscribe; with `List-Unsubscribe=One-Click` (RFC 8058) a tiny 200 answer, no redirect.
    func unsubscribe(_ request: Request, token text: String, prefix: [String]) async throws -> Response {
        // The token first: a forged, truncated or wrong-purpose one is refused before any database lookup.
        let token: SubscriberToken
        do {
            token = try SubscriberToken.verify(text, purpose: .unsubscribe, secrets: secrets)
        } catch {
            return Self.page(.badRequest, ServicePages.problem(
                title: "This link does not work", message: "\(Self.sentence(error.message)) Use the unsubscribe link of a recent issue, or reply to it."))
        }
        guard let list = try await ListStore(database: database).find(id: token.listID),
              let rootURL = list.publicBaseURL(default: configuration.defaultBaseURL), let root = PublicRoot(url: rootURL),
              root.matches(host: request.head.authority, prefix: prefix)
        else {
            return Self.page(.notFound, ServicePages.problem(title: "Not found", message: "This list is not here."))
        }
        switch request.method {
        case .post:
            let body = String(buffer: try await request.body.collect(upTo: Self.maximumBody))
            let oneClick = Self.isOneClick(body: body, contentType: request.headers[.contentType])
            let outcome = try await SubscriptionChanges(database: database).unsubscribe(
                listID: token.listID, subscriberID: token.subscriberID, issueID: token.issueID, source: oneClick ? "one-click" : "link")
            logger.info("unsubscribe", metadata: [
                "list.id": "\(token.listID)", "subscriber.id": "\(token.subscriberID)", "one_click": "\(oneClick)", "outcome": "\(outcome)",
            ])
            if case .unknown = outcome {
                return Self.page(.notFound, ServicePages.problem(
                    title: "Not on this list", message: "This address is not on \(list.name) (any more): nothing to do."))
            }
            return oneClick ? Self.text(.ok, "unsubscribed\n") : Self.page(.ok, ServicePages.unsubscribed(listName: list.name))
        default:
            return Self.page(.ok, ServicePages.unsubscribeForm(listName: list.name))
        }
    }

    /// RFC 8058: the body is `List-Unsubscribe=One-Click`, form-urlencoded or as a multipart/form-data field.
    static func isOneClick(body: String, contentType: String?) -> Bool {
        let type = contentType?.lowercased() ?? ""
        if type.hasPrefix("multipart/form-data") {
            // A part named List-Unsubscribe whose value is One-Click.
            let normalized = body.replacingOccurrences(of: "\r\n", with: "\n")
            for part in normalized.components(separatedBy: "\n--") {
                let pieces = part.components(separatedBy: "\n\n")
                guard pieces.count >= 2, pieces[0].lowercased().contains("name=\"list-unsubscribe\"") else { continue }
                if pieces[1].trimmingCharacters(in: .whitespacesAndNewlines) == "One-Click" { return true }
            }
            return false
        }
        return body.split(separator: "&").contains { field in
            let pair = field.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            return pair.count == 2 && pair[0] == "List-Unsubscribe" && pair[1] == "One-Click"
        }
    }

    // MARK: Responses

    /// `text` as a sentence for a page: a capital first letter and a closing full stop (token errors are lower-case phrases).
    static func sentence(_ text: String) -> String {
        guard let first = text.first else { return text }
        let body = first.uppercased() + text.dropFirst()
        return body.hasSuffix(".") || body.hasSuffix("!") || body.hasSuffix("?") ? body : body + "."
    }

    static func page(_ status: HTTPResponse.Status, _ html: String) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    static func text(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
