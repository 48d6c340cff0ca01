import CLibPQ
import Dispatch
public import Logging
import Foundation
import Synchronization

/// One connection to PostgreSQL over libpq.
///
/// libpq calls block and a libpq connection is not thread-safe, so every call
/// runs on this connection's own serial dispatch queue, never on Swift's
/// cooperative pool. A connection has one owner at a time: use it from one
/// task, or share it through ``PostgresPool``. Cancelling the calling task
/// reaches the server (`PQcancel`): a running statement stops and the call
/// throws `CancellationError`. The files `PostgresConnection*.swift` are the
/// only place that touches libpq pointers.
public final class PostgresConnection: @unchecked Sendable {
    // Only read or written on `queue`.
    var handle: OpaquePointer?
    /// Statements prepared on this session, by SQL text (see `query(prepared:_:)`). Only on `queue`.
    var preparedStatements: [String: String] = [:]
    var preparedCount = 0
    /// Whether a statement since the last reset may have left session state (see `mayChangeSession`). Only on `queue`.
    var sessionMayHaveChanged = false
    /// `mayChangeSession` by statement text, so each is scanned once. Only on `queue`.
    var sessionVerdicts: [String: Bool] = [:]
    let queue: DispatchQueue
    /// Which statement runs now and how to cancel it; shared with cancellation handlers.
    let cancellation: Mutex<CancellationState>
    public let logger: Logger
    /// Where the server is (`127.0.0.1:5432, database listctl`), for messages. Never a password.
    public let serverDescription: String

    private init(handle: OpaquePointer, queue: DispatchQueue, serverDescription: String, logger: Logger) {
        self.handle = handle
        self.queue = queue
        self.serverDescription = serverDescription
        self.logger = logger
        self.cancellation = Mutex(CancellationState(handle: CancelHandle(connection: handle)))
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    /// Connects with a libpq connection string or URI and listctl's defaults
    /// (see ``PostgresConnectionConfiguration``).
    public static func connect(to connectionString: String, logger: Logger = Logger(label: "listctl.postgres"))
        async throws -> PostgresConnection
    {
        try await connect(PostgresConnectionConfiguration(connectionString: connectionString), logger: logger)
    }

    /// Connects. Waits at most the configuration's connect timeout (10 s
    /// unless the connection string sets `connect_timeout`), and stops early
    /// when the calling task is cancelled.
    ///
    /// - Throws: `PostgresError` `.connectionFailed` saying which server and
    ///   what to check (libpq's messages never contain the password);
    ///   `.invalidArgument` for a malformed connection string;
    ///   `CancellationError` when cancelled.
    public static func connect(_ configuration: PostgresConnectionConfiguration, logger: Logger = Logger(label: "listctl.postgres"))
        async throws -> PostgresConnection
    {
        let resolved = try configuration.resolve()
        let operation = PostgresOperation()
        let queue = DispatchQueue(label: "listctl.postgres.connection")
        let handle: OpaquePointer = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                queue.async {
                    continuation.resume(with: Result { try Self.open(resolved, operation: operation) })
                }
            }
        } onCancel: {
            operation.cancel()
        }
        return PostgresConnection(handle: handle, queue: queue, serverDescription: resolved.serverDescription, logger: logger)
    }

    /// Starts a connection and drives libpq's non-blocking handshake, in
    /// slices short enough to notice a cancelled task or the deadline.
    private static func open(_ resolved: PostgresConnectionConfiguration.Resolved, operation: PostgresOperation) throws -> OpaquePointer {
        let keywords = resolved.keywords.map { strdup($0.0) } + [nil]
        let values = resolved.keywords.map { strdup($0.1) } + [nil]
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let started = keywords.withUnsafeBufferPointer { keys in
            values.withUnsafeBufferPointer { values in
                keys.withMemoryRebound(to: UnsafePointer<CChar>?.self) { keys in
                    values.withMemoryRebound(to: UnsafePointer<CChar>?.self) { values in
                        PQconnectStartParams(keys.baseAddress, values.baseAddress, 0)
                    }
                }
            }
        }
        guard let handle = started else {
            throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection")
        }
        var connected = false
        defer { if !connected { PQfinish(handle) } }
        func failure() -> PostgresError {
            PostgresError(
                code: .connectionFailed,
                message: "cannot connect to PostgreSQL at \(resolved.serverDescription): \(errorMessage(handle)). Check that the server is running and accepts connections there, and the user, password and database name in DATABASE_URL.")
        }
        guard PQstatus(handle) != CONNECTION_BAD else { throw failure() }
        let deadline = ContinuousClock.now + resolved.connectTimeout
        var polling = PGRES_POLLING_WRITING
        while true {
            if polling == PGRES_POLLING_OK { break }
            if polling == PGRES_POLLING_FAILED { throw failure() }
            let events = polling == PGRES_POLLING_READING ? POLLIN : POLLOUT
            var ready: Int32 = 0
            while ready == 0 {
                if operation.isCancelled { throw CancellationError() }
                let remaining = deadline - .now
                guard remaining > .zero else {
                    let seconds = resolved.connectTimeout.components.seconds
                    throw PostgresError(
                        code: .connectionFailed,
                        message: "cannot connect to PostgreSQL at \(resolved.serverDescription): no answer within \(seconds) s. Check that the server is running and that this is its address and port (something else may hold the port, or a firewall drops the packets); connect_timeout in DATABASE_URL sets how long to wait.")
                }
                var descriptor = pollfd(fd: PQsocket(handle), events: Int16(events), revents: 0)
                ready = poll(&descriptor, 1, Int32(min(100, PostgresConnectionConfiguration.milliseconds(remaining) + 1)))
                if ready < 0 {
                    guard errno == EINTR else { throw failure() }
                    ready = 0
                }
            }
            polling = PQconnectPoll(handle)
        }
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        connected = true
        return handle
    }

    /// Runs `body` with the live handle on the connection's queue. If the
    /// calling task is cancelled meanwhile, the server is asked to cancel the
    /// running statement, and a statement that stopped for it throws
    /// `CancellationError`. `body` can poll `operation.isCancelled` while it waits.
    func withHandle<T: Sendable>(_ body: @escaping @Sendable (OpaquePointer, PostgresOperation) throws -> T) async throws -> T {
        let operation = PostgresOperation()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                queue.async {
                    guard let handle = self.handle else {
                        continuation.resume(throwing: PostgresError(code: .connectionClosed, message: "the connection is closed"))
                        return
                    }
                    guard self.begin(operation) else {
                        continuation.resume(throwing: CancellationError())
                        return
                    }
                    let result = Result { try body(handle, operation) }
                    self.end(operation)
                    if operation.isCancelled, case .failure(let error as PostgresError) = result, error.sqlState == "57014" {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        continuation.resume(with: result)
                    }
                }
            }
        } onCancel: {
            self.cancel(operation)
        }
    }

    /// Runs `body` with the live handle on the connection's queue, not cancellable.
    func withHandle<T: Sendable>(_ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        try await withHandle { handle, _ in try body(handle) }
    }

    /// Closes the connection. Later calls throw `.connectionClosed`.
    public func close() async {
        _ = try? await withHandle { handle in
            PQfinish(handle)
            self.handle = nil
            self.cancellation.withLock { $0.handle = nil }
        }
    }

    /// The server process id of this session (for `pg_terminate_backend` in tests, or NOTIFY senders).
    public func backendPID() async throws -> Int32 {
        try await withHandle { PQbackendPID($0) }
    }

    // MARK: Statements

    /// Runs one statement with bound parameters (`$1`, `$2`, …) and returns its rows.
    ///
    /// - Throws: `PostgresError` `.server` with SQLSTATE, detail and hint;
    ///   `.connectionFailed` if the connection broke; `.invalidArgument` for a
    ///   text parameter that contains a NUL byte; `CancellationError` when the
    ///   task was cancelled and the server stopped the statement for it.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresEncodable]) async throws -> PostgresRows {
        let texts = parameters.map(\.postgresText)
        for (index, text) in texts.enumerated() where text?.utf8.contains(0) == true {
            throw PostgresError(code: .invalidArgument, message: "parameter $\(index + 1) contains a NUL byte, which PostgreSQL text cannot hold")
        }
        return try await withHandle { handle, _ in
            let cStrings: [UnsafeMutablePointer<CChar>?] = texts.map { $0.map { strdup($0) } ?? nil }
            defer { cStrings.forEach { free($0) } }
            self.noteStatement(sql)
            let result = cStrings.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { values in
                    PQexecParams(handle, sql, Int32(texts.count), nil, values.baseAddress, nil, nil, 0)
                }
            }
            return try Self.rows(from: result, connection: handle, server: self.serverDescription)
        }
    }

    /// Variadic form of ``query(_:_:)-(String,[any PostgresEncodable])``.
    @discardableResult
    public func query(_ sql: String, _ parameters: any PostgresEncodable...) async throws -> PostgresRows {
        try await query(sql, parameters)
    }

    /// Runs a script of one or more statements with no parameters, through the
    /// simple query protocol (used for migrations and session settings).
    public func execute(script: String) async throws {
        try await withHandle { handle, _ in
            self.noteStatement(script)
            let result = PQexec(handle, script)
            _ = try Self.rows(from: result, connection: handle, server: self.serverDescription)
        }
    }

    /// Runs one statement with no parameters and returns its command tag
    /// (`COMMIT`, `ROLLBACK`, `UPDATE 3`).
    func commandTag(of sql: String) async throws -> String {
        try await withHandle { handle, _ in
            self.noteStatement(sql)
            let result = PQexec(handle, sql)
            guard let result, PQresultStatus(result) == PGRES_COMMAND_OK else {
                _ = try Self.rows(from: result, connection: handle, server: self.serverDescription)
                return ""
            }
            defer { PQclear(result) }
            return String(cString: PQcmdStatus(result))
        }
    }
}
