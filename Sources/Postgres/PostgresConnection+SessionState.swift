import Foundation

extension PostgresConnection {
    /// Whether `sql` may leave state in the session that outlives its
    /// transaction, so that the pool must reset the connection (`DISCARD ALL`)
    /// before lending it again: `SET`/`RESET` (also `SET LOCAL`: told apart
    /// by nobody here), `LISTEN`, temporary tables, `PREPARE`, cursors,
    /// `set_config`, session advisory locks, `LOAD`, a role change. Errs on
    /// the side of yes: a statement that merely mentions one of these is
    /// counted too. Statements that read and write rows (the service's hot
    /// paths) are not, and their connection goes back without the extra round trip.
    static func mayChangeSession(_ sql: String) -> Bool {
        let text = sql.uppercased()
        for marker in ["SET_CONFIG", "PG_ADVISORY_LOCK", "PG_TRY_ADVISORY_LOCK", "LISTEN", "TEMP TABLE", "TEMPORARY TABLE",
                       "TEMP VIEW", "TEMPORARY VIEW", "TEMP SEQUENCE", "TEMPORARY SEQUENCE", "SESSION AUTHORIZATION"]
        where text.contains(marker) {
            return true
        }
        // Statements that begin with a session command, at the start or after a `;`.
        for statement in text.split(separator: ";") {
            let words = statement.split(whereSeparator: { $0.isWhitespace }).prefix(2).map(String.init)
            guard let first = words.first else { continue }
            if ["SET", "RESET", "PREPARE", "DECLARE", "LOAD", "DEALLOCATE", "DISCARD"].contains(first) { return true }
            if first == "CREATE", words.count > 1, ["TEMP", "TEMPORARY"].contains(words[1]) { return true }
        }
        return false
    }

    /// Notes, on the connection's queue, that `sql` ran on this session.
    func noteStatement(_ sql: String) {
        if !sessionMayHaveChanged && Self.mayChangeSession(sql) { sessionMayHaveChanged = true }
    }
}
