import ArgumentParser
import Foundation
import ListService
import Mailer

struct DeliverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deliver",
        abstract: "Send everything due, then exit: the scheduled job for cron or a systemd timer.",
        discussion: """
            Takes scheduled issues whose time has come (their recipients are snapshotted then), \
            retries whose backoff has passed and work a crashed sender left behind, and sends it. \
            Safe to run from several hosts at once, and beside `listctl worker`. See contrib/.
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "Parallel transport connections (overrides ?connections= on LISTCTL_TRANSPORT).") var concurrency: Int?
    @Option(help: "At most this many messages per second for this run (below the transport's ?rate=).") var rate: Double?
    @Option(help: "Stop claiming after this many seconds (messages on the wire finish).") var maxSeconds: Double?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if let rate, !(rate > 0 && rate.isFinite) { throw ValidationError("--rate \(rate): must be a positive number of messages per second") }
        if let concurrency, concurrency < 1 || concurrency > 256 { throw ValidationError("--concurrency \(concurrency): must be 1 to 256") }
        if let maxSeconds, !(maxSeconds >= 0) { throw ValidationError("--max-seconds \(maxSeconds): must be 0 or more") }
    }

    func run() async throws {
        try await global.withDatabase(maximumConnections: DeliveryRun.poolSize(concurrency: concurrency)) { database in
            let engine = try DeliveryRun.engine(global: global, database: database, concurrency: concurrency, rate: rate)
            let stop = StopSignal()
            let signals = DeliveryRun.stopOnSignals(stop)
            let deadline = maxSeconds.map { ContinuousClock.now + .milliseconds(Int64($0 * 1000)) }
            let counters: DeliveryCounters
            do {
                counters = try await engine.run(
                    scope: .due, stop: stop, deadline: deadline, progress: json ? nil : DeliveryRun.progressPrinter(total: nil))
            } catch {
                await engine.transport.close()
                throw error
            }
            await engine.transport.close()
            _ = signals
            DeliveryRun.endProgressLine()
            if json { try printJSON(counters) } else { print("deliver: \(DeliveryRun.describe(counters))") }
            if DeliveryRun.interrupted {
                printError("interrupted: what is still due stays queued; `listctl deliver` again or the worker sends it")
                throw ExitCode(130)
            }
        }
    }
}
