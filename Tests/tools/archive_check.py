#!/usr/bin/env python3
"""Independent checks of listctl's public archive, for ArchivePagesCLITests.

usage: archive_check.py words --page PAGE.html --markdown ISSUE.md [--title TEXT]
       archive_check.py feed FEED.xml

words: the words of the page's <article> (its date line left out) against
the words of the Markdown source, read here with nothing of listctl's: front
matter, footnote definitions and references, link targets, images, code-fence
info strings and task boxes taken out, entities decoded. The footnote section
is compared with the definitions: each note once, in the order cited. With
--title, the page's first heading is that title (listctl adds the subject when
the issue has no heading of its own) and is left out.

feed: the feed read by feedparser: its version, whether it is well formed
(bozo), the feed's fields and each entry's.

Each prints one JSON object.
"""
import html
import html.parser
import json
import re
import sys

WORD = re.compile(r"[^\W_]+")


def words(text):
    return WORD.findall(text)


def source_words(markdown):
    text = markdown
    if text.startswith("---\n"):
        text = text[text.index("\n---\n", 4) + 5:]
    notes = {}
    body = []
    for line in text.split("\n"):
        match = re.match(r"^\[\^([^\]]+)\]:\s*(.*)$", line)
        if match:
            notes[match.group(1)] = match.group(2)
            continue
        if re.match(r"^\s*```", line):
            continue
        body.append(line)
    text = "\n".join(body)
    order = []
    for label in re.findall(r"\[\^([^\]]+)\]", text):
        if label in notes and label not in order:
            order.append(label)
    text = re.sub(r"\[\^[^\]]+\]", " ", text)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"^(\s*[-*+]\s+)\[[ xX]\]", r"\1", text, flags=re.M)
    text = html.unescape(text)
    return words(text), [(label, words(html.unescape(notes[label]))) for label in order]


class ArticleText(html.parser.HTMLParser):
    """The text of <article>: the body, and each footnote of its footnote section."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth = 0          # inside <article>
        self.skip = 0           # inside the date line
        self.in_notes = 0
        self.body = []
        self.notes = []         # [(id, [text])]
        self.headings = []
        self.in_h1 = False
        self.stack = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "article":
            self.depth += 1
        if not self.depth:
            return
        classes = (attrs.get("class") or "").split()
        # The date line, and the note numbers and back-links: listctl's, not the words.
        chrome = bool({"date", "footnote-ref", "footnote-backref"} & set(classes)) or "data-footnote-backref" in attrs
        self.stack.append((tag, chrome, "footnotes" in classes))
        if chrome:
            self.skip += 1
        if "footnotes" in classes:
            self.in_notes += 1
        if self.in_notes and tag == "li":
            self.notes.append((attrs.get("id", ""), []))
        if tag == "h1":
            self.in_h1 = True
            self.headings.append("")

    def handle_endtag(self, tag):
        if tag == "article":
            self.depth -= 1
            return
        if not self.depth or not self.stack:
            return
        while self.stack:
            name, date, notes = self.stack.pop()
            if date:
                self.skip -= 1
            if notes:
                self.in_notes -= 1
            if name == "h1":
                self.in_h1 = False
            if name == tag:
                break
        self.body.append(" ") if not self.in_notes else None

    def handle_data(self, data):
        if not self.depth or self.skip:
            return
        if self.in_h1 and self.headings:
            self.headings[-1] += data
        if self.in_notes:
            if self.notes:
                self.notes[-1][1].append(data)
        else:
            self.body.append(data)


def check_words(page_file, markdown_file, title):
    parser = ArticleText()
    with open(page_file, encoding="utf-8") as f:
        parser.feed(f.read())
    with open(markdown_file, encoding="utf-8") as f:
        expected_body, expected_notes = source_words(f.read())
    body = words("".join(parser.body))
    if title is not None:
        title_words = words(title)
        if body[:len(title_words)] == title_words:
            body = body[len(title_words):]
    first_difference = next((i for i, (a, b) in enumerate(zip(body, expected_body)) if a != b), None)
    if first_difference is None and len(body) != len(expected_body):
        first_difference = min(len(body), len(expected_body))
    notes = [(ident, words(" ".join(text))) for ident, text in parser.notes]
    page_note_words = [w for _, w in notes]
    expected_note_words = [w for _, w in expected_notes]
    return {
        "sameWords": first_difference is None,
        "pageWords": len(body),
        "sourceWords": len(expected_body),
        "firstDifference": None if first_difference is None else {
            "at": first_difference,
            "page": body[max(0, first_difference - 5):first_difference + 5],
            "source": expected_body[max(0, first_difference - 5):first_difference + 5],
        },
        "notes": len(notes),
        "sourceNotes": len(expected_notes),
        "sameNotes": page_note_words == expected_note_words,
        "noteIDs": [ident for ident, _ in notes],
        # A note's words anywhere in the body would mean it is shown twice.
        "notesInBody": sum(1 for w in expected_note_words if len(w) > 3 and " ".join(w) in " ".join(body)),
    }


def check_feed(path):
    import feedparser
    parsed = feedparser.parse(path)
    feed = parsed.feed
    return {
        "bozo": bool(parsed.bozo),
        "bozoException": str(parsed.get("bozo_exception", "")),
        "version": parsed.version,
        "id": feed.get("id"),
        "title": feed.get("title"),
        "updated": feed.get("updated"),
        "author": feed.get("author"),
        "links": [{"rel": l.get("rel"), "href": l.get("href")} for l in feed.get("links", [])],
        "entries": [{
            "id": e.get("id"),
            "title": e.get("title"),
            "link": e.get("link"),
            "published": e.get("published"),
            "updated": e.get("updated"),
            "summary": e.get("summary", ""),
            "contentType": e.content[0].type if e.get("content") else None,
            "content": e.content[0].value if e.get("content") else "",
        } for e in parsed.entries],
    }


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "feed":
        print(json.dumps(check_feed(sys.argv[2])))
        return 0
    if len(sys.argv) >= 2 and sys.argv[1] == "words":
        args = dict(zip(sys.argv[2::2], sys.argv[3::2]))
        print(json.dumps(check_words(args["--page"], args["--markdown"], args.get("--title"))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
