#!/usr/bin/env python3
"""A stand-in for the HTTP APIs of Postmark, Mailgun, SendGrid and Resend,
for listctl's transport tests. It checks method, path, auth header and body
shape the way each provider documents them, and records every request.

usage: provider_mock.py --port-file FILE --record DIR --token TOKEN [--domain DOMAIN]

  POST /email                      Postmark   X-Postmark-Server-Token: TOKEN, JSON
  POST /v3/DOMAIN/messages.mime    Mailgun    Basic api:TOKEN, multipart (to, message)
  POST /v3/mail/send               SendGrid   Bearer TOKEN, JSON; answers 202 + X-Message-Id
  POST /emails                     Resend     Bearer TOKEN, JSON

Scripted failures by the recipient's local part: ratelimit@ -> 429 with
Retry-After: 7; unavailable@ -> 503; invalid@ -> 422; inactive@ -> 422 with
Postmark's ErrorCode 406 (inactive recipient); drop@ -> the body is read,
then the connection is reset with no status line. A wrong token -> 401.
A malformed request -> 400 saying what was wrong.

Per-message tracking options are checked the way each provider documents
them, when present (a wrong type or value -> 400): Postmark `TrackOpens` a
JSON boolean, `TrackLinks` one of None, HtmlAndText, HtmlOnly, TextOnly;
SendGrid `tracking_settings.{click_tracking,open_tracking,
subscription_tracking,ganalytics}` objects whose `enable` (and
`enable_text`) are JSON booleans; Mailgun `o:tracking`, `o:tracking-opens`
yes/no/true/false and `o:tracking-clicks` also htmlonly.

Each request is stored as DIR/<provider>-<recipient>-<n>.json with method,
path, headers, the parsed JSON (or the multipart fields, last value per
name), `form` (every multipart field in order, as [name, value] pairs),
`raw` (the body exactly as received, base64) and the status sent.
"""
import argparse
import base64
import itertools
import json
import os
import socket
import struct
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counter = itertools.count(1)
lock = threading.Lock()


def parse_multipart(content_type, body):
    """multipart/form-data fields as [name, value] pairs in order, bytes kept
    exactly (no MIME parsing of the message/rfc822 part, so the test sees
    what was uploaded)."""
    boundary = None
    for piece in content_type.split(";")[1:]:
        key, _, value = piece.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        raise ValueError("multipart/form-data without a boundary")
    delimiter = b"--" + boundary.encode()
    fields = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        name = None
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if line.lower().startswith("content-disposition:"):
                for piece in line.split(";")[1:]:
                    key, _, value = piece.strip().partition("=")
                    if key == "name":
                        name = value.strip('"')
        if name is None:
            raise ValueError("a form part without a name")
        fields.append([name, content.decode("utf-8", "replace")])
    return fields


POSTMARK_TRACK_LINKS = ("None", "HtmlAndText", "HtmlOnly", "TextOnly")
MAILGUN_YES_NO = ("yes", "no", "true", "false")


def tracking_problem(provider, parsed, form):
    """What is wrong with the per-message tracking options, or None."""
    if provider == "postmark":
        if "TrackOpens" in parsed and not isinstance(parsed["TrackOpens"], bool):
            return "TrackOpens must be a boolean"
        if "TrackLinks" in parsed and parsed["TrackLinks"] not in POSTMARK_TRACK_LINKS:
            return f"TrackLinks must be one of {', '.join(POSTMARK_TRACK_LINKS)}"
    elif provider == "sendgrid" and "tracking_settings" in parsed:
        settings = parsed["tracking_settings"]
        if not isinstance(settings, dict):
            return "tracking_settings must be an object"
        for key, value in settings.items():
            if key not in ("click_tracking", "open_tracking", "subscription_tracking", "ganalytics"):
                return f"tracking_settings.{key} is not a tracking setting"
            if not isinstance(value, dict):
                return f"tracking_settings.{key} must be an object"
            for flag in ("enable", "enable_text"):
                if flag in value and not isinstance(value[flag], bool):
                    return f"tracking_settings.{key}.{flag} must be a boolean"
    elif provider == "mailgun":
        for name, value in form:
            allowed = MAILGUN_YES_NO + (("htmlonly",) if name == "o:tracking-clicks" else ())
            if name in ("o:tracking", "o:tracking-clicks", "o:tracking-opens") and value not in allowed:
                return f"{name} must be one of {', '.join(allowed)}"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ProviderMock/1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def record(self, provider, recipient, parsed, status, raw=b"", form=None):
        n = next(counter)
        safe = "".join(c if c.isalnum() or c in "@._-" else "_" for c in (recipient or "none"))
        path = os.path.join(self.server.record_dir, f"{provider}-{safe}-{n}.json")
        entry = {
            "method": self.command, "path": self.path, "headers": dict(self.headers.items()),
            "body": parsed, "status": status, "raw": base64.b64encode(raw).decode(),
        }
        if form is not None:
            entry["form"] = form
        with open(path + ".tmp", "w") as f:
            json.dump(entry, f)
        os.rename(path + ".tmp", path)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        token = self.server.token
        ctype = self.headers.get("Content-Type", "")
        provider, recipient, parsed, problem, auth_ok, form = None, None, None, None, False, None
        try:
            if self.path == "/email":
                provider = "postmark"
                auth_ok = self.headers.get("X-Postmark-Server-Token") == token
                parsed = json.loads(body)
                recipient = parsed.get("To")
                if not ctype.startswith("application/json"):
                    problem = "Content-Type must be application/json"
                elif not parsed.get("From") or not parsed.get("Subject") or not (parsed.get("HtmlBody") or parsed.get("TextBody")):
                    problem = "From, Subject and HtmlBody or TextBody are required"
            elif self.path == f"/v3/{self.server.domain}/messages.mime":
                provider = "mailgun"
                auth_ok = self.headers.get("Authorization") == "Basic " + base64.b64encode(f"api:{token}".encode()).decode()
                if not ctype.startswith("multipart/form-data"):
                    problem = "Content-Type must be multipart/form-data"
                else:
                    form = parse_multipart(ctype, body)
                    parsed = dict(form)
                    recipient = parsed.get("to")
                    if not recipient or "message" not in parsed:
                        problem = "to and message are required"
            elif self.path == "/v3/mail/send":
                provider = "sendgrid"
                auth_ok = self.headers.get("Authorization") == f"Bearer {token}"
                parsed = json.loads(body)
                try:
                    recipient = parsed["personalizations"][0]["to"][0]["email"]
                except (KeyError, IndexError, TypeError):
                    problem = "personalizations[0].to[0].email is required"
                if not problem and (not parsed.get("from", {}).get("email") or not parsed.get("content")):
                    problem = "from.email and content are required"
            elif self.path == "/emails":
                provider = "resend"
                auth_ok = self.headers.get("Authorization") == f"Bearer {token}"
                parsed = json.loads(body)
                recipient = (parsed.get("to") or [None])[0]
                if not parsed.get("from") or not parsed.get("subject") or not (parsed.get("html") or parsed.get("text")):
                    problem = "from, subject and html or text are required"
            else:
                self.reply(404, {"message": f"no such endpoint {self.path}"})
                return
            if not problem:
                problem = tracking_problem(provider, parsed, form or [])
        except (ValueError, UnicodeDecodeError) as error:
            problem = f"malformed body: {error}"

        local = (recipient or "").split("@")[0].lower()
        if auth_ok and local == "drop":
            # The whole body is read; hang up before any status line, so the
            # client cannot know whether the message was accepted.
            self.record(provider, recipient, parsed, 0, body, form)
            self.close_connection = True
            sock = self.connection
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            return
        if not auth_ok:
            status, answer, headers = 401, {"message": "invalid credentials"}, {}
        elif problem:
            status, answer, headers = 400, {"message": problem}, {}
        elif local == "ratelimit":
            status, answer, headers = 429, {"message": "too many requests"}, {"Retry-After": "7"}
        elif local == "unavailable":
            status, answer, headers = 503, {"message": "try again later"}, {}
        elif local == "inactive":
            status, answer, headers = 422, {"ErrorCode": 406, "Message": "You tried to send to recipient(s) that have been marked as inactive."}, {}
        elif local == "invalid":
            status, answer, headers = 422, {"ErrorCode": 300, "message": "Invalid email request"}, {}
        else:
            mid = str(uuid.uuid4())
            if provider == "postmark":
                status, answer, headers = 200, {"To": recipient, "MessageID": mid, "ErrorCode": 0, "Message": "OK"}, {}
            elif provider == "mailgun":
                status, answer, headers = 200, {"id": f"<{mid}@mock>", "message": "Queued. Thank you."}, {}
            elif provider == "sendgrid":
                status, answer, headers = 202, {}, {"X-Message-Id": mid}
            else:
                status, answer, headers = 200, {"id": mid}, {}
        self.record(provider, recipient, parsed, status, body, form)
        self.reply(status, answer, headers)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--record", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--domain", default="mg.example.org")
    args = parser.parse_args()
    os.makedirs(args.record, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.token, server.domain, server.record_dir = args.token, args.domain, args.record
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
