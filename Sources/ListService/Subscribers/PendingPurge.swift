public import Logging
import Foundation
public import ServiceLifecycle

/// Runs ``DoubleOptIn/purge()`` when `serve` starts and then every hour:
/// requests to join that nobody confirmed within 30 days go, with the
/// pending people they made.
public struct PendingPurge: Service {
    let optIn: DoubleOptIn
    let interval: Duration
    let logger: Logger

    public init(database: ListDatabase, configuration: ListctlConfiguration, interval: Duration = .seconds(3600), logger: Logger) {
        self.optIn = DoubleOptIn(database: database, configuration: configuration, forgetKeys: nil)  // purging reads no hash
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let purged = try await optIn.purge()
                if purged.requests > 0 {
                    logger.info("purged unconfirmed requests", metadata: [
                        "requests": "\(purged.requests)", "subscriptions": "\(purged.subscriptions)", "subscribers": "\(purged.subscribers)",
                    ])
                }
            } catch {
                logger.warning("could not purge unconfirmed requests; will try again", metadata: ["error": "\(error)"])
            }
            // Sleep until the next round; a graceful shutdown ends the sleep and the service.
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }
}
