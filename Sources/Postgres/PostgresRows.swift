/// The rows a statement returned, copied out of libpq in text format.
public struct PostgresRows: Sendable, Sequence {
    /// Column names in result order.
    public let columns: [String]
    let values: [[String?]]
    /// The count from the command tag (`INSERT 0 5` → 5, `COPY 100` → 100), or 0.
    public let affectedRows: Int

    init(columns: [String], values: [[String?]], affectedRows: Int) {
        self.columns = columns
        self.values = values
        self.affectedRows = affectedRows
    }

    public var count: Int { values.count }
    public var isEmpty: Bool { values.isEmpty }
    public var first: PostgresRow? { values.isEmpty ? nil : self[0] }

    public subscript(index: Int) -> PostgresRow { PostgresRow(columns: columns, values: values[index]) }

    public func makeIterator() -> some IteratorProtocol<PostgresRow> {
        var index = 0
        return AnyIterator {
            guard index < values.count else { return nil }
            defer { index += 1 }
            return PostgresRow(columns: columns, values: values[index])
        }
    }
}

/// One result row. Decode a column by position or by name.
public struct PostgresRow: Sendable {
    public let columns: [String]
    let values: [String?]

    /// Decodes the column at `index`. Throws `.decoding` for a NULL into a
    /// non-optional type, a value of the wrong shape, or an index out of range.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, at index: Int) throws -> T {
        guard values.indices.contains(index) else {
            throw PostgresError(code: .decoding, message: "no column at index \(index); the row has \(values.count)")
        }
        guard let text = values[index] else { return try T.decodeNull() }
        do {
            return try T(postgresText: text)
        } catch var error as PostgresError {
            error.message += " (column \(columns[index]))"
            throw error
        }
    }

    /// Decodes the column named `column`.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, column: String) throws -> T {
        guard let index = columns.firstIndex(of: column) else {
            throw PostgresError(code: .decoding, message: "no column named \(column); columns: \(columns.joined(separator: ", "))")
        }
        return try decode(type, at: index)
    }

    /// `true` if the column is SQL NULL.
    public func isNull(at index: Int) -> Bool { values[index] == nil }
}
