import CCmarkGFM
import Foundation

/// An issue as the content of one web page (the public archive): the whole
/// issue, unsplit, in plain HTML for a stylesheet rather than the mail's
/// inline styles, with its footnotes as a list at the end, each with a link
/// back to where it was cited. Nothing in it belongs to a subscriber (no
/// token, no unsubscribe link): the same page serves everyone.
///
/// Markdown goes through cmark-gfm's own HTML renderer (tables,
/// strikethrough, autolinks, task lists, footnotes), in its safe mode: raw
/// HTML is left out and links of the schemes that run code get an empty
/// target. A list that allows raw HTML in its issues gets it kept. Either
/// way the result then goes through ``HTMLSanitizer`` (a task list's boxes
/// become ☑ and ☐). An imported letter (HTML) goes through the sanitiser alone.
public enum WebIssueRenderer {
    /// The body of a Markdown issue (front matter already taken off).
    /// - Parameter allowRawHTML: the list's setting: raw HTML kept, then sanitised.
    public static func html(markdown body: [UInt8], allowRawHTML: Bool = false) -> String {
        _ = MarkdownTree.extensionsRegistered
        var options = CMARK_OPT_FOOTNOTES | CMARK_OPT_VALIDATE_UTF8
        if allowRawHTML { options |= CMARK_OPT_UNSAFE }
        guard let parser = cmark_parser_new(options) else { fatalError("cmark_parser_new failed: out of memory") }
        defer { cmark_parser_free(parser) }
        for name in ["table", "strikethrough", "autolink", "tasklist"] {
            if let ext = cmark_find_syntax_extension(name) { cmark_parser_attach_syntax_extension(parser, ext) }
        }
        body.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in cmark_parser_feed(parser, chars.baseAddress, chars.count) }
        }
        guard let root = cmark_parser_finish(parser) else { fatalError("cmark_parser_finish failed: out of memory") }
        defer { cmark_node_free(root) }
        guard let rendered = cmark_render_html(root, options, cmark_parser_get_syntax_extensions(parser)) else { return "" }
        defer { free(rendered) }
        // Through the sanitiser either way: with raw HTML it is the wall; without, a second one.
        return HTMLSanitizer.sanitize(String(cString: rendered))
    }

    /// An imported letter's HTML (`source_format` html), sanitised.
    public static func html(imported letter: String) -> String {
        HTMLSanitizer.sanitize(letter)
    }
}
