import CLibPQ
import Foundation

extension PostgresConnection {
    /// Whether the connection still works, without waiting: a server that
    /// ended the session (`pg_terminate_backend`, a restart, an idle timeout)
    /// has sent its goodbye and closed the socket, which shows here. With
    /// `roundTrip`, also sends an empty query and waits for the answer.
    func isAlive(roundTrip: Bool) async -> Bool {
        (try? await withHandle { handle in
            guard PQstatus(handle) == CONNECTION_OK else { return false }
            // Readable with nothing asked: the server's goodbye and end of file,
            // or stray notifications. The goodbye and the end of file can take
            // two reads to see, so read while there is something to read.
            for _ in 0..<8 {
                var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
                guard poll(&descriptor, 1, 0) > 0 else { break }
                guard PQconsumeInput(handle) == 1, PQstatus(handle) == CONNECTION_OK else { return false }
                Self.discardNotifications(handle)
            }
            guard roundTrip else { return true }
            let result = PQexec(handle, "")
            defer { PQclear(result) }
            return PQresultStatus(result) == PGRES_EMPTY_QUERY && PQstatus(handle) == CONNECTION_OK
        }) ?? false
    }

    /// Makes a returned connection fit for the next borrower: `DISCARD ALL`
    /// (UNLISTEN *, advisory locks released, SET and temporary tables undone;
    /// the session settings from the startup options stay) when a statement
    /// it ran may have left session state (`mayChangeSession`), and no
    /// buffered notifications. A borrower that only read and wrote rows needs
    /// no reset, and its prepared statements stay. `false` when it cannot be
    /// reused: broken, left inside a transaction, or a cancel request was sent on it.
    func resetForReuse() async -> Bool {
        guard !cancelRequestSent else { return false }
        return (try? await withHandle { handle in
            guard PQstatus(handle) == CONNECTION_OK, PQtransactionStatus(handle) == PQTRANS_IDLE else { return false }
            guard self.sessionMayHaveChanged else {
                Self.discardNotifications(handle)
                return true
            }
            self.sessionMayHaveChanged = false
            let result = PQexec(handle, "DISCARD ALL")
            defer { PQclear(result) }
            guard PQresultStatus(result) == PGRES_COMMAND_OK else { return false }
            self.preparedStatements.removeAll()
            Self.discardNotifications(handle)
            return true
        }) ?? false
    }

    static func discardNotifications(_ handle: OpaquePointer) {
        while let notification = PQnotifies(handle) { PQfreemem(notification) }
    }
}
