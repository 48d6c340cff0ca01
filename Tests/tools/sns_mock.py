#!/usr/bin/env python3
"""A stand-in for the SNS side of SES webhooks, on loopback, for listctl's
tests (which have no network). It makes, with the `cryptography` package:

  DIR/ca.pem            a test CA (the tests give it to listctl as LISTCTL_WEBHOOK_SES_CA_FILE)
  DIR/server.pem/.key   a TLS certificate for 127.0.0.1 and localhost, signed by the CA
  DIR/signing.key       the RSA key that signs SNS messages (the tests sign with openssl)
  DIR/SimpleNotificationService-test.pem     its certificate, valid for a day
  DIR/SimpleNotificationService-expired.pem  a certificate of the same key that expired yesterday
  DIR/other.key, DIR/SimpleNotificationService-other.pem  another key's certificate

and serves over HTTPS on 127.0.0.1:

Every request line is appended to DIR/requests.log.

  GET /<name>.pem          the file DIR/<name>.pem
  GET /confirm?...         200 with a ConfirmSubscriptionResponse; the request line is appended to DIR/confirmed.log
  GET /confirm-fails?...   500
  anything else            404

usage: sns_mock.py --dir DIR --port-file FILE
"""
import argparse
import datetime
import http.server
import ipaddress
import os
import signal
import ssl
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

lock = threading.Lock()


def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_key(path, k):
    with open(path, "wb") as f:
        f.write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def certificate(subject, public_key, issuer, issuer_key, not_before, not_after, ca=False, san=None):
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
               .public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before)
               .not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def write_cert(path, cert):
    with open(path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def make(directory):
    now = datetime.datetime.now(datetime.timezone.utc)
    hour, day = datetime.timedelta(hours=1), datetime.timedelta(days=1)
    ca_key = key()
    ca = certificate("listctl test CA", ca_key.public_key(), "listctl test CA", ca_key, now - hour, now + day, ca=True)
    write_cert(os.path.join(directory, "ca.pem"), ca)
    server_key = key()
    write_key(os.path.join(directory, "server.key"), server_key)
    write_cert(os.path.join(directory, "server.pem"), certificate(
        "127.0.0.1", server_key.public_key(), "listctl test CA", ca_key, now - hour, now + day,
        san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]))
    signing = key()
    write_key(os.path.join(directory, "signing.key"), signing)
    write_cert(os.path.join(directory, "SimpleNotificationService-test.pem"), certificate(
        "sns.amazonaws.com", signing.public_key(), "listctl test CA", ca_key, now - hour, now + day))
    write_cert(os.path.join(directory, "SimpleNotificationService-expired.pem"), certificate(
        "sns.amazonaws.com", signing.public_key(), "listctl test CA", ca_key, now - 2 * day, now - day))
    other = key()
    write_key(os.path.join(directory, "other.key"), other)
    write_cert(os.path.join(directory, "SimpleNotificationService-other.pem"), certificate(
        "sns.amazonaws.com", other.public_key(), "listctl test CA", ca_key, now - hour, now + day))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body, content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        directory = self.server.directory
        with lock, open(os.path.join(directory, "requests.log"), "a") as f:
            f.write(self.path + "\n")
        path = self.path.split("?")[0]
        if path.endswith(".pem") and "/" not in path[1:] and path != "/ca.pem":
            file = os.path.join(directory, path[1:])
            if os.path.exists(file):
                with open(file, "rb") as f:
                    return self.answer(200, f.read(), "application/x-pem-file")
        elif path == "/confirm":
            with lock, open(os.path.join(directory, "confirmed.log"), "a") as f:
                f.write(self.path + "\n")
            return self.answer(200, b"<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>"
                               b"arn:aws:sns:us-east-1:123456789012:listctl-ses:test</SubscriptionArn>"
                               b"</ConfirmSubscriptionResult></ConfirmSubscriptionResponse>", "text/xml")
        elif path == "/confirm-fails":
            return self.answer(500, b"no")
        self.answer(404, b"not found")


def main():
    # Started from a thread that blocks signals, this process would inherit the
    # mask and never see the SIGTERM that stops it.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    make(args.dir)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.directory = args.dir
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(args.dir, "server.pem"), os.path.join(args.dir, "server.key"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
