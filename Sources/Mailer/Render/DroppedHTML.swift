/// A fragment of raw HTML in an issue's Markdown that the renderer left out,
/// because the list does not allow raw HTML (`lists set --allow-raw-html`).
/// Dropping it is the safe default; saying so, with the line, is what keeps
/// a writer from losing a `<picture>` or a `<srcset>` without noticing.
public struct DroppedHTML: Sendable, Equatable, CustomStringConvertible {
    /// The issue file.
    public var file: String
    /// 1-based line in the file (front matter counted) where the fragment starts.
    public var line: Int
    /// A block of HTML (its own paragraph) rather than a tag inside text.
    public var isBlock: Bool
    /// The fragment's start, whitespace folded, at most ``excerptLength`` characters.
    public var excerpt: String

    /// The longest excerpt, in characters, an ellipsis included.
    public static let excerptLength = 60

    public init(file: String, line: Int, isBlock: Bool, excerpt: String) {
        self.file = file
        self.line = line
        self.isBlock = isBlock
        self.excerpt = excerpt
    }

    /// `issue.md:12: warning: raw HTML left out (block): <div class="hero"> … (what to do)`, for stderr.
    public var description: String {
        "\(file):\(line): warning: raw HTML left out (\(isBlock ? "block" : "inline")): \(excerpt) (the list does not allow raw HTML: write it in Markdown, or allow it with `listctl lists set SLUG --allow-raw-html true`)"
    }

    /// Every HTML block and inline HTML node of `tree`, in document order,
    /// with lines in `document`'s file.
    static func find(in tree: MarkdownTree, document: IssueDocument) -> [DroppedHTML] {
        var found: [DroppedHTML] = []
        for index in tree.nodes.indices {
            let node = tree.nodes[index]
            guard node.kind == .htmlBlock || node.kind == .htmlInline else { continue }
            let literal = tree.text(Int32(index))
            guard literal.contains(where: { $0 != 32 && $0 != 10 && $0 != 9 }) else { continue }
            found.append(
                DroppedHTML(
                    file: document.fileName, line: Int(tree.line(of: Int32(index))) + document.bodyLineOffset,
                    isBlock: node.kind == .htmlBlock, excerpt: excerpt(literal)))
        }
        return found
    }

    static func excerpt(_ literal: ArraySlice<UInt8>) -> String {
        let folded = String(decoding: literal, as: UTF8.self)
            .split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).joined(separator: " ")
        guard folded.count > excerptLength else { return folded }
        return String(folded.prefix(excerptLength - 1)) + "…"
    }
}
