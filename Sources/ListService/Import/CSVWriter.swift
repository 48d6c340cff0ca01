import Foundation

/// Writes RFC 4180 CSV: a field is quoted when it holds a comma, quote, CR
/// or LF (or leading/trailing space), quotes doubled, CRLF line ends.
public struct CSVWriter {
    /// One CSV line (with its CRLF) for `fields`.
    public static func line(_ fields: [String]) -> String {
        fields.map(field).joined(separator: ",") + "\r\n"
    }

    /// `text` as one CSV field.
    public static func field(_ text: String) -> String {
        let needsQuotes = text.utf8.contains { $0 == 0x2C || $0 == 0x22 || $0 == 0x0D || $0 == 0x0A }
            || text.first == " " || text.last == " "
        guard needsQuotes else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
