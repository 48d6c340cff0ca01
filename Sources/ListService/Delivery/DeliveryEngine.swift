public import Foundation
public import Logging
public import Mailer
import Postgres
import Synchronization

/// What a delivery run did, counted as it goes.
public struct DeliveryCounters: Sendable, Codable, Equatable {
    /// Messages (parts) the transport accepted and the ledger recorded.
    public var messagesSent = 0
    /// Deliveries that got their last part.
    public var delivered = 0
    /// Deliveries that ended failed (attempts exhausted, refused, or outcome unknown twice).
    public var failed = 0
    /// Deliveries whose recipient was refused for good (address suppressed).
    public var bounced = 0
    /// Deliveries skipped at claim time (unsubscribed or suppressed meanwhile).
    public var skipped = 0
    /// Temporary failures and unknown outcomes put back for a retry.
    public var retrying = 0
    /// Outcomes the transport could not tell (see TransportError.Classification.unknown).
    public var unknown = 0
    /// Claims this run lost to an expired lease (their row is someone else's now).
    public var leasesLost = 0
    public init() {}
}

/// A flag a command sets to stop a run cleanly (Ctrl-C, SIGTERM): no new
/// claims; messages on the wire finish and are recorded.
public final class StopSignal: Sendable {
    private let flag = Mutex(false)
    public init() {}
    public func stop() { flag.withLock { $0 = true } }
    public var isStopped: Bool { flag.withLock { $0 } }
}

/// The delivery engine (docs/LEDGER.md): claims due deliveries with a lease,
/// sends each part in order through the transport, and records every
/// outcome in the ledger so that a crash at any instant can only re-send
/// what was on the wire. Any number of engines, in any number of processes
/// on any number of hosts, can share one database.
public final class DeliveryEngine: Sendable {
    /// What a run sends.
    public enum Scope: Sendable, Equatable {
        /// One issue (`listctl send`).
        case issue(Int64)
        /// Every issue that is sending, after taking the scheduled ones that fell due (`deliver`, `worker`).
        case due
    }

    public let database: ListDatabase
    public let configuration: ListctlConfiguration
    public let transport: any MailTransport
    public let settings: DeliverySettings
    public let logger: Logger
    /// This process incarnation's lease token: `host:pid:random`.
    public let owner: String
    let secrets: TokenSecrets
    let bounce: BounceDefaults
    let budget: RateBudget
    let leases: LeaseKeeper
    let state = RunState()

    /// - Parameters:
    ///   - transportKey: names the transport's shared rate bucket (its URL without secrets).
    ///   - sharedRate: the transport's budget (`?rate=`), shared through the database.
    public init(
        database: ListDatabase, configuration: ListctlConfiguration, transport: any MailTransport, transportKey: String,
        sharedRate: Double?, settings: DeliverySettings, secrets: TokenSecrets, bounce: BounceDefaults, logger: Logger
    ) {
        self.database = database
        self.configuration = configuration
        self.transport = transport
        self.settings = settings
        self.logger = logger
        self.secrets = secrets
        self.bounce = bounce
        let host = ProcessInfo.processInfo.hostName.prefix(40)
        owner = "\(host):\(getpid()):\(UInt32.random(in: 0...UInt32.max))"
        budget = RateBudget(transportKey: transportKey, sharedRate: sharedRate, localRate: settings.rate)
        leases = LeaseKeeper(leaseSeconds: settings.leaseSeconds)
    }

    // MARK: Running

    /// Sends what is due in `scope` until nothing is (or `stop` is set, or
    /// `deadline` passes), then returns what it did. Deliveries waiting for
    /// a retry later are left for the next run.
    ///
    /// - Parameter progress: called about twice a second with the counts so far.
    /// - Throws: a database error that outlasted the reconnect attempts.
    public func run(
        scope: Scope, stop: StopSignal = StopSignal(), deadline: ContinuousClock.Instant? = nil,
        progress: (@Sendable (DeliveryCounters) -> Void)? = nil
    ) async throws -> DeliveryCounters {
        await state.reset()
        try await withDatabaseRetry { connection in try await self.budget.install(on: connection) }
        if scope == .due { _ = try await activateDueIssues() }
        let shouldStop: @Sendable () async -> Bool = {
            if stop.isStopped { return true }
            if let deadline, ContinuousClock.now >= deadline { return true }
            return await self.state.stopping
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Renewals run on their own timer, apart from the transport (§3).
            group.addTask { await self.renewLeases() }
            // On a stop, rows claimed but not started go back at once, not when their lease runs out.
            group.addTask {
                while !Task.isCancelled, !(await shouldStop()) { try? await Task.sleep(for: .milliseconds(100)) }
                if !Task.isCancelled { await self.releaseIdleClaims() }
            }
            if let progress {
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(500))
                        progress(await self.state.counters)
                    }
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { senders in
                for index in 0..<max(1, settings.concurrency) {
                    senders.addTask { try await self.sendLoop(scope: scope, index: index, shouldStop: shouldStop) }
                }
                try await senders.waitForAll()
            }
            group.cancelAll()
        }
        try await releaseAll()
        if case .issue(let id) = scope { try await finish(issue: id) }
        let counters = await state.counters
        progress?(counters)
        return counters
    }

    /// Takes every scheduled issue whose time has come: in one transaction
    /// each, `sending` and its recipients snapshotted into the ledger.
    /// - Returns: the issues taken, with the number of deliveries each.
    @discardableResult
    public func activateDueIssues() async throws -> [(issue: Int64, recipients: Int)] {
        var taken: [(Int64, Int)] = []
        while true {
            let next: (Int64, Int)? = try await withDatabaseRetry { connection in
                try await connection.transaction { connection in
                    guard let row = try await connection.query(LedgerSQL.activateDue).first else { return nil }
                    let id: Int64 = try row.decode(at: 0)
                    let count = try await connection.query(LedgerSQL.snapshot + " RETURNING 1", id).count
                    return (id, count)
                }
            }
            guard let next else { return taken }
            logger.info("issue due: recipients snapshotted", metadata: ["issue.id": "\(next.0)", "recipients": "\(next.1)"])
            if next.1 == 0 { try await finish(issue: next.0) }
            taken.append(next)
        }
    }

    /// When something next falls due (a scheduled issue, a retry, a lease running out); nil: nothing is waiting.
    public func nextDueDate() async throws -> Date? {
        try await database.pool.withConnection { connection in
            try await connection.query(LedgerSQL.nextDue)[0].decode(Date?.self, at: 0)
        }
    }

    // MARK: One sender

    private func sendLoop(scope: Scope, index: Int, shouldStop: @Sendable () async -> Bool) async throws {
        // Each sender records its outcomes on a connection of its own: no pool
        // checkout and session reset per message (see docs/BENCHMARKS.md).
        let session = SenderSession(configuration: database.pool.configuration, logger: logger)
        do {
            try await Self.$session.withValue(session) {
                try await sendBatches(scope: scope, index: index, shouldStop: shouldStop)
            }
        } catch {
            await session.close()
            throw error
        }
        await session.close()
    }

    /// The sender's own connection, while it runs.
    @TaskLocal static var session: SenderSession?

    private func sendBatches(scope: Scope, index: Int, shouldStop: @Sendable () async -> Bool) async throws {
        while !(await shouldStop()) {
            guard let (messages, rows) = try await claimBatch(scope: scope, index: index, shouldStop: shouldStop) else { return }
            var remaining = rows[...]
            while let row = remaining.first {
                if await shouldStop() { break }
                remaining = remaining.dropFirst()
                try await deliver(row, messages: messages, shouldStop: shouldStop)
            }
            if !remaining.isEmpty {
                try await release(issue: messages.issueID, subscribers: remaining.map(\.recipient.subscriberID))
            }
        }
    }

    /// A claimed row.
    struct Claimed: Sendable {
        var recipient: ClaimedRecipient
        var nextPart: Int
        var partCount: Int
        var attempts: Int
    }

    /// Claims up to a batch of due rows from the next issue that has any.
    /// Returns nil when no issue in scope has a due row.
    private func claimBatch(scope: Scope, index: Int, shouldStop: @Sendable () async -> Bool) async throws
        -> (IssueMessages, [Claimed])?
    {
        while !(await shouldStop()) {
            let issues: [Int64]
            switch scope {
            case .issue(let id): issues = [id]
            case .due:
                issues = try await onSenderConnection { connection in
                    try await connection.query(prepared: "SELECT id FROM issues WHERE state = 'sending' ORDER BY id", [])
                        .map { try $0.decode(Int64.self, at: 0) }
                }
            }
            var waitForRate: Duration?
            let start = issues.isEmpty ? 0 : index % issues.count
            for issueID in issues[start...] + issues[..<start] {
                guard let messages = try await messages(for: issueID) else { continue }
                let wanted = max(1, min(settings.batchSize, budget.isLimited ? rateBatch() : settings.batchSize))
                let (claimed, wait) = try await onSenderConnection { connection -> ([Claimed], Duration?) in
                    let (granted, wait) = try await self.budget.draw(wanted, on: connection)
                    guard granted > 0 else { return ([], wait) }
                    let rows = try await connection.query(
                        prepared: LedgerSQL.claim, [issueID, self.owner, self.settings.leaseSeconds, granted, messages.listID])
                    var claimed: [Claimed] = []
                    var skipped = 0
                    for row in rows {
                        let state: String = try row.decode(at: 7)
                        if state == "skipped" { skipped += 1; continue }
                        claimed.append(Claimed(
                            recipient: ClaimedRecipient(
                                subscriberID: try row.decode(at: 0), email: try row.decode(at: 1), name: try row.decode(at: 2),
                                requestID: try row.decode(at: 8)),
                            nextPart: try row.decode(at: 3), partCount: try row.decode(at: 4), attempts: try row.decode(at: 5)))
                    }
                    try await self.budget.giveBack(granted - claimed.count, on: connection)
                    if skipped > 0 { await self.state.count { $0.skipped += skipped } }
                    return (claimed, nil)
                }
                if let wait { waitForRate = min(waitForRate ?? wait, wait); continue }
                if !claimed.isEmpty {
                    await leases.hold(issue: issueID, subscribers: claimed.map(\.recipient.subscriberID))
                    return (messages, claimed)
                }
                try await finish(issue: issueID)
            }
            guard let waitForRate else { return nil }
            try? await Task.sleep(for: waitForRate)
        }
        return nil
    }

    /// Draw small batches under a rate limit, so waits are short and the bucket row is not hot (§7).
    private func rateBatch() -> Int {
        let rate = min(budget.sharedRate ?? .infinity, budget.localRate ?? .infinity)
        return max(1, Int(rate * 0.25 / Double(max(1, settings.concurrency))))
    }

    private func messages(for issueID: Int64) async throws -> IssueMessages? {
        if let cached = await state.messages[issueID] { return cached }
        do {
            let loaded = try await withDatabaseRetry { connection in
                try await IssueMessages.load(
                    issueID: issueID, on: connection, configuration: self.configuration, secrets: self.secrets, bounce: self.bounce)
            }
            await state.cache(loaded)
            return loaded
        } catch let error as ListServiceError {
            // An issue that cannot be built would fail for everyone: pause it with the reason.
            logger.error("issue cannot be sent; pausing it", metadata: ["issue.id": "\(issueID)", "error": "\(error.message)"])
            try await pause(issues: [issueID], reason: error.message)
            return nil
        } catch let error as MailerError {
            logger.error("issue cannot be sent; pausing it", metadata: ["issue.id": "\(issueID)", "error": "\(error)"])
            try await pause(issues: [issueID], reason: "\(error)")
            return nil
        }
    }

    // MARK: One delivery

    /// Sends the row's remaining parts in order, recording each (§4, §5).
    private func deliver(_ row: Claimed, messages: IssueMessages, shouldStop: @Sendable () async -> Bool) async throws {
        let issueID = messages.issueID
        let subscriberID = row.recipient.subscriberID
        do {
            try await deliverParts(row, messages: messages, shouldStop: shouldStop)
        } catch {
            await leases.drop(issue: issueID, subscriber: subscriberID)
            throw error
        }
        await leases.drop(issue: issueID, subscriber: subscriberID)
    }

    private func deliverParts(_ row: Claimed, messages: IssueMessages, shouldStop: @Sendable () async -> Bool) async throws {
        let issueID = messages.issueID
        let subscriberID = row.recipient.subscriberID
        for part in row.nextPart...row.partCount {
            // Stopping between two parts of one row: the row goes back with the next part to send.
            if part > row.nextPart, await shouldStop() {
                try await release(issue: issueID, subscribers: [subscriberID])
                return
            }
            guard try await mayStart(issue: issueID, subscriber: subscriberID) else { return }
            let message: OutgoingMessage
            do {
                message = try messages.message(part: part, for: row.recipient)
            } catch {
                // This recipient's message cannot be built (an address the Mailer refuses): nobody can fix it by retrying.
                try await record(LedgerSQL.permanentFailure, issueID, subscriberID, part, owner, "not sendable: \(error)")
                await state.count { $0.failed += 1 }
                return
            }
            let outcome: Result<TransportReceipt, TransportError>
            do {
                outcome = .success(try await transport.send(message))
            } catch {
                outcome = .failure(error)
            }
            switch outcome {
            case .success(let receipt):
                await state.accepted()
                let acknowledged = ContinuousClock.now
                let rows = try await record(
                    LedgerSQL.acknowledge, issueID, subscriberID, part, owner, receipt.providerMessageID)
                guard let state: String = try rows.first?.decode(at: 0) else {
                    logger.warning("delivery.lease_lost at acknowledgement", metadata: ["issue.id": "\(issueID)", "subscriber.id": "\(subscriberID)", "part": "\(part)"])
                    await self.state.count { $0.leasesLost += 1 }
                    return
                }
                await self.state.count {
                    $0.messagesSent += 1
                    if state == "sent" { $0.delivered += 1 }
                }
                // Each acknowledgement also reads the issue's state, so a pause or a cancel stops every sender of
                // this process at its next message, not at its next renewal (§8).
                let issueState: String = try rows[0].decode(at: 1)
                if issueState != "sending" { await leases.observed(issue: issueID, state: issueState, at: acknowledged) }
                if state != "pending" && state != "sent" { return }  // cancelled meanwhile: the part is recorded, nothing more
            case .failure(let error):
                try await recordFailure(error, issueID: issueID, subscriberID: subscriberID, part: part, attempts: row.attempts)
                return
            }
        }
    }

    /// Whether part of this row may go on the wire now; when not, the row is
    /// given back or left to its lease, and the caller sends nothing more of it.
    /// A renewal that came back too late to trust (the database stalled past
    /// two thirds of the lease) is tried again for the same part: moving on to
    /// the next part instead would put part n + 1 on the wire before part n.
    private func mayStart(issue issueID: Int64, subscriber subscriberID: Int64) async throws -> Bool {
        for _ in 0..<3 {
            switch await leases.check(issue: issueID, subscriber: subscriberID) {
            case .ok:
                return true
            case .released:
                return false
            case .lost:
                logger.warning("delivery.lease_lost", metadata: ["issue.id": "\(issueID)", "subscriber.id": "\(subscriberID)"])
                await state.count { $0.leasesLost += 1 }
                return false
            case .issueStopped:
                try await release(issue: issueID, subscribers: [subscriberID])
                return false
            case .renewDue:
                try await renew(issue: issueID)
            }
        }
        // Three renewals and the lease is still not fresh: the database is too slow to hold leases; the row goes back.
        logger.warning("delivery: renewals too slow to hold the lease; row released", metadata: ["issue.id": "\(issueID)", "subscriber.id": "\(subscriberID)"])
        try await release(issue: issueID, subscribers: [subscriberID])
        return false
    }

    private func recordFailure(_ error: TransportError, issueID: Int64, subscriberID: Int64, part: Int, attempts: Int) async throws {
        let text = String(error.description.prefix(1000))
        logger.info("delivery failed", metadata: ["issue.id": "\(issueID)", "subscriber.id": "\(subscriberID)", "part": "\(part)", "error": "\(text)"])
        if error.code == .authenticationFailed || error.code == .configuration || (error.code == .tls && !error.isTemporary) {
            try await record(LedgerSQL.pauseForTransport, issueID, subscriberID, part, owner, "transport refused: \(text)")
            await state.stopAll()
            logger.error("issue paused: the transport refused us", metadata: ["issue.id": "\(issueID)", "error": "\(text)"])
            return
        }
        switch error.classification {
        case .temporary:
            let delay = settings.backoff(afterAttempts: attempts + 1, retryAfter: error.retryAfter)
            let rows = try await record(LedgerSQL.temporaryFailure, issueID, subscriberID, part, owner, settings.maxAttempts, delay, text)
            let state: String? = try rows.first?.decode(at: 0)
            await self.state.count { if state == "failed" { $0.failed += 1 } else if state != nil { $0.retrying += 1 } }
        case .unknown:
            let rows = try await record(LedgerSQL.unknownOutcome, issueID, subscriberID, part, owner, settings.retryBase, text)
            let state: String? = try rows.first?.decode(at: 0)
            await self.state.count {
                $0.unknown += 1
                if state == "failed" { $0.failed += 1 } else if state != nil { $0.retrying += 1 }
            }
        case .permanent:
            if error.code == .recipientRejected {
                try await record(LedgerSQL.bounce, issueID, subscriberID, part, owner, text)
                await state.count { $0.bounced += 1 }
                return  // a verdict on one address, not on the transport
            }
            try await record(LedgerSQL.permanentFailure, issueID, subscriberID, part, owner, text)
            await state.count { $0.failed += 1 }
        }
        // The circuit breaker (§5): failures in a row mean the transport is down.
        if await state.failedInARow() >= settings.pauseAfterFailures {
            let issues = await leases.issues
            try await pause(issues: issues.isEmpty ? [issueID] : issues, reason: "transport down after \(settings.pauseAfterFailures) failures in a row: \(text)")
            await state.stopAll()
            logger.error("issues paused: the transport looks down", metadata: ["error": "\(text)"])
        }
    }

    // MARK: Leases

    private func renewLeases() async {
        let interval = Duration.milliseconds(Int64(settings.leaseSeconds * 1000 / 3))
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if Task.isCancelled { return }
            for issue in await leases.issues {
                do { try await renew(issue: issue) } catch {
                    logger.warning("lease renewal failed; will retry", metadata: ["issue.id": "\(issue)", "error": "\(error)"])
                }
            }
        }
    }

    private func renew(issue: Int64) async throws {
        let held = await leases.held(issue: issue)
        guard !held.isEmpty else { return }
        let started = ContinuousClock.now
        let rows = try await withDatabaseRetry { connection in
            try await connection.query(LedgerSQL.renew, self.owner, self.settings.leaseSeconds, issue, held)
        }
        var kept: Set<Int64> = []
        var issueState = "sending"
        for row in rows {
            kept.insert(try row.decode(at: 0))
            issueState = try row.decode(at: 1)
        }
        await leases.renewed(issue: issue, asked: held, kept: kept, issueState: issueState, at: started)
    }

    private func release(issue: Int64, subscribers: [Int64]) async throws {
        guard !subscribers.isEmpty else { return }
        _ = try await withDatabaseRetry { connection in
            try await connection.query(LedgerSQL.release, issue, subscribers, self.owner)
        }
        for subscriber in subscribers { await leases.drop(issue: issue, subscriber: subscriber) }
    }

    /// Gives back the rows claimed and not yet started; a failure leaves them to their leases.
    private func releaseIdleClaims() async {
        for (issue, subscribers) in await leases.takeIdle() {
            do {
                _ = try await withDatabaseRetry { connection in
                    try await connection.query(LedgerSQL.release, issue, subscribers, self.owner)
                }
            } catch {
                logger.warning("could not release claimed rows; their leases will run out", metadata: ["issue.id": "\(issue)", "error": "\(error)"])
            }
        }
    }

    private func releaseAll() async throws {
        for issue in await leases.issues {
            try await release(issue: issue, subscribers: Array(await leases.held(issue: issue)))
        }
    }

    // MARK: Issue state

    private func finish(issue: Int64) async throws {
        let done = try await withDatabaseRetry { connection in
            try await !connection.query(LedgerSQL.finish, issue).isEmpty
        }
        if done { logger.info("issue sent", metadata: ["issue.id": "\(issue)"]) }
    }

    private func pause(issues: [Int64], reason: String) async throws {
        _ = try await withDatabaseRetry { connection in
            try await connection.query(
                "UPDATE issues SET state = 'paused', paused_reason = $2, updated_at = now() WHERE id = ANY ($1) AND state = 'sending'",
                issues, String(reason.prefix(1000)))
        }
    }

    // MARK: Database

    /// Runs one ledger statement of a sender (prepared, on its own connection).
    @discardableResult
    private func record(_ sql: String, _ parameters: any PostgresEncodable...) async throws -> PostgresRows {
        let parameters = parameters
        return try await onSenderConnection { connection in try await connection.query(prepared: sql, parameters) }
    }

    /// Runs `body` on the calling sender's own connection (a pooled one
    /// outside a sender), again on a new connection when it is lost.
    private func onSenderConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        guard let session = Self.session else { return try await withDatabaseRetry(body) }
        return try await retryingLostConnections { try await session.withConnection(body) }
    }

    /// Runs `body` on a pooled connection; when the connection fails (the
    /// server restarted, the backend was terminated), waits and tries again
    /// for up to two lease lengths. Every ledger statement is conditional, so
    /// running one twice changes nothing the second time.
    func withDatabaseRetry<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await retryingLostConnections { try await self.database.pool.withConnection { try await body($0) } }
    }

    /// Runs `attempt` again, with backoff, while it fails on a lost connection, for up to two lease lengths.
    private func retryingLostConnections<T: Sendable>(_ attempt: () async throws -> T) async throws -> T {
        let giveUp = ContinuousClock.now + .seconds(max(30, settings.leaseSeconds * 2))
        var delay = Duration.milliseconds(100)
        while true {
            do {
                return try await attempt()
            } catch let error as PostgresError where Self.isTransient(error) && ContinuousClock.now < giveUp {
                logger.warning("database connection lost; retrying", metadata: ["error": "\(error.message)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
    }

    static func isTransient(_ error: PostgresError) -> Bool {
        if error.code == .connectionFailed || error.code == .connectionClosed || error.code == .poolTimeout { return true }
        guard let state = error.sqlState else { return false }
        return state.hasPrefix("08") || state.hasPrefix("57P") || state == "40001" || state == "40P01"
    }
}

/// One sender's own database connection, opened on first use and replaced
/// after a connection failure (the caller retries the statement).
actor SenderSession {
    let configuration: PostgresConnectionConfiguration
    let logger: Logger
    private var connection: PostgresConnection?

    init(configuration: PostgresConnectionConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs `body` on the session's connection, opening it first if needed;
    /// a connection failure closes it, so the caller's retry gets a new one.
    func withConnection<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let connection: PostgresConnection
        if let open = self.connection {
            connection = open
        } else {
            connection = try await PostgresConnection.connect(configuration, logger: logger)
            self.connection = connection
        }
        do {
            return try await body(connection)
        } catch let error as PostgresError where DeliveryEngine.isTransient(error) {
            self.connection = nil
            await connection.close()
            throw error
        }
    }

    func close() async {
        await connection?.close()
        connection = nil
    }
}

/// The run's shared state: loaded issues, counters, the circuit breaker.
actor RunState {
    private(set) var messages: [Int64: IssueMessages] = [:]
    private(set) var counters = DeliveryCounters()
    private(set) var stopping = false
    private var inARow = 0

    func reset() {
        counters = DeliveryCounters()
        stopping = false
        inARow = 0
    }

    func cache(_ loaded: IssueMessages) { messages[loaded.issueID] = loaded }
    func count(_ change: (inout DeliveryCounters) -> Void) { change(&counters) }
    func accepted() { inARow = 0 }
    func failedInARow() -> Int {
        inARow += 1
        return inARow
    }
    func stopAll() { stopping = true }
}

/// The rows this process holds leases on, and how fresh each issue's renewal is (§3).
actor LeaseKeeper {
    enum Status { case ok, lost, issueStopped, renewDue, released }

    let leaseSeconds: Double
    private var held: [Int64: Set<Int64>] = [:]
    private var lost: [Int64: Set<Int64>] = [:]
    private var renewedAt: [Int64: ContinuousClock.Instant] = [:]
    private var stopped: Set<Int64> = []
    /// When each issue was last claimed from: a claim saw it `sending`, which outdates any renewal begun before it.
    private var claimedAt: [Int64: ContinuousClock.Instant] = [:]
    /// Rows whose first part was let on the wire (by ``check(issue:subscriber:)``), by issue.
    private var started: [Int64: Set<Int64>] = [:]
    /// Rows given back unstarted by ``takeIdle()``: not to be started.
    private var released: [Int64: Set<Int64>] = [:]

    init(leaseSeconds: Double) { self.leaseSeconds = leaseSeconds }

    var issues: [Int64] { held.filter { !$0.value.isEmpty }.map(\.key).sorted() }
    func held(issue: Int64) -> [Int64] { Array(held[issue] ?? []) }

    /// Just claimed: the lease runs from now.
    func hold(issue: Int64, subscribers: [Int64]) {
        let now = ContinuousClock.now
        // The issue's renewal clock is the oldest lease it holds.
        if held[issue, default: []].isEmpty { renewedAt[issue] = now }
        held[issue, default: []].formUnion(subscribers)
        // The claim found the issue sending (LedgerSQL.claim checks it): a pause seen earlier is over. Without this a
        // paused and resumed issue stayed stopped in this process, each claim released at once, until a renewal.
        stopped.remove(issue)
        claimedAt[issue] = now
        for subscriber in subscribers {
            lost[issue]?.remove(subscriber)
            released[issue]?.remove(subscriber)
        }
    }

    func drop(issue: Int64, subscriber: Int64) {
        held[issue]?.remove(subscriber)
        started[issue]?.remove(subscriber)
    }

    /// The held rows not started yet, taken out of ``held``: the caller releases them.
    func takeIdle() -> [(issue: Int64, subscribers: [Int64])] {
        var idle: [(Int64, [Int64])] = []
        for (issue, rows) in held {
            let unstarted = rows.subtracting(started[issue] ?? [])
            guard !unstarted.isEmpty else { continue }
            held[issue]?.subtract(unstarted)
            released[issue, default: []].formUnion(unstarted)
            idle.append((issue, unstarted.sorted()))
        }
        return idle
    }

    func renewed(issue: Int64, asked: [Int64], kept: Set<Int64>, issueState: String, at instant: ContinuousClock.Instant) {
        for subscriber in asked where !kept.contains(subscriber) {
            lost[issue, default: []].insert(subscriber)
            held[issue]?.remove(subscriber)
        }
        // Two renewals can finish out of order: the lease runs from the later start.
        if !kept.isEmpty { renewedAt[issue] = max(renewedAt[issue] ?? instant, instant) }
        observed(issue: issue, state: issueState, at: instant)
    }

    /// The issue's state as a statement begun at `instant` read it (a renewal, an acknowledgement).
    func observed(issue: Int64, state: String, at instant: ContinuousClock.Instant) {
        if state == "sending" {
            stopped.remove(issue)
        } else if instant >= claimedAt[issue] ?? instant {
            stopped.insert(issue)
        }
    }

    /// Whether the holder may put part of this row on the wire now.
    /// `.ok` marks the row started, so ``takeIdle()`` leaves it to its sender.
    func check(issue: Int64, subscriber: Int64) -> Status {
        if released[issue]?.contains(subscriber) == true { return .released }
        if lost[issue]?.contains(subscriber) == true { return .lost }
        if stopped.contains(issue) { return .issueStopped }
        guard let at = renewedAt[issue] else { return .renewDue }
        // Never start a message on a lease within a third of its expiry.
        let age = ContinuousClock.now - at
        if age > .milliseconds(Int64(leaseSeconds * 1000 * 2 / 3)) { return .renewDue }
        started[issue, default: []].insert(subscriber)
        return .ok
    }
}
