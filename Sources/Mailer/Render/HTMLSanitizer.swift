import CLibXML2

/// Makes HTML written elsewhere (a TinyLetter letter archive, say) safe to
/// serve on the list's own pages: libxml2's HTML parser builds the tree a
/// browser would, then only an allowlist of elements and attributes is
/// written back out, with every text and attribute escaped anew. Never a
/// regular expression over tags.
///
/// - Elements: the ones of a letter (paragraphs, headings, lists, quotes,
///   tables, links, images, emphasis, code, figures); anything else is
///   unwrapped (its text kept), except the ones whose content is code or
///   chrome (`script`, `style`, `iframe`, `object`, `svg`, `form`, `head`…),
///   which go with their content.
/// - Attributes: `title`, `lang`, `dir`, a plain `id` and `class`; `href` (http, https,
///   mailto, relative, a fragment), `src` (http, https, relative), `alt`,
///   numeric `width`/`height`/`colspan`/`rowspan`/`start`, `align` with
///   its four values, `cite`, `datetime`. No event handler, no `style`, no
///   `javascript:`/`data:`/`vbscript:` URL, however it is spelled or encoded.
/// - Comments, processing instructions and CDATA are dropped.
///
/// The pages that show the result also forbid scripts with their
/// Content-Security-Policy: the sanitiser is one of two walls.
public enum HTMLSanitizer {
    /// The body of `html`, sanitised, as an HTML fragment.
    public static func sanitize(_ html: String) -> String {
        _ = initialize
        guard !html.isEmpty else { return "" }
        // Inside an explicit body, so that text at the top stays text: without one the parser wraps a leading
        // text in <p>, and sanitising the result again would change it. A document's own <html>, <head> and
        // <body> tags merge into these.
        var bytes = Array("<html><body>".utf8) + Array(html.utf8)
        let options = Int32(HTML_PARSE_RECOVER.rawValue | HTML_PARSE_NOERROR.rawValue | HTML_PARSE_NOWARNING.rawValue
            | HTML_PARSE_NONET.rawValue)
        let document = bytes.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                htmlReadMemory(chars.baseAddress, Int32(chars.count), nil, "UTF-8", options)
            }
        }
        guard let document else { return "" }
        defer { xmlFreeDoc(document) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        bytes = []
        guard let root = xmlDocGetRootElement(document) else { return "" }
        // The parser puts a fragment into html/body; write what is under body (or the root when there is none).
        let start = child(named: "body", of: root) ?? root
        writeChildren(of: start, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// libxml2's global state, set up once (its parser is thread-safe afterwards).
    private static let initialize: Void = { xmlInitParser() }()

    static let allowedElements: Set<String> = [
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code", "em", "strong", "b", "i", "u", "s",
        "del", "ins", "sub", "sup", "small", "mark", "ul", "ol", "li", "dl", "dt", "dd", "a", "img", "figure", "figcaption",
        "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "div", "span", "abbr", "cite", "q", "time", "section",
    ]

    /// Dropped with everything inside them.
    static let droppedElements: Set<String> = [
        "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "noscript", "noembed", "noframes",
        "template", "svg", "math", "form", "input", "button", "textarea", "select", "option", "optgroup", "label",
        "fieldset", "legend", "head", "title", "meta", "link", "base", "audio", "video", "canvas", "param", "source",
        "track", "map", "area", "xmp", "plaintext", "dialog", "portal", "slot",
    ]

    static let voidElements: Set<String> = ["br", "hr", "img"]

    private static func writeChildren(of node: xmlNodePtr, into out: inout [UInt8]) {
        var current = node.pointee.children
        while let child = current {
            write(child, into: &out)
            current = child.pointee.next
        }
    }

    private static func write(_ node: xmlNodePtr, into out: inout [UInt8]) {
        switch node.pointee.type {
        case XML_TEXT_NODE:
            if let content = node.pointee.content { HTMLEscaping.append(UnsafeBufferPointer(start: content, count: Int(xmlStrlen(content))), to: &out) }
        case XML_ELEMENT_NODE:
            let name = String(cString: node.pointee.name).lowercased()
            if name == "input", let box = checkbox(node) {
                // A task list's box (cmark-gfm writes one per item): its state as text, since no form is kept.
                out.append(contentsOf: Array((box ? "☑" : "☐").utf8))
                return
            }
            if droppedElements.contains(name) { return }
            guard allowedElements.contains(name) else {
                writeChildren(of: node, into: &out)
                return
            }
            out.append(UInt8(ascii: "<"))
            out.append(contentsOf: name.utf8)
            writeAttributes(of: node, element: name, into: &out)
            out.append(UInt8(ascii: ">"))
            guard !voidElements.contains(name) else { return }
            writeChildren(of: node, into: &out)
            out.append(contentsOf: Array("</\(name)>".utf8))
        default:
            // Comments, CDATA, processing instructions, entity references the parser left: nothing.
            return
        }
    }

    private static func writeAttributes(of node: xmlNodePtr, element: String, into out: inout [UInt8]) {
        var seen: Set<String> = []
        var current = node.pointee.properties
        while let attribute = current {
            current = attribute.pointee.next
            let name = String(cString: attribute.pointee.name).lowercased()
            guard seen.insert(name).inserted, let value = allowedValue(name, value(of: attribute), element: element) else { continue }
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: Array("=\"".utf8))
            if name == "href" || name == "src" || name == "cite" {
                HTMLEscaping.appendURL(ArraySlice(value.utf8), to: &out)
            } else {
                HTMLEscaping.append(value.utf8, to: &out)
            }
            out.append(UInt8(ascii: "\""))
        }
    }

    /// For `<input type="checkbox">`, whether it is checked; nil for any other input.
    private static func checkbox(_ node: xmlNodePtr) -> Bool? {
        var type: String?, checked = false
        var current = node.pointee.properties
        while let attribute = current {
            current = attribute.pointee.next
            let name = String(cString: attribute.pointee.name).lowercased()
            if name == "type" { type = value(of: attribute).lowercased() }
            if name == "checked" { checked = true }
        }
        return type == "checkbox" ? checked : nil
    }

    /// The attribute's text (the parser has decoded its entities).
    private static func value(of attribute: xmlAttrPtr) -> String {
        var text: [UInt8] = []
        var current = attribute.pointee.children
        while let child = current {
            if let content = child.pointee.content { text.append(contentsOf: UnsafeBufferPointer(start: content, count: Int(xmlStrlen(content)))) }
            current = child.pointee.next
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// `value` as it may be written for attribute `name` on `element`, or nil to drop the attribute.
    static func allowedValue(_ name: String, _ value: String, element: String) -> String? {
        switch name {
        case "title", "lang", "dir":
            return value
        case "class":
            let ok = !value.isEmpty && value.utf8.count <= 128
                && value.utf8.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: " ") }
            return ok ? value : nil
        case "id":
            let ok = !value.isEmpty && value.utf8.count <= 64
                && value.utf8.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
            return ok ? value : nil
        case "href" where element == "a":
            return safeURL(value, schemes: ["http", "https", "mailto"])
        case "src" where element == "img":
            return safeURL(value, schemes: ["http", "https"])
        case "cite" where element == "blockquote" || element == "q":
            return safeURL(value, schemes: ["http", "https"])
        case "alt" where element == "img":
            return value
        case "width" where element == "img", "height" where element == "img", "colspan" where element == "td" || element == "th",
             "rowspan" where element == "td" || element == "th", "start" where element == "ol":
            let trimmed = value.trimmingASCIIWhitespace
            return !trimmed.isEmpty && trimmed.utf8.count <= 5 && trimmed.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) ? trimmed : nil
        case "align" where ["p", "div", "td", "th", "img", "h1", "h2", "h3", "h4", "h5", "h6", "table"].contains(element):
            let lower = value.trimmingASCIIWhitespace.lowercased()
            return ["left", "right", "center", "justify"].contains(lower) ? lower : nil
        case "datetime" where element == "time":
            return value
        default:
            return nil
        }
    }

    /// `url` with what browsers ignore removed (tabs and line breaks anywhere, control characters and spaces at
    /// the ends), when it is relative or of one of `schemes`; nil otherwise (`javascript:`, `data:`, …).
    static func safeURL(_ url: String, schemes: Set<String>) -> String? {
        var bytes = Array(url.utf8).filter { $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }
        while let first = bytes.first, first <= 0x20 { bytes.removeFirst() }
        while let last = bytes.last, last <= 0x20 { bytes.removeLast() }
        guard !bytes.isEmpty else { return nil }
        // A scheme is what comes before the first ':' that precedes any '/', '?' or '#'.
        if let colon = bytes.firstIndex(of: UInt8(ascii: ":")),
           !bytes[..<colon].contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) {
            let scheme = String(decoding: bytes[..<colon].map { $0 | 0x20 }, as: UTF8.self)
            guard schemes.contains(scheme) else { return nil }
        }
        // No control characters left anywhere (a browser would treat some as nothing, and then see a scheme).
        guard !bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }

    private static func child(named name: String, of node: xmlNodePtr) -> xmlNodePtr? {
        var current = node.pointee.children
        while let child = current {
            if child.pointee.type == XML_ELEMENT_NODE, String(cString: child.pointee.name).lowercased() == name { return child }
            current = child.pointee.next
        }
        return nil
    }
}

extension String {
    fileprivate var trimmingASCIIWhitespace: String {
        var bytes = Substring(self).utf8[...]
        while let first = bytes.first, first == 0x20 || first == 0x09 || first == 0x0A || first == 0x0D { bytes = bytes.dropFirst() }
        while let last = bytes.last, last == 0x20 || last == 0x09 || last == 0x0A || last == 0x0D { bytes = bytes.dropLast() }
        return String(decoding: bytes, as: UTF8.self)
    }
}
