#!/usr/bin/env bash
# `make bench-send`: listctl's SMTP transport against Postfix's own load
# generator, same sink, same run.
#
#   smtp-source -d -s 8 -m 20000 -l 51200   into smtp-sink on 127.0.0.1
#   listctl bench-transport --count 20000 --size 51200 --connections 8
#   ... then the same with DKIM rsa-sha256 and ed25519-sha256 signing.
#
# Environment: COUNT (20000), SIZE (51200), CONNECTIONS (8),
# LISTCTL_BENCH_SCRATCH (the build folder, default .build).
# Results go to stdout; record them in docs/BENCHMARKS-send.md.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-20000}
SIZE=${SIZE:-51200}
CONNECTIONS=${CONNECTIONS:-8}
SCRATCH=${LISTCTL_BENCH_SCRATCH:-.build}
PYTHON=${PYTHON:-python3}
SINK=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
for tool in "$SINK" "$SOURCE"; do
    [ -x "$tool" ] || { echo "bench-send: $tool not found; install postfix (its test tools)" >&2; exit 1; }
done

echo "bench-send: building listctl (release)" >&2
swift build -c release --product listctl --scratch-path "$SCRATCH" 2>&1 | grep -E "error|warning: unre|Compiling listctl|Build" >&2 || true
LISTCTL=$(swift build -c release --product listctl --scratch-path "$SCRATCH" --show-bin-path)/listctl
[ -x "$LISTCTL" ] || { echo "bench-send: build failed" >&2; exit 1; }

WORK=$(mktemp -d /tmp/listctl-bench-send.XXXXXX)
SINK_PID=
cleanup() {
    if [ -n "$SINK_PID" ]; then kill "$SINK_PID" 2>/dev/null || true; wait "$SINK_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

PORT=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SINK_USER=()
if [ "$(id -u)" -eq 0 ]; then SINK_USER=(-u nobody); fi
# smtp-sink accepts everything and throws it away; backlog 1024.
"$SINK" "${SINK_USER[@]}" 127.0.0.1:"$PORT" 1024 >"$WORK/sink.log" 2>&1 &
SINK_PID=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done

now() { date +%s.%N; }
rate() { "$PYTHON" -c "import sys; print(f'{float(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2])):.0f}')" "$@"; }
field() { "$PYTHON" -c "import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$@"; }

run_source() {
    local start end
    start=$(now)
    "$SOURCE" -d -s "$CONNECTIONS" -m "$COUNT" -l "$SIZE" -f bench@example.org -t sink@example.net 127.0.0.1:"$PORT"
    end=$(now)
    rate "$COUNT" "$start" "$end"
}

run_listctl() {  # [--dkim-key FILE]
    local out
    out=$(LISTCTL_TRANSPORT="smtp://127.0.0.1:$PORT?tls=none" "$LISTCTL" bench-transport \
        --count "$COUNT" --size "$SIZE" --connections "$CONNECTIONS" --json "$@")
    field "$out" rate
}

"$LISTCTL" dkim keygen --selector bench --domain example.org --type rsa --out "$WORK/rsa" >/dev/null 2>&1
"$LISTCTL" dkim keygen --selector bench --domain example.org --type ed25519 --out "$WORK/ed" >/dev/null 2>&1

echo "bench-send: $COUNT messages of $SIZE bytes, $CONNECTIONS connections, smtp-sink on 127.0.0.1:$PORT, $(nproc) cores" >&2
SOURCE_1=$(run_source)
LISTCTL_PLAIN=$(run_listctl)
SOURCE_2=$(run_source)
LISTCTL_RSA=$(run_listctl --dkim-key "$WORK/rsa/bench._domainkey.example.org.pem")
LISTCTL_ED=$(run_listctl --dkim-key "$WORK/ed/bench._domainkey.example.org.pem")

SOURCE_RATE=$("$PYTHON" -c "import sys; print(round((float(sys.argv[1]) + float(sys.argv[2])) / 2))" "$SOURCE_1" "$SOURCE_2")
RATIO=$("$PYTHON" -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$LISTCTL_PLAIN" "$SOURCE_RATE")

cat <<EOF
messages/s, $COUNT messages of $SIZE bytes over $CONNECTIONS connections to smtp-sink (loopback):
  smtp-source -d -s $CONNECTIONS      $SOURCE_RATE  (runs: $SOURCE_1, $SOURCE_2)
  listctl, DKIM off           $(printf %.0f "$LISTCTL_PLAIN")  ratio to smtp-source: $RATIO (target >= 0.8)
  listctl, DKIM rsa-sha256    $(printf %.0f "$LISTCTL_RSA")
  listctl, DKIM ed25519-sha256 $(printf %.0f "$LISTCTL_ED")
EOF
