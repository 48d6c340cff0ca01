#!/usr/bin/env python3
"""Audits HTMLSanitizer's output with a parser that is not libxml2's
(Python's html.parser), the way a browser would read it: every element
must be on the allowlist, no attribute may be an event handler or a
style, and every URL (entities decoded, what browsers ignore removed)
must be http, https, mailto or relative. Arguments: files, one fragment
each. Prints one line per finding and exits 1 if there is any."""
import html
import re
import sys
from html.parser import HTMLParser

ALLOWED = set("""p br hr h1 h2 h3 h4 h5 h6 blockquote pre code em strong b i u s del ins sub sup small mark ul ol li
dl dt dd a img figure figcaption table thead tbody tfoot tr th td caption div span abbr cite q time section""".split())
URL_ATTRIBUTES = {"href", "src", "cite", "action", "formaction", "background", "poster", "xlink:href", "srcset"}


def scheme_ok(url, attribute):
    cleaned = re.sub(r"[\t\n\r]", "", html.unescape(url)).strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f"
                                                               "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
    match = re.match(r"^([^/?#]*?):", cleaned)
    if not match:
        return True
    allowed = {"http", "https", "mailto"} if attribute == "href" else {"http", "https"}
    return match.group(1).lower() in allowed


class Audit(HTMLParser):
    def __init__(self, name):
        super().__init__(convert_charrefs=True)
        self.name = name
        self.findings = []

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED:
            self.findings.append(f"{self.name}: element <{tag}>")
        for attribute, value in attrs:
            if attribute.startswith("on") or attribute in ("style", "srcdoc", "formaction"):
                self.findings.append(f"{self.name}: attribute {attribute} on <{tag}>")
            if attribute in URL_ATTRIBUTES and value is not None and not scheme_ok(value, attribute):
                self.findings.append(f"{self.name}: {attribute}={value!r} on <{tag}>")

    handle_startendtag = handle_starttag

    def handle_comment(self, data):
        self.findings.append(f"{self.name}: a comment")

    def handle_pi(self, data):
        self.findings.append(f"{self.name}: a processing instruction")

    def unknown_decl(self, data):
        self.findings.append(f"{self.name}: a declaration {data!r}")


findings = []
for path in sys.argv[1:]:
    audit = Audit(path)
    audit.feed(open(path, encoding="utf-8").read())
    audit.close()
    findings += audit.findings
for finding in findings:
    print(finding)
sys.exit(1 if findings else 0)
