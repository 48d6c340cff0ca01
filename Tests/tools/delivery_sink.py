#!/usr/bin/env python3
"""An SMTP sink for the delivery engine's fault tests (aiosmtpd), one per test.

usage: delivery_sink.py --port-file FILE --log FILE [--received-log FILE]
           [--tempfail-prefix P] [--tempfail-times N]
           [--reject-prefix P]
           [--drop-prefix P] [--drop-times N]
           [--delay-ms MS] [--fail-all CODE] [--tempfail-share X]

Listens on a free 127.0.0.1 port (no TLS, no AUTH, any sender) and, once it
listens, writes the port number to --port-file (written to FILE.tmp, then
renamed). Every accepted message appends one JSON line per recipient to --log,
before the client sees the 250:

  {"messageID": "<Message-ID without <>, or "">", "rcpt": "...",
   "trace": "<X-Listctl-Trace or null>", "subject": "<raw Subject, unfolded, or "">",
   "bytes": N, "time": UNIX_SECONDS, "mailFrom": "...", "dropped": false}

A duplicate is a line of its own: tests count copies.

--received-log FILE gets a line of the same shape for every message whose DATA
is complete (the final "." read), before any delay and verdict: what was on the
wire. A message whose client hangs up while it waits for its verdict is
in --received-log only, never in --log: the sink commits a message when it
replies, as servers that queue on the reply do (some queue at the final ".").

Faults, chosen by the recipient's local part (lower-cased) starting with P:
  --tempfail-prefix P  451 at RCPT for the first --tempfail-times (1) attempts
                       of that address, counted across connections; then 250.
  --reject-prefix P    550 5.1.1 at RCPT, always.
  --drop-prefix P      the whole DATA is read, then the connection is closed
                       without a reply, for the first --drop-times (1) attempts
                       of that address. The client cannot know the outcome, so
                       the copy is logged, with "dropped": true.
  --tempfail-share X   451 after DATA for a share X (0..1) of messages, decided
                       by a hash of (Message-ID, this Message-ID's attempt
                       number): the same attempt always gets the same verdict,
                       and a retry may pass. Not logged.
  --delay-ms MS        waits MS before the DATA verdict (a slow server; other
                       connections go on meanwhile).
  --fail-all CODE      answers CODE (421, 451, 554...) to every MAIL FROM: the
                       transport is down and nothing is accepted. 421 also
                       closes the connection, as RFC 5321 says.

At DATA a message with several recipients gets one verdict: dropped if any
recipient is to be dropped. Exits 0 on SIGTERM or SIGINT, and by itself when
the process that started it goes away (a test runner killed with -9 must not
leave servers behind).
"""
import argparse
import asyncio
import hashlib
import json
import os
import re
import signal
import sys
import threading
import time

from aiosmtpd.smtp import SMTP


def local_part(address):
    return address.rsplit("@", 1)[0].lower()


def headers_of(content):
    """The header fields of a message, unfolded, as {lower-cased name: first raw value}."""
    end = re.search(rb"\r?\n\r?\n", content)
    block = content[: end.start()] if end else content
    text = block.decode("utf-8", errors="replace")
    text = re.sub(r"\r?\n(?=[ \t])", "", text)
    fields = {}
    for line in re.split(r"\r?\n", text):
        name, colon, value = line.partition(":")
        if colon and name.strip():
            fields.setdefault(name.strip().lower(), value.strip())
    return fields


class Log:
    """The accepted-message log: whole lines, flushed one by one."""

    def __init__(self, path):
        self.file = open(path, "a", encoding="utf-8")
        self.lock = threading.Lock()

    def write(self, entries):
        with self.lock:
            for entry in entries:
                self.file.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self.file.flush()


class FaultHandler:
    def __init__(self, args, log, received):
        self.args = args
        self.log = log
        self.received = received
        # Attempts so far, by address (RCPT tempfails, drops) and by Message-ID (share).
        self.rcpt_attempts = {}
        self.drop_attempts = {}
        self.share_attempts = {}

    def matches(self, prefix, address):
        return prefix is not None and local_part(address).startswith(prefix.lower())

    @staticmethod
    def count(counter, key):
        counter[key] = counter.get(key, 0) + 1
        return counter[key]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        code = self.args.fail_all
        if code is not None:
            if code == 421:
                asyncio.get_running_loop().call_later(0.05, server.transport.close)
                return "421 4.3.2 Service not available, closing transmission channel (--fail-all)"
            return f"{code} {code // 100}.3.0 Transport down (--fail-all)"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.matches(self.args.reject_prefix, address):
            return "550 5.1.1 No such user here (--reject-prefix)"
        if self.matches(self.args.tempfail_prefix, address):
            if self.count(self.rcpt_attempts, address.lower()) <= self.args.tempfail_times:
                return "451 4.3.0 Temporary local problem, try later (--tempfail-prefix)"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    def entries(self, envelope, content, dropped):
        fields = headers_of(content)
        message_id = fields.get("message-id", "").strip().strip("<>")
        base = {
            "messageID": message_id,
            "trace": fields.get("x-listctl-trace"),
            "subject": fields.get("subject", ""),
            "bytes": len(content),
            "time": time.time(),
            # The null reverse-path (a bounce) as "".
            "mailFrom": "" if envelope.mail_from == "<>" else envelope.mail_from,
            "dropped": dropped,
        }
        return [dict(base, rcpt=rcpt) for rcpt in envelope.rcpt_tos]

    def share_tempfails(self, message_id):
        if not self.args.tempfail_share:
            return False
        attempt = self.count(self.share_attempts, message_id)
        digest = hashlib.sha256(f"{message_id}\n{attempt}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.args.tempfail_share

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or envelope.content
        if self.received is not None:
            self.received.write(self.entries(envelope, content, dropped=False))
        if self.args.delay_ms > 0:
            # Cancelled when the client hangs up (aiosmtpd's connection_lost): nothing is logged then.
            await asyncio.sleep(self.args.delay_ms / 1000)
        to_drop = [r for r in envelope.rcpt_tos if self.matches(self.args.drop_prefix, r)]
        # Each recipient's attempt counts, even when another one decides the drop.
        if [r for r in to_drop if self.count(self.drop_attempts, r.lower()) <= self.args.drop_times]:
            self.log.write(self.entries(envelope, content, dropped=True))
            # No reply at all: the client cannot tell whether the message went through.
            server.transport.abort()
            return "421 4.4.2 dropped"  # never reaches the client
        message_id = headers_of(content).get("message-id", "").strip().strip("<>")
        if self.share_tempfails(message_id):
            return "451 4.3.0 Temporary failure, try again (--tempfail-share)"
        self.log.write(self.entries(envelope, content, dropped=False))
        return "250 2.0.0 OK: queued as %d" % int(time.time() * 1000000)


async def serve(args):
    log = Log(args.log)
    received = Log(args.received_log) if args.received_log else None
    handler = FaultHandler(args, log, received)
    loop = asyncio.get_running_loop()

    def session():
        return SMTP(
            handler, hostname="delivery-sink", ident="listctl delivery sink",
            data_size_limit=None, enable_SMTPUTF8=True, decode_data=False)

    server = await loop.create_server(session, "127.0.0.1", 0, backlog=128)
    port = server.sockets[0].getsockname()[1]
    with open(args.port_file + ".tmp", "w") as f:
        f.write(f"{port}\n")
    os.rename(args.port_file + ".tmp", args.port_file)

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    parent = os.getppid()

    async def watch_parent():
        while os.getppid() == parent:
            await asyncio.sleep(0.5)
        stop.set()

    watcher = asyncio.ensure_future(watch_parent())
    await stop.wait()
    watcher.cancel()
    server.close()
    # Not server.wait_closed(): from Python 3.12 on it waits for every client to hang up.
    log.file.close()
    if received is not None:
        received.file.close()


def main():
    parser = argparse.ArgumentParser(description="SMTP sink with scripted faults for listctl's delivery tests")
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--received-log")
    parser.add_argument("--tempfail-prefix")
    parser.add_argument("--tempfail-times", type=int, default=1)
    parser.add_argument("--reject-prefix")
    parser.add_argument("--drop-prefix")
    parser.add_argument("--drop-times", type=int, default=1)
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--fail-all", type=int, metavar="CODE")
    parser.add_argument("--tempfail-share", type=float, metavar="X")
    args = parser.parse_args()
    if args.fail_all is not None and not 400 <= args.fail_all <= 599:
        parser.error("--fail-all takes a 4xx or 5xx reply code")
    if args.tempfail_share is not None and not 0 <= args.tempfail_share <= 1:
        parser.error("--tempfail-share takes a share between 0 and 1")
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
