import CCmarkGFM

/// A parsed Markdown document in a flat, pointer-free form.
///
/// cmark-gfm parses; this file copies its tree once into Swift arrays so the
/// renderers and the splitter never touch a C pointer. It is the only file in
/// the module that talks to cmark-gfm.
struct MarkdownTree: Sendable {
    enum Kind: UInt8, Sendable {
        case document, blockQuote, list, item, codeBlock, htmlBlock, paragraph, heading, thematicBreak
        case footnoteDefinition, table, tableHeader, tableRow, tableCell
        case text, softBreak, lineBreak, code, htmlInline, emph, strong, strikethrough, link, image
        case footnoteReference, other

        var isBlock: Bool { rawValue < Kind.text.rawValue }
    }

    struct Node: Sendable {
        var kind: Kind
        var parent: Int32 = -1
        var firstChild: Int32 = -1
        var nextSibling: Int32 = -1
        /// 1-based line in the Markdown body (front matter not counted).
        var line: Int32 = 0
        /// heading: level; list: start number; footnote reference: its number;
        /// item: 1 checked task, 0 unchecked task, -1 not a task.
        var number: Int32 = 0
        /// list: 1 ordered, 0 bullet; table cell: alignment byte (0, l, c, r).
        var flag: UInt8 = 0
        /// list: tight.
        var tight: Bool = false
        /// Literal text, link/image URL, code fence info: a range of `bytes`.
        var textStart: Int32 = 0
        var textCount: Int32 = 0
        /// Link/image title.
        var titleStart: Int32 = 0
        var titleCount: Int32 = 0
    }

    var nodes: [Node] = []
    /// Literal text of every node, one arena.
    var bytes: [UInt8] = []
    /// Footnote definitions in number order: `footnotes[0]` is footnote 1.
    var footnotes: [Int32] = []

    func text(_ index: Int32) -> ArraySlice<UInt8> {
        let n = nodes[Int(index)]
        return bytes[Int(n.textStart)..<Int(n.textStart + n.textCount)]
    }

    /// The 1-based body line where node `index` starts: cmark-gfm's start
    /// line for a block; for an inline, its leaf block's line plus the line
    /// breaks before it in that block (cmark-gfm's inline positions are not
    /// reliable across soft breaks).
    func line(of index: Int32) -> Int32 {
        var leaf = index
        while leaf >= 0 && !nodes[Int(leaf)].kind.isBlock { leaf = nodes[Int(leaf)].parent }
        guard leaf >= 0, leaf != index else { return nodes[Int(index)].line }
        var line = nodes[Int(leaf)].line
        // Nodes are in document order: everything between the block and the node precedes it.
        var i = leaf + 1
        while i < index {
            switch nodes[Int(i)].kind {
            case .softBreak, .lineBreak: line += 1
            case .text, .code, .htmlInline: line += Int32(text(i).reduce(0) { $1 == 10 ? $0 + 1 : $0 })
            default: break
            }
            i += 1
        }
        return line
    }

    func title(_ index: Int32) -> ArraySlice<UInt8> {
        let n = nodes[Int(index)]
        return bytes[Int(n.titleStart)..<Int(n.titleStart + n.titleCount)]
    }

    /// The children of `index`, in order.
    func children(_ index: Int32) -> ChildSequence { ChildSequence(tree: self, first: nodes[Int(index)].firstChild) }

    struct ChildSequence: Sequence, IteratorProtocol {
        let tree: MarkdownTree
        var upcoming: Int32
        init(tree: MarkdownTree, first: Int32) {
            self.tree = tree
            self.upcoming = first
        }
        mutating func next() -> Int32? {
            guard upcoming >= 0 else { return nil }
            defer { upcoming = tree.nodes[Int(upcoming)].nextSibling }
            return upcoming
        }
    }

    /// Parses CommonMark with the GitHub extensions listctl supports: tables,
    /// footnotes, strikethrough, autolinks and task lists.
    /// cmark-gfm's extensions, registered once. Its registry is a plain global list: two threads registering
    /// at once corrupt it (seen as a crash inside libcmark-gfm-extensions when two renders started together).
    /// A `static let` runs its initialiser exactly once, whichever thread comes first.
    static let extensionsRegistered: Void = { cmark_gfm_core_extensions_ensure_registered() }()

    static func parse(_ markdown: [UInt8]) -> MarkdownTree {
        _ = Self.extensionsRegistered
        let options = CMARK_OPT_FOOTNOTES | CMARK_OPT_VALIDATE_UTF8
        guard let parser = cmark_parser_new(options) else { fatalError("cmark_parser_new failed: out of memory") }
        defer { cmark_parser_free(parser) }
        for name in ["table", "strikethrough", "autolink", "tasklist"] {
            if let ext = cmark_find_syntax_extension(name) { cmark_parser_attach_syntax_extension(parser, ext) }
        }
        markdown.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                cmark_parser_feed(parser, chars.baseAddress, chars.count)
            }
        }
        guard let root = cmark_parser_finish(parser) else { fatalError("cmark_parser_finish failed: out of memory") }
        defer { cmark_node_free(root) }

        var tree = MarkdownTree()
        tree.nodes.reserveCapacity(markdown.count / 8)
        tree.bytes.reserveCapacity(markdown.count)
        // Few distinct node types occur: a short list beats hashing per node.
        var kinds: [(raw: UInt32, kind: Kind)] = []
        // Last child appended under each open parent, to link siblings without a second pass.
        var lastChild: [Int32] = []
        var stack: [Int32] = []

        // A manual walk (first child, next sibling, parent) rather than cmark's
        // iterator: the iterator's idea of a leaf differs between node types.
        var current: OpaquePointer? = root
        while let node = current {
            let rawType = cmark_node_get_type(node).rawValue
            var kind: Kind
            if let known = kinds.first(where: { $0.raw == rawType }) {
                kind = known.kind
            } else {
                kind = Self.kind(of: node)
                kinds.append((rawType, kind))
            }
            if kind == .tableHeader || kind == .tableRow {
                // Header and body rows share one node type.
                kind = cmark_gfm_extensions_get_table_row_is_header(node) != 0 ? .tableHeader : .tableRow
            }
            let index = Int32(tree.nodes.count)
            var item = Node(kind: kind)
            item.line = Int32(cmark_node_get_start_line(node))
            if let parent = stack.last {
                item.parent = parent
                let previous = lastChild[lastChild.count - 1]
                if previous >= 0 {
                    tree.nodes[Int(previous)].nextSibling = index
                } else {
                    tree.nodes[Int(parent)].firstChild = index
                }
                lastChild[lastChild.count - 1] = index
            }
            tree.fill(&item, kind: kind, from: node, index: index)
            tree.nodes.append(item)

            if let child = cmark_node_first_child(node) {
                stack.append(index)
                lastChild.append(-1)
                current = child
                continue
            }
            // Climb until a node has a next sibling.
            var climb: OpaquePointer? = node
            current = nil
            while let up = climb, up != root {
                if let next = cmark_node_next(up) {
                    current = next
                    break
                }
                climb = cmark_node_parent(up)
                stack.removeLast()
                lastChild.removeLast()
            }
        }
        tree.assignCellAlignments()
        return tree
    }

    private mutating func fill(_ item: inout Node, kind: Kind, from node: OpaquePointer, index: Int32) {
        switch kind {
        case .heading:
            item.number = Int32(cmark_node_get_heading_level(node))
        case .list:
            item.flag = cmark_node_get_list_type(node) == CMARK_ORDERED_LIST ? 1 : 0
            item.number = Int32(cmark_node_get_list_start(node))
            item.tight = cmark_node_get_list_tight(node) != 0
        case .item:
            let typeString = cmark_node_get_type_string(node).map { String(cString: $0) } ?? ""
            item.number = typeString == "tasklist" ? (cmark_gfm_extensions_get_tasklist_item_checked(node) ? 1 : 0) : -1
        case .text, .code, .htmlInline, .htmlBlock, .codeBlock:
            append(literal: cmark_node_get_literal(node), to: &item)
            if kind == .codeBlock {
                // The fence info goes in the title slot: only its first word is a language.
                item.titleStart = Int32(bytes.count)
                if let info = cmark_node_get_fence_info(node) {
                    let start = bytes.count
                    var p = info
                    while p.pointee != 0 {
                        bytes.append(UInt8(bitPattern: p.pointee))
                        p += 1
                    }
                    item.titleCount = Int32(bytes.count - start)
                }
            }
        case .footnoteReference:
            // cmark-gfm replaces a resolved reference's label with its number.
            if var p = cmark_node_get_literal(node) {
                var value: Int32 = 0
                while p.pointee >= 48 && p.pointee <= 57 {
                    value = value &* 10 &+ Int32(p.pointee - 48)
                    p += 1
                }
                item.number = value
            }
        case .link, .image:
            append(literal: cmark_node_get_url(node), to: &item)
            let start = bytes.count
            if let title = cmark_node_get_title(node) {
                var p = title
                while p.pointee != 0 {
                    bytes.append(UInt8(bitPattern: p.pointee))
                    p += 1
                }
            }
            item.titleStart = Int32(start)
            item.titleCount = Int32(bytes.count - start)
        case .table:
            let columns = Int(cmark_gfm_extensions_get_table_columns(node))
            let start = bytes.count
            if let alignments = cmark_gfm_extensions_get_table_alignments(node) {
                for column in 0..<columns { bytes.append(alignments[column]) }
            }
            item.textStart = Int32(start)
            item.textCount = Int32(bytes.count - start)
        case .footnoteDefinition:
            footnotes.append(index)
            item.number = Int32(footnotes.count)
        default:
            break
        }
    }

    private mutating func append(literal: UnsafePointer<CChar>?, to item: inout Node) {
        let start = bytes.count
        if let literal {
            var count = 0
            while literal[count] != 0 { count += 1 }
            literal.withMemoryRebound(to: UInt8.self, capacity: count) {
                bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: count))
            }
        }
        item.textStart = Int32(start)
        item.textCount = Int32(bytes.count - start)
    }

    /// cmark's iterator sends ENTER and EXIT for every node that can have
    /// children, even an empty one, and only ENTER for leaves.
    private static func isContainer(_ kind: Kind) -> Bool {
        switch kind {
        case .text, .softBreak, .lineBreak, .code, .htmlInline, .htmlBlock, .codeBlock, .thematicBreak,
            .footnoteReference:
            return false
        default:
            return true
        }
    }

    private static func kind(of node: OpaquePointer) -> Kind {
        switch cmark_node_get_type(node) {
        case CMARK_NODE_DOCUMENT: return .document
        case CMARK_NODE_BLOCK_QUOTE: return .blockQuote
        case CMARK_NODE_LIST: return .list
        case CMARK_NODE_ITEM: return .item
        case CMARK_NODE_CODE_BLOCK: return .codeBlock
        case CMARK_NODE_HTML_BLOCK: return .htmlBlock
        case CMARK_NODE_PARAGRAPH: return .paragraph
        case CMARK_NODE_HEADING: return .heading
        case CMARK_NODE_THEMATIC_BREAK: return .thematicBreak
        case CMARK_NODE_FOOTNOTE_DEFINITION: return .footnoteDefinition
        case CMARK_NODE_TEXT: return .text
        case CMARK_NODE_SOFTBREAK: return .softBreak
        case CMARK_NODE_LINEBREAK: return .lineBreak
        case CMARK_NODE_CODE: return .code
        case CMARK_NODE_HTML_INLINE: return .htmlInline
        case CMARK_NODE_EMPH: return .emph
        case CMARK_NODE_STRONG: return .strong
        case CMARK_NODE_LINK: return .link
        case CMARK_NODE_IMAGE: return .image
        case CMARK_NODE_FOOTNOTE_REFERENCE: return .footnoteReference
        default:
            // Extension node types are numbered at registration time: name them by string.
            let name = cmark_node_get_type_string(node).map { String(cString: $0) } ?? ""
            switch name {
            case "table": return .table
            case "table_header": return .tableHeader
            case "table_row": return .tableRow
            case "table_cell": return .tableCell
            case "strikethrough": return .strikethrough
            case "tasklist": return .item
            default: return .other
            }
        }
    }

    /// Copies each table's column alignment onto its cells (`flag`), so a cell
    /// renders without looking up its table.
    private mutating func assignCellAlignments() {
        // Plain index loops: a child sequence would hold a copy of `nodes`
        // and turn every write below into a copy of the whole array.
        for tableIndex in nodes.indices where nodes[tableIndex].kind == .table {
            let start = Int(nodes[tableIndex].textStart)
            let count = Int(nodes[tableIndex].textCount)
            var row = nodes[tableIndex].firstChild
            while row >= 0 {
                var column = 0
                var cell = nodes[Int(row)].firstChild
                while cell >= 0 {
                    if column < count { nodes[Int(cell)].flag = bytes[start + column] }
                    column += 1
                    cell = nodes[Int(cell)].nextSibling
                }
                row = nodes[Int(row)].nextSibling
            }
        }
    }
}
