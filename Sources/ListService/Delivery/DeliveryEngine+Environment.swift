public import Logging
import Mailer

extension DeliveryEngine {
    /// An engine for a command: the transport from `LISTCTL_TRANSPORT` (with
    /// `concurrency` connections, else its `?connections=`), the delivery
    /// settings from the environment, the token secret, the bounce address.
    ///
    /// - Parameters:
    ///   - concurrency: `--concurrency`; overrides `?connections=`.
    ///   - rate: `--rate`, this run's cap below the transport's shared budget.
    /// - Returns: the engine and notices to show (the default outbox, a new secret).
    /// - Throws: ``ListServiceError`` `.configuration` (a missing secret with an external database, a bad setting) or `TransportError`.
    public static func fromEnvironment(
        database: ListDatabase, configuration: ListctlConfiguration, concurrency: Int?, rate: Double?, logger: Logger
    ) throws -> (engine: DeliveryEngine, notices: [String]) {
        var notices: [String] = []
        var settings = try DeliverySettings.fromEnvironment()
        let (secrets, secretNotice) = try TokenSecrets.load(configuration)
        if let secretNotice { notices.append(secretNotice) }
        var (transportConfiguration, transportNotice) = try TransportConfiguration.fromEnvironment()
        if let transportNotice { notices.append(transportNotice) }
        if let concurrency { transportConfiguration.parameters["connections"] = String(concurrency) }
        settings.concurrency = transportConfiguration.connections
        if let rate {
            guard rate > 0, rate.isFinite else {
                throw ListServiceError(code: .invalidInput, message: "--rate \(rate): must be a positive number of messages per second")
            }
            settings.rate = rate
        }
        let transport = try transportConfiguration.makeTransport(signer: try DKIMSigner.fromEnvironment(), logger: logger)
        let engine = DeliveryEngine(
            database: database, configuration: configuration, transport: transport,
            transportKey: transport.displayName + (transportConfiguration.username.map { " as \($0)" } ?? ""),
            sharedRate: transportConfiguration.rate, settings: settings, secrets: secrets,
            bounce: try BounceDefaults.fromEnvironment(), logger: logger)
        return (engine, notices)
    }
}
