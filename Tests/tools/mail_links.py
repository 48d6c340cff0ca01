#!/usr/bin/env python3
"""Reads every message of a Maildir with Python's own email package (an
independent MIME parser) and prints, as one JSON list, what the tests look
at: recipient, subject, Message-ID, List-Unsubscribe, and the https links of
the text part and of the HTML part (href attributes, parsed with html.parser).

usage: mail_links.py MAILDIR
"""
import email
import email.policy
import html.parser
import json
import os
import re
import sys


class Hrefs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            for name, value in attrs:
                if name == "href" and value:
                    self.links.append(value)


def describe(path):
    with open(path, "rb") as handle:
        message = email.message_from_binary_file(handle, policy=email.policy.default)
    text = html_body = ""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            text += part.get_content()
        elif part.get_content_type() == "text/html":
            html_body += part.get_content()
    hrefs = Hrefs()
    hrefs.feed(html_body)
    return {
        "file": os.path.basename(path),
        "to": str(message["To"] or ""),
        "subject": str(message["Subject"] or ""),
        "messageID": str(message["Message-ID"] or ""),
        "listUnsubscribe": str(message["List-Unsubscribe"] or ""),
        "textLinks": re.findall(r"https?://[^\s<>\"]+", text),
        "htmlLinks": hrefs.links,
    }


def main():
    folder = sys.argv[1]
    found = []
    for sub in ("new", "cur"):
        directory = os.path.join(folder, sub)
        if os.path.isdir(directory):
            for name in sorted(os.listdir(directory)):
                found.append(describe(os.path.join(directory, name)))
    print(json.dumps(found))


if __name__ == "__main__":
    main()
