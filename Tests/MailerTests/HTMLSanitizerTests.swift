import Foundation
import Testing

@testable import Mailer

/// HTMLSanitizer against the classic ways of getting script into a page,
/// checked by a second parser (Python's html.parser, Golden/tools/audit_sanitized.py)
/// as well as by exact expectations.
@Suite("HTML sanitiser (imported letters)")
struct HTMLSanitizerTests {
    /// Each of these, sanitised, must carry no script in any reading.
    static let attacks: [String] = [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
        "<img src=x onerror=alert(1)>",
        "<img src=\"javascript:alert(1)\">",
        "<a href=\"javascript:alert(1)\">x</a>",
        "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
        "<a href=\"java&#x09;script:alert(1)\">x</a>",
        "<a href=\"java\nscript:alert(1)\">x</a>",
        "<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)\">x</a>",
        "<a href=\"  \u{1}javascript:alert(1)\">x</a>",
        "<a href=\"vbscript:msgbox(1)\">x</a>",
        "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
        "<img src=\"data:image/svg+xml;base64,PHN2Zy8+\">",
        "<svg onload=alert(1)><circle r=1 /></svg>",
        "<svg><script>alert(1)</script></svg>",
        "<math><mtext><script>alert(1)</script></mtext></math>",
        "<iframe src=\"https://evil.example\"></iframe>",
        "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
        "<object data=\"x.swf\"></object><embed src=\"x.swf\">",
        "<style>body{background:url(javascript:alert(1))}</style>",
        "<p style=\"background:url(javascript:alert(1))\">styled</p>",
        "<div onclick=\"alert(1)\" onmouseover='alert(2)'>hover</div>",
        "<body onload=alert(1)>loaded</body>",
        "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
        "<base href=\"javascript:alert(1)//\">",
        "<link rel=stylesheet href=\"javascript:alert(1)\">",
        "<form action=\"javascript:alert(1)\"><button formaction=\"javascript:alert(2)\">go</button></form>",
        "<input onfocus=alert(1) autofocus>",
        "<scr<script>ipt>alert(1)</scr</script>ipt>",
        "<!--<script>alert(1)</script>-->",
        "<![CDATA[<script>alert(1)</script>]]>",
        "<?xml-stylesheet href=\"javascript:alert(1)\"?>",
        "<a href=\"https://ok.example\" onclick=\"alert(1)\" style=\"color:red\">ok</a>",
        "<img src=\"https://ok.example/a.png\" alt=\"a\" onerror=\"alert(1)\" width=\"100px\" height=\"50\">",
        "<table background=\"javascript:alert(1)\"><tr><td colspan=\"2\" onmouseover=alert(1)>cell</td></tr></table>",
        "<video><source onerror=\"alert(1)\"></video><audio src=x onerror=alert(1)>",
        "<template><script>alert(1)</script></template>",
        "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
        "<a href=\"#top\" id=\"x y\">fragment</a><span id=\"ok-id\">id</span>",
        "<blockquote cite=\"javascript:alert(1)\">quoted</blockquote>",
        "<p>unclosed <b>bold <i>both</p> after",
        "<a href=\"https://ok.example/?a=1&b=2\">amp</a> 5 &lt; 6 &amp; \"quotes\"",
    ]

    static func audit(_ fragments: [String]) throws -> (status: Int32, output: String) {
        try MailerFixtures.check(fragments, with: "audit_sanitized.py")
    }

    @Test("forty-odd script vectors: nothing dangerous survives, by this code's reading and by Python's html.parser; the auditor itself flags the raw vectors")
    func attacksAreDefused() throws {
        let cleaned = Self.attacks.map(HTMLSanitizer.sanitize)
        let audited = try Self.audit(cleaned)
        #expect(audited.status == 0, "\(audited.output)")
        for (attack, output) in zip(Self.attacks, cleaned) {
            let lower = output.lowercased()
            for word in ["<script", "javascript:", "vbscript:", "data:", "onerror", "onload", "onclick", "style=", "<iframe", "<svg"] {
                #expect(!lower.contains(word), "\(word) in \(output) (from \(attack))")
            }
        }
        // The auditor is not a rubber stamp: the raw vectors fail it.
        let raw = try Self.audit(Self.attacks)
        #expect(raw.status == 1 && raw.output.split(separator: "\n").count >= 30, "\(raw.output)")
    }

    @Test("what a letter needs survives: text, links, images, tables, emphasis, entities, in the order written")
    func lettersKeepTheirContent() {
        let letter = """
            <html><head><title>Letter</title><style>p{color:red}</style></head><body>
            <h2 align="center">Hello, <em>readers</em></h2>
            <p>A paragraph with <a href="https://example.org/post?id=1&amp;x=2" target="_blank" title="Post">a link</a>,
            <a href="mailto:me@example.org">mail</a> and <a href="/relative/path#frag">a relative one</a>.</p>
            <p><img src="https://cdn.example.org/a.jpg" alt="A &quot;photo&quot;" width="600" height="400" class="wide"></p>
            <ul><li>one</li><li>two &amp; three</li></ul>
            <table><tr><th colspan="2">Head</th></tr><tr><td>a</td><td>b</td></tr></table>
            <div><font color="red">kept text, dropped font</font><center>centred</center></div>
            <blockquote cite="https://example.org/quote">Quoted <strong>words</strong></blockquote>
            <p>5 &lt; 6 &mdash; caf&eacute;</p>
            </body></html>
            """
        let out = HTMLSanitizer.sanitize(letter)
        #expect(out.contains("<h2 align=\"center\">Hello, <em>readers</em></h2>"), "\(out)")
        #expect(out.contains("<a href=\"https://example.org/post?id=1&amp;x=2\" title=\"Post\">a link</a>"), "target dropped: \(out)")
        #expect(out.contains("<a href=\"mailto:me@example.org\">mail</a>"))
        #expect(out.contains("<a href=\"/relative/path#frag\">a relative one</a>"))
        #expect(out.contains("<img src=\"https://cdn.example.org/a.jpg\" alt=\"A &quot;photo&quot;\" width=\"600\" height=\"400\" class=\"wide\">"), "\(out)")
        #expect(out.contains("<ul><li>one</li><li>two &amp; three</li></ul>"))
        #expect(out.contains("<th colspan=\"2\">Head</th>"))
        #expect(out.contains("<div>kept text, dropped fontcentred</div>"), "\(out)")
        #expect(out.contains("<blockquote cite=\"https://example.org/quote\">Quoted <strong>words</strong></blockquote>"))
        #expect(out.contains("5 &lt; 6 — café"))
        #expect(!out.contains("Letter") && !out.contains("color:red"), "head and style gone with their content")
    }

    @Test("exact answers for the tricky ones; sanitising twice changes nothing; empty and text-only input")
    func exactAndIdempotent() {
        #expect(HTMLSanitizer.sanitize("<img src=x onerror=alert(1)>") == "<img src=\"x\">")
        #expect(HTMLSanitizer.sanitize("<a href=\"java&#x09;script:alert(1)\">x</a>") == "<a>x</a>")
        #expect(HTMLSanitizer.sanitize("<scr<script>ipt>alert(1)</scr</script>ipt>").contains("<") == false)
        #expect(HTMLSanitizer.sanitize("<p>unclosed <b>bold <i>both</p> after") == "<p>unclosed <b>bold <i>both</i></b></p> after")
        #expect(HTMLSanitizer.sanitize("") == "")
        #expect(HTMLSanitizer.sanitize("just text & more") == "just text &amp; more")
        for input in Self.attacks + ["<p>Plain <em>letter</em> <a href=\"https://x.example/?a=1&b=2\">link</a></p>"] {
            let once = HTMLSanitizer.sanitize(input)
            #expect(HTMLSanitizer.sanitize(once) == once, "not stable: \(input) → \(once)")
        }
    }

    @Test("tag soup: 400 generated fragments of script-ish pieces, sanitised: the auditor finds nothing, and again changes nothing")
    func tagSoup() throws {
        let pieces = ["<", ">", "</", "/>", "a", "img", "script", "svg", "p", "b", " ", "=", "\"", "'", "href", "src", "on", "error", "load",
                      "javascript:", "java\tscript:", "&#x6a;", "&#58;", "alert(1)", "style", "<!--", "-->", "<![CDATA[", "]]>", "x", "&", "\n", "iframe"]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33)
        }
        var inputs: [String] = []
        for _ in 0..<400 {
            inputs.append((0..<(5 + next() % 40)).map { _ in pieces[next() % pieces.count] }.joined())
        }
        let raw = try Self.audit(inputs)
        let rawFindings = raw.output.split(separator: "\n").count
        print("measured: the auditor flags \(rawFindings) things in the 400 raw fragments")
        #expect(rawFindings >= 50, "the generator makes dangerous markup: \(rawFindings) findings")
        let cleaned = inputs.map(HTMLSanitizer.sanitize)
        let audited = try Self.audit(cleaned)
        #expect(audited.status == 0, "\(audited.output)")
        for (input, once) in zip(inputs, cleaned) {
            #expect(HTMLSanitizer.sanitize(once) == once, "not stable: \(input.debugDescription) → \(once.debugDescription)")
        }
    }

    @Test("URLs: the schemes allowed per attribute, what browsers ignore removed, relative ones kept")
    func urls() {
        let links = ["http", "https", "mailto"] as Set<String>
        #expect(HTMLSanitizer.safeURL("https://a.example/x", schemes: links) == "https://a.example/x")
        #expect(HTMLSanitizer.safeURL("  HTTPS://a.example/x\n", schemes: links) == "HTTPS://a.example/x")
        #expect(HTMLSanitizer.safeURL("/path:with:colons", schemes: links) == "/path:with:colons")
        #expect(HTMLSanitizer.safeURL("?q=a:b", schemes: links) == "?q=a:b")
        #expect(HTMLSanitizer.safeURL("#note:1", schemes: links) == "#note:1")
        #expect(HTMLSanitizer.safeURL("page.html", schemes: links) == "page.html")
        for bad in ["javascript:x", " \tjava\tscript:x", "jav\rascript:x", "JAVASCRIPT:x", "data:text/html,x", "vbscript:x", "file:///etc/passwd",
                    "\u{0}javascript:x", "java\u{0}script:x", "", "   "] {
            #expect(HTMLSanitizer.safeURL(bad, schemes: links) == nil, "\(bad.debugDescription)")
        }
        #expect(HTMLSanitizer.safeURL("mailto:a@b.example", schemes: ["http", "https"]) == nil, "images: no mailto")
    }
}
