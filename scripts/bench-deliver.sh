#!/usr/bin/env bash
# `make bench-deliver`: the whole delivery engine (ledger, claims, acks, SMTP)
# against Postfix's own load generator, same sink, same run.
#
#   smtp-source -d -s 8 -m 20000 -l <size of one of our messages>  into smtp-sink
#   listctl send bench.md --list bench --yes --concurrency 8        into the same smtp-sink
#       (LISTCTL_TRANSPORT=smtp://127.0.0.1:PORT?tls=none&connections=8)
#   smtp-source again; the baseline is the mean of the two runs.
#
# The issue is one part: ~39 KB of generated Markdown prose, about 50 KB of
# encoded HTML (under the 90,000-byte budget). The 20,000 subscribers are a
# generated TinyLetter CSV imported with `listctl import` (timed, reported
# apart, not counted in the send). The sink's own counter (smtp-sink -c) and
# `listctl status ISSUE --json` must both say 20,000 messages.
#
# Second figure: the snapshot of SNAPSHOT_COUNT (100,000) recipients into the
# ledger, on list `big`, timed by the server (pg_stat_statements: the
# statement(s) that insert into deliveries), while that issue is delivered
# into the same sink.
#
# Environment: COUNT (20000), SNAPSHOT_COUNT (100000; 0 skips it),
# CONNECTIONS (8), ISSUE_BYTES (39000, Markdown size: about 50 KB of encoded HTML), LISTCTL_BIN (skip the
# release build), SWIFT_SCRATCH (a --scratch-path for the build),
# BASELINE_ONLY=1 (no listctl at all: smtp-sink + smtp-source only, SIZE
# bytes, default 100000), KEEP=1 keeps the work folder.
# Results go to stdout; record them in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-20000}
SNAPSHOT_COUNT=${SNAPSHOT_COUNT:-100000}
CONNECTIONS=${CONNECTIONS:-8}
ISSUE_BYTES=${ISSUE_BYTES:-39000}
BASELINE_ONLY=${BASELINE_ONLY:-0}
PYTHON=${PYTHON:-python3}
SINK=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
for tool in "$SINK" "$SOURCE"; do
    [ -x "$tool" ] || { echo "bench-deliver: $tool not found; run make setup (postfix ships it)" >&2; exit 1; }
done

if [ "$BASELINE_ONLY" != 1 ] && [ -z "${LISTCTL_BIN:-}" ]; then
    echo "bench-deliver: building listctl (release)" >&2
    SCRATCH_ARGS=()
    if [ -n "${SWIFT_SCRATCH:-}" ]; then SCRATCH_ARGS=(--scratch-path "$SWIFT_SCRATCH"); fi
    swift build -c release --product listctl "${SCRATCH_ARGS[@]}" >&2
    LISTCTL_BIN=$(swift build -c release --show-bin-path "${SCRATCH_ARGS[@]}")/listctl
fi
if [ "$BASELINE_ONLY" != 1 ]; then
    [ -x "$LISTCTL_BIN" ] || { echo "bench-deliver: $LISTCTL_BIN is not executable" >&2; exit 1; }
    if ! "$LISTCTL_BIN" send --help 2>&1 | grep -q -- '--yes'; then
        echo "bench-deliver: this listctl has no whole-list send (send --yes); run with BASELINE_ONLY=1" >&2
        exit 1
    fi
fi

WORK=$(mktemp -d /tmp/listctl-bench-deliver.XXXXXX)
chmod 755 "$WORK"
. scripts/lib/throwaway-postgres.sh
PGDATA=$WORK/pgdata
SINK_PID=
cleanup() {
    status=$?
    if [ -n "$SINK_PID" ]; then kill "$SINK_PID" 2>/dev/null || true; wait "$SINK_PID" 2>/dev/null || true; fi
    throwaway_postgres_stop "$PGDATA"
    if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; else echo "bench-deliver: kept $WORK" >&2; fi
    exit $status
}
trap cleanup EXIT INT TERM

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
calc() { "$PYTHON" -c "import sys; print(format(eval(sys.argv[1]), sys.argv[2]))" "$1" "$2"; }
field() {  # JSON PATH (keys and list indexes, dotted: parts.0.encodedHTMLBytes)
    "$PYTHON" -c '
import json, sys
v = json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$1" "$2"
}

# smtp-sink accepts everything and throws it away; it needs no running
# Postfix, only its binary. -c keeps a running counter ("sess=N quit=N
# mesg=N", cumulative, updated on every ".") that we read from its log.
PORT=$(free_port)
SINK_USER=()
if [ "$(id -u)" -eq 0 ]; then SINK_USER=(-u nobody); fi
"$SINK" "${SINK_USER[@]}" -c 127.0.0.1:"$PORT" 1024 >"$WORK/sink.log" 2>&1 &
SINK_PID=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
sink_count() { tr '\r' '\n' <"$WORK/sink.log" | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2 || true; }
# Waits (up to 5 s) for the sink's counter to reach $1; prints what it reached.
sink_wait() {
    local c
    for _ in $(seq 1 100); do
        c=$(sink_count); c=${c:-0}
        [ "$c" -ge "$1" ] && break
        sleep 0.05
    done
    echo "$c"
}

# CPU seconds (user + system) of process $1 itself, or with "children" of
# its exited and reaped children (the postmaster's: PostgreSQL backends).
TICKS=$(getconf CLK_TCK)
cpu_of() {
    sed 's/^.*) //' "/proc/$1/stat" | awk -v t="$TICKS" -v c="${2:-self}" \
        '{ print (c == "children" ? $14 + $15 : $12 + $13) / t }'
}
# CPU microseconds per message from a start and end CPU reading.
per_msg() { calc "($2 - $1) * 1e6 / $3" .0f; }

# One smtp-source run of COUNT messages of SIZE bytes; sets SRC_RATE
# (messages/s), SRC_CPU and SRC_SINK_CPU (µs per message).
run_source() {
    local before after start end sink0 sink1
    before=$(sink_count); before=${before:-0}
    sink0=$(cpu_of "$SINK_PID")
    start=$(now)
    /usr/bin/time -f '%U %S' -o "$WORK/source.time" \
        "$SOURCE" -d -s "$CONNECTIONS" -m "$COUNT" -l "$SIZE" -f bench@example.org -t sink@example.net 127.0.0.1:"$PORT"
    end=$(now)
    after=$(sink_wait $((before + COUNT)))
    sink1=$(cpu_of "$SINK_PID")
    if [ $((after - before)) -ne "$COUNT" ]; then
        echo "bench-deliver: smtp-sink counted $((after - before)) messages from smtp-source, not $COUNT" >&2; exit 1
    fi
    SRC_RATE=$(calc "$COUNT / ($end - $start)" .0f)
    SRC_CPU=$(per_msg 0 "$(awk '{ print $1 + $2 }' "$WORK/source.time")" "$COUNT")
    SRC_SINK_CPU=$(per_msg "$sink0" "$sink1" "$COUNT")
}

if [ "$BASELINE_ONLY" = 1 ]; then
    SIZE=${SIZE:-100000}
    echo "bench-deliver: baseline only: $COUNT messages of $SIZE bytes, $CONNECTIONS connections, smtp-sink on 127.0.0.1:$PORT, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)" >&2
    run_source; S1=$SRC_RATE; run_source; S2=$SRC_RATE
    printf 'smtp-source -d -s %s: %s messages/s (runs: %s, %s); smtp-sink counted %s messages\n' \
        "$CONNECTIONS" "$(calc "($S1 + $S2) / 2" .0f)" "$S1" "$S2" "$(sink_count)"
    echo "listctl: skipped (BASELINE_ONLY=1)"
    exit 0
fi

# The database: a throwaway PostgreSQL with pg_stat_statements, so the
# server can say where the engine's time went.
PGPORT=${LISTCTL_BENCH_PGPORT:-$(free_port)}
echo "bench-deliver: starting a throwaway PostgreSQL on 127.0.0.1:$PGPORT (fsync off)" >&2
throwaway_postgres_start "$PGDATA" "$PGPORT" -c shared_buffers=256MB -c max_wal_size=4GB \
    -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.max=1000 -c pg_stat_statements.track=all
BASE="postgresql://postgres@127.0.0.1:$PGPORT"
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_q "$BASE/postgres" -c "CREATE DATABASE bench"
export DATABASE_URL="$BASE/bench"
export LISTCTL_FROM="Bench <bench@example.org>"
export LISTCTL_BASE_URL="https://news.example.org"
LISTCTL_SECRET=$("$LISTCTL_BIN" secret generate)
export LISTCTL_SECRET
export LISTCTL_TRANSPORT="smtp://127.0.0.1:$PORT?tls=none&connections=$CONNECTIONS"
"$LISTCTL_BIN" migrate >/dev/null
psql_q "$DATABASE_URL" -c "CREATE EXTENSION pg_stat_statements"
for slug in bench big; do
    "$LISTCTL_BIN" lists create "$slug" --name "Bench ($slug)" --from "Bench <bench@example.org>" \
        --base-url https://news.example.org --address "1 Bench Street, Springfield" >/dev/null
done

# Subscribers: TinyLetter layout, one address per row.
make_csv() {  # ROWS PREFIX
    awk -v rows="$1" -v prefix="$2" 'BEGIN {
        printf "Email,Name,Created_At,Notes\r\n"
        split("example.com example.net example.org mail.example.com", domains, " ")
        for (i = 1; i <= rows; i++)
            printf "%s.%d@%s,Reader %d,2024-%02d-%02d 10:00:00 UTC,\r\n", prefix, i, domains[1 + i % 4], i, 1 + i % 12, 1 + i % 28
    }'
}
make_csv "$COUNT" reader >"$WORK/bench.csv"
t0=$(now)
"$LISTCTL_BIN" import "$WORK/bench.csv" --list bench --json >"$WORK/import-bench.json"
t1=$(now)
IMPORT_S=$(calc "$t1 - $t0" .2f)

# The issue: deterministic prose (headings, paragraphs, some emphasis and
# links), ISSUE_BYTES of Markdown.
awk -v target="$ISSUE_BYTES" 'BEGIN {
    srand(2026)
    n = split("the a of to in reader letter issue list week morning garden river city train coffee notes book winter summer friend neighbour market bread window light evening story small long quiet bright careful honest kitchen table walk road hill harbour boat lamp field paper pencil school library", w, " ")
    printf "---\nsubject: The Bench Letter, No. 1\npreheader: One long issue, one part, many readers.\n---\n\nDear reader,\n\n"
    bytes = 0; section = 0
    while (bytes < target) {
        if (bytes >= section * 4500) {
            section++
            word = w[1 + int(rand() * n)]
            line = sprintf("## %d. %s %s\n\n", section, toupper(substr(word, 1, 1)) substr(word, 2), w[1 + int(rand() * n)])
            printf "%s", line; bytes += length(line)
        }
        para = ""
        sentences = 4 + int(rand() * 4)
        for (s = 0; s < sentences; s++) {
            words = 8 + int(rand() * 12)
            sentence = ""
            for (k = 0; k < words; k++) {
                word = w[1 + int(rand() * n)]
                if (k == 0) word = toupper(substr(word, 1, 1)) substr(word, 2)
                else if (rand() < 0.03) word = "*" word "*"
                sentence = sentence (k ? " " : "") word
            }
            para = para (s ? " " : "") sentence "."
        }
        if (rand() < 0.2) para = para " More in [the archive](https://news.example.org/archive/" int(rand() * 1000) ")."
        para = para "\n\n"
        printf "%s", para; bytes += length(para)
    }
    printf "Until next week,\n\nThe Bench\n"
}' >"$WORK/bench.md"
PREVIEW=$("$LISTCTL_BIN" preview "$WORK/bench.md" --list bench --json)
PARTS=$("$PYTHON" -c "import json, sys; print(len(json.loads(sys.argv[1])['parts']))" "$PREVIEW")
HTML_BYTES=$(field "$PREVIEW" parts.0.encodedHTMLBytes)
if [ "$PARTS" -ne 1 ]; then echo "bench-deliver: the issue rendered to $PARTS parts, not 1; lower ISSUE_BYTES" >&2; exit 1; fi
"$LISTCTL_BIN" preview "$WORK/bench.md" --list bench --out "$WORK/preview" >/dev/null
SIZE=$(stat -c %s "$WORK/preview/part-1.eml")

echo "bench-deliver: $COUNT recipients, 1 part of $HTML_BYTES bytes of encoded HTML, messages of $SIZE bytes, $CONNECTIONS connections, smtp-sink on 127.0.0.1:$PORT, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)" >&2

# Where the time went in the database during one run: the statements that
# took the most server time.
stats_reset() { psql_q "$DATABASE_URL" -At -c "SELECT pg_stat_statements_reset()" >/dev/null; }
stats_top() {
    psql_q "$DATABASE_URL" -At -F ' | ' -c "
        SELECT lpad(calls::text, 7), lpad(round(total_exec_time)::text, 7) || ' ms',
               lpad(round(mean_exec_time::numeric, 2)::text, 8) || ' ms', lpad(rows::text, 7),
               left(regexp_replace(query, '\s+', ' ', 'g'), 90)
        FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'bench')
          AND query !~* 'pg_stat_statements'
        ORDER BY total_exec_time DESC LIMIT ${1:-8}"
}
# Server milliseconds and rows of the statements that write the snapshot.
snapshot_ms() {
    psql_q "$DATABASE_URL" -At -F ' ' -c "
        SELECT round(coalesce(sum(total_exec_time), 0)), coalesce(sum(rows), 0), count(*)
        FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'bench')
          AND query ~* 'insert\s+into\s+deliveries'"
}

# listctl send of the issue to LIST into the sink; sets SEND_S, SEND_JSON,
# STATUS_JSON, SINK_DELTA and the CPU per message of listctl (SEND_CPU),
# smtp-sink (SEND_SINK_CPU) and the PostgreSQL backends (SEND_PG_CPU).
run_send() {  # LIST EXPECTED
    local list=$1 expected=$2 before after t0 t1 issue sink0 sink1 pg0 pg1 postmaster
    before=$(sink_count); before=${before:-0}
    postmaster=$(head -1 "$PGDATA/postmaster.pid")
    stats_reset
    sleep 0.2  # the reset's backend is reaped before the first reading
    sink0=$(cpu_of "$SINK_PID"); pg0=$(cpu_of "$postmaster" children)
    t0=$(now)
    SEND_JSON=$(/usr/bin/time -f '%U %S' -o "$WORK/send.time" \
        "$LISTCTL_BIN" send "$WORK/bench.md" --list "$list" --yes --concurrency "$CONNECTIONS" --json)
    t1=$(now)
    after=$(sink_wait $((before + expected)))
    sleep 0.2  # listctl's backends exit and are reaped
    sink1=$(cpu_of "$SINK_PID"); pg1=$(cpu_of "$postmaster" children)
    SEND_CPU=$(per_msg 0 "$(awk '{ print $1 + $2 }' "$WORK/send.time")" "$expected")
    SEND_SINK_CPU=$(per_msg "$sink0" "$sink1" "$expected")
    SEND_PG_CPU=$(per_msg "$pg0" "$pg1" "$expected")
    SINK_DELTA=$((after - before))
    SEND_S=$(calc "$t1 - $t0" .3f)
    issue=$(field "$SEND_JSON" issue)
    STATUS_JSON=$("$LISTCTL_BIN" status "$issue" --json)
}

run_source; SOURCE_1=$SRC_RATE; SOURCE_CPU_1=$SRC_CPU; SOURCE_SINK_CPU_1=$SRC_SINK_CPU
run_send bench "$COUNT"
SEND_20K_S=$SEND_S; SEND_20K_JSON=$SEND_JSON; STATUS_20K_JSON=$STATUS_JSON; SINK_20K=$SINK_DELTA
CPU_20K="$SEND_CPU $SEND_SINK_CPU $SEND_PG_CPU"
read -r SNAP_20K_MS SNAP_20K_ROWS SNAP_20K_STMTS < <(snapshot_ms)
stats_top 8 >"$WORK/top-20k.txt"
run_source; SOURCE_2=$SRC_RATE; SOURCE_CPU_2=$SRC_CPU; SOURCE_SINK_CPU_2=$SRC_SINK_CPU

SOURCE_RATE=$(calc "($SOURCE_1 + $SOURCE_2) / 2" .0f)
LISTCTL_RATE=$(calc "$COUNT / $SEND_20K_S" .0f)
RATIO=$(calc "$LISTCTL_RATE / $SOURCE_RATE" .2f)
SENT_20K=$(field "$STATUS_20K_JSON" sent)
FAILED_20K=$(field "$STATUS_20K_JSON" failed)

# The 100,000-recipient snapshot.
if [ "$SNAPSHOT_COUNT" -gt 0 ]; then
    make_csv "$SNAPSHOT_COUNT" big >"$WORK/big.csv"
    t0=$(now)
    "$LISTCTL_BIN" import "$WORK/big.csv" --list big --json >"$WORK/import-big.json"
    t1=$(now)
    IMPORT_BIG_S=$(calc "$t1 - $t0" .2f)
    run_send big "$SNAPSHOT_COUNT"
    SEND_BIG_S=$SEND_S; STATUS_BIG_JSON=$STATUS_JSON; SINK_BIG=$SINK_DELTA
    read -r SNAP_BIG_MS SNAP_BIG_ROWS SNAP_BIG_STMTS < <(snapshot_ms)
    stats_top 8 >"$WORK/top-big.txt"
fi

printf '\nlistctl delivery benchmark: PostgreSQL %s, %s cores, load now %s, %s\n' \
    "$(psql_q "$BASE/postgres" -At -c 'SHOW server_version')" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" "$(date -u +%Y-%m-%dT%H:%MZ)"
printf '  issue: 1 part, %s bytes of encoded HTML; one message %s bytes; %s connections to smtp-sink (loopback)\n' "$HTML_BYTES" "$SIZE" "$CONNECTIONS"
printf '  import of %s subscribers (not timed below): %s s\n' "$COUNT" "$IMPORT_S"
printf '  smtp-source -d -s %s -m %s -l %s   %6s messages/s  (runs: %s, %s)\n' "$CONNECTIONS" "$COUNT" "$SIZE" "$SOURCE_RATE" "$SOURCE_1" "$SOURCE_2"
printf '  listctl send --yes --concurrency %s  %6s messages/s  (%s s for %s; render, snapshot and delivery)\n' "$CONNECTIONS" "$LISTCTL_RATE" "$SEND_20K_S" "$COUNT"
printf '  ratio to smtp-source: %s (target >= 0.7)\n' "$RATIO"
read -r C_SEND C_SINK C_PG <<<"$CPU_20K"
printf '  CPU per message (µs, user+sys): smtp-source %s + smtp-sink %s (runs: %s+%s, %s+%s)\n' \
    "$(calc "($SOURCE_CPU_1 + $SOURCE_CPU_2) / 2" .0f)" "$(calc "($SOURCE_SINK_CPU_1 + $SOURCE_SINK_CPU_2) / 2" .0f)" \
    "$SOURCE_CPU_1" "$SOURCE_SINK_CPU_1" "$SOURCE_CPU_2" "$SOURCE_SINK_CPU_2"
printf '                                  listctl %s + smtp-sink %s + PostgreSQL backends %s\n' "$C_SEND" "$C_SINK" "$C_PG"
printf '  snapshot of %s recipients (server time of INSERT INTO deliveries, %s statement(s), %s rows): %s ms\n' "$COUNT" "$SNAP_20K_STMTS" "$SNAP_20K_ROWS" "$SNAP_20K_MS"
printf '  check: status sent=%s failed=%s; smtp-sink counted %s messages during the send\n' "$SENT_20K" "$FAILED_20K" "$SINK_20K"
echo "  send --json: $SEND_20K_JSON"
echo "  status --json: $STATUS_20K_JSON"
echo "  database time during the send (calls | total | mean | rows | statement):"
sed 's/^/    /' "$WORK/top-20k.txt"
if [ "$SNAPSHOT_COUNT" -gt 0 ]; then
    printf '  snapshot of %s recipients (server time of INSERT INTO deliveries, %s statement(s), %s rows): %s ms\n' "$SNAPSHOT_COUNT" "$SNAP_BIG_STMTS" "$SNAP_BIG_ROWS" "$SNAP_BIG_MS"
    printf '    (import %s s; the whole send of %s: %s s, %s messages/s; status sent=%s; smtp-sink counted %s)\n' \
        "$IMPORT_BIG_S" "$SNAPSHOT_COUNT" "$SEND_BIG_S" "$(calc "$SNAPSHOT_COUNT / $SEND_BIG_S" .0f)" "$(field "$STATUS_BIG_JSON" sent)" "$SINK_BIG"
    printf '    CPU per message (µs): listctl %s + smtp-sink %s + PostgreSQL backends %s\n' "$SEND_CPU" "$SEND_SINK_CPU" "$SEND_PG_CPU"
    echo "  database time during that send:"
    sed 's/^/    /' "$WORK/top-big.txt"
fi
if [ "$SENT_20K" -ne "$COUNT" ] || [ "$SINK_20K" -ne "$COUNT" ]; then
    echo "bench-deliver: expected $COUNT messages sent and received" >&2
    exit 1
fi
