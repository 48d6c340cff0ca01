import Foundation
import Logging

/// `LISTCTL_TRANSPORT` parsed: a URL in the spirit of Symfony Mailer's DSNs.
///
/// ```
/// smtp://user:pass@host:587            STARTTLS required (?tls=none to send in clear)
/// smtps://user:pass@host:465           TLS from the first byte
/// ses://KEY:SECRET@us-east-1           Amazon SES v2, raw MIME
/// postmark://TOKEN@    mailgun://KEY@example.com    sendgrid://KEY@    resend://KEY@
/// outbox:///var/mail/outbox            a Maildir; sends nothing (the default: outbox://./outbox)
/// ```
/// Query parameters: `connections=N` (default 4), `timeout=S` (per SMTP
/// command / per HTTP request), `connect_timeout=S`, `verify=false`,
/// `cafile=PATH`, `helo=NAME` (SMTP), `endpoint=URL` (HTTP providers),
/// `stream=ID` (Postmark message stream, e.g. `broadcast`).
///
/// The password is kept but never shown: `description` redacts it.
public struct TransportConfiguration: Sendable, CustomStringConvertible {
    /// The kind of transport, from the URL scheme.
    public enum Scheme: String, Sendable, CaseIterable {
        case smtp, smtps, ses, postmark, mailgun, sendgrid, resend, outbox
    }

    /// The URL used when `LISTCTL_TRANSPORT` is unset.
    public static let defaultURL = "outbox://./outbox"

    public var scheme: Scheme
    /// Host (SMTP), region (SES), sending domain (Mailgun); empty when not needed.
    public var host: String
    public var port: Int?
    /// The user (SMTP) or key id (SES); API tokens count as secrets and live in `password`.
    public var username: String?
    /// Password, secret key or API token. Never logged.
    var secret: String?
    /// The Maildir path (outbox).
    public var path: String
    public var parameters: [String: String]

    private static let allowedParameters: [Scheme: Set<String>] = {
        let http: Set = ["endpoint", "connections", "timeout", "connect_timeout", "verify", "cafile", "rate"]
        return [
            .smtp: ["tls", "verify", "cafile", "connections", "timeout", "connect_timeout", "helo", "rate"],
            .smtps: ["verify", "cafile", "connections", "timeout", "connect_timeout", "helo", "rate"],
            .ses: http, .postmark: http.union(["stream"]), .mailgun: http, .sendgrid: http, .resend: http,
            .outbox: ["rate", "connections"],
        ]
    }()

    /// Parses a transport URL.
    /// - Throws: `TransportError.Code.configuration` saying what is wrong; the
    ///   message never repeats the secret.
    public static func parse(_ text: String) throws(TransportError) -> TransportConfiguration {
        guard let schemeEnd = text.range(of: "://") else {
            throw .configuration("LISTCTL_TRANSPORT must be a URL such as smtp://user:pass@host:587 or outbox:///path; it has no scheme://")
        }
        let schemeText = text[..<schemeEnd.lowerBound].lowercased()
        guard let scheme = Scheme(rawValue: schemeText) else {
            throw .configuration(
                "LISTCTL_TRANSPORT scheme \"\(schemeText)\" is not supported; use one of \(Scheme.allCases.map { $0.rawValue + "://" }.joined(separator: ", "))")
        }
        var rest = text[schemeEnd.upperBound...]
        var parameters: [String: String] = [:]
        if let question = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: question)...].split(separator: "&") where !pair.isEmpty {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = decode(parts[0]).lowercased()
                parameters[key] = parts.count > 1 ? decode(parts[1]) : ""
            }
            rest = rest[..<question]
        }
        // An unencoded "/" in a password must not end the authority early
        // (and leak half the password into an error): look after the last "@".
        let searchFrom = scheme == .outbox ? rest.startIndex : (rest.lastIndex(of: "@") ?? rest.startIndex)
        let slash = rest[searchFrom...].firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        var path = String(rest[slash...])
        var username: String?
        var secret: String?
        var hostPort = authority
        if let at = authority.lastIndex(of: "@") {
            let userinfo = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                username = decode(userinfo[..<colon])
                secret = decode(userinfo[userinfo.index(after: colon)...])
            } else if !userinfo.isEmpty {
                // A lone token: an API key for providers, a user name for SMTP.
                if scheme == .smtp || scheme == .smtps { username = decode(userinfo) } else { secret = decode(userinfo) }
            }
        }
        var host = String(hostPort)
        var port: Int?
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") {
            guard let number = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(number) else {
                throw .configuration("LISTCTL_TRANSPORT has a bad port after the host (a number from 1 to 65535)")
            }
            port = number
            host = String(hostPort[..<colon])
        }
        if scheme == .outbox {
            // outbox:///abs/path, outbox://./relative, outbox://relative
            path = host + path
            host = ""
            guard !path.isEmpty else { throw .configuration("outbox:// needs a directory: outbox:///var/mail/outbox or outbox://./outbox") }
        }
        let unknown = Set(parameters.keys).subtracting(allowedParameters[scheme] ?? [])
        guard unknown.isEmpty else {
            let allowed = (allowedParameters[scheme] ?? []).sorted().joined(separator: ", ")
            throw .configuration(
                "LISTCTL_TRANSPORT has unknown parameter(s) \(unknown.sorted().joined(separator: ", ")) for \(scheme.rawValue)://; allowed: \(allowed.isEmpty ? "none" : allowed)")
        }
        let configuration = TransportConfiguration(
            scheme: scheme, host: host, port: port, username: username, secret: secret, path: path, parameters: parameters)
        try configuration.validate()
        return configuration
    }

    /// Reads `LISTCTL_TRANSPORT`, or the file named by `LISTCTL_TRANSPORT_FILE`
    /// (a mounted secret; surrounding whitespace ignored). When neither is set:
    /// the outbox default and a notice for the user ("nothing is sent").
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(TransportError) -> (configuration: TransportConfiguration, notice: String?) {
        if let value = environment["LISTCTL_TRANSPORT"], !value.isEmpty {
            return (try parse(value), nil)
        }
        if let path = environment["LISTCTL_TRANSPORT_FILE"], !path.isEmpty {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw .configuration("cannot read LISTCTL_TRANSPORT_FILE \(path)")
            }
            return (try parse(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)), nil)
        }
        return (
            try parse(defaultURL),
            "LISTCTL_TRANSPORT is not set: messages go to the Maildir ./outbox and nothing is sent. Set LISTCTL_TRANSPORT=smtp://user:pass@host:587 (or ses://, postmark://, mailgun://, sendgrid://, resend://) to send."
        )
    }

    private func validate() throws(TransportError) {
        switch scheme {
        case .smtp, .smtps:
            guard !host.isEmpty else { throw .configuration("\(scheme.rawValue):// needs a host: \(scheme.rawValue)://user:pass@host:port") }
            if username != nil && secret == nil {
                throw .configuration("\(scheme.rawValue):// has a user but no password; write user:password@host (percent-encode : @ / in the password)")
            }
            if let tls = parameters["tls"], tls != "none", tls != "starttls" {
                throw .configuration("tls=\(tls) is not understood; use tls=none (no STARTTLS) or leave it out")
            }
        case .ses:
            guard username != nil, secret != nil, !host.isEmpty else {
                throw .configuration("ses:// needs an access key, secret and region: ses://KEY:SECRET@us-east-1")
            }
        case .mailgun:
            guard secret != nil, !host.isEmpty else { throw .configuration("mailgun:// needs an API key and the sending domain: mailgun://KEY@mg.example.org") }
        case .postmark, .sendgrid, .resend:
            guard secret != nil else { throw .configuration("\(scheme.rawValue):// needs an API token: \(scheme.rawValue)://TOKEN@") }
        case .outbox:
            break
        }
        for key in ["connections", "timeout", "connect_timeout"] {
            if let value = parameters[key], Int(value).map({ $0 > 0 }) != true {
                throw .configuration("\(key)=\(value) must be a positive whole number")
            }
        }
        if let value = parameters["rate"], Double(value).map({ $0 > 0 && $0.isFinite }) != true {
            throw .configuration("rate=\(value) must be a positive number of messages per second")
        }
        if let verify = parameters["verify"], !["true", "false", "0", "1"].contains(verify) {
            throw .configuration("verify=\(verify) must be true or false")
        }
        if let endpoint = parameters["endpoint"], !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) {
            throw .configuration("endpoint=\(endpoint) must be an http:// or https:// URL")
        }
    }

    private static func decode<S: StringProtocol>(_ text: S) -> String {
        String(text).removingPercentEncoding ?? String(text)
    }

    /// The account's rate budget in messages per second (`?rate=`), shared by
    /// every worker through the database; nil: no limit.
    public var rate: Double? { parameters["rate"].flatMap(Double.init) }

    /// Number of parallel connections (default 4).
    public var connections: Int { parameters["connections"].flatMap(Int.init) ?? 4 }

    /// The URL with the secret replaced by `***`, safe for logs and errors.
    public var description: String {
        var text = scheme.rawValue + "://"
        if scheme == .outbox { return text + path }
        if let username { text += username + (secret != nil ? ":***" : "") + "@" } else if secret != nil { text += "***@" }
        text += host
        if let port { text += ":\(port)" }
        let query = parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        return query.isEmpty ? text : text + "?" + query
    }

    /// `host:port` with the scheme's default port.
    var hostAndPort: String {
        let defaultPort = scheme == .smtps ? 465 : 587
        return "\(host):\(port ?? defaultPort)"
    }

    var curlOptions: CurlHandleOptions {
        var options = CurlHandleOptions()
        if let value = parameters["timeout"].flatMap(Int.init) {
            options.commandTimeoutSeconds = value
            if scheme != .smtp && scheme != .smtps { options.totalTimeoutSeconds = value }
        } else if scheme != .smtp && scheme != .smtps {
            options.totalTimeoutSeconds = 60
        }
        if let value = parameters["connect_timeout"].flatMap(Int.init) { options.connectTimeoutSeconds = value }
        options.verifyPeer = !["false", "0"].contains(parameters["verify"] ?? "true")
        options.caFile = parameters["cafile"]
        return options
    }

    /// The fields Amazon SES overwrites, so SES messages are signed without them.
    public static let sesRewrittenHeaders = ["Message-ID", "Date"]

    /// Builds the transport this URL names; wraps it in DKIM signing when a
    /// signer is given (JSON-only providers rebuild the message, so their own
    /// signing applies there; for SES, Message-ID and Date are left out of
    /// the signature, since SES replaces them; see docs/TRANSPORTS.md).
    public func makeTransport(signer: DKIMSigner? = nil, logger: Logger = Logger(label: "listctl.transport")) throws(TransportError) -> any MailTransport {
        let base: any MailTransport
        switch scheme {
        case .smtp, .smtps:
            base = SMTPTransport(configuration: self, logger: logger)
        case .outbox:
            base = try OutboxTransport(directory: path)
        case .ses, .postmark, .mailgun, .sendgrid, .resend:
            base = try HTTPProviderTransport(configuration: self, logger: logger)
        }
        // JSON-only providers rebuild the message and sign it themselves: a
        // signature made here would be thrown away, so do not spend the time.
        guard let signer, ![.postmark, .sendgrid, .resend].contains(scheme) else { return base }
        // SES replaces Message-ID and Date with its own and asks that they not
        // be signed: a signature over them would fail at every receiver.
        return DKIMSigningTransport(base: base, signer: scheme == .ses ? signer.withoutSigning(Self.sesRewrittenHeaders) : signer)
    }
}
