import Foundation

/// Which provider webhooks `listctl serve` answers, and their secrets, from
/// the environment (docs/WEBHOOKS.md). A provider with no secret is not
/// served: its URL answers 404 and the log says which setting is missing.
///
/// Its `description` names the providers only; a secret is never printed or logged.
public struct WebhookSettings: Sendable, CustomStringConvertible {
    /// Amazon SES through SNS. SNS signs with Amazon's key, so there is no shared
    /// secret to check; what keeps a stranger's SNS topic out is the topic list
    /// and, optionally, HTTP basic credentials in the subscription's URL.
    public struct SES: Sendable {
        /// `LISTCTL_WEBHOOK_SES_TOPIC_ARN`: the topic ARNs taken (comma-separated); empty means any topic.
        public var topicARNs: [String] = []
        /// `LISTCTL_WEBHOOK_SES_SECRET[_FILE]`: `user:password` that SNS must send as basic auth.
        public var basicAuth: String?
        /// `LISTCTL_WEBHOOK_SES_CA_FILE`: trust this CA for certificate fetches instead of the system store (tests).
        public var caFile: String?
        /// `LISTCTL_WEBHOOK_SES_CERT_HOSTS`: hosts to fetch the certificate and SubscribeURL from instead of
        /// `sns.<region>.amazonaws.com[.cn]` (tests); any port.
        public var certificateHosts: [String]?

        public init(topicARNs: [String] = [], basicAuth: String? = nil, caFile: String? = nil, certificateHosts: [String]? = nil) {
            self.topicARNs = topicARNs
            self.basicAuth = basicAuth
            self.caFile = caFile
            self.certificateHosts = certificateHosts
        }
    }

    public var ses: SES?
    /// `LISTCTL_WEBHOOK_POSTMARK_SECRET`: `user:password` of the webhook URL's basic auth.
    public var postmark: String?
    /// `LISTCTL_WEBHOOK_MAILGUN_SECRET`: the HTTP webhook signing key.
    public var mailgun: String?
    /// `LISTCTL_WEBHOOK_SENDGRID_SECRET`: the signed event webhook's verification key (base64 public key).
    public var sendgrid: String?
    /// `LISTCTL_WEBHOOK_RESEND_SECRET`: the signing secret, `whsec_…`.
    public var resend: String?

    public init(ses: SES? = nil, postmark: String? = nil, mailgun: String? = nil, sendgrid: String? = nil, resend: String? = nil) {
        self.ses = ses
        self.postmark = postmark
        self.mailgun = mailgun
        self.sendgrid = sendgrid
        self.resend = resend
    }

    /// The providers that are configured, in path order.
    public var enabled: [WebhookProvider] {
        WebhookProvider.allCases.filter { provider in
            switch provider {
            case .ses: ses != nil
            case .postmark: postmark != nil
            case .mailgun: mailgun != nil
            case .sendgrid: sendgrid != nil
            case .resend: resend != nil
            }
        }
    }

    public var description: String {
        "WebhookSettings(" + enabled.map(\.rawValue).joined(separator: ", ") + ")"
    }

    /// Reads `LISTCTL_WEBHOOK_<PROVIDER>_SECRET`, or the file `LISTCTL_WEBHOOK_<PROVIDER>_SECRET_FILE`
    /// names (the variable wins when both are set), and the SES settings.
    /// - Throws: ``ListServiceError`` `.configuration` naming the setting (never its value) that is
    ///   unreadable or not in the provider's form.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(ListServiceError) -> WebhookSettings
    {
        func value(_ key: String) -> String? {
            guard let value = environment[key]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
            return value
        }
        func secret(_ provider: WebhookProvider) throws(ListServiceError) -> String? {
            let name = "LISTCTL_WEBHOOK_\(provider.settingName)_SECRET"
            if let direct = value(name) { return direct }
            guard let path = value(name + "_FILE") else { return nil }
            let text: String
            do {
                text = try String(contentsOf: URL(fileURLWithPath: path), encoding: .utf8)
            } catch {
                throw ListServiceError(code: .configuration, message: "\(name)_FILE=\(path): cannot read the file (\(error.localizedDescription))")
            }
            // The first line that is not blank or a comment, trimmed.
            let line = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .first { !$0.isEmpty && !$0.hasPrefix("#") }
            guard let line else {
                throw ListServiceError(code: .configuration, message: "\(name)_FILE=\(path): the file holds no secret")
            }
            return line
        }
        func list(_ key: String) -> [String]? {
            value(key).map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        }

        var settings = WebhookSettings()
        settings.postmark = try secret(.postmark)
        settings.mailgun = try secret(.mailgun)
        settings.sendgrid = try secret(.sendgrid)
        settings.resend = try secret(.resend)
        let sesAuth = try secret(.ses)
        let topics = list("LISTCTL_WEBHOOK_SES_TOPIC_ARN") ?? []
        if sesAuth != nil || !topics.isEmpty {
            settings.ses = SES(topicARNs: topics, basicAuth: sesAuth, caFile: value("LISTCTL_WEBHOOK_SES_CA_FILE"),
                               certificateHosts: list("LISTCTL_WEBHOOK_SES_CERT_HOSTS")?.map { $0.lowercased() })
        }
        try settings.validate()
        return settings
    }

    /// Checks each secret has its provider's form (never quoting it).
    /// - Throws: ``ListServiceError`` `.configuration` naming the setting.
    public func validate() throws(ListServiceError) {
        func fail(_ provider: WebhookProvider, _ why: String) -> ListServiceError {
            ListServiceError(code: .configuration, message: "LISTCTL_WEBHOOK_\(provider.settingName)_SECRET: \(why)")
        }
        if let postmark, !postmark.contains(":") { throw fail(.postmark, "must be user:password (the basic auth in the webhook URL set at Postmark)") }
        if let auth = ses?.basicAuth, !auth.contains(":") { throw fail(.ses, "must be user:password (the basic auth in the SNS subscription's URL)") }
        if let resend {
            do { _ = try ResendWebhook.key(fromSecret: resend) } catch { throw fail(.resend, error.message) }
        }
        if let sendgrid {
            do { _ = try SendGridWebhook.key(fromSecret: sendgrid) } catch { throw fail(.sendgrid, error.message) }
        }
    }
}
