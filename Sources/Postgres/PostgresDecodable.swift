public import Foundation

/// A Swift type that can be read from a column in PostgreSQL's text format.
public protocol PostgresDecodable: Sendable {
    /// Parses the column's text. Throws `PostgresError` with code `.decoding`.
    init(postgresText: String) throws
    /// Called for SQL NULL. The default throws; `Optional` returns `nil`.
    static func decodeNull() throws -> Self
}

extension PostgresDecodable {
    public static func decodeNull() throws -> Self {
        throw PostgresError(
            code: .decoding, message: "column is NULL but \(Self.self) is not optional")
    }
}

func decodingError(_ text: String, as type: Any.Type) -> PostgresError {
    let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
    return PostgresError(code: .decoding, message: "cannot decode \"\(shown)\" as \(type)")
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init(postgresText: String) throws { self = .some(try Wrapped(postgresText: postgresText)) }
    public static func decodeNull() throws -> Self { .none }
}

extension String: PostgresDecodable {
    public init(postgresText: String) throws { self = postgresText }
}

extension Int: PostgresDecodable {
    public init(postgresText: String) throws {
        guard let value = Int(postgresText) else { throw decodingError(postgresText, as: Int.self) }
        self = value
    }
}
extension Int64: PostgresDecodable {
    public init(postgresText: String) throws {
        guard let value = Int64(postgresText) else { throw decodingError(postgresText, as: Int64.self) }
        self = value
    }
}
extension Int32: PostgresDecodable {
    public init(postgresText: String) throws {
        guard let value = Int32(postgresText) else { throw decodingError(postgresText, as: Int32.self) }
        self = value
    }
}
extension Double: PostgresDecodable {
    public init(postgresText: String) throws {
        switch postgresText {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default:
            guard let value = Double(postgresText) else { throw decodingError(postgresText, as: Double.self) }
            self = value
        }
    }
}
extension Bool: PostgresDecodable {
    public init(postgresText: String) throws {
        switch postgresText {
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw decodingError(postgresText, as: Bool.self)
        }
    }
}
extension Date: PostgresDecodable {
    /// Parses `timestamptz` output in the ISO DateStyle the connection sets.
    public init(postgresText: String) throws {
        guard let date = PostgresTimestamp.parse(postgresText) else {
            throw decodingError(postgresText, as: Date.self)
        }
        self = date
    }
}
extension Data: PostgresDecodable {
    /// Parses `bytea` in the hex output format (`\x0a0b`).
    public init(postgresText: String) throws {
        let utf8 = Array(postgresText.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0
        else { throw decodingError(postgresText, as: Data.self) }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity((utf8.count - 2) / 2)
        var index = 2
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else {
                throw decodingError(postgresText, as: Data.self)
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        self = Data(bytes)
    }
}

extension Array: PostgresDecodable where Element: PostgresArrayElement {
    /// Parses a one-dimensional array in PostgreSQL's text output (`{a,"b c",NULL}`).
    /// NULL elements are not supported and throw.
    public init(postgresText: String) throws {
        let scalars = Array<Unicode.Scalar>(postgresText.unicodeScalars)
        guard scalars.first == "{", scalars.last == "}" else { throw decodingError(postgresText, as: Self.self) }
        var elements: [Element] = []
        var index = 1
        let end = scalars.count - 1
        if index == end {
            self = []
            return
        }
        while index <= end {
            var item = String.UnicodeScalarView()
            var quoted = false
            if scalars[index] == "\"" {
                quoted = true
                index += 1
                while index < end, scalars[index] != "\"" {
                    if scalars[index] == "\\" { index += 1 }
                    item.append(scalars[index])
                    index += 1
                }
                index += 1  // closing quote
            } else {
                while index < end, scalars[index] != "," {
                    item.append(scalars[index])
                    index += 1
                }
            }
            let text = String(item)
            if !quoted, text == "NULL" {
                throw PostgresError(code: .decoding, message: "array \(postgresText.prefix(40)) has a NULL element")
            }
            elements.append(try Element(postgresText: text))
            index += 1  // comma or closing brace
        }
        self = elements
    }
}

/// Text forms of `timestamptz`, shared by encoding and decoding.
enum PostgresTimestamp {
    static func format(_ date: Date) -> String {
        let totalMicros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        var seconds = Int(floor(totalMicros / 1_000_000))
        let micros = Int(totalMicros - Double(seconds) * 1_000_000)
        var parts = tm()
        var time = time_t(seconds)
        gmtime_r(&time, &parts)
        seconds = 0
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(micros), 6))Z"
    }

    /// `2026-11-27 11:37:05.123456+00`, `...+05:30`, or with `T`.
    static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var value = 0
            for i in from..<(from + count) {
                let d = Int(b[i]) - 48
                guard d >= 0, d <= 9 else { return nil }
                value = value * 10 + d
            }
            return value
        }
        guard b.count >= 19, let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
            let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2)
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < b.count, b[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 0.1
            while index < b.count, b[index] >= 48, b[index] <= 57 {
                fraction += Double(b[index] - 48) * scale
                scale /= 10
                index += 1
            }
        }
        var offset = 0
        if index < b.count {
            let sign = b[index] == UInt8(ascii: "-") ? -1 : 1
            if b[index] == UInt8(ascii: "Z") {
                index += 1
            } else {
                guard let hours = number(index + 1, 2) else { return nil }
                offset = hours * 3600
                index += 3
                if index < b.count, b[index] == UInt8(ascii: ":"), let minutes = number(index + 1, 2) {
                    offset += minutes * 60
                    index += 3
                }
                offset *= sign
            }
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let epoch = timegm(&parts)
        return Date(timeIntervalSince1970: Double(epoch - offset) + fraction)
    }
}
