import CLibPQ

extension PostgresConnection {
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
        try await withHandle { handle, _ in
            self.noteStatement(sql)
            let result = PQexec(handle, sql)
            defer { PQclear(result) }
            guard PQresultStatus(result) == PGRES_COPY_IN else {
                throw Self.error(from: result, connection: handle, server: self.serverDescription)
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
        return try await withHandle { handle, _ in
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
                    failure = Self.error(from: result, connection: handle, server: self.serverDescription)
                }
            }
            if let failure { throw failure }
            return count
        }
    }

    func putCopyData(_ bytes: [UInt8]) async throws {
        try await withHandle { handle, _ in
            let status = bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
            }
            guard status == 1 else {
                throw PostgresError(code: .copyFailed, message: "COPY data could not be sent: \(Self.errorMessage(handle))")
            }
        }
    }
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
