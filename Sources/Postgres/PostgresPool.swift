public import Logging

/// A pool of connections for concurrent callers. Each caller gets a
/// connection to itself for the duration of `withConnection`.
///
/// - A connection that sat idle is checked before it is lent (a server
///   restart or `pg_terminate_backend` shows without a round trip; after
///   `checkAfter` idle, with one), and a broken one is replaced by a new
///   connection, so callers after a restart do not fail one by one.
/// - A session that may carry state is reset when it comes back (`DISCARD ALL`):
///   a borrower's LISTEN, advisory locks, `SET` and temporary tables never
///   reach the next. One that only read and wrote rows goes back as it is.
/// - A caller waits at most `acquireTimeout` for a free connection.
/// - `close()` fails every waiter at once; connections on loan close when returned.
///
/// The rules live in ``PoolStateMachine``; this actor performs them.
public actor PostgresPool {
    public nonisolated let configuration: PostgresConnectionConfiguration
    public nonisolated let maximumConnections: Int
    public nonisolated let acquireTimeout: Duration
    private let logger: Logger
    private var state: PoolStateMachine<PostgresConnection>
    private var waiting: [Int: CheckedContinuation<PoolStateMachine<PostgresConnection>.Lease, any Error>] = [:]
    private var timers: [Int: Task<Void, Never>] = [:]
    private var nextWaiter = 0

    /// The connection string in use (may hold a password: never log it).
    public nonisolated var connectionString: String { configuration.connectionString }

    public init(
        configuration: PostgresConnectionConfiguration, maximumConnections: Int = 4, acquireTimeout: Duration = .seconds(30),
        checkAfter: Duration = .seconds(30), logger: Logger = Logger(label: "listctl.postgres")
    ) {
        self.configuration = configuration
        self.maximumConnections = maximumConnections
        self.acquireTimeout = acquireTimeout
        self.logger = logger
        self.state = PoolStateMachine(maximum: maximumConnections, checkAfter: checkAfter)
    }

    public init(connectionString: String, maximumConnections: Int = 4, logger: Logger = Logger(label: "listctl.postgres")) {
        self.init(
            configuration: PostgresConnectionConfiguration(connectionString: connectionString),
            maximumConnections: maximumConnections, logger: logger)
    }

    /// Lends a connection to `body` and takes it back, reset, however `body` ends.
    ///
    /// - Throws: what `body` throws; `PostgresError` `.poolTimeout` when no
    ///   connection came free within `acquireTimeout`, `.connectionClosed` once
    ///   the pool is closed, `.connectionFailed` when no connection can be made;
    ///   `CancellationError` when the task is cancelled while it waits.
    public func withConnection<T: Sendable>(
        _ body: @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await acquire()
        do {
            let value = try await body(connection)
            await release(connection)
            return value
        } catch {
            await release(connection)
            throw error
        }
    }

    /// Runs `body` in a transaction on a pooled connection.
    public func transaction<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await withConnection { connection in
            try await connection.transaction { try await body($0) }
        }
    }

    /// Closes idle connections and fails every waiter; connections on loan
    /// close when returned. Returns without waiting for them.
    public func close() async {
        await perform(state.close())
    }

    /// Counts for tests and `status`: connections open (lent, idle or opening), idle, and callers waiting.
    public var statistics: (open: Int, idle: Int, waiting: Int) {
        (state.open, state.idle.count, state.waiters.count)
    }

    // MARK: Lending

    private func acquire() async throws -> PostgresConnection {
        let waiter = nextWaiter
        nextWaiter += 1
        let lease: PoolStateMachine<PostgresConnection>.Lease
        switch state.acquire(waiter: waiter, now: .now) {
        case .fail(let failure): throw error(failure)
        case .lease(let given): lease = given
        case .wait: lease = try await wait(waiter)
        }
        return try await take(lease)
    }

    /// Turns a lease into a working connection: checks an idle one, opens a new one.
    private func take(_ lease: PoolStateMachine<PostgresConnection>.Lease) async throws -> PostgresConnection {
        if case .use(let connection, let check) = lease {
            if await connection.isAlive(roundTrip: check) { return connection }
            logger.info("replacing a broken pooled connection", metadata: ["postgres.server": "\(configuration.serverDescription)"])
            await connection.close()
        }
        do {
            return try await PostgresConnection.connect(configuration, logger: logger)
        } catch {
            await perform(state.connectFailed())
            throw error
        }
    }

    private func wait(_ waiter: Int) async throws -> PoolStateMachine<PostgresConnection>.Lease {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiting[waiter] = continuation
                let timeout = acquireTimeout
                timers[waiter] = Task { [weak self] in
                    try? await Task.sleep(for: timeout)
                    guard !Task.isCancelled else { return }
                    await self?.abandon(waiter, .timedOut)
                }
            }
        } onCancel: {
            Task { await self.abandon(waiter, .cancelled) }
        }
    }

    private func abandon(_ waiter: Int, _ failure: PoolStateMachine<PostgresConnection>.Failure) {
        guard state.abandon(waiter: waiter) else { return }
        resume(waiter, with: .failure(error(failure)))
    }

    private func release(_ connection: PostgresConnection) async {
        let reusable = await connection.resetForReuse()
        await perform(state.release(connection, reusable: reusable, now: .now))
    }

    private func perform(_ actions: PoolStateMachine<PostgresConnection>.Actions) async {
        for (waiter, lease) in actions.handOff { resume(waiter, with: .success(lease)) }
        for (waiter, failure) in actions.fail { resume(waiter, with: .failure(error(failure))) }
        for connection in actions.close { await connection.close() }
    }

    private func resume(_ waiter: Int, with result: Result<PoolStateMachine<PostgresConnection>.Lease, any Error>) {
        timers.removeValue(forKey: waiter)?.cancel()
        waiting.removeValue(forKey: waiter)?.resume(with: result)
    }

    private func error(_ failure: PoolStateMachine<PostgresConnection>.Failure) -> any Error {
        switch failure {
        case .closed:
            return PostgresError(code: .connectionClosed, message: "the connection pool is closed")
        case .cancelled:
            return CancellationError()
        case .timedOut:
            return PostgresError(
                code: .poolTimeout,
                message: "all \(maximumConnections) connections to PostgreSQL at \(configuration.serverDescription) stayed busy for \(acquireTimeout.components.seconds) s; something holds them (a long statement, or a lock it waits for: see pg_stat_activity and pg_locks)")
        }
    }
}
