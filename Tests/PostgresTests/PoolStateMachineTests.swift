@testable import Postgres
import Testing

/// The pool's rules alone: plain Ints for connections, a made-up clock.
@Suite("Pool state machine")
struct PoolStateMachineTests {
    let start = ContinuousClock.now

    func leaseConnects(_ action: PoolStateMachine<Int>.AcquireAction) -> Bool {
        if case .lease(.connect) = action { return true }
        return false
    }

    @Test("opens up to the maximum, then callers wait in order and get returned connections")
    func lendsThenWaits() {
        var pool = PoolStateMachine<Int>(maximum: 2, checkAfter: .seconds(30))
        #expect(leaseConnects(pool.acquire(waiter: 1, now: start)))
        #expect(leaseConnects(pool.acquire(waiter: 2, now: start)))
        guard case .wait = pool.acquire(waiter: 3, now: start), case .wait = pool.acquire(waiter: 4, now: start) else {
            Issue.record("a third and fourth caller should wait")
            return
        }
        #expect(pool.open == 2)
        let actions = pool.release(101, reusable: true, now: start)
        #expect(actions.handOff.count == 1)
        #expect(actions.handOff.first?.waiter == 3, "first come, first served")
        if case .use(let connection, let check)? = actions.handOff.first?.lease {
            #expect(connection == 101)
            #expect(!check, "a connection handed straight over was just in use")
        } else {
            Issue.record("the waiter should get the returned connection")
        }
        #expect(pool.waiters == [4])
        #expect(pool.open == 2)
    }

    @Test("an idle connection is checked with a round trip only after checkAfter")
    func checksAfterIdle() {
        var pool = PoolStateMachine<Int>(maximum: 1, checkAfter: .seconds(30))
        _ = pool.acquire(waiter: 1, now: start)
        _ = pool.release(7, reusable: true, now: start)
        guard case .lease(.use(7, let quick)) = pool.acquire(waiter: 2, now: start + .seconds(5)) else {
            Issue.record("the idle connection should be lent")
            return
        }
        #expect(!quick)
        _ = pool.release(7, reusable: true, now: start + .seconds(5))
        guard case .lease(.use(7, let late)) = pool.acquire(waiter: 3, now: start + .seconds(40)) else {
            Issue.record("the idle connection should be lent")
            return
        }
        #expect(late)
    }

    @Test("a broken connection frees its slot: the next waiter may connect")
    func brokenReleaseOpensSlot() {
        var pool = PoolStateMachine<Int>(maximum: 1, checkAfter: .seconds(30))
        _ = pool.acquire(waiter: 1, now: start)
        _ = pool.acquire(waiter: 2, now: start)
        let actions = pool.release(5, reusable: false, now: start)
        #expect(actions.close == [5])
        #expect(actions.handOff.count == 1)
        #expect(actions.handOff.first?.waiter == 2)
        if case .connect? = actions.handOff.first?.lease {} else { Issue.record("the waiter should be allowed to connect") }
        #expect(pool.open == 1)
        #expect(pool.idle.isEmpty)
    }

    @Test("a failed connect frees its slot for the next waiter, and never over-counts")
    func connectFailure() {
        var pool = PoolStateMachine<Int>(maximum: 1, checkAfter: .seconds(30))
        _ = pool.acquire(waiter: 1, now: start)
        _ = pool.acquire(waiter: 2, now: start)
        let actions = pool.connectFailed()
        #expect(actions.handOff.map(\.waiter) == [2])
        #expect(pool.open == 1)
        _ = pool.connectFailed()
        #expect(pool.open == 0)
        #expect(leaseConnects(pool.acquire(waiter: 3, now: start)))
    }

    @Test("a waiter that timed out is removed; one already served is not")
    func abandon() {
        var pool = PoolStateMachine<Int>(maximum: 1, checkAfter: .seconds(30))
        _ = pool.acquire(waiter: 1, now: start)
        _ = pool.acquire(waiter: 2, now: start)
        _ = pool.acquire(waiter: 3, now: start)
        let first = pool.abandon(waiter: 2)
        let again = pool.abandon(waiter: 2)
        #expect(first)
        #expect(!again)
        let actions = pool.release(9, reusable: true, now: start)
        #expect(actions.handOff.map(\.waiter) == [3])
        let served = pool.abandon(waiter: 3)
        #expect(!served, "already handed a connection: it must use it")
    }

    @Test("close fails every waiter, closes idle connections, and closes what comes back later")
    func close() {
        var pool = PoolStateMachine<Int>(maximum: 2, checkAfter: .seconds(30))
        _ = pool.acquire(waiter: 1, now: start)
        _ = pool.acquire(waiter: 2, now: start)
        _ = pool.release(20, reusable: true, now: start)   // idle
        _ = pool.acquire(waiter: 3, now: start)             // takes 20
        _ = pool.acquire(waiter: 4, now: start)             // waits
        _ = pool.acquire(waiter: 5, now: start)             // waits
        _ = pool.release(20, reusable: true, now: start)    // handed to 4
        let closing = pool.close()
        #expect(closing.fail.map(\.waiter) == [5])
        #expect(closing.fail.allSatisfy { $0.failure == .closed })
        #expect(pool.isClosed)
        let late = pool.release(20, reusable: true, now: start)
        #expect(late.close == [20], "a connection returned after close is closed, not kept idle")
        #expect(pool.idle.isEmpty)
        guard case .fail(.closed) = pool.acquire(waiter: 6, now: start) else {
            Issue.record("a closed pool lends nothing")
            return
        }
    }

    @Test("random operations keep the counts within bounds")
    func randomWalk() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var pool = PoolStateMachine<Int>(maximum: 3, checkAfter: .seconds(1))
            var lent: [Int] = []
            var connecting = 0
            var nextID = 0
            var now = start
            for _ in 0..<100 {
                now += .milliseconds(Int.random(in: 0...800, using: &generator))
                switch Int.random(in: 0..<6, using: &generator) {
                case 0, 1:
                    nextID += 1
                    switch pool.acquire(waiter: nextID, now: now) {
                    case .lease(.use(let connection, _)): lent.append(connection)
                    case .lease(.connect): connecting += 1
                    default: break
                    }
                case 2 where connecting > 0:
                    connecting -= 1
                    nextID += 1
                    lent.append(1000 + nextID)
                case 3 where connecting > 0:
                    connecting -= 1
                    for handOff in pool.connectFailed().handOff {
                        if case .connect = handOff.lease { connecting += 1 }
                    }
                case 4 where !lent.isEmpty:
                    let connection = lent.remove(at: Int.random(in: 0..<lent.count, using: &generator))
                    for handOff in pool.release(connection, reusable: Bool.random(using: &generator), now: now).handOff {
                        switch handOff.lease {
                        case .use(let c, _): lent.append(c)
                        case .connect: connecting += 1
                        }
                    }
                case 5 where !pool.waiters.isEmpty:
                    _ = pool.abandon(waiter: pool.waiters[0])
                default: break
                }
                #expect(pool.open <= 3)
                #expect(pool.open == lent.count + pool.idle.count + connecting)
                #expect(pool.waiters.isEmpty || (pool.idle.isEmpty && pool.open == 3))
            }
        }
    }
}
