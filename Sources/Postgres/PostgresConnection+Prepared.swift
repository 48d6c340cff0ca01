import CLibPQ
import Foundation

extension PostgresConnection {
    /// Runs one statement like ``query(_:_:)-(String,[any PostgresEncodable])``,
    /// as a prepared statement of this session: parsed and planned by the
    /// server on first use, then only bound and executed. For statements a
    /// connection runs thousands of times (the delivery ledger's), where
    /// planning costs more than executing.
    ///
    /// The session keeps the statement until it ends; returning a pooled
    /// connection that needed a reset (`DISCARD ALL`) forgets them all, and a statement the
    /// server no longer knows (SQLSTATE 26000) is prepared again once.
    @discardableResult
    public func query(prepared sql: String, _ parameters: [any PostgresEncodable]) async throws -> PostgresRows {
        let texts = parameters.map(\.postgresText)
        for (index, text) in texts.enumerated() where text?.utf8.contains(0) == true {
            throw PostgresError(code: .invalidArgument, message: "parameter $\(index + 1) contains a NUL byte, which PostgreSQL text cannot hold")
        }
        return try await withHandle { handle, _ in
            let cStrings: [UnsafeMutablePointer<CChar>?] = texts.map { $0.map { strdup($0) } ?? nil }
            defer { cStrings.forEach { free($0) } }
            self.noteStatement(sql)
            func execute(_ name: String) -> OpaquePointer? {
                cStrings.withUnsafeBufferPointer { buffer in
                    buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { values in
                        PQexecPrepared(handle, name, Int32(texts.count), values.baseAddress, nil, nil, 0)
                    }
                }
            }
            var retried = false
            while true {
                let name = try self.preparedName(for: sql, handle: handle)
                do {
                    return try Self.rows(from: execute(name), connection: handle, server: self.serverDescription)
                } catch let error as PostgresError where error.sqlState == "26000" && !retried {
                    // Deallocated behind our back (a DEALLOCATE or DISCARD run through execute(script:)).
                    self.preparedStatements[sql] = nil
                    retried = true
                }
            }
        }
    }

    /// The name of `sql`'s prepared statement on this session, preparing it
    /// first if needed. Runs on the connection's queue.
    private func preparedName(for sql: String, handle: OpaquePointer) throws -> String {
        if let name = preparedStatements[sql] { return name }
        preparedCount += 1
        let name = "listctl_\(preparedCount)"
        _ = try Self.rows(from: PQprepare(handle, name, sql, 0, nil), connection: handle, server: serverDescription)
        preparedStatements[sql] = name
        return name
    }
}
