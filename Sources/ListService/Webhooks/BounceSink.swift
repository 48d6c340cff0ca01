/// Where the webhooks hand each verified notice: the bounce recorder in
/// `serve`, a collector in tests.
public protocol BounceSink: Sendable {
    /// Records `notice` (matches it to a delivery, suppresses as docs/SUPPRESSION.md says);
    /// the text says what happened, for the log (no address in it).
    /// - Throws: when it could not be recorded (the database is down): the provider is told to retry.
    func record(_ notice: BounceNotice) async throws -> String
}
