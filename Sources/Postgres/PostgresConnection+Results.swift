import CLibPQ
import Foundation

extension PostgresConnection {
    /// Copies a result's rows out of libpq (and frees it), or throws its error.
    static func rows(from result: OpaquePointer?, connection handle: OpaquePointer, server: String) throws -> PostgresRows {
        guard let result else {
            throw PostgresError(code: .connectionFailed, message: "no result from PostgreSQL at \(server): \(errorMessage(handle))")
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY else {
            if status == PGRES_COPY_IN || status == PGRES_COPY_OUT {
                drainResults(handle)
                throw PostgresError(code: .invalidArgument, message: "COPY statements need copyFrom(_:_:)")
            }
            throw error(from: result, connection: handle, server: server)
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

    static func drainResults(_ handle: OpaquePointer) {
        while let result = PQgetResult(handle) { PQclear(result) }
    }

    static func errorMessage(_ handle: OpaquePointer) -> String {
        String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The error a failed result carries. A lost connection says which server;
    /// a statement stopped by `statement_timeout` says so and what to raise.
    static func error(from result: OpaquePointer?, connection handle: OpaquePointer, server: String) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let result, let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        if PQstatus(handle) != CONNECTION_OK {
            return PostgresError(
                code: .connectionFailed,
                message: "connection to PostgreSQL at \(server) lost: \(errorMessage(handle))", sqlState: field("C"))
        }
        var message = field("M") ?? errorMessage(handle)
        let sqlState = field("C")
        var hint = field("H")
        if sqlState == "57014", message.contains("statement timeout") {
            message += " on PostgreSQL at \(server)"
            hint = hint ?? "The statement ran longer than this session's statement_timeout; check for locks held by other sessions (pg_locks), or raise the timeout."
        }
        return PostgresError(
            code: .server, message: message, sqlState: sqlState, detail: field("D"), hint: hint,
            constraint: field("n"))
    }
}
