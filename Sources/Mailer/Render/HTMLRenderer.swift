/// Renders nodes of a `MarkdownTree` to e-mail HTML: inline styles on every
/// element (Gmail and Outlook ignore most of `<style>`), no scripts, raw HTML
/// only when the list allows it, footnote references as numbered links.
///
/// Every block it writes ends with a line feed, so that the quoted-printable
/// size of a sequence of blocks is the sum of their sizes.
struct HTMLRenderer {
    let tree: MarkdownTree
    let allowRawHTML: Bool

    enum Style {
        static let paragraph = "margin:0 0 16px 0;"
        static let heading: [String] = [
            "margin:24px 0 12px 0;font-size:28px;line-height:34px;font-weight:bold;",
            "margin:24px 0 12px 0;font-size:22px;line-height:28px;font-weight:bold;",
            "margin:20px 0 10px 0;font-size:18px;line-height:24px;font-weight:bold;",
            "margin:16px 0 8px 0;font-size:16px;line-height:22px;font-weight:bold;",
            "margin:16px 0 8px 0;font-size:15px;line-height:21px;font-weight:bold;",
            "margin:16px 0 8px 0;font-size:14px;line-height:20px;font-weight:bold;color:#555555;",
        ]
        static let blockQuote = "margin:0 0 16px 0;padding:0 0 0 14px;border-left:4px solid #dddddd;color:#555555;"
        static let list = "margin:0 0 16px 0;padding:0 0 0 28px;"
        static let item = "margin:0 0 6px 0;"
        static let pre =
            "margin:0 0 16px 0;padding:12px;background-color:#f6f8fa;border-radius:4px;font-family:Menlo,Consolas,'Courier New',monospace;font-size:13px;line-height:19px;white-space:pre-wrap;word-wrap:break-word;"
        static let code = "font-family:Menlo,Consolas,'Courier New',monospace;font-size:90%;background-color:#f6f8fa;padding:1px 4px;border-radius:3px;"
        static let rule = "border:0;border-top:1px solid #dddddd;margin:24px 0;"
        static let table = "border-collapse:collapse;margin:0 0 16px 0;font-size:14px;"
        static let headerCell = "border:1px solid #dddddd;padding:6px 10px;background-color:#f6f8fa;font-weight:bold;"
        static let cell = "border:1px solid #dddddd;padding:6px 10px;"
        static let link = "color:#1a5fb4;text-decoration:underline;"
        static let image = "max-width:100%;height:auto;border:0;"
        static let footnoteRef = "color:#1a5fb4;text-decoration:none;"
    }

    /// Renders the subtree at `root` (a block or an inline) into `out`.
    /// Quotes and lists nested deeper than this render flat: mail clients
    /// cap nesting anyway, and each level costs bytes of the budget.
    static let maxNesting = 16

    func render(_ root: Int32, into out: inout [UInt8]) {
        var imageDepth = 0
        // Nesting of quotes and lists above `root`, so a piece of a deep block renders like the whole.
        var nesting = 0
        var ancestor = tree.nodes[Int(root)].parent
        while ancestor >= 0 {
            let kind = tree.nodes[Int(ancestor)].kind
            if kind == .blockQuote || kind == .list { nesting += 1 }
            ancestor = tree.nodes[Int(ancestor)].parent
        }
        var index = root
        // Iterative walk: enter a node, descend, then exit on the way back up;
        // deep nesting must not overflow a small task stack.
        while true {
            let descend = enter(index, imageDepth: &imageDepth, nesting: &nesting, into: &out)
            let first = tree.nodes[Int(index)].firstChild
            if descend && first >= 0 {
                index = first
                continue
            }
            if descend { exit(index, imageDepth: &imageDepth, nesting: &nesting, into: &out) }
            // Climb: exit parents until one has a next sibling.
            var node = index
            while node != root {
                let next = tree.nodes[Int(node)].nextSibling
                if next >= 0 {
                    index = next
                    break
                }
                node = tree.nodes[Int(node)].parent
                exit(node, imageDepth: &imageDepth, nesting: &nesting, into: &out)
            }
            if node == root { return }
        }
    }

    /// Inline content of `node`'s children from `first` up to (not including) `end` (-1 for all).
    func renderInlines(from first: Int32, upTo end: Int32, into out: inout [UInt8]) {
        var child = first
        while child >= 0 && child != end {
            render(child, into: &out)
            child = tree.nodes[Int(child)].nextSibling
        }
    }

    private func inTightList(_ paragraph: Int32) -> Bool {
        let parent = tree.nodes[Int(paragraph)].parent
        guard parent >= 0, tree.nodes[Int(parent)].kind == .item else { return false }
        let list = tree.nodes[Int(parent)].parent
        return list >= 0 && tree.nodes[Int(list)].tight
    }

    /// Writes the opening of `index`; returns whether to descend into its children.
    private func enter(_ index: Int32, imageDepth: inout Int, nesting: inout Int, into out: inout [UInt8]) -> Bool {
        let node = tree.nodes[Int(index)]
        if imageDepth > 0 {
            // Inside an image only the text survives, as the alt attribute.
            switch node.kind {
            case .text, .code: HTMLEscaping.append(tree.text(index), to: &out)
            case .image: imageDepth += 1
            default: break
            }
            return true
        }
        switch node.kind {
        case .document, .other, .footnoteDefinition:
            return true
        case .paragraph:
            if !inTightList(index) { out.append(contentsOf: #"<p style="\#(Style.paragraph)">"#.utf8) }
        case .heading:
            let level = max(1, min(6, Int(node.number)))
            out.append(contentsOf: "<h\(level) style=\"\(Style.heading[level - 1])\">".utf8)
        case .blockQuote:
            nesting += 1
            guard nesting <= Self.maxNesting else { return true }
            out.append(contentsOf: #"<blockquote style="\#(Style.blockQuote)">"#.utf8)
            out.append(10)
        case .list:
            nesting += 1
            guard nesting <= Self.maxNesting else { return true }
            out.append(contentsOf: listOpen(index, start: node.number).utf8)
        case .item:
            if nesting > Self.maxNesting {
                out.append(contentsOf: "<div>&#8211; ".utf8)
                return true
            }
            out.append(contentsOf: #"<li style="\#(Style.item)">"#.utf8)
            if node.number >= 0 {
                // Checkbox inputs don't survive mail clients; ballot boxes do.
                out.append(contentsOf: (node.number == 1 ? "&#9745; " : "&#9744; ").utf8)
            }
        case .codeBlock:
            out.append(contentsOf: #"<pre style="\#(Style.pre)">"#.utf8)
            out.append(10)
            HTMLEscaping.append(tree.text(index), to: &out)
            out.append(contentsOf: "</pre>\n".utf8)
            return false
        case .htmlBlock:
            if allowRawHTML {
                let literal = tree.text(index)
                out.append(contentsOf: literal)
                if literal.last != 10 { out.append(10) }
            }
            return false
        case .thematicBreak:
            out.append(contentsOf: #"<hr style="\#(Style.rule)" />"#.utf8)
            out.append(10)
            return false
        case .table:
            out.append(contentsOf: Self.tableOpen.utf8)
        case .tableHeader:
            out.append(contentsOf: "<thead>\n<tr>\n".utf8)
        case .tableRow:
            out.append(contentsOf: "<tr>\n".utf8)
        case .tableCell:
            let header = tree.nodes[Int(node.parent)].kind == .tableHeader
            out.append(contentsOf: (header ? "<th" : "<td").utf8)
            out.append(contentsOf: #" style="\#(header ? Style.headerCell : Style.cell)"#.utf8)
            switch node.flag {
            case UInt8(ascii: "l"): out.append(contentsOf: "text-align:left;".utf8)
            case UInt8(ascii: "c"): out.append(contentsOf: "text-align:center;".utf8)
            case UInt8(ascii: "r"): out.append(contentsOf: "text-align:right;".utf8)
            default: break
            }
            out.append(contentsOf: "\">".utf8)
        case .text:
            HTMLEscaping.append(tree.text(index), to: &out)
        case .softBreak:
            out.append(10)
        case .lineBreak:
            out.append(contentsOf: "<br />\n".utf8)
        case .code:
            out.append(contentsOf: #"<code style="\#(Style.code)">"#.utf8)
            HTMLEscaping.append(tree.text(index), to: &out)
            out.append(contentsOf: "</code>".utf8)
        case .htmlInline:
            if allowRawHTML { out.append(contentsOf: tree.text(index)) }
        case .emph:
            out.append(contentsOf: "<em>".utf8)
        case .strong:
            out.append(contentsOf: "<strong>".utf8)
        case .strikethrough:
            out.append(contentsOf: "<del>".utf8)
        case .link:
            out.append(contentsOf: "<a href=\"".utf8)
            HTMLEscaping.appendURL(tree.text(index), to: &out)
            out.append(34)
            let title = tree.title(index)
            if !title.isEmpty {
                out.append(contentsOf: " title=\"".utf8)
                HTMLEscaping.append(title, to: &out)
                out.append(34)
            }
            out.append(contentsOf: #" style="\#(Style.link)">"#.utf8)
        case .image:
            out.append(contentsOf: "<img src=\"".utf8)
            HTMLEscaping.appendURL(tree.text(index), to: &out)
            out.append(contentsOf: "\" alt=\"".utf8)
            imageDepth += 1
        case .footnoteReference:
            let number = "\(node.number)"
            // line-height:0 keeps the superscript from spreading its line.
            out.append(contentsOf: "<sup style=\"line-height:0;\"><a href=\"#fn-\(number)\" style=\"\(Style.footnoteRef)\">\(number)</a></sup>".utf8)
            return false
        }
        return true
    }

    private func exit(_ index: Int32, imageDepth: inout Int, nesting: inout Int, into out: inout [UInt8]) {
        let node = tree.nodes[Int(index)]
        if imageDepth > 0 {
            guard node.kind == .image else { return }
            imageDepth -= 1
            if imageDepth > 0 { return }
            out.append(34)
            let title = tree.title(index)
            if !title.isEmpty {
                out.append(contentsOf: " title=\"".utf8)
                HTMLEscaping.append(title, to: &out)
                out.append(34)
            }
            out.append(contentsOf: #" style="\#(Style.image)" />"#.utf8)
            return
        }
        switch node.kind {
        case .paragraph:
            if inTightList(index) {
                // Separate a tight item's blocks the way a line break would.
                if node.nextSibling >= 0 { out.append(10) }
            } else {
                out.append(contentsOf: "</p>\n".utf8)
            }
        case .heading:
            out.append(contentsOf: "</h\(max(1, min(6, Int(node.number))))>\n".utf8)
        case .blockQuote:
            if nesting <= Self.maxNesting { out.append(contentsOf: "</blockquote>\n".utf8) }
            nesting -= 1
        case .list:
            if nesting <= Self.maxNesting { out.append(contentsOf: (node.flag == 1 ? "</ol>\n" : "</ul>\n").utf8) }
            nesting -= 1
        case .item: out.append(contentsOf: (nesting > Self.maxNesting ? "</div>\n" : "</li>\n").utf8)
        case .table: out.append(contentsOf: "</tbody>\n</table>\n".utf8)
        case .tableHeader: out.append(contentsOf: "</tr>\n</thead>\n<tbody>\n".utf8)
        case .tableRow: out.append(contentsOf: "</tr>\n".utf8)
        case .tableCell:
            out.append(contentsOf: (tree.nodes[Int(node.parent)].kind == .tableHeader ? "</th>\n" : "</td>\n").utf8)
        case .emph: out.append(contentsOf: "</em>".utf8)
        case .strong: out.append(contentsOf: "</strong>".utf8)
        case .strikethrough: out.append(contentsOf: "</del>".utf8)
        case .link: out.append(contentsOf: "</a>".utf8)
        default: break
        }
    }

    static let tableOpen = #"<table cellpadding="0" cellspacing="0" border="0" style="\#(Style.table)">"# + "\n"

    /// `<ul>` or `<ol start="N">` for the list at `index`, with a line feed.
    func listOpen(_ index: Int32, start: Int32) -> String {
        let node = tree.nodes[Int(index)]
        if node.flag == 1 {
            let startAttribute = start == 1 ? "" : " start=\"\(start)\""
            return "<ol\(startAttribute) style=\"\(Style.list)\">\n"
        }
        return "<ul style=\"\(Style.list)\">\n"
    }
}
