#!/usr/bin/env python3
"""Mints listctl unsubscribe tokens as docs/TOKENS.md specifies them (an
independent implementation of the format, in Python), one path a line:
PREFIX/unsubscribe/TOKEN for each subscriber id read from stdin.

usage: bench_tokens.py --secret-env NAME --list ID --prefix /slug < ids
"""
import argparse
import base64
import hashlib
import hmac
import os
import sys


def leb128(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def token(secret, purpose, list_id, subscriber_id, issue_id=None):
    key_id = hashlib.sha256(b"listctl-key-id\0" + secret).digest()[:4]
    body = bytes([1, purpose]) + leb128(list_id) + leb128(subscriber_id) + leb128(0 if issue_id is None else issue_id + 1) + key_id
    mac = hmac.new(secret, b"listctl-token\0" + body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(body + mac).rstrip(b"=").decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret-env", required=True, help="the variable that holds the secret (never an argument)")
    parser.add_argument("--list", type=int, required=True)
    parser.add_argument("--prefix", required=True)
    args = parser.parse_args()
    secret = os.environ[args.secret_env].encode()
    for line in sys.stdin:
        if line.strip():
            print(f"{args.prefix}/unsubscribe/{token(secret, 1, args.list, int(line))}")


if __name__ == "__main__":
    main()
