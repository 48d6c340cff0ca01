import CLibPQ
import Dispatch
import Synchronization

/// One call on a connection; cancelled from another thread when its task is.
final class PostgresOperation: Sendable {
    private let cancelled = Mutex(false)
    var isCancelled: Bool { cancelled.withLock { $0 } }
    func cancel() { cancelled.withLock { $0 = true } }
}

/// libpq's cancel object for one connection (`PGcancel`), usable from any
/// thread while the connection runs a statement. A class so that a cancel
/// request in flight keeps it alive after the connection closed.
final class CancelHandle: @unchecked Sendable {
    private let cancel: OpaquePointer?

    init(connection: OpaquePointer) {
        cancel = PQgetCancel(connection)
    }

    deinit {
        if let cancel { PQfreeCancel(cancel) }
    }

    /// Asks the server to cancel what the connection runs now. Blocks while it
    /// opens a short connection to the server: call it off the cooperative pool.
    func send() {
        guard let cancel else { return }
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(cancel, &buffer, Int32(buffer.count))
    }
}

/// What runs on a connection now, under the connection's lock.
struct CancellationState: Sendable {
    var handle: CancelHandle?
    var running: PostgresOperation?
    /// A cancel request was sent. It may arrive after its statement ended and
    /// stop a later one, so the pool does not lend this connection again.
    var requestSent = false
}

extension PostgresConnection {
    /// Marks `operation` as running; `false` if it was cancelled before it started.
    func begin(_ operation: PostgresOperation) -> Bool {
        cancellation.withLock { state in
            guard !operation.isCancelled else { return false }
            state.running = operation
            return true
        }
    }

    func end(_ operation: PostgresOperation) {
        cancellation.withLock { state in
            if state.running === operation { state.running = nil }
        }
    }

    /// Cancels `operation`: flags it (waits that poll stop at once) and, if it
    /// runs now, asks the server to stop its statement.
    func cancel(_ operation: PostgresOperation) {
        let handle: CancelHandle? = cancellation.withLock { state in
            operation.cancel()
            guard state.running === operation, let handle = state.handle else { return nil }
            state.requestSent = true
            return handle
        }
        guard let handle else { return }
        DispatchQueue.global().async { handle.send() }
    }

    /// `true` if a cancel request was ever sent on this connection.
    var cancelRequestSent: Bool { cancellation.withLock { $0.requestSent } }
}
