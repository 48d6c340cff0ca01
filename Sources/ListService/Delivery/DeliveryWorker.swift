public import Logging
import Foundation
import Postgres
public import ServiceLifecycle

/// `listctl worker`: the delivery engine as a long-running service. It
/// sends what is due, then sleeps until the next due time, a NOTIFY on
/// `listctl_deliveries` (`send`, `resume`, `retry`), or the poll interval in
/// case a notification was missed. On graceful shutdown it stops claiming
/// and lets the messages on the wire finish and be recorded.
public struct DeliveryWorker: Service {
    public let engine: DeliveryEngine
    /// The longest sleep without looking at the ledger.
    public var pollInterval: Duration
    let logger: Logger

    public init(engine: DeliveryEngine, pollInterval: Duration = .seconds(30), logger: Logger) {
        self.engine = engine
        self.pollInterval = pollInterval
        self.logger = logger
    }

    public func run() async throws {
        let stop = StopSignal()
        let (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let listener = PostgresListener(
            configuration: engine.database.pool.configuration, channels: [LedgerSQL.channel], logger: logger)
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // Any notification, or a reconnect after a gap, is a reason to look.
                    for await _ in listener.events() { wake.yield() }
                }
                var iterator = wakeups.makeAsyncIterator()
                while !stop.isStopped {
                    let counters = try await engine.run(scope: .due, stop: stop)
                    if counters.messagesSent > 0 || counters.failed > 0 {
                        logger.info("delivery round done", metadata: ["sent": "\(counters.messagesSent)", "failed": "\(counters.failed)"])
                    }
                    if stop.isStopped { break }
                    var wait = pollInterval
                    if let next = try? await engine.nextDueDate() {
                        let seconds = max(0.05, next.timeIntervalSinceNow + 0.05)
                        wait = min(wait, .milliseconds(Int64(seconds * 1000)))
                    }
                    // Sleep until woken or the wait is over.
                    let timer = Task { try? await Task.sleep(for: wait); wake.yield() }
                    _ = await iterator.next()
                    timer.cancel()
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            stop.stop()
            wake.yield()
        }
    }
}
