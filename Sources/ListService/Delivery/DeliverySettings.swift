public import Foundation

/// How a delivery run paces itself and treats failures (docs/LEDGER.md).
/// Environment first; the command's flags override.
public struct DeliverySettings: Sendable {
    /// `LISTCTL_LEASE_SECONDS` (60): how long a claim stays ours without renewal.
    public var leaseSeconds: Double = 60
    /// `LISTCTL_RETRY_BASE` (60 s): the first backoff after a temporary failure.
    public var retryBase: Double = 60
    /// `LISTCTL_RETRY_MAX_ATTEMPTS` (8): temporary failures before a delivery is failed.
    public var maxAttempts: Int = 8
    /// `LISTCTL_PAUSE_AFTER_FAILURES` (50): failures in a row that pause the issues (the transport is down).
    public var pauseAfterFailures: Int = 50
    /// Parallel messages on the wire (`--concurrency`; else the transport's `connections`).
    public var concurrency: Int = 4
    /// A cap of this run, messages per second (`--rate`), below the transport's shared budget.
    public var rate: Double?
    /// Rows one claim takes at most: few enough that a slow message holds little back from the other
    /// senders, enough that claims are not the ledger's main cost (4 cost 0.37 ms per 4 messages in bench-deliver).
    public var batchSize: Int = 12
    /// The longest backoff.
    public var maxBackoff: Double = 6 * 3600

    public init() {}

    /// Reads the `LISTCTL_*` delivery settings.
    /// - Throws: ``ListServiceError`` `.configuration` naming a bad value.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> DeliverySettings
    {
        var settings = DeliverySettings()
        func number(_ key: String, minimum: Double) throws -> Double? {
            guard let text = environment[key]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            guard let value = Double(text), value.isFinite, value >= minimum else {
                throw ListServiceError(code: .configuration, message: "\(key)=\(text) must be a number of at least \(minimum)")
            }
            return value
        }
        if let value = try number("LISTCTL_LEASE_SECONDS", minimum: 1) { settings.leaseSeconds = value }
        if let value = try number("LISTCTL_RETRY_BASE", minimum: 0) { settings.retryBase = value }
        if let value = try number("LISTCTL_RETRY_MAX_ATTEMPTS", minimum: 1) { settings.maxAttempts = Int(value) }
        if let value = try number("LISTCTL_PAUSE_AFTER_FAILURES", minimum: 1) { settings.pauseAfterFailures = Int(value) }
        return settings
    }

    /// The wait before attempt `attempts + 1` after a temporary failure:
    /// exponential with jitter, at least what the server asked for.
    func backoff(afterAttempts attempts: Int, retryAfter: Duration?) -> Double {
        let exponent = Double(min(max(attempts - 1, 0), 30))
        let jittered = retryBase * pow(2, exponent) * (0.5 + Double.random(in: 0..<0.5))
        let asked = retryAfter.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 0
        return min(maxBackoff, max(asked, jittered))
    }
}
