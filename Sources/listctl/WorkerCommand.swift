import ArgumentParser
import Foundation
import ListService
import Mailer
import ServiceLifecycle
import UnixSignals

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Send continuously: a long-running delivery service (systemd: contrib/systemd/listctl-worker.service).",
        discussion: """
            Wakes when an issue is queued (NOTIFY), at the next due time, and at least every \
            --poll seconds. SIGTERM or Ctrl-C stops claiming; messages on the wire finish and are \
            recorded within 10 seconds, or are left to their lease (never recorded as sent). \
            Any number of workers on any number of hosts can share one database.
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "Parallel transport connections (overrides ?connections= on LISTCTL_TRANSPORT).") var concurrency: Int?
    @Option(help: "At most this many messages per second for this worker (below the transport's ?rate=).") var rate: Double?
    @Option(help: "Look at the ledger at least this often, in seconds.") var poll: Double = 30

    func validate() throws {
        if let rate, !(rate > 0 && rate.isFinite) { throw ValidationError("--rate \(rate): must be a positive number of messages per second") }
        if let concurrency, concurrency < 1 || concurrency > 256 { throw ValidationError("--concurrency \(concurrency): must be 1 to 256") }
        if !(poll >= 0.1) { throw ValidationError("--poll \(poll): must be at least 0.1 seconds") }
    }

    func run() async throws {
        try await global.withDatabase(maximumConnections: DeliveryRun.poolSize(concurrency: concurrency)) { database in
            let engine = try DeliveryRun.engine(global: global, database: database, concurrency: concurrency, rate: rate)
            let worker = DeliveryWorker(engine: engine, pollInterval: .milliseconds(Int64(poll * 1000)), logger: global.logger)
            // Never outlive 10 s after SIGTERM: what is still on the wire is left to its lease. The timer fires
            // half a second early so that exiting (measured: 10.01 s with the timer at 10) falls within the 10 s.
            let watchdogs = ([SIGTERM, SIGINT] as [Int32]).map { number in
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    DispatchQueue.global().asyncAfter(deadline: .now() + 9.5) {
                        printError("worker: stopped 9.5 s after the signal with messages still on the wire; their leases return them")
                        Foundation.exit(0)
                    }
                }
                source.resume()
                return source
            }
            printError("worker \(engine.owner): sending via \(engine.transport.displayName)")
            let group = ServiceGroup(services: [worker], gracefulShutdownSignals: [.sigterm, .sigint], logger: global.logger)
            do {
                try await group.run()
            } catch {
                await engine.transport.close()
                throw error
            }
            _ = watchdogs
            await engine.transport.close()
            printError("worker: stopped")
        }
    }
}
