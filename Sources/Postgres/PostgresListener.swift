import Foundation
public import Logging

/// A dedicated LISTEN connection that survives server restarts.
///
/// ``events()`` connects, LISTENs to every channel, and yields each
/// notification. When the connection is lost (a restart, a terminated
/// backend, a network failure) it reconnects with backoff, LISTENs again and
/// yields ``Event/reconnected``: notifications sent while it was away are
/// lost, so a consumer re-checks its work then (the delivery worker polls
/// the ledger). Ends when the consuming task is cancelled or stops iterating.
public struct PostgresListener: Sendable {
    public enum Event: Sendable, Hashable {
        case notification(PostgresNotification)
        /// The listener is listening again after a gap: notifications may have been missed.
        case reconnected
    }

    public let configuration: PostgresConnectionConfiguration
    public let channels: [String]
    /// First wait before reconnecting; doubles up to `maximumRetryDelay`.
    public var retryDelay: Duration = .milliseconds(250)
    public var maximumRetryDelay: Duration = .seconds(5)
    private let logger: Logger

    public init(configuration: PostgresConnectionConfiguration, channels: [String], logger: Logger = Logger(label: "listctl.postgres")) {
        precondition(!channels.isEmpty, "a listener needs at least one channel")
        self.configuration = configuration
        self.channels = channels
        self.logger = logger
    }

    /// The events, for as long as the sequence is iterated.
    public func events() -> AsyncStream<Event> {
        AsyncStream { continuation in
            let task = Task { await run(continuation) }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private func run(_ continuation: AsyncStream<Event>.Continuation) async {
        var missed = false
        var delay = retryDelay
        while !Task.isCancelled {
            var connection: PostgresConnection?
            do {
                let opened = try await PostgresConnection.connect(configuration, logger: logger)
                connection = opened
                for channel in channels {
                    try await opened.execute(script: "LISTEN \(Self.quoted(channel))")
                }
                if missed {
                    logger.info("listening again", metadata: ["postgres.server": "\(opened.serverDescription)"])
                    continuation.yield(.reconnected)
                }
                missed = false
                delay = retryDelay
                while true {
                    if let notification = try await opened.nextNotification(timeout: .seconds(10)) {
                        continuation.yield(.notification(notification))
                    }
                }
            } catch is CancellationError {
                await connection?.close()
                break
            } catch {
                await connection?.close()
                if Task.isCancelled { break }
                if !missed {
                    logger.warning("the LISTEN connection failed; reconnecting", metadata: ["error": "\(error)"])
                }
                missed = true
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, maximumRetryDelay)
            }
        }
        continuation.finish()
    }

    /// A channel name as an SQL identifier.
    static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
