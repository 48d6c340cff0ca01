/// Where the webhooks hand each verified notice: the bounce recorder in
/// `serve`, a collector in tests.
public protocol BounceSink: Sendable {
    /// Records `notice` (matches it to a delivery, suppresses as docs/SUPPRESSION.md says);
    /// the text says what happened, for the log (no address in it).
    /// - Throws: when it could not be recorded (the database is down): the provider is told to retry.
    func record(_ notice: BounceNotice) async throws -> String
}

/// The sink `serve` hands its webhooks: every notice to the ``BounceRecorder``,
/// which traces it to its delivery and suppresses as docs/BOUNCES.md says.
public struct RecordingBounceSink: BounceSink {
    public let recorder: BounceRecorder

    public init(recorder: BounceRecorder) { self.recorder = recorder }

    /// - Returns: `suppressed`, `counted`, `already-recorded` or `unknown` (a notice traced to no delivery changes nothing).
    public func record(_ notice: BounceNotice) async throws -> String {
        let outcome: BounceOutcome = try await recorder.record(notice)
        return outcome.label
    }
}
