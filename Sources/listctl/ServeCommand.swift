import ArgumentParser
import Foundation
import ListService
import Mailer
import ServiceLifecycle
import UnixSignals

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "The HTTP service behind a reverse proxy: subscribe, confirm, preferences, one-click unsubscribe, /healthz; and a delivery worker.",
        discussion: """
            Answers under every list's public root (its --base-url, else LISTCTL_BASE_URL/<slug>), by the \
            Host header and the path prefix: GET /…/unsubscribe/TOKEN shows a page with a button, POST \
            unsubscribes (RFC 8058 one-click with List-Unsubscribe=One-Click). /subscribe (form or JSON) records \
            a pending subscription and queues a confirmation mail; /confirm/TOKEN confirms; /preferences/TOKEN \
            lists the person's lists. GET /healthz: 200 when the database answers, else 503. Settings: \
            LISTCTL_TRUSTED_PROXIES (whose X-Forwarded-For is believed), LISTCTL_SUBSCRIBE_LIMIT (subscribe \
            requests per client address per hour, default 10). POST /webhooks/{ses,postmark,mailgun,sendgrid,resend} \
            under LISTCTL_BASE_URL takes bounces and complaints from each provider whose \
            LISTCTL_WEBHOOK_<PROVIDER>_SECRET (or _SECRET_FILE) is set (docs/WEBHOOKS.md). Unless --no-worker, a delivery worker runs in the same process. \
            SIGTERM or Ctrl-C stops both cleanly.
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "Address to listen on (a reverse proxy in front of it).") var host = "127.0.0.1"
    @Option(help: "Port to listen on; 0 picks a free one (printed).") var port = 8080
    @Flag(help: "Do not run a delivery worker in this process.") var noWorker = false

    func validate() throws {
        if !(0...65535).contains(port) { throw ValidationError("--port \(port): must be 0 to 65535") }
    }

    func run() async throws {
        let configuration = global.configuration()
        try await global.withDatabase(maximumConnections: 8) { database in
            let (secrets, notice) = try TokenSecrets.load(configuration)
            if let notice { printError(notice) }
            let settings = try ServiceSettings.fromEnvironment()
            let forgetKeys = try ForgetKeys.loadIfConfigured(configuration)
            var http = SubscriberHTTPService(
                database: database, configuration: configuration, secrets: secrets, forgetKeys: forgetKeys, settings: settings,
                logger: global.logger)
            let webhookSettings = try WebhookSettings.fromEnvironment()
            if !webhookSettings.enabled.isEmpty {
                let recorder = BounceRecorder(
                    database: database, secrets: secrets, softBounceLimit: try BounceRecorder.softBounceLimit(), logger: global.logger)
                let routes = try WebhookRoutes(
                    settings: webhookSettings, baseURL: configuration.defaultBaseURL, sink: RecordingBounceSink(recorder: recorder),
                    logger: global.logger)
                http.webhooks = routes
                printError("serve: provider webhooks at " + routes.enabledPaths.joined(separator: ", "))
            }
            let host = host
            let application = http.application(host: host, port: port) { bound in
                printError("serve: listening on http://\(host):\(bound)")
            }
            var services: [any Service] = [application, PendingPurge(database: database, configuration: configuration, logger: global.logger)]
            var engine: DeliveryEngine?
            if !noWorker {
                let worker = try DeliveryRun.engine(global: global, database: database, concurrency: nil, rate: nil)
                engine = worker
                services.append(DeliveryWorker(engine: worker, logger: global.logger))
                printError("serve: a delivery worker sends via \(worker.transport.displayName)")
            }
            let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: global.logger)
            do {
                try await group.run()
            } catch {
                await engine?.transport.close()
                throw error
            }
            await engine?.transport.close()
            printError("serve: stopped")
        }
    }
}
