/// The pool's rules, with no I/O: who gets which connection, when a new one
/// may be opened, who waits, what a close does. ``PostgresPool`` performs
/// what it decides; its tests drive it with plain values and a made-up clock.
///
/// Invariants: `open` counts connections lent, idle, or being opened, and
/// never exceeds `maximum`; a waiter exists only while no connection is idle
/// and `open == maximum`; after `close()` nothing is lent or kept idle.
struct PoolStateMachine<Connection> {
    /// What a borrower is given.
    enum Lease {
        /// An idle connection. `check`: it sat idle long enough to be worth a
        /// round trip before use.
        case use(Connection, check: Bool)
        /// Permission to open a new connection (the slot is counted already).
        case connect
    }

    enum Failure: Equatable, Sendable {
        case closed
        case timedOut
        case cancelled
    }

    enum AcquireAction {
        case lease(Lease)
        case wait
        case fail(Failure)
    }

    /// What to do after a release, a failed connect or a close.
    struct Actions {
        /// Connections to close.
        var close: [Connection] = []
        /// Waiters to hand a lease to, in order.
        var handOff: [(waiter: Int, lease: Lease)] = []
        /// Waiters to fail.
        var fail: [(waiter: Int, failure: Failure)] = []
    }

    let maximum: Int
    /// How long a connection may sit idle before it is checked with a round trip.
    let checkAfter: Duration
    private(set) var idle: [(connection: Connection, since: ContinuousClock.Instant)] = []
    private(set) var open = 0
    private(set) var waiters: [Int] = []
    private(set) var isClosed = false

    init(maximum: Int, checkAfter: Duration) {
        precondition(maximum > 0)
        self.maximum = maximum
        self.checkAfter = checkAfter
    }

    /// A borrower (`waiter` is its id) asks for a connection. The most recently
    /// returned idle connection goes first (it is the likeliest to be alive).
    mutating func acquire(waiter: Int, now: ContinuousClock.Instant) -> AcquireAction {
        if isClosed { return .fail(.closed) }
        if let entry = idle.popLast() {
            return .lease(.use(entry.connection, check: now - entry.since >= checkAfter))
        }
        if open < maximum {
            open += 1
            return .lease(.connect)
        }
        waiters.append(waiter)
        return .wait
    }

    /// A lent connection comes back; `reusable` if its reset succeeded.
    mutating func release(_ connection: Connection, reusable: Bool, now: ContinuousClock.Instant) -> Actions {
        var actions = Actions()
        guard reusable, !isClosed else {
            actions.close.append(connection)
            open -= 1
            actions.handOff += openSlotForWaiter()
            return actions
        }
        if !waiters.isEmpty {
            actions.handOff.append((waiters.removeFirst(), .use(connection, check: false)))
        } else {
            idle.append((connection, now))
        }
        return actions
    }

    /// Opening a connection (for a `.connect` lease) failed: its slot is free again.
    mutating func connectFailed() -> Actions {
        open -= 1
        var actions = Actions()
        actions.handOff += openSlotForWaiter()
        return actions
    }

    /// A waiter gave up (timed out or cancelled). `true` if it was still
    /// waiting; `false` if it was already handed a lease, which it must use.
    mutating func abandon(waiter: Int) -> Bool {
        guard let index = waiters.firstIndex(of: waiter) else { return false }
        waiters.remove(at: index)
        return true
    }

    /// Closes the pool: idle connections close now, every waiter fails, and
    /// connections still lent close when they come back.
    mutating func close() -> Actions {
        isClosed = true
        var actions = Actions()
        actions.close = idle.map(\.connection)
        open -= idle.count
        idle.removeAll()
        actions.fail = waiters.map { ($0, .closed) }
        waiters.removeAll()
        return actions
    }

    /// A slot just freed: the first waiter may open a connection in it.
    private mutating func openSlotForWaiter() -> [(waiter: Int, lease: Lease)] {
        guard !isClosed, !waiters.isEmpty, open < maximum else { return [] }
        open += 1
        return [(waiters.removeFirst(), .connect)]
    }
}

extension PoolStateMachine.Lease: Sendable where Connection: Sendable {}
