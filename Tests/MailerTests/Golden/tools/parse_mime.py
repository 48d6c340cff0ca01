#!/usr/bin/env python3
"""Parses a message with Python's email package (an independent parser) and
prints what it found as JSON, for MailerTests.

Checks the wire format on the way: CRLF only, no line over 998 octets, no
quoted-printable body line over 76. Argument: an .eml file.
"""
import email
import email.policy
import json
import sys


def main():
    raw = open(sys.argv[1], "rb").read()
    problems = []
    if b"\n" in raw.replace(b"\r\n", b"") or b"\r" in raw.replace(b"\r\n", b""):
        problems.append("bare CR or LF")
    lines = raw.split(b"\r\n")
    for number, line in enumerate(lines, 1):
        if len(line) > 998:
            problems.append(f"line {number} is {len(line)} octets")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    headers = {}
    for name, value in message.items():
        headers.setdefault(name.lower(), []).append(str(value))
    parts = []
    for part in message.walk():
        if part.is_multipart():
            continue
        encoded = part.get_payload(decode=False)
        if part.get("Content-Transfer-Encoding", "").lower() == "quoted-printable":
            for line in encoded.split("\r\n") if "\r\n" in encoded else encoded.split("\n"):
                if len(line) > 76:
                    problems.append(f"{part.get_content_type()} quoted-printable line of {len(line)}: {line[:40]!r}")
        parts.append({
            "content_type": part.get_content_type(),
            "charset": part.get_content_charset(),
            "transfer_encoding": part.get("Content-Transfer-Encoding"),
            "body": part.get_content(),
            "encoded_size": len(encoded.encode("ascii", "replace")),
        })
    defects = [type(d).__name__ for d in message.defects]
    for part in message.walk():
        defects.extend(type(d).__name__ for d in part.defects)
    print(json.dumps({
        "headers": headers,
        "content_type": message.get_content_type(),
        "parts": parts,
        "defects": defects,
        "problems": problems,
    }))


if __name__ == "__main__":
    main()
