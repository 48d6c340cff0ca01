extension PostgresConnection {
    /// How a ``transaction(end:isolation:_:)`` ends when its body returns.
    public enum TransactionEnd: Sendable {
        /// COMMIT, and check that the server really committed.
        case commit
        /// ROLLBACK: do everything, keep nothing (a dry run).
        case rollback
    }

    /// Runs `body` inside BEGIN … COMMIT; rolls back and rethrows if it throws.
    ///
    /// A body that caught a server error and went on leaves the transaction
    /// aborted: PostgreSQL then answers COMMIT with the tag ROLLBACK and no
    /// error. That is detected (from the command tag and the transaction
    /// status) and thrown, so a rollback is never reported as success.
    ///
    /// - Parameter end: `.rollback` for a dry run: the body runs, then nothing is kept.
    /// - Throws: what `body` throws; `PostgresError` `.transactionRolledBack`
    ///   when the server rolled back instead of committing.
    public func transaction<T>(
        end: TransactionEnd = .commit,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await execute(script: "BEGIN")
        let value: T
        do {
            value = try await body(self)
        } catch {
            try? await execute(script: "ROLLBACK")
            throw error
        }
        switch end {
        case .rollback:
            try await execute(script: "ROLLBACK")
        case .commit:
            let tag = try await commandTag(of: "COMMIT")
            guard tag == "COMMIT" else {
                throw PostgresError(
                    code: .transactionRolledBack,
                    message: "the server rolled the transaction back instead of committing it (a statement in it had failed), so nothing in it was saved")
            }
        }
        return value
    }
}
