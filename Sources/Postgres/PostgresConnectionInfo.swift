import CLibPQ
import Foundation

/// A libpq connection string or URI taken apart into its keywords, with
/// libpq's own parser (`PQconninfoParse`), so that every form libpq accepts
/// (`host=… dbname=…`, `postgresql://user@host:5432/db?sslmode=require`) is
/// read the same way libpq would read it.
public struct PostgresConnectionInfo: Sendable, Hashable {
    /// One keyword that the string sets.
    public struct Parameter: Sendable, Hashable {
        /// libpq's keyword (`host`, `port`, `dbname`, `password`, …).
        public var keyword: String
        public var value: String
        /// The environment variable libpq falls back to for this keyword (`PGHOST`), if any.
        public var environmentVariable: String?
    }

    /// The keywords the string sets, in libpq's order; unset ones are left out.
    public var parameters: [Parameter]

    /// Parses `connectionString`.
    ///
    /// - Throws: `PostgresError` `.invalidArgument` with libpq's reason (which
    ///   never repeats the string, so never a password).
    public init(parsing connectionString: String) throws {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(connectionString, &errorMessage) else {
            let reason = errorMessage.map { String(cString: $0) } ?? "out of memory"
            if let errorMessage { PQfreemem(errorMessage) }
            throw PostgresError(
                code: .invalidArgument,
                message: "the database connection string is not valid: \(reason.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        defer { PQconninfoFree(options) }
        var parameters: [Parameter] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                parameters.append(Parameter(
                    keyword: String(cString: keyword), value: String(cString: value),
                    environmentVariable: option.pointee.envvar.map { String(cString: $0) }))
            }
            option += 1
        }
        self.parameters = parameters
    }

    /// The value of `keyword`, if the string sets it.
    public subscript(keyword: String) -> String? {
        parameters.first { $0.keyword == keyword }?.value
    }

    /// The string's settings as libpq environment variables (`PGHOST`,
    /// `PGPASSWORD`, …), for running `pg_dump` or `psql` without putting a
    /// password on their command line, where `ps` shows it.
    public var environment: [String: String] {
        var environment: [String: String] = [:]
        for parameter in parameters {
            if let variable = parameter.environmentVariable { environment[variable] = parameter.value }
        }
        return environment
    }

    /// Where the server is, for messages: `127.0.0.1:5432, database listctl`
    /// or `socket /var/lib/listctl/run, database listctl`. Never the user's password.
    public var serverDescription: String {
        let host = self["host"] ?? self["hostaddr"] ?? "the default socket"
        let port = self["port"].map { ":\($0)" } ?? ""
        let place = host.hasPrefix("/") ? "socket \(host)\(port)" : "\(host)\(port)"
        if let database = self["dbname"] { return "\(place), database \(database)" }
        return place
    }
}
