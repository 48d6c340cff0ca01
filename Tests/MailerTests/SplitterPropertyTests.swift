import Foundation
import PropertyBased
import Testing

@testable import Mailer

/// Generates Markdown issues from a seed: headings, paragraphs with
/// footnotes, lists, tables, code, quotes, rules, some blocks big enough to
/// be cut inside, and non-ASCII text.
struct IssueGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        // SplitMix64: deterministic and good enough for test data.
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }

    static let words = ["harbour", "crane", "ship", "quay", "pilot", "tanker", "dawn", "north", "grey", "water", "Straße", "café", "naïve", "€uro", "tide", "rope", "a&b", "<tag>", "x=y"]

    mutating func sentence() -> String {
        var words: [String] = []
        for _ in 0..<int(3...14) { words.append(Self.words[int(0...(Self.words.count - 1))]) }
        var s = words.joined(separator: " ")
        s = s.prefix(1).uppercased() + s.dropFirst()
        if int(0...6) == 0 { s += " *stressed*" }
        if int(0...8) == 0 { s += " [a link](https://example.org/\(int(1...999)))" }
        return s + [".", "!", "?"][int(0...2)]
    }

    mutating func document(maxBlocks: Int) -> String {
        var out = ""
        var footnotes: [String] = []
        var headingsInARow = 0
        for _ in 0..<int(1...maxBlocks) {
            var kind = int(0...23)
            if headingsInARow >= 2 && kind < 3 { kind = 5 }
            switch kind {
            case 0...2:
                headingsInARow += 1
                out += String(repeating: "#", count: int(1...3)) + " " + sentence().dropLast() + "\n\n"
                continue
            case 3...9:
                var paragraph = (0..<int(1...6)).map { _ in sentence() }.joined(separator: " ")
                if int(0...3) == 0 {
                    if footnotes.isEmpty || int(0...2) == 0 {
                        footnotes.append("n\(footnotes.count + 1)")
                    }
                    paragraph += "[^\(footnotes[int(0...(footnotes.count - 1))])]"
                }
                out += paragraph + "\n\n"
            case 10, 11:
                let ordered = int(0...1) == 0
                for i in 1...int(2...12) { out += (ordered ? "\(i). " : "- ") + sentence() + "\n" }
                out += "\n"
            case 12:
                out += "| Port | Ships | Note |\n|:--|--:|:-:|\n"
                for _ in 0..<int(1...25) { out += "| \(Self.words[int(0...9)]) | \(int(1...9999)) | \(sentence()) |\n" }
                out += "\n"
            case 13:
                out += "```\n"
                for i in 0..<int(1...30) { out += "let value\(i) = \"\(sentence())\" // <\(i)>\n" }
                out += "```\n\n"
            case 14:
                for _ in 0..<int(1...4) { out += "> " + sentence() + "\n>\n" }
                out += "> The end.\n\n"
            case 15:
                out += "* * *\n\n"
            case 16:
                // A paragraph that may be over a small budget on its own.
                out += (0..<int(20...100)).map { _ in sentence() }.joined(separator: " ") + "\n\n"
            case 17:
                for _ in 1...int(20...80) { out += "- " + sentence() + "\n" }
                out += "\n"
            case 18:
                out += "```\n"
                for i in 0..<int(40...150) { out += "line \(i): \(sentence())\n" }
                out += "```\n\n"
            case 19:
                out += "| A | B |\n|---|---|\n"
                for _ in 0..<int(20...80) { out += "| \(sentence()) | \(int(1...99)) |\n" }
                out += "\n"
            default:
                out += sentence() + "\n\n"
            }
            headingsInARow = 0
        }
        for (index, label) in footnotes.enumerated() {
            // Some footnotes cite the one before: footnotes of footnotes travel too.
            out += "[^\(label)]: \(sentence())\(index > 0 && int(0...3) == 0 ? " See [^\(footnotes[index - 1])]." : "")\n"
        }
        return out
    }
}

@Suite("Splitting invariants")
struct SplitterPropertyTests {
    @Test("on generated issues: within budget, text preserved, none empty, within one of the minimum, footnotes where cited")
    func invariants() async throws {
        await propertyCheck(count: 2000, input: Gen<UInt64>.value(), Gen.int(in: 9_000...40_000)) { seed, budget in
            var generator = IssueGenerator(state: seed)
            let markdown = generator.document(maxBlocks: 12)
            let issue = try MailerFixtures.render(markdown, budget: budget)
            try MailerFixtures.expectSplitInvariants(issue, markdown: markdown, budget: budget)
            try Self.expectNearMinimum(markdown: markdown, budget: budget, issue: issue)
        }
    }

    @Test("every part of generated issues is well-formed HTML")
    func wellFormed() async throws {
        var documents: [String] = []
        for seed in UInt64(1)...40 {
            var generator = IssueGenerator(state: seed &* 7919)
            let markdown = generator.document(maxBlocks: 40)
            let issue = try MailerFixtures.render(markdown, budget: 15_000)
            documents += issue.parts.map { $0.html(for: MailerFixtures.recipient) }
        }
        #expect(documents.count > 80)
        try MailerFixtures.expectValidHTML(documents)
    }

    /// An independent minimum: a dynamic programme over every allowed cut
    /// (not the splitter's greedy reach), with the same units and sizes.
    static func expectNearMinimum(markdown: String, budget: Int, issue: RenderedIssue) throws {
        let document = try IssueDocument.parse(markdown: markdown, fileName: "test.md")
        let renderer = IssueRenderer(identity: MailerFixtures.identity, budget: budget)
        let frames = FrameCache(renderer: renderer, subject: issue.subject, preheader: nil, viewInBrowserURL: "https://letters.example.org/issues/test")
        let tree = MarkdownTree.parse(document.body)
        var builder = UnitBuilder(tree: tree, allowRawHTML: false, threshold: budget - (try frames.maximumOverhead(total: 999)), lineOffset: 0)
        builder.build()
        let splitter = Splitter(units: builder.units, groups: builder.groups, footnotes: builder.footnotes, notesHeadingCost: QuotedPrintable.encodedLength(IssueRenderer.notesHeadingHTML))
        let units = builder.units
        let m = units.count
        guard m > 0, issue.parts.count > 1 else { return }
        let room = budget - (try frames.maximumOverhead(total: issue.parts.count))
        var best = [Int](repeating: .max, count: m + 1)
        best[0] = 0
        for i in 0..<m where best[i] != .max {
            // Every end j the part starting at i can reach, adding each shared resource once.
            var seen = Set<Int32>()
            var size = 0
            var ends: [Int] = []
            for j in (i + 1)...m {
                size += units[j - 1].encodedSize
                for r in splitter.resources[j - 1] where seen.insert(r).inserted { size += splitter.resourceCost[Int(r)] }
                if size > room { break }
                ends.append(j)
            }
            // A part may end with a heading only when it cannot end anywhere else.
            let allowed = ends.filter { $0 == m || !units[$0 - 1].isHeading }
            for j in allowed.isEmpty ? ends : allowed { best[j] = min(best[j], best[i] + 1) }
        }
        #expect(best[m] != .max)
        guard best[m] != .max else { return }
        #expect(issue.parts.count <= best[m] + 1, "\(issue.parts.count) parts; the minimum is \(best[m])")
        #expect(issue.minimumParts <= best[m])
    }
}
