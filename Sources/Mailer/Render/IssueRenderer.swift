/// Renders an issue and splits it into parts that each stay under the budget
/// once encoded, template, navigation, footnotes and the longest recipient
/// fields included (DESIGN §5).
///
/// Deterministic: the same document, identity, template and budget give
/// byte-identical parts.
public struct IssueRenderer: Sendable {
    /// The default budget: Gmail clips past about 102 KB, and link rewriting
    /// by providers adds some.
    public static let defaultBudget = 90_000

    public var identity: ListIdentity
    public var template: EmailTemplate
    /// Encoded HTML bytes allowed per part.
    public var budget: Int

    public init(identity: ListIdentity, template: EmailTemplate = .default, budget: Int = IssueRenderer.defaultBudget) {
        self.identity = identity
        self.template = template
        self.budget = budget
    }

    /// Renders `document` into one or more parts.
    /// - Parameter viewInBrowserURL: the issue's public page, for the "view in browser" link.
    /// - Throws: `MailerError` `.blockTooLarge` naming the line of a block
    ///   that cannot be cut and does not fit; `.template` for a broken
    ///   template; `.invalidArgument` for a budget the template alone exceeds.
    public func render(_ document: IssueDocument, viewInBrowserURL: String? = nil) throws -> RenderedIssue {
        let tree = MarkdownTree.parse(document.body)
        let subject = document.subject ?? Self.firstHeading(tree) ?? Self.stem(document.fileName)
        let frames = FrameCache(renderer: self, subject: subject, preheader: document.preheader, viewInBrowserURL: viewInBrowserURL)

        // Blocks are cut into pieces only when over the room a part has even
        // with three-digit part numbers: the same pieces whatever the count.
        let conservative = budget - (try frames.maximumOverhead(total: 999))
        guard conservative > 0 else {
            throw MailerError(
                code: .invalidArgument,
                message: "a budget of \(budget) bytes leaves no room for content after the template (\(budget - conservative) bytes); raise --budget")
        }
        var builder = UnitBuilder(
            tree: tree, allowRawHTML: identity.allowRawHTML, threshold: conservative, lineOffset: document.bodyLineOffset)
        builder.build()
        let notesHeadingCost = Self.encodedNotesHeading.count
        let splitter = Splitter(
            units: builder.units, groups: builder.groups, footnotes: builder.footnotes, notesHeadingCost: notesHeadingCost)

        // The room per part depends on the part count (the navigation's digits):
        // plan, then re-plan until the count and the room agree.
        var total = 1
        var plan: Splitter.Plan
        var attempts = 0
        while true {
            let room = budget - (try frames.maximumOverhead(total: total))
            if total == 1 {
                if let single = try? splitter.plan(capacity: room, fileName: document.fileName, lineOffset: document.bodyLineOffset),
                    single.ranges.count == 1
                {
                    plan = single
                    break
                }
                total = 2
                continue
            }
            plan = try splitter.plan(capacity: room, fileName: document.fileName, lineOffset: document.bodyLineOffset)
            attempts += 1
            if plan.ranges.count <= total || attempts > 8 {
                if plan.ranges.count == total || attempts > 8 { break }
                // Fewer parts than assumed: the room can only grow, so re-plan at that count.
                let smaller = plan.ranges.count
                if try frames.maximumOverhead(total: smaller) == (try frames.maximumOverhead(total: total)) { break }
                total = smaller
                continue
            }
            total = plan.ranges.count
        }

        let count = plan.ranges.count
        var parts: [RenderedPart] = []
        parts.reserveCapacity(count)
        for (index, range) in plan.ranges.enumerated() {
            parts.append(
                try assemble(
                    range: range, number: index + 1, total: count, subject: subject, builder: builder, frames: frames,
                    document: document, viewInBrowserURL: viewInBrowserURL))
        }
        var whole: [UInt8] = []
        for unit in builder.units { whole.append(contentsOf: unit.text) }
        for part in parts where part.encodedHTMLBytes > budget {
            // The plan's sizes are exact upper bounds; this is a bug, not a user error.
            throw MailerError(
                code: .invalidArgument,
                message: "internal error: part \(part.number) is \(part.encodedHTMLBytes) bytes, over the budget of \(budget); please report it with the issue file",
                file: document.fileName)
        }
        return RenderedIssue(
            subject: subject, preheader: document.preheader, budget: budget, parts: parts,
            text: String(decoding: whole, as: UTF8.self), minimumParts: plan.minimum)
    }

    static let encodedNotesHeading = QuotedPrintable.encoded(notesHeadingHTML)

    static let notesHeadingHTML: [UInt8] = Array(
        (#"<hr style="\#(HTMLRenderer.Style.rule)" />"# + "\n"
            + #"<p style="margin:0 0 10px 0;font-size:14px;font-weight:bold;color:#555555;">Notes</p>"# + "\n").utf8)

    /// `issue-12` for `drafts/issue-12.md`: a subject of last resort.
    static func stem(_ path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
        return String(name[..<dot])
    }

    private static func firstHeading(_ tree: MarkdownTree) -> String? {
        guard let heading = tree.nodes.firstIndex(where: { $0.kind == .heading }) else { return nil }
        var text: [UInt8] = []
        var i = heading + 1
        let end = tree.nodes[heading].nextSibling >= 0 ? Int(tree.nodes[heading].nextSibling) : tree.nodes.count
        while i < end && i < tree.nodes.count {
            if tree.nodes[i].kind == .text || tree.nodes[i].kind == .code { text.append(contentsOf: tree.text(Int32(i))) }
            if tree.nodes[i].kind == .softBreak { text.append(32) }
            i += 1
        }
        let string = String(decoding: text, as: UTF8.self)
        return string.isEmpty ? nil : string
    }

    private func assemble(
        range: Range<Int>, number: Int, total: Int, subject: String, builder: UnitBuilder, frames: FrameCache,
        document: IssueDocument, viewInBrowserURL: String?
    ) throws -> RenderedPart {
        let units = builder.units
        // Decoded and encoded side by side, as segments that share the units'
        // arrays: the blocks were rendered and encoded once, and are not even
        // copied here.
        var content: [PersonalizedBytes.Segment] = []
        var encoded: [EncodedPersonalizedBytes.Segment] = []
        content.reserveCapacity(range.count + 16)
        encoded.reserveCapacity(range.count + 16)
        func add(_ html: [UInt8], _ encodedHTML: [UInt8]) {
            guard !html.isEmpty else { return }
            content.append(.bytes(html))
            encoded.append(.bytes(encodedHTML))
        }
        var body: [UInt8] = []
        var lead: [UInt8] = []
        var notes = Set<Int32>()
        for i in range {
            let unit = units[i]
            let opens = unit.group >= 0 && (i == range.lowerBound || units[i - 1].group != unit.group)
            if opens { add(unit.openHTML, unit.encodedOpen) }
            if i == range.lowerBound && opens { lead = unit.leadText }
            add(unit.html, unit.encodedHTML)
            if unit.group >= 0 && (i == range.upperBound - 1 || units[i + 1].group != unit.group) {
                let group = builder.groups[Int(unit.group)]
                add(group.closeHTML, group.encodedClose)
            }
            body.append(contentsOf: unit.text)
            if !unit.footnotes.isEmpty { notes.formUnion(unit.footnotes) }
        }
        let numbers = notes.sorted()
        var notesText: [UInt8] = []
        if !numbers.isEmpty {
            add(Self.notesHeadingHTML, Self.encodedNotesHeading)
            notesText.append(contentsOf: "Notes\n-----\n\n".utf8)
            for n in numbers {
                let footnote = builder.footnotes[Int(n) - 1]
                add(footnote.html, footnote.encodedHTML)
                notesText.append(contentsOf: footnote.text)
                notesText.append(10)
            }
        }

        let frame = try frames.frame(part: total > 1 ? number : 1, of: total)
        let html = PersonalizedBytes(segments: frame.prefix.segments + content + frame.suffix.segments)
        // The prefix ends a line and every block ends one, so the encodings simply follow each other.
        let encodedHTML = EncodedPersonalizedBytes(segments: frame.encodedPrefix.segments + encoded + frame.encodedSuffix.segments)

        var text: [UInt8] = []
        let mark = "Part \(number) of \(total)"
        if total > 1 { text.append(contentsOf: "\(identity.name) · \(mark)\n\n".utf8) }
        text.append(contentsOf: lead)
        text.append(contentsOf: body)
        text.append(contentsOf: notesText)
        if total > 1 {
            text.append(contentsOf: (mark + (number < total ? " · continued in the next email" : "") + "\n\n").utf8)
        }
        var footer = "-- \n\(identity.name)\n"
        if !identity.postalAddress.isEmpty { footer += identity.postalAddress + "\n" }
        footer += "You receive this because \(RecipientField.email.token) subscribed.\n"
        footer += "Unsubscribe: \(RecipientField.unsubscribeURL.token)\n"
        footer += "Preferences: \(RecipientField.preferencesURL.token)\n"
        if let viewInBrowserURL { footer += "View in browser: \(viewInBrowserURL)\n" }
        // The footer's tokens are the only ones in the text: scan just that.
        let textBytes = PersonalizedBytes(
            segments: Self.merge([.bytes(text)] + PersonalizedBytes(scanning: Array(footer.utf8)).segments))
        let encodedText = textBytes.quotedPrintable()

        let worstHTML = frames.reservedHTML
        let decodedHTMLSize = html.segments.reduce(0) {
            switch $1 {
            case .bytes(let b): return $0 + b.count
            case .field(let f): return $0 + frames.worstDecodedHTML[f.rawValue]
            }
        }
        let decodedTextSize = textBytes.segments.reduce(0) {
            switch $1 {
            case .bytes(let b): return $0 + b.count
            case .field(let f): return $0 + frames.worstDecodedText[f.rawValue]
            }
        }
        return RenderedPart(
            number: number, total: total, subject: total > 1 ? "\(subject) (\(number)/\(total))" : subject,
            html: html, text: textBytes, encodedHTML: encodedHTML, encodedText: encodedText,
            bodyText: String(decoding: body, as: UTF8.self), footnotes: numbers.map(Int.init),
            firstLine: range.isEmpty ? document.bodyLineOffset + 1 : units[range.lowerBound].line + document.bodyLineOffset,
            htmlBytes: decodedHTMLSize, encodedHTMLBytes: encodedHTML.count { worstHTML[$0.rawValue] },
            textBytes: decodedTextSize, endsWithHeading: !range.isEmpty && units[range.upperBound - 1].isHeading,
            onlyHeadings: !range.isEmpty && units[range].allSatisfy(\.isHeading))
    }

    static func merge(_ segments: [PersonalizedBytes.Segment]) -> [PersonalizedBytes.Segment] {
        var out: [PersonalizedBytes.Segment] = []
        for segment in segments {
            if case .bytes(let next) = segment {
                if next.isEmpty { continue }
                if case .bytes(let previous)? = out.last {
                    out[out.count - 1] = .bytes(previous + next)
                    continue
                }
            }
            out.append(segment)
        }
        return out
    }
}

/// Template frames per (part, total), rendered once each, with their encoded
/// sizes at the longest recipient fields.
final class FrameCache: @unchecked Sendable {
    // Used from one thread during one render; a class so lookups can fill it.
    let renderer: IssueRenderer
    let subject: String
    let preheader: String?
    let viewInBrowserURL: String?
    let reservedHTML: [Int]
    let reservedText: [Int]
    let worstDecodedHTML: [Int]
    let worstDecodedText: [Int]
    struct Frame {
        var prefix: PersonalizedBytes
        var suffix: PersonalizedBytes
        var encodedPrefix: EncodedPersonalizedBytes
        var encodedSuffix: EncodedPersonalizedBytes
        var overhead: Int
    }
    private var frames: [Int: Frame] = [:]

    init(renderer: IssueRenderer, subject: String, preheader: String?, viewInBrowserURL: String?) {
        self.renderer = renderer
        self.subject = subject
        self.preheader = preheader
        self.viewInBrowserURL = viewInBrowserURL
        let identity = renderer.identity
        reservedHTML = RecipientField.allCases.map {
            EncodedPersonalizedBytes.encodeValue(identity.worstCase($0), html: true).count
        }
        reservedText = RecipientField.allCases.map {
            EncodedPersonalizedBytes.encodeValue(identity.worstCase($0), html: false).count
        }
        worstDecodedHTML = RecipientField.allCases.map { HTMLEscaping.escape(identity.worstCase($0)).utf8.count }
        worstDecodedText = RecipientField.allCases.map { identity.worstCase($0).utf8.count }
    }

    func frame(part: Int, of total: Int) throws -> Frame {
        let key = part << 32 | total
        if let cached = frames[key] { return cached }
        let identity = renderer.identity
        let (prefix, suffix) = try renderer.template.frame(
            EmailTemplate.FrameContext(
                subject: total > 1 ? "\(subject) (\(part)/\(total))" : subject, preheader: preheader,
                listName: identity.name, postalAddress: identity.postalAddress, viewInBrowserURL: viewInBrowserURL,
                partNumber: part, partTotal: total))
        let p = PersonalizedBytes(scanning: prefix)
        let s = PersonalizedBytes(scanning: suffix)
        let reserved = reservedHTML
        let encodedPrefix = p.quotedPrintable()
        let encodedSuffix = s.quotedPrintable()
        let overhead = encodedPrefix.count { reserved[$0.rawValue] } + encodedSuffix.count { reserved[$0.rawValue] }
        let value = Frame(prefix: p, suffix: s, encodedPrefix: encodedPrefix, encodedSuffix: encodedSuffix, overhead: overhead)
        frames[key] = value
        return value
    }

    func overhead(part: Int, of total: Int) throws -> Int { try frame(part: part, of: total).overhead }

    /// The largest overhead over the parts of a `total`-part issue.
    func maximumOverhead(total: Int) throws -> Int {
        if let cached = maxima[total] { return cached }
        // The built-in template varies only with the digits of k and with
        // whether a next part follows, which parts 1, n-1 and n cover; a
        // user's template may do more, so small counts are checked in full.
        let parts = total <= 64 ? Array(1...total) : [1, 2, total - 1, total]
        var result = 0
        for part in parts { result = max(result, try overhead(part: part, of: total)) }
        maxima[total] = result
        return result
    }
    private var maxima: [Int: Int] = [:]
}
