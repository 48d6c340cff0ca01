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
        var text = text
        return text.withUTF8 { parse($0) }
    }

    /// Reads `count` digits at `index`, advancing it.
    private static func number(_ bytes: UnsafeBufferPointer<UInt8>, _ index: inout Int, _ count: Int) -> Int? {
        guard index + count <= bytes.count else { return nil }
        var value = 0
        for offset in index..<(index + count) {
            let byte = bytes[offset]
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            value = value * 10 + Int(byte &- 0x30)
        }
        index += count
        return value
    }

    private static func take(_ bytes: UnsafeBufferPointer<UInt8>, _ index: inout Int, _ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    // A loop over the bytes with no allocation but the result: this runs once per imported row.
    private static func parse(_ all: UnsafeBufferPointer<UInt8>) -> String? {
        var start = 0
        var end = all.count
        while start < end, all[start] == 0x20 || all[start] == 0x09 { start += 1 }
        while end > start, all[end - 1] == 0x20 || all[end - 1] == 0x09 { end -= 1 }
        guard end > start else { return nil }
        let bytes = UnsafeBufferPointer(rebasing: all[start..<end])
        if bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { return fromEpoch(Array(bytes)) }
        var index = 0
        guard let year = number(bytes, &index, 4), take(bytes, &index, 0x2D), let month = number(bytes, &index, 2),
            take(bytes, &index, 0x2D), let day = number(bytes, &index, 2)
        else { return nil }
        guard (1900...9999).contains(year), (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        var hour = 0, minute = 0, second = 0
        var fraction: UnsafeBufferPointer<UInt8>?
        var zone: [UInt8] = [0x2B, 0x30, 0x30]  // +00
        if index < bytes.count {
            guard take(bytes, &index, 0x54) || take(bytes, &index, 0x20) || take(bytes, &index, 0x74) else { return nil }
            guard let h = number(bytes, &index, 2), take(bytes, &index, 0x3A), let m = number(bytes, &index, 2) else { return nil }
            hour = h
            minute = m
            if take(bytes, &index, 0x3A) {
                guard let s = number(bytes, &index, 2) else { return nil }
                second = s
                if take(bytes, &index, 0x2E) || take(bytes, &index, 0x2C) {
                    let fractionStart = index
                    while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
                    guard index > fractionStart, index - fractionStart <= 9 else { return nil }
                    fraction = UnsafeBufferPointer(rebasing: bytes[fractionStart..<min(index, fractionStart + 6)])
                }
            }
            guard hour <= 23, minute <= 59, second <= 60 else { return nil }
            _ = take(bytes, &index, 0x20)
            if index < bytes.count {
                let rest = UnsafeBufferPointer(rebasing: bytes[index...])
                if rest.elementsEqual("Z".utf8) || rest.elementsEqual("z".utf8) || rest.elementsEqual("UTC".utf8) || rest.elementsEqual("GMT".utf8) {
                    // +00
                } else if let offset = parseOffset(Array(rest)) {
                    zone = Array(offset.utf8)
                } else {
                    return nil
                }
            }
        }
        var output: [UInt8] = []
        output.reserveCapacity(32)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                output.append(0x30 + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        digits(year, 4)
        output.append(0x2D)
        digits(month, 2)
        output.append(0x2D)
        digits(day, 2)
        output.append(0x20)
        digits(hour, 2)
        output.append(0x3A)
        digits(minute, 2)
        output.append(0x3A)
        digits(min(second, 59), 2)
        if let fraction {
            output.append(0x2E)
            output.append(contentsOf: fraction)
        }
        output.append(contentsOf: zone)
        return String(decoding: output, as: UTF8.self)
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
