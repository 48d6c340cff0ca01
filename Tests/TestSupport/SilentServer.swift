import Foundation
import Glibc

/// A TCP server on 127.0.0.1 that accepts connections and never sends a
/// byte, keeping them open until ``close()``: what a client's connect and
/// read timeouts are tested against (a server that hangs, not one that refuses).
public final class SilentServer: Sendable {
    /// The port it listens on.
    public let port: Int
    private let listener: Int32
    private let state: State

    /// The accepted sockets, and whether ``close()`` has run; behind `lock`.
    private final class State: @unchecked Sendable {
        let lock = NSLock()
        var accepted: [Int32] = []
        var closed = false
    }

    private init(port: Int, listener: Int32) {
        self.port = port
        self.listener = listener
        self.state = State()
    }

    /// Listens on a free loopback port and accepts on a thread of its own.
    ///
    /// - Throws: `TestSupportError` when the socket cannot be made.
    public static func start() throws -> SilentServer {
        // Close-on-exec, the listener and each accepted socket: a child process another test starts meanwhile
        // would otherwise inherit the descriptor and hold the connection open after close().
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { throw TestSupportError(message: "socket: \(String(cString: strerror(errno)))") }
        var address = loopbackAddress(port: 0)
        guard withSocketAddress(&address, { bind(listener, $0, $1) }) == 0, listen(listener, 64) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(listener)
            throw TestSupportError(message: "cannot listen on 127.0.0.1: \(reason)")
        }
        let port: Int
        do {
            port = try boundPort(of: listener)
        } catch {
            Glibc.close(listener)
            throw error
        }
        let server = SilentServer(port: port, listener: listener)
        let thread = Thread { [state = server.state] in
            Self.acceptLoop(listener: listener, state: state)
        }
        thread.name = "SilentServer :\(port)"
        thread.start()
        return server
    }

    private static func acceptLoop(listener: Int32, state: State) {
        while true {
            let connection = accept(listener, nil, nil)
            // (accept4 is not in Glibc's Swift module; the listener is close-on-exec, and this closes the gap.)
            if connection >= 0 { _ = fcntl(connection, F_SETFD, FD_CLOEXEC) }
            state.lock.lock()
            let closed = state.closed
            if connection >= 0 && !closed { state.accepted.append(connection) }
            state.lock.unlock()
            if closed {
                if connection >= 0 { Glibc.close(connection) }
                break
            }
            if connection < 0 && errno != EINTR && errno != ECONNABORTED {
                // Nothing sensible to do but wait for close(); don't spin.
                usleep(10_000)
            }
        }
        // Closed here, not in close(): the descriptor must not be reused while accept() may still use it.
        Glibc.close(listener)
    }

    /// Stops listening and closes every accepted connection (clients then read
    /// end-of-file, or a reset for one still in the backlog once the accept
    /// thread closes the listener). Returns at once: async tests call it, and
    /// blocking one of the cooperative pool's few threads stalls every test
    /// beside it. Calling it again does nothing.
    public func close() {
        state.lock.lock()
        let wasClosed = state.closed
        state.closed = true
        let accepted = state.accepted
        state.accepted = []
        state.lock.unlock()
        guard !wasClosed else { return }
        // shutdown, unlike close, wakes a thread blocked in accept() on Linux.
        shutdown(listener, Int32(SHUT_RDWR))
        for connection in accepted { Glibc.close(connection) }
    }

    deinit { close() }
}
