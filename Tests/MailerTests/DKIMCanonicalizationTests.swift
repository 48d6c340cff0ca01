import Foundation
@testable import Mailer
import Testing

/// The fast relaxed-body canonicaliser against a plain, obviously-right one
/// (RFC 6376 §3.4.4 read literally), on random bodies made of the awkward bytes.
@Suite("DKIM relaxed body canonicalisation")
struct DKIMCanonicalizationTests {
    static func reference(_ body: [UInt8]) -> [UInt8] {
        var lines: [[UInt8]] = body.split(separator: 10, omittingEmptySubsequences: false).map { line in
            var line = Array(line)
            if line.last == 13 { line.removeLast() }
            // Collapse whitespace runs, then strip trailing whitespace.
            var out: [UInt8] = []
            for byte in line {
                let space = byte == 32 || byte == 9
                if space { if out.last != 32 { out.append(32) } } else { out.append(byte) }
            }
            while out.last == 32 { out.removeLast() }
            return out
        }
        // A final line ending leaves an empty last "line" that is not a line.
        if body.last == 10 { lines.removeLast() }
        while lines.last?.isEmpty == true { lines.removeLast() }
        return lines.flatMap { $0 + [13, 10] }
    }

    @Test("matches the reference on 3,000 random bodies")
    func random() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [[UInt8]] = [[97], [98], [32], [9], [13, 10], [10], [13], [46], [195, 188]]
        for round in 0..<3000 {
            var body: [UInt8] = []
            for _ in 0..<Int.random(in: 0...60, using: &generator) { body += alphabet.randomElement(using: &generator)! }
            var fast: [UInt8] = []
            body.withUnsafeBufferPointer { DKIMCanonicalization.relaxedBody($0, into: &fast) }
            let expected = Self.reference(body)
            #expect(fast == expected, "round \(round): body \(body)")
            if fast != expected { break }
        }
    }

    @Test("header fields: unfolded, whitespace collapsed, name lower-cased")
    func headers() {
        let message = Array("SUBJECT :  a \t b\r\n\t c  \r\nFrom: x@y\r\n\r\nbody".utf8)
        message.withUnsafeBufferPointer { bytes in
            let (fields, bodyStart) = DKIMCanonicalization.parseHeaders(bytes)
            #expect(fields.map(\.lowercasedName) == ["subject", "from"])
            #expect(bodyStart == message.count - 4)
            var out: [UInt8] = []
            DKIMCanonicalization.appendRelaxedHeader(bytes, field: fields[0], to: &out)
            #expect(String(decoding: out, as: UTF8.self) == "subject:a b c\r\n")
        }
    }
}
