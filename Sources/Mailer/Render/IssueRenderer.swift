/// Renders an issue and splits it into parts that each stay under the budget
/// once encoded, template, navigation, footnotes and the longest recipient
/// fields included (DESIGN §5). The budget bounds the HTML alternative, or
/// with ``BudgetScope/message`` the whole message: headers at their longest
/// (``MessageAllowance``), MIME boundaries and both alternatives.
///
/// Deterministic: the same document, identity, template, budget and scope
/// give byte-identical parts.
public struct IssueRenderer: Sendable {
    /// The default budget: Gmail clips past about 102 KB, and link rewriting
    /// by providers adds some.
    public static let defaultBudget = 90_000

    public var identity: ListIdentity
    public var template: EmailTemplate
    /// Bytes allowed per part, of what `scope` names.
    public var budget: Int
    /// What the budget bounds: the encoded HTML alternative, or the whole message.
    public var scope: BudgetScope

    public init(
        identity: ListIdentity, template: EmailTemplate = .default, budget: Int = IssueRenderer.defaultBudget,
        scope: BudgetScope = .default
    ) {
        self.identity = identity
        self.template = template
        self.budget = budget
        self.scope = scope
    }

    /// Renders `document` into one or more parts.
    /// - Parameter viewInBrowserURL: the issue's public page, for the "view in browser" link.
    /// - Throws: `MailerError` `.blockTooLarge` naming the line of a block
    ///   that cannot be cut and does not fit; `.template` for a broken
    ///   template; `.budgetTooSmall` for a budget the template (and, with
    ///   the `message` scope, the headers) alone exceed.
    public func render(_ document: IssueDocument, viewInBrowserURL: String? = nil) throws -> RenderedIssue {
        let tree = MarkdownTree.parse(document.body)
        let subject = document.subject ?? Self.firstHeading(tree) ?? Self.stem(document.fileName)
        let frames = FrameCache(renderer: self, subject: subject, preheader: document.preheader, viewInBrowserURL: viewInBrowserURL)
        let dropped = identity.allowRawHTML ? [] : DroppedHTML.find(in: tree, document: document)

        // Blocks are cut into pieces only when over the room a part has even
        // with three-digit part numbers: the same pieces whatever the count.
        let conservative = budget - (try frames.maximumOverhead(total: 999))
        guard conservative > 0 else {
            let what = scope == .message ? "the template, the text alternative's frame, the headers and the MIME boundaries" : "the template"
            throw MailerError(
                code: .budgetTooSmall,
                message: "a budget of \(budget) bytes (\(scope.rawValue) scope) leaves no room for content after \(what) (\(budget - conservative) bytes); raise --budget (or LISTCTL_BUDGET)\(scope == .message ? ", or count the HTML alone with --budget-scope html" : "")")
        }
        let countsText = scope == .message
        var builder = UnitBuilder(
            tree: tree, allowRawHTML: identity.allowRawHTML, threshold: conservative, lineOffset: document.bodyLineOffset,
            countsText: countsText)
        builder.build()
        let notesHeadingCost = Self.encodedNotesHeading.count + (countsText ? QuotedPrintable.encodedLength(Self.notesHeadingText) : 0)
        var splitter = Splitter(
            units: builder.units, groups: builder.groups, footnotes: builder.footnotes, notesHeadingCost: notesHeadingCost)
        if countsText { splitter.overheadLabel = "the template, the text alternative's frame and the headers (--budget-scope message)" }

        // The unit costs bound a part's size exactly for HTML; for the whole
        // message the text's line joins are bounded generously, and each part
        // is measured after assembly. Should one still be over, the room
        // shrinks by the excess and the split runs again.
        var slack = 0
        for round in 0..<4 {
            let (plan, parts) = try split(
                splitter, slack: slack, subject: subject, builder: builder, frames: frames, document: document,
                viewInBrowserURL: viewInBrowserURL)
            let excess = parts.map { measured($0) - budget }.max() ?? 0
            if excess > 0 {
                if scope == .message && round < 3 {
                    slack += excess
                    continue
                }
                let part = parts.first { measured($0) > budget }!
                // The plan's sizes are upper bounds; this is a bug, not a user error.
                throw MailerError(
                    code: .invalidArgument,
                    message: "internal error: part \(part.number) is \(measured(part)) bytes (\(scope.rawValue) scope), over the budget of \(budget); please report it with the issue file",
                    file: document.fileName)
            }
            var whole: [UInt8] = []
            for unit in builder.units { whole.append(contentsOf: unit.text) }
            var issue = RenderedIssue(
                subject: subject, preheader: document.preheader, budget: budget, parts: parts,
                text: String(decoding: whole, as: UTF8.self), minimumParts: plan.minimum)
            issue.scope = scope
            issue.droppedHTML = dropped
            return issue
        }
        fatalError("unreachable: the last round returns or throws")
    }

    /// What the budget bounds of `part`.
    private func measured(_ part: RenderedPart) -> Int {
        scope == .message ? part.encodedMessageBytes : part.encodedHTMLBytes
    }

    /// Plans the cut with `slack` bytes less room per part, and assembles the parts.
    private func split(
        _ splitter: Splitter, slack: Int, subject: String, builder: UnitBuilder, frames: FrameCache, document: IssueDocument,
        viewInBrowserURL: String?
    ) throws -> (Splitter.Plan, [RenderedPart]) {
        // The room per part depends on the part count (the navigation's digits):
        // plan, then re-plan until the count and the room agree.
        var total = 1
        var plan: Splitter.Plan
        var attempts = 0
        while true {
            let room = budget - slack - (try frames.maximumOverhead(total: total))
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
        return (plan, parts)
    }

    static let notesHeadingText: [UInt8] = Array("Notes\n-----\n\n".utf8)

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
            notesText.append(contentsOf: Self.notesHeadingText)
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

        let textBytes = self.text(number: number, total: total, lead: lead, body: body, notes: notesText, viewInBrowserURL: viewInBrowserURL)
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
        let partSubject = total > 1 ? "\(subject) (\(number)/\(total))" : subject
        let encodedHTMLBytes = encodedHTML.count { worstHTML[$0.rawValue] }
        let reservedText = frames.reservedText
        var part = RenderedPart(
            number: number, total: total, subject: partSubject,
            html: html, text: textBytes, encodedHTML: encodedHTML, encodedText: encodedText,
            bodyText: String(decoding: body, as: UTF8.self), footnotes: numbers.map(Int.init),
            firstLine: range.isEmpty ? document.bodyLineOffset + 1 : units[range.lowerBound].line + document.bodyLineOffset,
            htmlBytes: decodedHTMLSize, encodedHTMLBytes: encodedHTMLBytes,
            textBytes: decodedTextSize, endsWithHeading: !range.isEmpty && units[range.upperBound - 1].isHeading,
            onlyHeadings: !range.isEmpty && units[range].allSatisfy(\.isHeading))
        part.encodedMessageBytes = frames.messageAllowance(subject: partSubject, number: number, total: total)
            + encodedText.count { reservedText[$0.rawValue] } + encodedHTMLBytes
        part.budgetScope = scope
        return part
    }

    /// The text alternative of part `number` of `total`: the navigation, the
    /// part's `lead` (a continued table's header), `body` and `notes`, then the footer.
    func text(number: Int, total: Int, lead: [UInt8], body: [UInt8], notes: [UInt8], viewInBrowserURL: String?) -> PersonalizedBytes {
        var text: [UInt8] = []
        let mark = "Part \(number) of \(total)"
        if total > 1 { text.append(contentsOf: "\(identity.name) · \(mark)\n\n".utf8) }
        text.append(contentsOf: lead)
        text.append(contentsOf: body)
        text.append(contentsOf: notes)
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
        return textBytes
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
    /// Encoded room per field in the text alternative (``MessageAllowance/reservedText(_:_:)``).
    let reservedText: [Int]
    /// ``MessageAllowance/recipientHeaders(_:)`` for the identity, measured once.
    let recipientHeaders: Int
    let worstDecodedHTML: [Int]
    let worstDecodedText: [Int]
    struct Frame {
        var prefix: PersonalizedBytes
        var suffix: PersonalizedBytes
        var encodedPrefix: EncodedPersonalizedBytes
        var encodedSuffix: EncodedPersonalizedBytes
        /// What the part costs the budget besides its units: the HTML frame,
        /// and with the `message` scope the text frame and the message allowance.
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
        reservedText = RecipientField.allCases.map { MessageAllowance.reservedText(identity, $0) }
        recipientHeaders = MessageAllowance.recipientHeaders(identity)
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
        var overhead = encodedPrefix.count { reserved[$0.rawValue] } + encodedSuffix.count { reserved[$0.rawValue] }
        if renderer.scope == .message {
            // The text of a part with no units: navigation and footer; the units' texts add to it.
            let text = renderer.text(number: part, total: total, lead: [], body: [], notes: [], viewInBrowserURL: viewInBrowserURL)
            let reservedText = self.reservedText
            overhead += text.quotedPrintable().count { reservedText[$0.rawValue] }
            overhead += messageAllowance(subject: total > 1 ? "\(subject) (\(part)/\(total))" : subject, number: part, total: total)
        }
        let value = Frame(prefix: p, suffix: s, encodedPrefix: encodedPrefix, encodedSuffix: encodedSuffix, overhead: overhead)
        frames[key] = value
        return value
    }

    func overhead(part: Int, of total: Int) throws -> Int { try frame(part: part, of: total).overhead }

    /// Headers, boundaries and DKIM signature of part `number` of `total` at their longest (``MessageAllowance``).
    func messageAllowance(subject: String, number: Int, total: Int) -> Int {
        MessageAllowance.framing(renderer.identity, subject: subject, number: number, total: total) + recipientHeaders
            + MessageAllowance.dkimSignature
    }

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
