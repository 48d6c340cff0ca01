extension PostgresConnection {
    /// Whether `sql` may leave state in the session that outlives its
    /// transaction, so that the pool must reset the connection (`DISCARD ALL`)
    /// before lending it again: `SET`/`RESET` (also `SET LOCAL`: told apart
    /// by nobody here), `LISTEN`, temporary tables, `PREPARE`, cursors,
    /// `set_config`, session advisory locks, `LOAD`, a role change. Errs on
    /// the side of yes: a statement that merely mentions one of these is
    /// counted too. Statements that read and write rows (the service's hot
    /// paths) are not, and their connection goes back without the extra
    /// round trip. A byte scan, no Foundation; `noteStatement` keeps its verdict per statement text.
    static func mayChangeSession(_ sql: String) -> Bool {
        var text = Array(sql.utf8)
        for index in text.indices where text[index] >= 0x61 && text[index] <= 0x7A { text[index] -= 0x20 }
        for marker in markers where text.firstRange(of: marker) != nil { return true }
        // Statements that begin with a session command, at the start or after a `;`.
        var start = 0
        while start < text.count {
            let end = text[start...].firstIndex(of: UInt8(ascii: ";")) ?? text.count
            let words = firstWords(text[start..<end])
            if let first = words.first {
                if leadingCommands.contains(first) { return true }
                if first == Array("CREATE".utf8), words.count > 1, words[1] == Array("TEMP".utf8) || words[1] == Array("TEMPORARY".utf8) {
                    return true
                }
            }
            start = end + 1
        }
        return false
    }

    private static let markers: [[UInt8]] = [
        "SET_CONFIG", "PG_ADVISORY_LOCK", "PG_TRY_ADVISORY_LOCK", "LISTEN", "TEMP TABLE", "TEMPORARY TABLE", "TEMP VIEW",
        "TEMPORARY VIEW", "TEMP SEQUENCE", "TEMPORARY SEQUENCE", "SESSION AUTHORIZATION",
    ].map { Array($0.utf8) }

    private static let leadingCommands: Set<[UInt8]> = Set(
        ["SET", "RESET", "PREPARE", "DECLARE", "LOAD", "DEALLOCATE", "DISCARD"].map { Array($0.utf8) })

    /// The first two words of a statement (letters, digits and `_`), skipping blanks and `--` comments before them.
    private static func firstWords(_ statement: ArraySlice<UInt8>) -> [[UInt8]] {
        var words: [[UInt8]] = []
        var index = statement.startIndex
        while index < statement.endIndex, words.count < 2 {
            let byte = statement[index]
            if byte == UInt8(ascii: "-"), index + 1 < statement.endIndex, statement[index + 1] == UInt8(ascii: "-") {
                while index < statement.endIndex, statement[index] != UInt8(ascii: "\n") { index += 1 }
                continue
            }
            if isWordByte(byte) {
                let start = index
                while index < statement.endIndex, isWordByte(statement[index]) { index += 1 }
                words.append(Array(statement[start..<index]))
                continue
            }
            if words.isEmpty && !(byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == UInt8(ascii: "(")) {
                return words
            }
            index += 1
        }
        return words
    }

    private static func isWordByte(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39) || byte == UInt8(ascii: "_")
    }

    /// Notes, on the connection's queue, that `sql` ran on this session. The verdict is kept per statement
    /// text: a pooled session runs the same few statements thousands of times.
    func noteStatement(_ sql: String) {
        guard !sessionMayHaveChanged else { return }
        let changes: Bool
        if let known = sessionVerdicts[sql] {
            changes = known
        } else {
            changes = Self.mayChangeSession(sql)
            if sessionVerdicts.count >= 256 { sessionVerdicts.removeAll() }
            sessionVerdicts[sql] = changes
        }
        if changes { sessionMayHaveChanged = true }
    }
}
