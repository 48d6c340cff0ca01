public import Foundation

/// A Swift value that can be bound to a `$n` parameter. Values travel in
/// PostgreSQL's text format; `nil` means SQL NULL.
public protocol PostgresEncodable: Sendable {
    /// The text form PostgreSQL parses for this value, or `nil` for NULL.
    var postgresText: String? { get }
}

extension String: PostgresEncodable {
    public var postgresText: String? { self }
}
extension Substring: PostgresEncodable {
    public var postgresText: String? { String(self) }
}
extension Int: PostgresEncodable {
    public var postgresText: String? { String(self) }
}
extension Int64: PostgresEncodable {
    public var postgresText: String? { String(self) }
}
extension Int32: PostgresEncodable {
    public var postgresText: String? { String(self) }
}
extension Bool: PostgresEncodable {
    public var postgresText: String? { self ? "t" : "f" }
}
extension Double: PostgresEncodable {
    public var postgresText: String? {
        if isNaN { return "NaN" }
        if isInfinite { return self > 0 ? "Infinity" : "-Infinity" }
        return "\(self)"
    }
}
extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresText: String? {
        switch self {
        case .none: nil
        case .some(let value): value.postgresText
        }
    }
}

extension Date: PostgresEncodable {
    /// ISO 8601 in UTC with microseconds, which `timestamptz` parses exactly.
    public var postgresText: String? { PostgresTimestamp.format(self) }
}

/// Bytes for a `bytea` parameter or column.
extension Data: PostgresEncodable {
    public var postgresText: String? {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]("\\x".utf8)
        out.reserveCapacity(2 + count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Elements of a one-dimensional array parameter (`text[]`, `bigint[]`).
public protocol PostgresArrayElement: PostgresEncodable, PostgresDecodable {}
extension String: PostgresArrayElement {}
extension Int: PostgresArrayElement {}
extension Int64: PostgresArrayElement {}
extension Int32: PostgresArrayElement {}
extension Bool: PostgresArrayElement {}
extension Double: PostgresArrayElement {}

extension Array: PostgresEncodable where Element: PostgresArrayElement {
    public var postgresText: String? {
        var out = "{"
        for (index, element) in enumerated() {
            if index > 0 { out += "," }
            guard let text = element.postgresText else {
                out += "NULL"
                continue
            }
            out += "\""
            for character in text.unicodeScalars {
                if character == "\"" || character == "\\" { out += "\\" }
                out.unicodeScalars.append(character)
            }
            out += "\""
        }
        return out + "}"
    }
}

/// A JSON document bound as text; cast it in SQL (`$1::jsonb`).
public struct PostgresJSON: PostgresEncodable, PostgresDecodable, Hashable {
    public var text: String
    public init(text: String) { self.text = text }
    /// Encodes `value` with `JSONEncoder` (sorted keys, so the text is stable).
    public init(encoding value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        self.text = String(decoding: try encoder.encode(value), as: UTF8.self)
    }
    public var postgresText: String? { text }
    public init(postgresText: String) throws { self.text = postgresText }
    /// Decodes the document with `JSONDecoder`.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
}
