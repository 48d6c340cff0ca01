import Foundation

/// Runs blocking work (a child process, a socket wait, pg_ctl) on a thread of
/// its own. Swift's cooperative pool has one thread per core (two here):
/// blocking them stalls every test running beside, which then fail their
/// time bounds for no fault of their own.
public func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
