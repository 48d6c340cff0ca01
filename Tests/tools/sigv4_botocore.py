#!/usr/bin/env python3
"""Cross-check for listctl's SigV4: prints botocore's signature for a request.

usage: sigv4_botocore.py METHOD URL REGION SERVICE KEY SECRET AMZDATE BODYFILE [Header:Value ...]
"""
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def main():
    method, url, region, service, key, secret, amzdate, bodyfile = sys.argv[1:9]
    body = open(bodyfile, "rb").read()
    request = AWSRequest(method=method, url=url, data=body)
    for header in sys.argv[9:]:
        name, value = header.split(":", 1)
        request.headers[name] = value
    request.headers["X-Amz-Date"] = amzdate
    request.context["timestamp"] = amzdate
    auth = SigV4Auth(Credentials(key, secret), service, region)
    canonical = auth.canonical_request(request)
    print(auth.signature(auth.string_to_sign(request, canonical), request))


if __name__ == "__main__":
    main()
