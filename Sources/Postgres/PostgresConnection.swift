import CLibPQ
import Dispatch
public import Logging
import Foundation

/// One connection to PostgreSQL over libpq.
///
/// libpq calls block and a libpq connection is not thread-safe, so every call
/// runs on this connection's own serial dispatch queue, never on Swift's
/// cooperative pool. A connection has one owner at a time: use it from one
/// task, or share it through ``PostgresPool``. This file is the only place
/// that touches libpq pointers.
public final class PostgresConnection: @unchecked Sendable {
    // Only read or written on `queue`.
    private var handle: OpaquePointer?
    private let queue: DispatchQueue
    public let logger: Logger

    private init(handle: OpaquePointer, queue: DispatchQueue, logger: Logger) {
        self.handle = handle
        self.queue = queue
        self.logger = logger
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    /// Connects with a libpq connection string (`host=... dbname=...`) or URI
    /// (`postgresql://user@host:5432/db`). The session is set to UTC and ISO
    /// dates, which the decoders rely on.
    ///
    /// - Throws: `PostgresError` with code `.connectionFailed` and libpq's
    ///   message (which never contains the password).
    public static func connect(to connectionString: String, logger: Logger = Logger(label: "listctl.postgres"))
        async throws -> PostgresConnection
    {
        let queue = DispatchQueue(label: "listctl.postgres.connection")
        let handle: OpaquePointer = try await withCheckedThrowingContinuation { continuation in
            queue.async {
                guard let handle = PQconnectdb(connectionString) else {
                    continuation.resume(throwing: PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection"))
                    return
                }
                guard PQstatus(handle) == CONNECTION_OK else {
                    let message = Self.errorMessage(handle)
                    PQfinish(handle)
                    continuation.resume(throwing: PostgresError(
                        code: .connectionFailed, message: "cannot connect to PostgreSQL: \(message)"))
                    return
                }
                PQsetNoticeProcessor(handle, { _, _ in }, nil)
                _ = PQsetClientEncoding(handle, "UTF8")
                let setup = PQexec(handle, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET bytea_output = 'hex'")
                let ok = PQresultStatus(setup) == PGRES_COMMAND_OK
                let setupError = ok ? nil : Self.error(from: setup, connection: handle)
                PQclear(setup)
                if let setupError {
                    PQfinish(handle)
                    continuation.resume(throwing: setupError)
                    return
                }
                continuation.resume(returning: handle)
            }
        }
        return PostgresConnection(handle: handle, queue: queue, logger: logger)
    }

    /// Runs `body` with the live handle on the connection's queue.
    private func withHandle<T: Sendable>(_ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                guard let handle = self.handle else {
                    continuation.resume(throwing: PostgresError(code: .connectionClosed, message: "the connection is closed"))
                    return
                }
                continuation.resume(with: Result { try body(handle) })
            }
        }
    }

    /// Closes the connection. Later calls throw `.connectionClosed`.
    public func close() async {
        _ = try? await withHandle { handle in
            PQfinish(handle)
            self.handle = nil
        }
    }

    /// `true` while the server connection is up and no transaction is open.
    /// The pool uses it to decide whether a returned connection can be reused.
    public func isIdleAndHealthy() async -> Bool {
        (try? await withHandle { handle in
            PQstatus(handle) == CONNECTION_OK && PQtransactionStatus(handle) == PQTRANS_IDLE
        }) ?? false
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
    ///   text parameter that contains a NUL byte.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresEncodable]) async throws -> PostgresRows {
        let texts = parameters.map(\.postgresText)
        for (index, text) in texts.enumerated() where text?.utf8.contains(0) == true {
            throw PostgresError(code: .invalidArgument, message: "parameter $\(index + 1) contains a NUL byte, which PostgreSQL text cannot hold")
        }
        return try await withHandle { handle in
            let cStrings: [UnsafeMutablePointer<CChar>?] = texts.map { $0.map { strdup($0) } ?? nil }
            defer { cStrings.forEach { free($0) } }
            let result = cStrings.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { values in
                    PQexecParams(handle, sql, Int32(texts.count), nil, values.baseAddress, nil, nil, 0)
                }
            }
            return try Self.rows(from: result, connection: handle)
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
        try await withHandle { handle in
            let result = PQexec(handle, script)
            _ = try Self.rows(from: result, connection: handle)
        }
    }

    /// Runs one statement with no parameters and returns its command tag
    /// (`COMMIT`, `ROLLBACK`, `UPDATE 3`).
    func commandTag(of sql: String) async throws -> String {
        try await withHandle { handle in
            let result = PQexec(handle, sql)
            guard let result, PQresultStatus(result) == PGRES_COMMAND_OK else {
                _ = try Self.rows(from: result, connection: handle)
                return ""
            }
            defer { PQclear(result) }
            return String(cString: PQcmdStatus(result))
        }
    }

    // MARK: COPY

    /// Streams data into `COPY ... FROM STDIN`. `body` writes the data (in the
    /// format the statement names) through the writer; if it throws, the COPY
    /// is aborted on the server and the error rethrown.
    ///
    /// - Returns: the number of rows the server copied.
    public func copyFrom(
        _ sql: String,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresCopyWriter) async throws -> Void
    ) async throws -> Int {
        try await withHandle { handle in
            let result = PQexec(handle, sql)
            defer { PQclear(result) }
            guard PQresultStatus(result) == PGRES_COPY_IN else {
                throw Self.error(from: result, connection: handle)
            }
        }
        let writer = PostgresCopyWriter(connection: self)
        do {
            try await body(writer)
            try await writer.flush()
        } catch {
            let reason = "aborted by client: \(error)"
            _ = try? await withHandle { handle in
                _ = PQputCopyEnd(handle, reason)
                Self.drainResults(handle)
            }
            throw error
        }
        return try await withHandle { handle in
            guard PQputCopyEnd(handle, nil) == 1 else {
                throw PostgresError(code: .copyFailed, message: "COPY could not finish: \(Self.errorMessage(handle))")
            }
            var count = 0
            var failure: PostgresError?
            while let result = PQgetResult(handle) {
                defer { PQclear(result) }
                if PQresultStatus(result) == PGRES_COMMAND_OK {
                    count = Int(String(cString: PQcmdTuples(result))) ?? 0
                } else if failure == nil {
                    failure = Self.error(from: result, connection: handle)
                }
            }
            if let failure { throw failure }
            return count
        }
    }

    func putCopyData(_ bytes: [UInt8]) async throws {
        try await withHandle { handle in
            let status = bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
            }
            guard status == 1 else {
                throw PostgresError(code: .copyFailed, message: "COPY data could not be sent: \(Self.errorMessage(handle))")
            }
        }
    }

    // MARK: LISTEN / NOTIFY

    /// Waits up to `timeout` for a notification on a channel this connection
    /// LISTENs to (run `LISTEN channel` first). Returns `nil` on timeout.
    /// Blocks this connection (not the cooperative pool) while it waits, so use
    /// a connection dedicated to listening.
    public func nextNotification(timeout: Duration) async throws -> PostgresNotification? {
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        return try await withHandle { handle in
            if let notification = try Self.takeNotification(handle) { return notification }
            var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0, errno != EINTR {
                throw PostgresError(code: .connectionFailed, message: "waiting for a notification failed: \(String(cString: strerror(errno)))")
            }
            return try Self.takeNotification(handle)
        }
    }

    private static func takeNotification(_ handle: OpaquePointer) throws -> PostgresNotification? {
        guard PQconsumeInput(handle) == 1 else {
            throw PostgresError(code: .connectionFailed, message: "connection lost: \(errorMessage(handle))")
        }
        guard let raw = PQnotifies(handle) else { return nil }
        defer { PQfreemem(raw) }
        return PostgresNotification(
            channel: String(cString: raw.pointee.relname),
            payload: String(cString: raw.pointee.extra),
            senderPID: raw.pointee.be_pid
        )
    }

    // MARK: Results and errors

    private static func rows(from result: OpaquePointer?, connection handle: OpaquePointer) throws -> PostgresRows {
        guard let result else {
            throw PostgresError(code: .connectionFailed, message: "no result from server: \(errorMessage(handle))")
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY else {
            if status == PGRES_COPY_IN || status == PGRES_COPY_OUT {
                drainResults(handle)
                throw PostgresError(code: .invalidArgument, message: "COPY statements need copyFrom(_:_:)")
            }
            throw error(from: result, connection: handle)
        }
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        var columns: [String] = []
        columns.reserveCapacity(columnCount)
        for column in 0..<columnCount {
            columns.append(String(cString: PQfname(result, Int32(column))))
        }
        var values: [[String?]] = []
        values.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var rowValues: [String?] = []
            rowValues.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    rowValues.append(nil)
                } else {
                    rowValues.append(String(cString: PQgetvalue(result, Int32(row), Int32(column))))
                }
            }
            values.append(rowValues)
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresRows(columns: columns, values: values, affectedRows: affected)
    }

    private static func drainResults(_ handle: OpaquePointer) {
        while let result = PQgetResult(handle) { PQclear(result) }
    }

    private static func errorMessage(_ handle: OpaquePointer) -> String {
        String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func error(from result: OpaquePointer?, connection handle: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let result, let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        if PQstatus(handle) != CONNECTION_OK {
            return PostgresError(code: .connectionFailed, message: "connection to PostgreSQL lost: \(errorMessage(handle))", sqlState: field("C"))
        }
        let message = field("M") ?? errorMessage(handle)
        return PostgresError(
            code: .server, message: message, sqlState: field("C"), detail: field("D"), hint: field("H"),
            constraint: field("n"))
    }
}

/// A notification received through LISTEN.
public struct PostgresNotification: Sendable, Hashable {
    public var channel: String
    public var payload: String
    public var senderPID: Int32
}

/// Buffers COPY data and sends it in large chunks.
public final class PostgresCopyWriter: @unchecked Sendable {
    private let connection: PostgresConnection
    private var buffer: [UInt8] = []
    private static let chunkSize = 256 * 1024

    init(connection: PostgresConnection) {
        self.connection = connection
        buffer.reserveCapacity(Self.chunkSize)
    }

    /// Queues bytes; sends when the buffer is full.
    public func write(_ bytes: some Sequence<UInt8>) async throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= Self.chunkSize { try await flush() }
    }

    /// Queues the UTF-8 bytes of `text`.
    public func write(_ text: String) async throws {
        try await write(text.utf8)
    }

    func flush() async throws {
        guard !buffer.isEmpty else { return }
        let chunk = buffer
        buffer.removeAll(keepingCapacity: true)
        try await connection.putCopyData(chunk)
    }
}
