/// Renders nodes of a `MarkdownTree` to the text/plain alternative: readable
/// as is, links as `text <url>`, footnote references as `[n]`, tables as
/// padded pipe tables, code indented, quotes with `> `.
///
/// Paragraphs are not re-wrapped: mail clients wrap text/plain themselves, and
/// keeping the author's lines makes a split paragraph's pieces concatenate to
/// exactly the whole paragraph.
struct TextRenderer {
    let tree: MarkdownTree

    /// The text of one top-level block, ending with a blank line, and the
    /// offsets where the block's direct children start (list items, table
    /// body rows, quoted blocks, paragraph inlines, code lines): the places
    /// the splitter may cut an oversized block.
    func renderBlock(_ root: Int32) -> (text: [UInt8], marks: [Int]) {
        var writer = Writer()
        var marks: [Int] = []
        walk(root, writer: &writer, marks: &marks)
        writer.endLine()
        switch tree.nodes[Int(root)].kind {
        case .codeBlock:
            // Every line of a code block is one cut place.
            marks = [0]
            for (offset, byte) in writer.out.enumerated() where byte == 10 && offset + 1 < writer.out.count {
                marks.append(offset + 1)
            }
        case .table:
            // Lines: header, rule, then one per body row; the first piece
            // carries the header with the first row.
            marks = [0]
            var line = 0
            for (offset, byte) in writer.out.enumerated() where byte == 10 && offset + 1 < writer.out.count {
                line += 1
                if line >= 3 { marks.append(offset + 1) }
            }
        default:
            break
        }
        writer.out.append(10)
        return (writer.out, marks)
    }

    /// The text of a subtree without a trailing blank line (footnote bodies).
    func renderBody(_ root: Int32) -> [UInt8] {
        var writer = Writer()
        var marks: [Int] = []
        var child = tree.nodes[Int(root)].firstChild
        while child >= 0 {
            walk(child, writer: &writer, marks: &marks)
            child = tree.nodes[Int(child)].nextSibling
        }
        writer.endLine()
        return writer.out
    }

    struct Writer {
        struct Prefix {
            var first: [UInt8]
            var rest: [UInt8]
            var usedFirst = false
        }
        var out: [UInt8] = []
        var prefixes: [Prefix] = []
        var atLineStart = true
        /// A blank line is owed before the next block in the same container.
        var needBlank = false

        mutating func emitPrefix(trimmed: Bool) {
            let start = out.count
            for i in prefixes.indices {
                if prefixes[i].usedFirst {
                    out.append(contentsOf: prefixes[i].rest)
                } else {
                    out.append(contentsOf: prefixes[i].first)
                    prefixes[i].usedFirst = true
                }
            }
            if trimmed {
                while out.count > start, out.last == 32 { out.removeLast() }
            }
        }

        mutating func write<C: Collection>(_ bytes: C) where C.Element == UInt8 {
            guard !bytes.isEmpty else { return }
            if atLineStart {
                emitPrefix(trimmed: false)
                atLineStart = false
            }
            out.append(contentsOf: bytes)
        }

        mutating func write(_ string: String) { write(string.utf8) }

        mutating func newline() {
            if atLineStart { emitPrefix(trimmed: true) }
            out.append(10)
            atLineStart = true
        }

        /// Ends the current line if anything is on it.
        mutating func endLine() {
            if !atLineStart { newline() }
        }

        mutating func startBlock() {
            endLine()
            if needBlank { newline() }
            needBlank = false
        }
    }

    private func inTightList(_ index: Int32) -> Bool {
        let parent = tree.nodes[Int(index)].parent
        guard parent >= 0, tree.nodes[Int(parent)].kind == .item else { return false }
        let list = tree.nodes[Int(parent)].parent
        return list >= 0 && tree.nodes[Int(list)].tight
    }

    private func walk(_ root: Int32, writer: inout Writer, marks: inout [Int]) {
        var index = root
        var linkStarts: [Int] = []
        while true {
            if tree.nodes[Int(index)].parent == root { marks.append(writer.out.count) }
            let descend = enter(index, writer: &writer, linkStarts: &linkStarts)
            let first = tree.nodes[Int(index)].firstChild
            if descend && first >= 0 {
                index = first
                continue
            }
            if descend { exit(index, writer: &writer, linkStarts: &linkStarts) }
            var node = index
            while node != root {
                let next = tree.nodes[Int(node)].nextSibling
                if next >= 0 {
                    index = next
                    break
                }
                node = tree.nodes[Int(node)].parent
                exit(node, writer: &writer, linkStarts: &linkStarts)
            }
            if node == root { return }
        }
    }

    private func enter(_ index: Int32, writer: inout Writer, linkStarts: inout [Int]) -> Bool {
        let node = tree.nodes[Int(index)]
        switch node.kind {
        case .document, .other, .footnoteDefinition, .tableHeader, .tableRow, .tableCell:
            return true
        case .paragraph:
            if inTightList(index) {
                writer.endLine()
            } else {
                writer.startBlock()
            }
        case .heading:
            writer.startBlock()
            if node.number >= 3 { writer.write(String(repeating: "#", count: Int(node.number)) + " ") }
            linkStarts.append(writer.out.count)
        case .blockQuote:
            writer.startBlock()
            writer.prefixes.append(.init(first: Array("> ".utf8), rest: Array("> ".utf8)))
        case .list:
            writer.startBlock()
        case .item:
            writer.endLine()
            let list = tree.nodes[Int(node.parent)]
            if !list.tight && writer.needBlank { writer.newline() }
            writer.needBlank = false
            var marker: String
            if list.flag == 1 {
                var position: Int32 = 0
                var sibling = list.firstChild
                while sibling >= 0 && sibling != index {
                    position += 1
                    sibling = tree.nodes[Int(sibling)].nextSibling
                }
                marker = "\(list.number + position). "
            } else {
                marker = "- "
            }
            let indent = [UInt8](repeating: 32, count: marker.utf8.count)
            if node.number >= 0 { marker += node.number == 1 ? "[x] " : "[ ] " }
            writer.prefixes.append(.init(first: Array(marker.utf8), rest: indent))
        case .codeBlock:
            writer.startBlock()
            var line: [UInt8] = Array("    ".utf8)
            for byte in tree.text(index) {
                if byte == 10 {
                    writer.write(line)
                    writer.newline()
                    line = Array("    ".utf8)
                } else {
                    line.append(byte)
                }
            }
            if line.count > 4 {
                writer.write(line)
                writer.newline()
            }
            writer.needBlank = true
            return false
        case .htmlBlock:
            return false
        case .thematicBreak:
            writer.startBlock()
            writer.write("* * *")
            writer.newline()
            writer.needBlank = true
            return false
        case .table:
            writer.startBlock()
            renderTable(index, writer: &writer)
            writer.needBlank = true
            return false
        case .text, .code:
            writer.write(tree.text(index))
        case .softBreak, .lineBreak:
            writer.newline()
        case .htmlInline:
            break
        case .emph: writer.write("_")
        case .strong: writer.write("*")
        case .strikethrough: writer.write("~~")
        case .link:
            linkStarts.append(writer.out.count)
        case .image:
            writer.write("[image: ")
        case .footnoteReference:
            writer.write("[\(node.number)]")
            return false
        }
        return true
    }

    private func exit(_ index: Int32, writer: inout Writer, linkStarts: inout [Int]) {
        let node = tree.nodes[Int(index)]
        switch node.kind {
        case .paragraph:
            writer.endLine()
            writer.needBlank = !inTightList(index)
        case .heading:
            let start = linkStarts.removeLast()
            writer.endLine()
            if node.number <= 2 {
                // Underline as wide as the heading, in characters rather than bytes.
                let width = writer.out[start...].reduce(0) { $0 + ($1 & 0xC0 == 0x80 || $1 == 10 ? 0 : 1) }
                writer.write([UInt8](repeating: node.number == 1 ? 61 : 45, count: max(3, width)))
                writer.newline()
            }
            writer.needBlank = true
        case .blockQuote:
            writer.endLine()
            writer.prefixes.removeLast()
            writer.needBlank = true
        case .list:
            writer.endLine()
            writer.needBlank = true
        case .item:
            writer.endLine()
            writer.prefixes.removeLast()
            writer.needBlank = !tree.nodes[Int(node.parent)].tight
        case .emph: writer.write("_")
        case .strong: writer.write("*")
        case .strikethrough: writer.write("~~")
        case .link:
            let start = linkStarts.removeLast()
            let url = tree.text(index)
            let shown = writer.out[start...]
            let redundant =
                shown.elementsEqual(url) || (Array("http://".utf8) + shown).elementsEqual(url)
                || (Array("mailto:".utf8) + shown).elementsEqual(url)
            if !redundant && !url.isEmpty {
                writer.write(" <")
                writer.write(url)
                writer.write(">")
            }
        case .image:
            writer.write("]")
        default:
            break
        }
    }

    /// The inline text of a table cell, on one line.
    private func cellText(_ cell: Int32) -> [UInt8] {
        var writer = Writer()
        var marks: [Int] = []
        var child = tree.nodes[Int(cell)].firstChild
        while child >= 0 {
            walk(child, writer: &writer, marks: &marks)
            child = tree.nodes[Int(child)].nextSibling
        }
        return writer.out.map { $0 == 10 ? 32 : $0 }
    }

    /// A pipe table, columns padded to their widest cell (up to 40 characters).
    private func renderTable(_ table: Int32, writer: inout Writer) {
        var rows: [[[UInt8]]] = []
        for row in tree.children(table) {
            rows.append(tree.children(row).map { cellText($0) })
        }
        let columns = rows.map(\.count).max() ?? 0
        func width(_ bytes: [UInt8]) -> Int { bytes.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) } }
        var widths = [Int](repeating: 3, count: columns)
        for row in rows {
            for (column, cell) in row.enumerated() { widths[column] = min(40, max(widths[column], width(cell))) }
        }
        for (number, row) in rows.enumerated() {
            var line: [UInt8] = Array("|".utf8)
            for column in 0..<columns {
                let cell = column < row.count ? row[column] : []
                line.append(32)
                line.append(contentsOf: cell)
                line.append(contentsOf: [UInt8](repeating: 32, count: max(0, widths[column] - width(cell))))
                line.append(contentsOf: " |".utf8)
            }
            writer.write(line)
            writer.newline()
            if number == 0 {
                var rule: [UInt8] = Array("|".utf8)
                for column in 0..<columns {
                    rule.append(contentsOf: [UInt8](repeating: 45, count: widths[column] + 2))
                    rule.append(contentsOf: "|".utf8)
                }
                writer.write(rule)
                writer.newline()
            }
        }
    }

    /// The header lines of a table (header row and rule), repeated at the top
    /// of a part that continues the table.
    func tableHeaderText(_ table: Int32) -> [UInt8] {
        var writer = Writer()
        renderTable(table, writer: &writer)
        // The header is the first two lines.
        var newlines = 0
        var end = 0
        for (offset, byte) in writer.out.enumerated() where byte == 10 {
            newlines += 1
            if newlines == 2 {
                end = offset + 1
                break
            }
        }
        return Array(writer.out[..<end])
    }
}
