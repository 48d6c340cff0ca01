import Foundation
import PropertyBased
import Testing
import TestSupport

@testable import ListService

/// Reads every record of a file, with a given chunk size (tiny chunks put
/// every boundary case — CRLF, quotes, multi-byte characters — across reads).
func readCSV(_ url: URL, encoding: CSVEncoding = .utf8, chunkSize: Int = 1 << 20) throws -> [CSVRecord] {
    var reader = try CSVReader(url: url, encoding: encoding, chunkSize: chunkSize)
    var records: [CSVRecord] = []
    while let record = try reader.next() { records.append(record) }
    return records
}

func writeTemporaryFile(_ bytes: [UInt8], name: String = "input.csv") throws -> URL {
    let url = try makeTemporaryDirectory("csv").appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url
}

/// A generator of the characters of `characters`.
func anyCharacter(_ characters: String) -> Generator<Character, Shrink.None<Character?>> {
    anyCharacter(Array(characters))
}

func anyCharacter(_ characters: [Character]) -> Generator<Character, Shrink.None<Character?>> {
    Gen<Character?>.element(of: characters).map { $0! }
}

func importFixture(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/import/\(name)")
}

@Suite("CSV reader")
struct CSVReaderTests {
    @Test("RFC 4180 quoting, CRLF, BOM, quoted line breaks, line numbers")
    func quoting() throws {
        for chunkSize in [1, 2, 3, 7, 1 << 20] {
            let records = try readCSV(importFixture("tinyletter_subscribers.csv"), chunkSize: chunkSize)
            #expect(records.count == 7, "chunk size \(chunkSize)")
            #expect(records[0].fields == ["Email", "Name", "Created_At", "Notes"])
            #expect(records[1].fields[3] == "first reader\r\nsince the start")
            #expect(records[1].line == 2)
            #expect(records[2].line == 4, "the quoted line break counts as a line")
            #expect(records[4].fields[1] == "José Müller")
            #expect(records[6].fields[1] == "Robert'); DROP TABLE subscribers;--")
        }
    }

    @Test("LF, CR and CRLF line ends; blank lines skipped; last line without a line end")
    func lineEnds() throws {
        let url = try writeTemporaryFile(Array("a,b\nc,d\r\ne,f\rg,h\n\n\"i\",\"\"\"j\"\"\"".utf8))
        for chunkSize in [1, 2, 5, 64] {
            let records = try readCSV(url, chunkSize: chunkSize)
            #expect(records.map(\.fields) == [["a", "b"], ["c", "d"], ["e", "f"], ["g", "h"], ["i", "\"j\""]])
            #expect(records.map(\.line) == [1, 2, 3, 4, 6])
        }
    }

    @Test("Empty fields and a trailing comma")
    func emptyFields() throws {
        let url = try writeTemporaryFile(Array("a,,c,\n,,,\n".utf8))
        #expect(try readCSV(url).map(\.fields) == [["a", "", "c", ""], ["", "", "", ""]])
    }

    @Test("UTF-16 with a byte order mark, either order, with a surrogate pair")
    func utf16() throws {
        for chunkSize in [1, 3, 1 << 20] {
            #expect(try readCSV(importFixture("utf16le_bom.csv"), chunkSize: chunkSize).map(\.fields) == [["Email", "Name"], ["sven@example.se", "Sven Ångström"]])
            #expect(try readCSV(importFixture("utf16be_bom.csv"), chunkSize: chunkSize).map(\.fields) == [["Email", "Name"], ["zoë@example.com", "Zoë 𝄞"]])
        }
    }

    @Test("Latin-1 only when asked; invalid UTF-8 names the line and byte")
    func encodings() throws {
        #expect(try readCSV(importFixture("latin1.csv"), encoding: .latin1)[1].fields == ["francois@example.fr", "François Lefèvre"])
        let error = #expect(throws: ImportError.self) { try readCSV(importFixture("latin1.csv")) }
        #expect(error?.code == .encoding)
        #expect(error?.message.contains("latin1.csv:2:") == true)
        #expect(error?.message.contains("byte offset 35") == true)
        #expect(error?.message.contains("--encoding latin1") == true)
        for chunkSize in [1, 2, 1 << 20] {
            let split = #expect(throws: ImportError.self) { try readCSV(importFixture("malformed_invalid_utf8.csv"), chunkSize: chunkSize) }
            #expect(split?.message.contains("malformed_invalid_utf8.csv:3:") == true)
        }
    }

    @Test("A multi-byte character split across chunks is fine; a truncated one is not")
    func splitCharacters() throws {
        let text = "e,€𝄞ü\n"
        for chunkSize in 1...6 {
            #expect(try readCSV(writeTemporaryFile(Array(text.utf8)), chunkSize: chunkSize).map(\.fields) == [["e", "€𝄞ü"]])
        }
        let truncated = try writeTemporaryFile(Array("e,€".utf8).dropLast())
        #expect(throws: ImportError.self) { try readCSV(truncated) }
    }

    @Test("Malformed files: unterminated quote, text after a quote, NUL bytes", arguments: [
        ("malformed_unterminated_quote.csv", "malformed_unterminated_quote.csv:3:", "never closed"),
        ("malformed_text_after_quote.csv", "malformed_text_after_quote.csv:2:", "after a closing quote"),
        ("malformed_nul.csv", "malformed_nul.csv:2:", "NUL byte"),
    ])
    func malformed(file: String, location: String, words: String) throws {
        let error = #expect(throws: ImportError.self) { try readCSV(importFixture(file)) }
        #expect(error?.message.contains(location) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(words) == true, "\(error?.message ?? "")")
    }

    @Test("An empty file has no records")
    func empty() throws {
        #expect(try readCSV(importFixture("malformed_empty.csv")).isEmpty)
    }

    /// Fields drawn from the characters that matter to CSV.
    static let fieldGenerator = anyCharacter("ab ,\"\r\nü€𝄞\t;'").string(of: 0...6)

    @Test("Round trip: what CSVWriter writes, CSVReader reads back, whatever the chunk size")
    func roundTrip() async throws {
        let rows = Self.fieldGenerator.array(of: 1...4).array(of: 1...5)
        await propertyCheck(count: 200, input: rows, Gen.int(in: 1...9)) { rows, chunkSize in
            // A lone empty field would be a blank line, which readers skip by design.
            let rows = rows.map { $0 == [""] ? ["", ""] : $0 }
            let text = rows.map(CSVWriter.line).joined()
            let records = try? readCSV(writeTemporaryFile(Array(text.utf8)), chunkSize: chunkSize)
            #expect(records?.map(\.fields) == rows, "\(text.debugDescription)")
        }
    }
}
