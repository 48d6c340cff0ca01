import CLibPQ
import Foundation

/// A notification received through LISTEN.
public struct PostgresNotification: Sendable, Hashable {
    public var channel: String
    public var payload: String
    public var senderPID: Int32

    public init(channel: String, payload: String, senderPID: Int32) {
        self.channel = channel
        self.payload = payload
        self.senderPID = senderPID
    }
}

extension PostgresConnection {
    /// Waits up to `timeout` for a notification on a channel this connection
    /// LISTENs to (run `LISTEN channel` first). Returns `nil` on timeout.
    /// Waits in short slices, so a cancelled task stops it at once
    /// (`CancellationError`). For a connection that reconnects by itself, see
    /// ``PostgresListener``.
    ///
    /// - Throws: `PostgresError` `.connectionFailed` when the server closed the connection.
    public func nextNotification(timeout: Duration) async throws -> PostgresNotification? {
        let deadline = ContinuousClock.now + timeout
        return try await withHandle { handle, operation in
            while true {
                if let notification = try Self.takeNotification(handle, server: self.serverDescription) { return notification }
                if operation.isCancelled { throw CancellationError() }
                let remaining = deadline - .now
                guard remaining > .zero else { return nil }
                var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
                let slice = Int32(min(100, PostgresConnectionConfiguration.milliseconds(remaining) + 1))
                if poll(&descriptor, 1, slice) < 0, errno != EINTR {
                    throw PostgresError(code: .connectionFailed, message: "waiting for a notification failed: \(String(cString: strerror(errno)))")
                }
            }
        }
    }

    private static func takeNotification(_ handle: OpaquePointer, server: String) throws -> PostgresNotification? {
        guard PQconsumeInput(handle) == 1, PQstatus(handle) == CONNECTION_OK else {
            throw PostgresError(code: .connectionFailed, message: "connection to PostgreSQL at \(server) lost: \(errorMessage(handle))")
        }
        guard let raw = PQnotifies(handle) else { return nil }
        defer { PQfreemem(raw) }
        return PostgresNotification(
            channel: String(cString: raw.pointee.relname),
            payload: String(cString: raw.pointee.extra),
            senderPID: raw.pointee.be_pid
        )
    }
}
