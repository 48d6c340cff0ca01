public import Logging

/// A small pool of connections for concurrent callers. Each caller gets a
/// connection to itself for the duration of `withConnection`.
public actor PostgresPool {
    public let connectionString: String
    public let maximumConnections: Int
    private let logger: Logger
    private var idle: [PostgresConnection] = []
    private var open = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var closed = false

    public init(connectionString: String, maximumConnections: Int = 4, logger: Logger = Logger(label: "listctl.postgres")) {
        precondition(maximumConnections > 0)
        self.connectionString = connectionString
        self.maximumConnections = maximumConnections
        self.logger = logger
    }

    /// Lends a connection to `body`. A connection that comes back broken or
    /// inside an open transaction is closed rather than reused.
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

    /// Closes idle connections; connections on loan close when returned.
    public func close() async {
        closed = true
        let connections = idle
        idle.removeAll()
        for connection in connections {
            await connection.close()
            open -= 1
        }
    }

    private func acquire() async throws -> PostgresConnection {
        while true {
            if closed { throw PostgresError(code: .connectionClosed, message: "the connection pool is closed") }
            if let connection = idle.popLast() { return connection }
            if open < maximumConnections {
                open += 1
                do {
                    return try await PostgresConnection.connect(to: connectionString, logger: logger)
                } catch {
                    open -= 1
                    wakeOne()
                    throw error
                }
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    private func release(_ connection: PostgresConnection) async {
        if !closed, await connection.isIdleAndHealthy() {
            idle.append(connection)
        } else {
            await connection.close()
            open -= 1
        }
        wakeOne()
    }

    private func wakeOne() {
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }
}
