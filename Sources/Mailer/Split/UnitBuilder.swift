/// Turns a parsed document into `ContentUnit`s: one per top-level block,
/// except that a block over `threshold` (encoded bytes) is cut into pieces
/// where DESIGN §5 allows: a list between items, a table between rows (the
/// header repeats), a code block between lines, a quote between its blocks,
/// a paragraph between sentences (between words for a sentence that alone
/// is too long). With `countsText`, each unit also carries what its text
/// costs the text alternative (``BudgetScope/message``).
struct UnitBuilder {
    let tree: MarkdownTree
    let html: HTMLRenderer
    let text: TextRenderer
    let threshold: Int
    /// For line numbers in messages.
    let lineOffset: Int
    /// Whether units cost their encoded text as well as their encoded HTML.
    let countsText: Bool

    var units: [ContentUnit] = []
    var groups: [UnitGroup] = []
    var footnotes: [FootnoteEntry] = []
    /// For each footnote number (index number-1), itself plus every footnote it cites, transitively.
    var footnoteClosure: [[Int32]] = []

    init(tree: MarkdownTree, allowRawHTML: Bool, threshold: Int, lineOffset: Int, countsText: Bool = false) {
        self.countsText = countsText
        self.tree = tree
        self.html = HTMLRenderer(tree: tree, allowRawHTML: allowRawHTML)
        self.text = TextRenderer(tree: tree)
        self.threshold = threshold
        self.lineOffset = lineOffset
    }

    /// Index one past the subtree rooted at `index` (nodes are in document order).
    private func subtreeEnd(_ index: Int32) -> Int32 {
        var node = index
        while node >= 0 {
            let next = tree.nodes[Int(node)].nextSibling
            if next >= 0 { return next }
            node = tree.nodes[Int(node)].parent
        }
        return Int32(tree.nodes.count)
    }

    private func references(in index: Int32) -> [Int32] {
        var numbers: [Int32] = []
        var i = index
        let end = subtreeEnd(index)
        while i < end {
            if tree.nodes[Int(i)].kind == .footnoteReference { numbers.append(tree.nodes[Int(i)].number) }
            i += 1
        }
        return numbers
    }

    private func closure(of numbers: [Int32]) -> [Int32] {
        guard !numbers.isEmpty else { return [] }
        var set = Set<Int32>()
        for number in numbers where number >= 1 && Int(number) <= footnoteClosure.count {
            set.formUnion(footnoteClosure[Int(number) - 1])
        }
        return set.sorted()
    }

    mutating func build() {
        buildFootnotes()
        var block = tree.nodes.isEmpty ? -1 : tree.nodes[0].firstChild
        while block >= 0 {
            if tree.nodes[Int(block)].kind != .footnoteDefinition { addBlock(block) }
            block = tree.nodes[Int(block)].nextSibling
        }
    }

    private mutating func buildFootnotes() {
        let direct = tree.footnotes.map { references(in: $0) }
        footnoteClosure = direct.indices.map { start in
            var seen: Set<Int32> = [Int32(start + 1)]
            var queue = direct[start]
            while let next = queue.popLast() {
                guard next >= 1, Int(next) <= direct.count, seen.insert(next).inserted else { continue }
                queue.append(contentsOf: direct[Int(next) - 1])
            }
            return seen.sorted()
        }
        for (position, definition) in tree.footnotes.enumerated() {
            let number = Int32(position + 1)
            var out: [UInt8] = Array(
                #"<div id="fn-\#(number)" style="margin:0 0 10px 0;font-size:14px;line-height:21px;color:#555555;">"#.utf8)
            out.append(10)
            let first = tree.nodes[Int(definition)].firstChild
            var rest = first
            if first >= 0 && tree.nodes[Int(first)].kind == .paragraph {
                // The number leads the note's first paragraph, as in print.
                out.append(contentsOf: #"<p style="margin:0 0 6px 0;"><strong>\#(number).</strong> "#.utf8)
                html.renderInlines(from: tree.nodes[Int(first)].firstChild, upTo: -1, into: &out)
                out.append(contentsOf: "</p>\n".utf8)
                rest = tree.nodes[Int(first)].nextSibling
            } else {
                out.append(contentsOf: #"<p style="margin:0 0 6px 0;"><strong>\#(number).</strong></p>"#.utf8)
                out.append(10)
            }
            while rest >= 0 {
                html.render(rest, into: &out)
                rest = tree.nodes[Int(rest)].nextSibling
            }
            out.append(contentsOf: "</div>\n".utf8)
            var body = Array("[\(number)] ".utf8)
            body.append(contentsOf: text.renderBody(definition))
            footnotes.append(
                FootnoteEntry(number: number, html: out, encodedHTML: encoder.encoded(out), text: body, textCost: textCost(body + [10])))
        }
    }

    private func footnoteCost(_ numbers: [Int32]) -> Int {
        numbers.reduce(0) { $0 + footnotes[Int($1) - 1].cost }
    }

    /// Bytes a piece of text may add to an encoded line it joins: the soft
    /// break the piece before may need once it no longer ends the line, and
    /// one more where its own soft breaks shift (greedy wrapping from a later
    /// column needs at most one more line), each `=` CR LF.
    static let joinAllowance = 6

    /// What `text` costs the text alternative once encoded; 0 unless the budget counts text.
    /// Text ending with a line feed encodes exactly as it would in place (lines
    /// encode independently); other text may join a line and gets ``joinAllowance``.
    func textCost(_ text: [UInt8]) -> Int {
        guard countsText, !text.isEmpty else { return 0 }
        return QuotedPrintable.encodedLength(text) + (text.last == 10 ? 0 : Self.joinAllowance)
    }

    /// Reused for every block, so a block costs one exact-size allocation.
    private var scratch: [UInt8] = []
    private let encoder = QuotedPrintable.Encoder()

    private mutating func addBlock(_ block: Int32) {
        scratch.removeAll(keepingCapacity: true)
        html.render(block, into: &scratch)
        let out = Array(scratch)
        let rendered = text.renderBlock(block)
        if out.isEmpty && rendered.text.allSatisfy({ $0 == 10 }) { return }  // dropped raw HTML
        let node = tree.nodes[Int(block)]
        let notes = closure(of: references(in: block))
        let encoded = encoder.encoded(out)
        var unit = ContentUnit(
            html: out, text: rendered.text, encodedHTML: encoded, footnotes: notes, isHeading: node.kind == .heading,
            line: Int(node.line), label: label(block))
        unit.textCost = textCost(rendered.text)
        let size = unit.cost
        guard size + footnoteCost(notes) > threshold else {
            units.append(unit)
            return
        }
        let before = units.count
        switch node.kind {
        case .list: splitList(block, marks: rendered.marks, text: rendered.text)
        case .table: splitTable(block, marks: rendered.marks, text: rendered.text)
        case .codeBlock: splitCode(block, marks: rendered.marks, text: rendered.text)
        case .blockQuote: splitQuote(block, marks: rendered.marks, text: rendered.text)
        case .paragraph: splitParagraph(block, marks: rendered.marks, text: rendered.text)
        default: break
        }
        // Not a kind that can be cut, or nothing to cut at: keep it whole and
        // let the splitter report it with its line.
        if units.count == before { units.append(unit) }
    }

    /// Pieces' texts are slices of the whole block's text at `marks`, so they
    /// concatenate to exactly the text of the block uncut.
    private func slices(_ text: [UInt8], _ marks: [Int], count: Int) -> [[UInt8]]? {
        guard marks.count == count, count > 0, marks[0] == 0 else { return nil }
        var result: [[UInt8]] = []
        for i in 0..<count {
            let end = i + 1 < count ? marks[i + 1] : text.count
            guard marks[i] <= end else { return nil }
            result.append(Array(text[marks[i]..<end]))
        }
        return result
    }

    private mutating func addGroup(
        pieces: [(html: [UInt8], open: [UInt8], line: Int32)], texts: [[UInt8]], close: [UInt8], lead: [UInt8] = [],
        label: String
    ) {
        let group = Int32(groups.count)
        let encodedClose = encoder.encoded(close)
        var maxOpen = 0
        var previousOpen: [UInt8] = []
        var previousEncodedOpen: [UInt8] = []
        for (i, piece) in pieces.enumerated() {
            // Most pieces share one open tag: encode it once.
            if piece.open != previousOpen {
                previousOpen = piece.open
                previousEncodedOpen = encoder.encoded(piece.open)
            }
            maxOpen = max(maxOpen, previousEncodedOpen.count)
            var unit = ContentUnit(
                html: piece.html, text: texts[i], encodedHTML: encoder.encoded(piece.html),
                footnotes: [], isHeading: false, line: Int(piece.line), label: label, group: group, openHTML: piece.open,
                encodedOpen: previousEncodedOpen, leadText: i == 0 ? [] : lead)
            unit.textCost = textCost(texts[i])
            units.append(unit)
        }
        groups.append(
            UnitGroup(closeHTML: close, encodedClose: encodedClose, encodedCost: maxOpen + encodedClose.count + textCost(lead)))
    }

    private mutating func splitList(_ list: Int32, marks: [Int], text whole: [UInt8]) {
        let items = Array(tree.children(list))
        guard items.count > 1, let texts = slices(whole, marks, count: items.count) else { return }
        let start = tree.nodes[Int(list)].number
        var pieces: [(html: [UInt8], open: [UInt8], line: Int32)] = []
        for (position, item) in items.enumerated() {
            var out: [UInt8] = []
            html.render(item, into: &out)
            pieces.append((out, Array(html.listOpen(list, start: start + Int32(position)).utf8), tree.nodes[Int(item)].line))
        }
        let close = tree.nodes[Int(list)].flag == 1 ? "</ol>\n" : "</ul>\n"
        let first = units.count
        addGroup(pieces: pieces, texts: texts, close: Array(close.utf8), label: "list item")
        attachFootnotes(from: first, nodes: items)
    }

    private mutating func splitTable(_ table: Int32, marks: [Int], text whole: [UInt8]) {
        let rows = Array(tree.children(table))
        guard rows.count > 2, tree.nodes[Int(rows[0])].kind == .tableHeader else { return }
        let body = Array(rows.dropFirst())
        guard let texts = slices(whole, marks, count: body.count) else { return }
        var open: [UInt8] = Array(HTMLRenderer.tableOpen.utf8)
        html.render(rows[0], into: &open)
        // The header is repeated at the top of every part the table continues into, so it counts in the open cost.
        let pieces = body.map { row -> (html: [UInt8], open: [UInt8], line: Int32) in
            var out: [UInt8] = []
            html.render(row, into: &out)
            return (out, open, tree.nodes[Int(row)].line)
        }
        let first = units.count
        addGroup(pieces: pieces, texts: texts, close: Array("</tbody>\n</table>\n".utf8), lead: text.tableHeaderText(table), label: "table row")
        attachFootnotes(from: first, nodes: body)
        // Footnotes cited in the header travel with every piece.
        let headerNotes = closure(of: references(in: rows[0]))
        if !headerNotes.isEmpty {
            for i in first..<units.count { units[i].footnotes = Array(Set(units[i].footnotes + headerNotes)).sorted() }
        }
    }

    private mutating func splitCode(_ code: Int32, marks: [Int], text whole: [UInt8]) {
        var lines = tree.text(code).split(separator: 10, omittingEmptySubsequences: false).map(Array.init)
        if lines.last?.isEmpty == true { lines.removeLast() }
        guard lines.count > 1, let texts = slices(whole, marks, count: lines.count) else { return }
        let open = Array(#"<pre style="\#(HTMLRenderer.Style.pre)">"#.utf8) + [10]
        let firstLine = tree.nodes[Int(code)].line + 1  // after the fence
        let pieces = lines.enumerated().map { offset, line -> (html: [UInt8], open: [UInt8], line: Int32) in
            var out: [UInt8] = []
            HTMLEscaping.append(line, to: &out)
            out.append(10)
            return (out, open, firstLine + Int32(offset))
        }
        addGroup(pieces: pieces, texts: texts, close: Array("</pre>\n".utf8), label: "code line")
    }

    private mutating func splitQuote(_ quote: Int32, marks: [Int], text whole: [UInt8]) {
        let children = Array(tree.children(quote))
        guard children.count > 1, let texts = slices(whole, marks, count: children.count) else { return }
        let open = Array(#"<blockquote style="\#(HTMLRenderer.Style.blockQuote)">"#.utf8) + [10]
        let pieces = children.map { child -> (html: [UInt8], open: [UInt8], line: Int32) in
            var out: [UInt8] = []
            html.render(child, into: &out)
            return (out, open, tree.nodes[Int(child)].line)
        }
        let first = units.count
        addGroup(pieces: pieces, texts: texts, close: Array("</blockquote>\n".utf8), label: "quoted block")
        attachFootnotes(from: first, nodes: children)
    }

    private mutating func attachFootnotes(from first: Int, nodes: [Int32]) {
        for (offset, node) in nodes.enumerated() {
            units[first + offset].footnotes = closure(of: references(in: node))
        }
    }

    /// A place a paragraph may be cut: before the inline child at
    /// `child` (position among the paragraph's children), `offset` bytes into
    /// it (text nodes only).
    private struct Cut: Comparable {
        var child: Int
        var offset: Int
        static func < (a: Cut, b: Cut) -> Bool { (a.child, a.offset) < (b.child, b.offset) }
    }

    private mutating func splitParagraph(_ paragraph: Int32, marks: [Int], text whole: [UInt8]) {
        let children = Array(tree.children(paragraph))
        guard marks.count == children.count, !children.isEmpty else { return }
        // Candidate cuts: after a sentence end (". ", "! ", "? ", optionally
        // after a closing quote or bracket) and after every space.
        var sentences: [Cut] = []
        var words: [Cut] = []
        for (position, child) in children.enumerated() {
            let kind = tree.nodes[Int(child)].kind
            if kind == .softBreak, position + 1 < children.count {
                let cut = Cut(child: position + 1, offset: 0)
                words.append(cut)
                if position > 0, tree.nodes[Int(children[position - 1])].kind == .text,
                    let last = tree.text(children[position - 1]).last, Self.endsSentence(last)
                {
                    sentences.append(cut)
                }
            }
            guard kind == .text else { continue }
            let literal = tree.text(child)
            let base = literal.startIndex
            var i = base
            while i < literal.endIndex {
                if literal[i] == 32 {
                    var j = i
                    while j < literal.endIndex && literal[j] == 32 { j += 1 }
                    if j < literal.endIndex || position + 1 < children.count {
                        let cut = Cut(child: position, offset: j - base)
                        if cut.offset > 0 || position > 0 {
                            words.append(cut)
                            var k = i - 1
                            while k >= base, [UInt8(ascii: "\""), UInt8(ascii: ")"), UInt8(ascii: "'"), UInt8(ascii: "]")].contains(literal[k]) {
                                k -= 1
                            }
                            if k >= base, Self.endsSentence(literal[k]) { sentences.append(cut) }
                        }
                    }
                    i = j
                    continue
                }
                i += 1
            }
        }
        // Sentences first; a sentence that alone takes over a quarter of the
        // room is cut between words into pieces of about an eighth.
        var cuts: [Cut] = [Cut(child: 0, offset: 0)]
        let end = Cut(child: children.count, offset: 0)
        let boundaries = sentences + [end]
        var wordIndex = 0
        for boundary in boundaries {
            let start = cuts.last!
            if pieceHTML(children, from: start, to: boundary).count > threshold / 4 {
                var pieceStart = start
                var pieceSize = 0
                var previous = start
                while wordIndex < words.count && words[wordIndex] <= start { wordIndex += 1 }
                // Sizes add up word by word, so the cost stays linear in the sentence.
                while wordIndex < words.count && words[wordIndex] < boundary {
                    let word = words[wordIndex]
                    let step = pieceHTML(children, from: previous, to: word).count
                    if pieceSize + step > threshold / 8, previous > pieceStart {
                        cuts.append(previous)
                        pieceStart = previous
                        pieceSize = 0
                    }
                    pieceSize += step
                    previous = word
                    wordIndex += 1
                }
            }
            if boundary != end { cuts.append(boundary) }
        }
        guard cuts.count > 1 else { return }
        // Text offsets: a top-level paragraph's inline children are written
        // verbatim, so child start + offset is the place in the text.
        var texts: [[UInt8]] = []
        for (i, cut) in cuts.enumerated() {
            let from = marks[cut.child] + cut.offset
            let to = i + 1 < cuts.count ? marks[cuts[i + 1].child] + cuts[i + 1].offset : whole.count
            texts.append(Array(whole[from..<to]))
        }
        let open = Array(#"<p style="\#(HTMLRenderer.Style.paragraph)">"#.utf8) + [10]
        var pieces: [(html: [UInt8], open: [UInt8], line: Int32)] = []
        var pieceNotes: [[Int32]] = []
        for (i, cut) in cuts.enumerated() {
            let next = i + 1 < cuts.count ? cuts[i + 1] : end
            var out = pieceHTML(children, from: cut, to: next)
            out.append(10)
            let child = children[min(cut.child, children.count - 1)]
            pieces.append((out, open, tree.nodes[Int(child)].line))
            var refs: [Int32] = []
            for position in cut.child..<min(max(next.child + (next.offset > 0 ? 1 : 0), cut.child + 1), children.count) {
                refs.append(contentsOf: references(in: children[position]))
            }
            pieceNotes.append(closure(of: refs))
        }
        let first = units.count
        addGroup(pieces: pieces, texts: texts, close: Array("</p>\n".utf8), label: "sentence")
        for (offset, notes) in pieceNotes.enumerated() { units[first + offset].footnotes = notes }
    }

    private func label(_ block: Int32) -> String {
        let node = tree.nodes[Int(block)]
        switch node.kind {
        case .paragraph:
            // The usual culprit is an image with its data inline.
            var i = block + 1
            let end = subtreeEnd(block)
            while i < end {
                if tree.nodes[Int(i)].kind == .image { return "paragraph (it holds an image)" }
                i += 1
            }
            return "paragraph"
        case .heading: return "heading"
        case .list: return "list"
        case .table: return "table"
        case .codeBlock: return "code block"
        case .blockQuote: return "block quote"
        case .htmlBlock: return "raw HTML block"
        case .thematicBreak: return "rule"
        default: return "block"
        }
    }

    private static func endsSentence(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: ".") || byte == UInt8(ascii: "!") || byte == UInt8(ascii: "?")
    }

    /// HTML of a paragraph's inlines between two cuts.
    private func pieceHTML(_ children: [Int32], from start: Cut, to end: Cut) -> [UInt8] {
        var out: [UInt8] = []
        if start.child == end.child {
            if start.child < children.count {
                let literal = tree.text(children[start.child])
                HTMLEscaping.append(literal[(literal.startIndex + start.offset)..<(literal.startIndex + end.offset)], to: &out)
            }
            return out
        }
        var position = start.child
        if start.offset > 0 {
            let literal = tree.text(children[position])
            HTMLEscaping.append(literal[(literal.startIndex + start.offset)...], to: &out)
            position += 1
        }
        while position < end.child {
            html.render(children[position], into: &out)
            position += 1
        }
        if end.offset > 0, end.child < children.count {
            let literal = tree.text(children[end.child])
            HTMLEscaping.append(literal[..<(literal.startIndex + end.offset)], to: &out)
        }
        return out
    }
}
