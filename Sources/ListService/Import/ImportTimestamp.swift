/// Reads the date formats that exports use and writes them in the one form
/// PostgreSQL's `timestamptz` input reads back exactly.
///
/// Checked here, not left to the server: a date the server refuses would
/// abort the COPY with no line number. A text that is not a date is kept in
/// the subscriber's attributes instead (nothing is lost).
enum ImportTimestamp {
    /// `2019-03-04 12:34:56+00` from `2019-03-04T12:34:56Z`, `2019-03-04 12:34:56`,
    /// `2019-03-04 12:34:56 UTC`, `2019-03-04 12:34:56 +0100`, `2019-03-04`,
    /// Unix seconds or milliseconds; `nil` for anything else. Times without a
    /// zone are UTC (Mailchimp, TinyLetter and Substack write UTC).
    static func normalize(_ text: String) -> String? {
        var bytes = Array(text.utf8)
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes.removeLast() }
        while let first = bytes.first, first == 0x20 || first == 0x09 { bytes.removeFirst() }
        guard !bytes.isEmpty else { return nil }
        if bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { return fromEpoch(bytes) }
        var index = 0
        func number(_ digits: Int) -> Int? {
            guard index + digits <= bytes.count else { return nil }
            var value = 0
            for offset in 0..<digits {
                let byte = bytes[index + offset]
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            index += digits
            return value
        }
        func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }
        guard let year = number(4), take(0x2D), let month = number(2), take(0x2D), let day = number(2) else { return nil }
        guard (1900...9999).contains(year), (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        var hour = 0, minute = 0, second = 0
        var fraction = ""
        var zone = "+00"
        if index < bytes.count {
            guard take(0x54) || take(0x20) || take(0x74) else { return nil }
            guard let h = number(2), take(0x3A), let m = number(2) else { return nil }
            hour = h
            minute = m
            if take(0x3A) {
                guard let s = number(2) else { return nil }
                second = s
                if take(0x2E) || take(0x2C) {
                    let start = index
                    while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
                    guard index > start, index - start <= 9 else { return nil }
                    fraction = "." + String(decoding: bytes[start..<min(index, start + 6)], as: UTF8.self)
                }
            }
            guard hour <= 23, minute <= 59, second <= 60 else { return nil }
            _ = take(0x20)
            if index < bytes.count {
                let rest = String(decoding: bytes[index...], as: UTF8.self)
                if rest == "Z" || rest == "z" || rest == "UTC" || rest == "GMT" {
                    zone = "+00"
                } else if let offset = parseOffset(Array(bytes[index...])) {
                    zone = offset
                } else {
                    return nil
                }
            }
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) \(pad(hour, 2)):\(pad(minute, 2)):\(pad(min(second, 59), 2))\(fraction)\(zone)"
    }

    private static func parseOffset(_ bytes: [UInt8]) -> String? {
        guard let sign = bytes.first, sign == 0x2B || sign == 0x2D else { return nil }
        let digits = bytes.dropFirst().filter { $0 != 0x3A }
        guard digits.count == 2 || digits.count == 4, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            bytes.count - 1 - digits.count <= 1
        else { return nil }
        let values = digits.map { Int($0 - 0x30) }
        let hours = values[0] * 10 + values[1]
        let minutes = values.count == 4 ? values[2] * 10 + values[3] : 0
        guard hours <= 15, minutes <= 59 else { return nil }
        return (sign == 0x2B ? "+" : "-") + pad(hours, 2) + ":" + pad(minutes, 2)
    }

    private static func fromEpoch(_ bytes: [UInt8]) -> String? {
        guard bytes.count == 9 || bytes.count == 10 || bytes.count == 13, let value = Int(String(decoding: bytes, as: UTF8.self)) else { return nil }
        let seconds = bytes.count == 13 ? value / 1000 : value
        var days = seconds / 86_400
        let remainder = seconds % 86_400
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        days += 719_468
        let era = days / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) \(pad(remainder / 3600, 2)):\(pad(remainder % 3600 / 60, 2)):\(pad(remainder % 60, 2))+00"
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
