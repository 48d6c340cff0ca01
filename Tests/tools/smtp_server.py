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
              late@      -> the whole DATA read, then no reply for 30 s
            and by the sender: blocked@ -> 553 at MAIL FROM
            anything else is accepted.
  middata   a scripted SMTP server that answers 354 to DATA, reads 256 KB of
            the message and resets the connection (a drop mid-DATA)
  hangup    accepts a connection and resets it at once (on smtps://: a TLS
            handshake cut off)

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
import struct
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
        if any(r.split("@")[0].lower() == "late" for r in envelope.rcpt_tos):
            # The message is all here; the verdict comes after the client gave up.
            await asyncio.sleep(30)
            return "451 4.3.0 too late"
        return await super().handle_DATA(server, session, envelope)


def reset(writer):
    """Closes with a TCP RST (SO_LINGER 0), as a crashed peer or a middlebox would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def middata_session(reader, writer):
    writer.write(b"220 listctl-test ESMTP middata\r\n")
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250 listctl-test\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                received = 0
                while received < 256 * 1024:
                    chunk = await reader.read(65536)
                    if not chunk:
                        return
                    received += len(chunk)
                reset(writer)
                return
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                writer.close()
                return
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
    except (ConnectionError, OSError):
        writer.transport.abort()


async def hangup_session(reader, writer):
    reset(writer)


def start_raw_servers():
    """The scripted servers, on an event loop of their own; returns {mode: port}."""
    loop = asyncio.new_event_loop()
    ports = {}

    async def setup():
        for mode, handler in (("middata", middata_session), ("hangup", hangup_session)):
            server = await asyncio.start_server(handler, "127.0.0.1", 0)
            ports[mode] = server.sockets[0].getsockname()[1]

    loop.run_until_complete(setup())
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return ports


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
    for mode, port in start_raw_servers().items():
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
