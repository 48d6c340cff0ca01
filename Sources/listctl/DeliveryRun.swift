import ArgumentParser
import Dispatch
import Foundation
import ListService
import Mailer
import Synchronization

/// What `send`, `deliver` and `worker` share: the engine from the
/// environment, a clean stop on Ctrl-C or SIGTERM, a progress line.
enum DeliveryRun {
    /// Connections the pool needs for claims and renewals (each sender records on a connection of its own).
    static func poolSize(concurrency: Int?) -> Int { min(concurrency ?? 4, 4) + 2 }

    static func engine(global: GlobalOptions, database: ListDatabase, concurrency: Int?, rate: Double?) throws -> DeliveryEngine {
        let (engine, notices) = try DeliveryEngine.fromEnvironment(
            database: database, configuration: global.configuration(), concurrency: concurrency, rate: rate, logger: global.logger)
        for notice in notices { printError(notice) }
        return engine
    }

    /// The signal that stopped this run, if one did.
    private static let caught = Mutex<Int32?>(nil)

    /// Whether Ctrl-C stopped the run: `send` and `deliver` then exit 130,
    /// as the shell expects of an interrupted command, not 0 as if all went.
    static var interrupted: Bool { caught.withLock { $0 } == SIGINT }

    /// Sets `stop` on the first SIGINT or SIGTERM (messages on the wire
    /// finish and are recorded); a second one exits at once (the ledger's
    /// leases make that safe too). Keep the returned sources alive.
    static func stopOnSignals(_ stop: StopSignal, graceSeconds: Double? = nil) -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if stop.isStopped {
                    printError("stopping now; deliveries in flight return to the queue when their lease runs out")
                    exit(130)
                }
                printError("stopping: finishing the messages on the wire (again to quit at once)")
                caught.withLock { $0 = $0 ?? number }
                stop.stop()
                if let graceSeconds {
                    // Never outlive the grace period: an abandoned message is left to its lease, never recorded as sent.
                    DispatchQueue.global().asyncAfter(deadline: .now() + graceSeconds) {
                        printError("stopped after \(Int(graceSeconds)) s with messages still on the wire; their leases return them")
                        exit(0)
                    }
                }
            }
            source.resume()
            return source
        }
    }

    /// A progress line on stderr when it is a terminal, else nothing.
    static func progressPrinter(total: Int?) -> (@Sendable (DeliveryCounters) -> Void)? {
        guard isatty(STDERR_FILENO) == 1 else { return nil }
        let started = Date()
        return { counters in
            let elapsed = max(0.001, Date().timeIntervalSince(started))
            let rate = Double(counters.messagesSent) / elapsed
            var line = "\r\(counters.messagesSent) sent, \(counters.failed) failed, \(counters.bounced) bounced"
            line += String(format: ", %.0f msg/s", rate)
            if let total, rate > 0 {
                let left = max(0, total - counters.delivered - counters.failed - counters.bounced - counters.skipped)
                line += ", ETA \(Int(Double(left) / rate)) s"
            }
            FileHandle.standardError.write(Data((line + "   ").utf8))
        }
    }

    static func endProgressLine() {
        if isatty(STDERR_FILENO) == 1 { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func describe(_ counters: DeliveryCounters) -> String {
        var text = "\(counters.messagesSent) message(s) sent, \(counters.delivered) delivery(ies) complete"
        for (count, label) in [(counters.failed, "failed"), (counters.bounced, "bounced"), (counters.skipped, "skipped"),
                               (counters.retrying, "to retry later"), (counters.unknown, "outcome unknown"),
                               (counters.leasesLost, "leases lost")] where count > 0 {
            text += ", \(count) \(label)"
        }
        return text
    }
}
