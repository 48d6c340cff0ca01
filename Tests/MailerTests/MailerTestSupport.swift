import Foundation
import Testing

@testable import Mailer

/// Fixtures and tools shared by the rendering, splitting and MIME tests.
enum MailerFixtures {
    static let identity = ListIdentity(
        name: "The Long Letter", slug: "long-letter", fromName: "Ada Lovelace", fromAddress: "letters@example.org",
        replyTo: "ada@example.org", baseURL: "https://letters.example.org", postalAddress: "1 Harbour Road, 3011 Rotterdam")

    static let recipient = Recipient(
        email: "reader@example.net", name: "Zoë Müller-Ørsted", subscriberID: "42",
        unsubscribeURL: "https://letters.example.org/unsubscribe/tok_42-abcdef")

    /// 2026-11-27 12:00:00 UTC: goldens must not depend on the clock.
    static let date = Date(timeIntervalSince1970: 1_795_780_800)

    static var goldenDirectory: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden") }

    static func golden(_ name: String) -> URL { goldenDirectory.appendingPathComponent(name) }

    static func tool(_ name: String) -> String { goldenDirectory.appendingPathComponent("tools").appendingPathComponent(name).path }

    /// Compares `actual` with the golden file `name`; with
    /// LISTCTL_UPDATE_GOLDEN=1 in the environment, rewrites the file instead.
    static func expectGolden(_ actual: [UInt8], _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = golden(name)
        if ProcessInfo.processInfo.environment["LISTCTL_UPDATE_GOLDEN"] == "1" {
            try Data(actual).write(to: url)
            return
        }
        guard let expected = FileManager.default.contents(atPath: url.path) else {
            Issue.record("golden file \(name) is missing; run LISTCTL_UPDATE_GOLDEN=1 swift test --filter MailerTests", sourceLocation: sourceLocation)
            return
        }
        if Array(expected) != actual {
            let a = String(decoding: actual, as: UTF8.self).components(separatedBy: "\n")
            let e = String(decoding: expected, as: UTF8.self).components(separatedBy: "\n")
            let line = zip(a, e).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset ?? min(a.count, e.count)
            Issue.record(
                """
                \(name) differs from the golden file at line \(line + 1):
                  expected: \(line < e.count ? e[line] : "<end>")
                  actual:   \(line < a.count ? a[line] : "<end>")
                If the change is intended: LISTCTL_UPDATE_GOLDEN=1 swift test --filter MailerTests, then review the diff.
                """, sourceLocation: sourceLocation)
        }
    }

    static func scratch(_ prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("listctl-\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Runs `python3` with arguments; returns exit status and stdout+stderr.
    static func python(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try TransportTestSupport.run(["python3"] + arguments)
    }

    /// Runs the Python checker Golden/tools/`script` on `documents`, each written to a file of its own.
    static func check(_ documents: [String], with script: String) throws -> (status: Int32, output: String) {
        let folder = try scratch("html")
        defer { try? FileManager.default.removeItem(at: folder) }
        var paths: [String] = []
        for (index, document) in documents.enumerated() {
            let url = folder.appendingPathComponent("document-\(index + 1).html")
            try Data(document.utf8).write(to: url)
            paths.append(url.path)
        }
        return try python([tool(script)] + paths)
    }

    /// Checks every HTML document with the strict parser in Golden/tools/check_html.py.
    static func expectValidHTML(_ documents: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        guard !documents.isEmpty else { return }
        let result = try check(documents, with: "check_html.py")
        #expect(result.status == 0, "HTML check failed:\n\(result.output)", sourceLocation: sourceLocation)
    }

    static func render(_ markdown: String, budget: Int = IssueRenderer.defaultBudget, identity: ListIdentity = identity) throws -> RenderedIssue {
        let document = try IssueDocument.parse(markdown: markdown, fileName: "test.md")
        return try IssueRenderer(identity: identity, budget: budget).render(document, viewInBrowserURL: "https://letters.example.org/issues/test")
    }

    /// The invariants of DESIGN §5 for `issue`, cut at `budget`.
    static func expectSplitInvariants(_ issue: RenderedIssue, markdown: String, budget: Int, identity: ListIdentity = identity, sourceLocation: SourceLocation = #_sourceLocation) throws {
        // Every part within budget, none empty.
        for part in issue.parts {
            #expect(part.encodedHTMLBytes <= budget, "part \(part.number) is \(part.encodedHTMLBytes) > \(budget)", sourceLocation: sourceLocation)
            #expect(!part.bodyText.isEmpty || issue.parts.count == 1, "part \(part.number) is empty", sourceLocation: sourceLocation)
            #expect(part.total == issue.parts.count, sourceLocation: sourceLocation)
            if part.number < part.total {
                // Only a run of headings that cannot go with what follows may end a part.
                #expect(!part.endsWithHeading || part.onlyHeadings, "part \(part.number) ends with a heading", sourceLocation: sourceLocation)
            }
        }
        // The parts' text concatenates to the whole issue's text, as rendered uncut.
        let whole = try render(markdown, budget: 1 << 40, identity: identity)
        #expect(whole.parts.count == 1, sourceLocation: sourceLocation)
        let joined = issue.parts.map(\.bodyText).joined()
        if joined != whole.text {
            let a = Array(joined.utf8), b = Array(whole.text.utf8)
            let at = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset ?? min(a.count, b.count)
            Issue.record("concatenated part text differs from the whole text at byte \(at) (of \(a.count) vs \(b.count)): …\(String(decoding: a[max(0, at - 40)..<min(a.count, at + 40)], as: UTF8.self).debugDescription) vs …\(String(decoding: b[max(0, at - 40)..<min(b.count, at + 40)], as: UTF8.self).debugDescription)", sourceLocation: sourceLocation)
        }
        #expect(issue.parts.count <= issue.minimumParts + 1, sourceLocation: sourceLocation)
        // Footnotes present where cited, with their numbers.
        for part in issue.parts {
            let html = part.html.filled { Array(HTMLEscaping.escape(recipient.value(of: $0)).utf8) }
            let cited = numbers(after: Array("href=\"#fn-".utf8), in: html)
            let carried = numbers(after: Array("id=\"fn-".utf8), in: html)
            #expect(cited.isSubset(of: carried), "part \(part.number) cites footnotes \(cited.subtracting(carried).sorted()) without carrying them", sourceLocation: sourceLocation)
            if part.total > 1 {
                #expect(occurrences(of: Array("Part \(part.number) of \(part.total)".utf8), in: html).count == 2, "part \(part.number) lacks its navigation", sourceLocation: sourceLocation)
                #expect(part.subject.hasSuffix(" (\(part.number)/\(part.total))"), sourceLocation: sourceLocation)
            }
        }
    }

    /// Offsets just after each occurrence of `needle`.
    static func occurrences(of needle: [UInt8], in haystack: [UInt8]) -> [Int] {
        var result: [Int] = []
        guard let first = needle.first, haystack.count >= needle.count else { return result }
        let last = haystack.count - needle.count
        haystack.withUnsafeBufferPointer { h in
            needle.withUnsafeBufferPointer { n in
                var i = 0
                while i <= last {
                    if h[i] == first {
                        var j = 1
                        while j < n.count && h[i + j] == n[j] { j += 1 }
                        if j == n.count { result.append(i + n.count) }
                    }
                    i += 1
                }
            }
        }
        return result
    }

    /// The decimal numbers that follow each occurrence of `prefix`.
    static func numbers(after prefix: [UInt8], in haystack: [UInt8]) -> Set<Int> {
        var result = Set<Int>()
        for start in occurrences(of: prefix, in: haystack) {
            var value = 0
            var i = start
            while i < haystack.count, haystack[i] >= 48, haystack[i] <= 57 {
                value = value * 10 + Int(haystack[i] - 48)
                i += 1
            }
            if i > start { result.insert(value) }
        }
        return result
    }

    /// Parses a message with Python's email package (Golden/tools/parse_mime.py).
    static func parseMIME(_ data: [UInt8]) throws -> [String: Any] {
        let folder = try scratch("mime")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("message.eml")
        try Data(data).write(to: url)
        let result = try python([tool("parse_mime.py"), url.path])
        guard result.status == 0,
            let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        else {
            Issue.record("parse_mime.py failed: \(result.output)")
            return [:]
        }
        return object
    }
}
