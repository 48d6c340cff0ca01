#!/usr/bin/env python3
"""Independent DKIM check for listctl's tests: verifies a message with dkimpy,
taking the key record from a file instead of DNS.

usage: dkim_verify.py MESSAGE_FILE RECORD_FILE
Exit 0 and print "pass" when the signature verifies; exit 1 and print why not.
Ed25519 needs PyNaCl (pip install pynacl).
"""
import logging
import sys

import dkim


def main():
    message = open(sys.argv[1], "rb").read()
    record = open(sys.argv[2], "rb").read().strip()

    def dnsfunc(name, timeout=5):
        return record

    log = logging.getLogger("dkim")
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)
    ok = dkim.verify(message, logger=log, dnsfunc=dnsfunc, minkey=1024)
    print("pass" if ok else "fail")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
