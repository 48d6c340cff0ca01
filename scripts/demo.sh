#!/usr/bin/env bash
# `make demo`: the main job on embedded defaults. A private PostgreSQL that
# listctl starts itself, a sample TinyLetter export imported, a sample long
# issue split into parts and delivered into a local outbox (a Maildir).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "demo: building listctl (release)" >&2
swift build -c release --product listctl 2>&1 | grep -vE "^\[[0-9]+/[0-9]+\]" >&2 || true
swift build -c release --product listctl >/dev/null
LISTCTL=$(swift build -c release --show-bin-path)/listctl

# A demo home of its own, so the demo never touches a real list.
export LISTCTL_HOME=${LISTCTL_HOME:-/tmp/listctl-demo}
unset DATABASE_URL
OUTBOX=${LISTCTL_DEMO_OUTBOX:-$PWD/outbox}
export LISTCTL_TRANSPORT=outbox://$OUTBOX
PREVIEW=${LISTCTL_DEMO_PREVIEW:-$PWD/preview}
echo "demo: LISTCTL_HOME=$LISTCTL_HOME, outbox $OUTBOX" >&2

step() { echo; echo "\$ listctl $*"; "$LISTCTL" "$@"; }

step db start
step migrate status
if ! "$LISTCTL" lists --json | grep -q '"slug":"main"'; then
    step lists create main --name "The Long Letter" --from "The Long Letter <letters@example.com>" \
        --base-url https://letters.example.com --address "1 Example Street, Springfield"
fi
step lists
step import examples/tinyletter-subscribers.csv --list main
# TinyLetter's letter archive: the list's past issues, with their original dates, for its public archive.
step import examples/tinyletter-letters.csv --list main
step status
step preview examples/long-issue.md --list main --out "$PREVIEW"
step send examples/long-issue.md --list main --to reader@example.com
# The real send: every active subscriber, through the ledger, into the outbox.
# Run again, it mails nobody twice and says when the issue went out.
step send examples/long-issue.md --list main --yes
ISSUE=$("$LISTCTL" issues --list main --json | python3 -c 'import json,sys; print(next(i["id"] for i in json.load(sys.stdin) if i["sourceFormat"] == "markdown"))')
step status "$ISSUE"
echo; echo "\$ listctl status $ISSUE --recipients sent   (first lines)"; "$LISTCTL" status "$ISSUE" --recipients sent | sed -n 1,6p
echo
echo "demo: the outbox now holds each part of each subscriber's mail as a complete MIME message:"
echo "demo: $(ls "$OUTBOX/new" | wc -l) messages in $OUTBOX/new"
echo "demo: rendered parts (HTML, text, .eml) for a browser: $PREVIEW"

# The subscriber service for the sample list, briefly: its subscribe page and /healthz, then stopped.
echo; echo "\$ listctl serve --port 0 --no-worker   (started, asked twice, stopped)"
SERVE_LOG=$(mktemp)
"$LISTCTL" serve --port 0 --no-worker 2>"$SERVE_LOG" &
SERVE_PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$SERVE_LOG" && break; sleep 0.1; done
SERVE_PORT=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$SERVE_LOG" | head -1)
echo "GET /healthz: $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SERVE_PORT/healthz")"
echo "GET https://letters.example.com/subscribe (Host header, as behind a proxy): $(curl -s -o /dev/null -w '%{http_code}' -H 'Host: letters.example.com' "http://127.0.0.1:$SERVE_PORT/subscribe")"
echo "GET https://letters.example.com/archive: $(curl -s -o /dev/null -w '%{http_code}' -H 'Host: letters.example.com' "http://127.0.0.1:$SERVE_PORT/archive")"
echo "GET https://letters.example.com/feed.xml: $(curl -s -o /dev/null -w '%{http_code} %{content_type}' -H 'Host: letters.example.com' "http://127.0.0.1:$SERVE_PORT/feed.xml")"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" || true
rm -f "$SERVE_LOG"
echo
echo "demo: to run the subscriber service for the sample list (subscribe, confirm, preferences, one-click unsubscribe,"
echo "demo: and a worker that mails confirmations into the outbox), behind a proxy for https://letters.example.com:"
echo "demo:   LISTCTL_HOME=$LISTCTL_HOME LISTCTL_TRANSPORT=outbox://$OUTBOX $LISTCTL serve --port 8080"
echo "demo:   curl -H 'Host: letters.example.com' http://127.0.0.1:8080/subscribe"

# The sample list's public archive as static files: the issue just sent, whole, and the imported letters.
ARCHIVE=${LISTCTL_DEMO_ARCHIVE:-$PWD/archive}
step archive export --list main --out "$ARCHIVE"
echo "demo: the archive is in $ARCHIVE: open file://$ARCHIVE/index.html in a browser"
echo "demo: (the long issue's page, as its mailed link opens it: $ARCHIVE/issues/$("$LISTCTL" issues --list main --json | python3 -c 'import json,sys; print(next(i["slug"] for i in json.load(sys.stdin) if i["sourceFormat"] == "markdown"))' 2>/dev/null || echo '<slug>')/index.html)"
echo
echo "demo: done. The private database keeps running; stop it with: LISTCTL_HOME=$LISTCTL_HOME $LISTCTL db stop"
