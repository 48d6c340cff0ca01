extension PostgresConnection {
    /// Holds the session-level advisory lock `key` while `body` runs; waits
    /// for it if another session holds it.
    public func withAdvisoryLock<T>(
        _ key: Int64,
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> T
    ) async throws -> T {
        try await query("SELECT pg_advisory_lock($1)", key)
        do {
            let value = try await body()
            try await query("SELECT pg_advisory_unlock($1)", key)
            return value
        } catch {
            _ = try? await query("SELECT pg_advisory_unlock($1)", key)
            throw error
        }
    }

    /// Takes the advisory lock `key` if it is free; `true` if taken.
    public func tryAdvisoryLock(_ key: Int64) async throws -> Bool {
        try await query("SELECT pg_try_advisory_lock($1)", key).first?.decode(Bool.self, at: 0) ?? false
    }
}
