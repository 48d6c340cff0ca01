#!/usr/bin/env python3
"""SMTP servers for listctl's transport tests, all in one process (aiosmtpd).

usage: smtp_server.py --work DIR --cert CERT --key KEY --user U --password P --ports-file FILE

Starts, each on a free 127.0.0.1 port, and writes `MODE PORT` lines to FILE:
  plain     no TLS, no auth, accepts everything
  starttls  STARTTLS required before MAIL
  auth      STARTTLS + AUTH PLAIN/LOGIN required (user/password given)
  smtps     implicit TLS (smtps://)
  misbehave scripted failures chosen by the recipient's local part:
              tempfail@  -> 451 at RCPT      reject@   -> 550 at RCPT
              shutdown@  -> 421 and close    drop@     -> connection closed
                                                          after DATA, no reply
              slow@      -> no answer to RCPT for 30 s (client timeout)
            and by the sender: blocked@ -> 553 at MAIL FROM
            anything else is accepted.

Every accepted message is stored as DIR/MODE/<message-id>.eml with a
<message-id>.json beside it: mail_from, rcpt_tos, peer (the client's
address:port, so tests can count SMTP sessions) and the session's AUTH user.
"""
import argparse
import asyncio
import json
import os
import re
import socket
import ssl
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    def __init__(self, directory, mode):
        self.directory = os.path.join(directory, mode)
        self.mode = mode
        os.makedirs(self.directory, exist_ok=True)
        self.lock = threading.Lock()
        self.counter = 0

    def store(self, session, envelope):
        content = envelope.original_content or envelope.content
        match = re.search(rb"^Message-ID:\s*<([^>]+)>", content, re.I | re.M)
        with self.lock:
            self.counter += 1
            name = match.group(1).decode() if match else f"no-id-{self.counter}"
        name = re.sub(r"[^A-Za-z0-9@._-]", "_", name)
        path = os.path.join(self.directory, name)
        with open(path + ".eml.tmp", "wb") as f:
            f.write(content)
        os.rename(path + ".eml.tmp", path + ".eml")
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "peer": "%s:%s" % tuple(session.peer[:2]),
            "auth_user": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
        }
        with open(path + ".json", "w") as f:
            json.dump(meta, f)


class AcceptHandler:
    def __init__(self, recorder):
        self.recorder = recorder

    async def handle_DATA(self, server, session, envelope):
        self.recorder.store(session, envelope)
        return "250 2.0.0 Ok: queued as %d" % int(time.time() * 1000000)


class MisbehavingHandler(AcceptHandler):
    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if address.split("@")[0].lower() == "blocked":
            return "553 5.7.1 Sender address rejected: not owned by user"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0].lower()
        if local == "tempfail":
            return "451 4.3.0 Temporary local problem, try later"
        if local == "reject":
            return "550 5.1.1 No such user here"
        if local == "shutdown":
            asyncio.get_event_loop().call_later(0.05, server.transport.close)
            return "421 4.3.2 Service shutting down, closing transmission channel"
        if local == "slow":
            await asyncio.sleep(30)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        if any(r.split("@")[0].lower() == "drop" for r in envelope.rcpt_tos):
            # Hang up without a final reply: the client cannot know whether
            # the message was accepted.
            server.transport.abort()
            return "421 4.4.2 dropped"
        return await super().handle_DATA(server, session, envelope)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--ports-file", required=True)
    args = parser.parse_args()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == args.user
            and auth_data.password.decode() == args.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.cert, args.key)

    common = dict(hostname="127.0.0.1", data_size_limit=0, ready_timeout=10)
    servers = {
        "plain": dict(handler=AcceptHandler(Recorder(args.work, "plain"))),
        "starttls": dict(handler=AcceptHandler(Recorder(args.work, "starttls")), tls_context=tls, require_starttls=True),
        "auth": dict(
            handler=AcceptHandler(Recorder(args.work, "auth")), tls_context=tls, require_starttls=True,
            authenticator=authenticator, auth_required=True, auth_require_tls=True),
        "smtps": dict(handler=AcceptHandler(Recorder(args.work, "smtps")), ssl_context=tls),
        "misbehave": dict(handler=MisbehavingHandler(Recorder(args.work, "misbehave"))),
    }
    controllers = []
    lines = []
    for mode, options in servers.items():
        port = free_port()
        controller = Controller(port=port, server_hostname="listctl-test", **common, **options)
        controller.start()
        controllers.append(controller)
        lines.append(f"{mode} {port}")
    with open(args.ports_file + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(args.ports_file + ".tmp", args.ports_file)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        for controller in controllers:
            controller.stop()


if __name__ == "__main__":
    main()
