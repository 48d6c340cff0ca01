#!/usr/bin/env python3
"""Strict well-formedness check for rendered e-mail HTML (used by MailerTests).

Every non-void element must be closed in order, nothing may be closed that
is not open, no <script> or <style>-only styling, and the document must hold
exactly one <html>, <head> and <body>. Prints "ok" or the problems; exit 1
on problems. Arguments: HTML files.
"""
import sys
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Checker(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.problems = []
        self.counts = {}

    def where(self):
        line, column = self.getpos()
        return f"line {line} column {column}"

    def handle_starttag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if tag in ("script", "iframe", "object"):
            self.problems.append(f"{self.where()}: <{tag}> is not allowed")
        if tag not in VOID:
            self.stack.append((tag, self.where()))

    def handle_startendtag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if tag not in VOID:
            self.problems.append(f"{self.where()}: <{tag}/> self-closed but not a void element")

    def handle_endtag(self, tag):
        if tag in VOID:
            self.problems.append(f"{self.where()}: </{tag}> closes a void element")
            return
        if not self.stack:
            self.problems.append(f"{self.where()}: </{tag}> with nothing open")
            return
        top, opened = self.stack[-1]
        if top != tag:
            self.problems.append(f"{self.where()}: </{tag}> but <{top}> (opened {opened}) is still open")
            # Recover if the tag is open further down.
            for index in range(len(self.stack) - 1, -1, -1):
                if self.stack[index][0] == tag:
                    del self.stack[index:]
                    break
            return
        self.stack.pop()


def check(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    checker = Checker()
    checker.feed(text)
    checker.close()
    problems = list(checker.problems)
    for tag, opened in checker.stack:
        problems.append(f"<{tag}> opened {opened} is never closed")
    for tag in ("html", "head", "body"):
        if checker.counts.get(tag, 0) != 1:
            problems.append(f"expected exactly one <{tag}>, found {checker.counts.get(tag, 0)}")
    return [f"{path}: {p}" for p in problems]


def main():
    problems = []
    for path in sys.argv[1:]:
        problems.extend(check(path))
    if problems:
        print("\n".join(problems[:50]))
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
