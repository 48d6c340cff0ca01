#!/usr/bin/env bash
# `make bench-archive`: the public archive's pages through `listctl serve`
# (wrk, CONNECTIONS connections, DURATION seconds each), against the same
# server's /healthz (HTTP plus one `SELECT 1`: the floor every database-backed
# route stands on), in the same run. Also: the first request of the long
# issue's page on a fresh serve (the one render), against the cmark-gfm
# command-line tool rendering the same Markdown to HTML (hyperfine).
#
# The list holds the seed long issue (sent, 77 KB of Markdown) and LETTERS
# imported letters (100) of about 4 KB each, so the archive has 6 pages and
# the feed every issue whole.
#
# Environment: LETTERS, CONNECTIONS (32), DURATION (10 s), LISTCTL_BIN (skip
# the release build), SWIFT_SCRATCH, KEEP=1 keeps the work folder,
# PROFILE=issue|issue-304|archive|feed records serve with perf during that run
# and prints its hottest symbols.
set -euo pipefail
cd "$(dirname "$0")/.."
LETTERS=${LETTERS:-100}
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-10}
for tool in wrk hyperfine cmark-gfm; do command -v "$tool" >/dev/null || { echo "bench-archive: $tool not found; run make setup" >&2; exit 1; }; done
. scripts/lib/bench-listctl.sh
bench_listctl_bin bench-archive

WORK=$(mktemp -d /tmp/listctl-bench-archive.XXXXXX)
chmod 755 "$WORK"
. scripts/lib/throwaway-postgres.sh
PGDATA=$WORK/pgdata
PGPORT=$((20000 + RANDOM % 20000))
SERVE_PID=
stop_serve() {
    if [ -n "$SERVE_PID" ]; then kill -TERM "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; fi
    SERVE_PID=
}
cleanup() {
    status=$?
    stop_serve
    throwaway_postgres_stop "$PGDATA"
    if [ "${KEEP:-0}" = 1 ]; then echo "bench-archive: kept $WORK" >&2; else rm -rf "$WORK"; fi
    exit $status
}
trap cleanup EXIT INT TERM

throwaway_postgres_start "$PGDATA" "$PGPORT" -c max_connections=200
export DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT/postgres"
export LISTCTL_SECRET=$("$LISTCTL_BIN" secret generate)
export LISTCTL_HOME=$WORK/home
export LISTCTL_TRANSPORT=outbox://$WORK/outbox
"$LISTCTL_BIN" migrate >/dev/null
"$LISTCTL_BIN" lists create b --name "Bench letters" --from "Bench <bench@example.org>" --base-url https://bench.example.org/b >/dev/null
printf 'Email,Name,Created_At,Status\r\nreader@bench.example.org,Reader,2024-01-02 03:04:05 UTC,Active\r\n' > "$WORK/people.csv"
"$LISTCTL_BIN" import "$WORK/people.csv" --list b >/dev/null
python3 - "$WORK/letters.csv" "$LETTERS" <<'PY'
import csv, sys
words = "the letter of a long reader wrote once about clipping mail and the web version split part".split()
with open(sys.argv[1], "w", newline="") as out:
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["Subject", "Content", "Created_At"])
    for i in range(int(sys.argv[2])):
        paragraphs = "".join(
            "<p>" + " ".join(words[(i + j + k) % len(words)] for k in range(70)) + f' <a href="https://example.org/{i}/{j}">a link</a>.</p>\n'
            for j in range(8))
        w.writerow([f"Letter {i + 1}", paragraphs, f"20{15 + i // 12:02d}-{i % 12 + 1:02d}-07 09:00:00 UTC"])
PY
"$LISTCTL_BIN" import "$WORK/letters.csv" --list b >/dev/null
"$LISTCTL_BIN" send examples/long-issue.md --list b --yes >/dev/null
SLUG=$("$LISTCTL_BIN" issues --list b --json | python3 -c 'import json,sys; print(next(i["slug"] for i in json.load(sys.stdin) if i["sourceFormat"] == "markdown"))')

start_serve() {
    "$LISTCTL_BIN" serve --port 0 --no-worker 2>"$WORK/serve.log" &
    SERVE_PID=$!
    for _ in $(seq 1 200); do grep -q "listening on" "$WORK/serve.log" && break; sleep 0.1; done
    PORT=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/serve.log" | head -1)
}
get() { curl -s -o /dev/null -w "$2" -H 'Host: bench.example.org' "http://127.0.0.1:$PORT$1"; }

# The one render: the first request of the long issue's page on a fresh serve, then the second.
start_serve
FIRST_MS=$(get "/b/issues/$SLUG" '%{time_total}' | awk '{printf "%.1f", $1 * 1000}')
SECOND_MS=$(get "/b/issues/$SLUG" '%{time_total}' | awk '{printf "%.1f", $1 * 1000}')
PAGE_BYTES=$(get "/b/issues/$SLUG" '%{size_download}')
FEED_BYTES=$(get "/b/feed.xml" '%{size_download}')
ETAG=$(curl -s -D - -o /dev/null -H 'Host: bench.example.org' "http://127.0.0.1:$PORT/b/issues/$SLUG" | sed -n 's/^[Ee][Tt][Aa][Gg]: *\(.*\)\r$/\1/p')
sed -n '/^---$/,/^---$/!p' examples/long-issue.md > "$WORK/body.md"
hyperfine -N --warmup 3 --runs 30 --export-json "$WORK/cmark.json" \
    "cmark-gfm --extension table --extension strikethrough --extension autolink --extension tasklist $WORK/body.md" >/dev/null 2>&1
CMARK_MS=$(python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["mean"] * 1000))' "$WORK/cmark.json")

run_wrk() {  # name path [header]
    local extra=()
    if [ -n "${3:-}" ]; then extra=(-H "$3"); fi
    if [ "${PROFILE:-}" = "$1" ]; then
        perf record -g -F 499 -p "$SERVE_PID" -o "$WORK/perf.data" -- sleep "$((DURATION > 3 ? DURATION - 2 : 1))" >/dev/null 2>&1 &
        PERF_PID=$!
    fi
    wrk -t2 -c "$CONNECTIONS" -d "${DURATION}s" --latency -H 'Host: bench.example.org' "${extra[@]}" "http://127.0.0.1:$PORT$2" > "$WORK/wrk-$1.txt"
    if [ "${PROFILE:-}" = "$1" ]; then
        wait "$PERF_PID"
        echo "profile of serve during $1 (share of its samples, by symbol):"
        perf report -i "$WORK/perf.data" --no-children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -25 | cut -c1-150
    fi
    local rate p50 non2xx
    rate=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk-$1.txt")
    p50=$(awk '$1 == "50%" {print $2}' "$WORK/wrk-$1.txt")
    non2xx=$(awk '/Non-2xx or 3xx/ {print $5}' "$WORK/wrk-$1.txt")
    printf '%s %s %s %s\n' "$1" "$rate" "$p50" "${non2xx:-0}" >> "$WORK/rates"
}
: > "$WORK/rates"
run_wrk healthz /healthz
run_wrk issue "/b/issues/$SLUG"
run_wrk issue-304 "/b/issues/$SLUG" "If-None-Match: $ETAG"
run_wrk archive /b/archive
run_wrk feed /b/feed.xml
run_wrk healthz-again /healthz
stop_serve

python3 - "$WORK/rates" "$FIRST_MS" "$SECOND_MS" "$CMARK_MS" "$PAGE_BYTES" "$FEED_BYTES" "$LETTERS" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    name, rate, p50, bad = line.split()
    rows[name] = (float(rate), p50, int(bad))
first, second, cmark, page, feed, letters = sys.argv[2:8]
floor = (rows["healthz"][0] + rows["healthz-again"][0]) / 2
print(f"bench-archive: {letters} letters and the long issue ({int(page):,}-byte page, {int(feed):,}-byte feed)")
print(f"  baseline /healthz: {rows['healthz'][0]:,.0f} and {rows['healthz-again'][0]:,.0f} requests/s (mean {floor:,.0f})")
for name, label in [("issue", "issue page (200)"), ("issue-304", "issue page (304, If-None-Match)"), ("archive", "archive, page 1"), ("feed", "feed.xml (every issue whole)")]:
    rate, p50, bad = rows[name]
    print(f"  {label:34s} {rate:>9,.0f} requests/s  p50 {p50:>8}  ratio to /healthz {rate / floor:.2f}" + (f"  ({bad} not 2xx/3xx!)" if bad else ""))
print(f"  first request of the issue page on a fresh serve: {first} ms (the one render), second: {second} ms")
print(f"  cmark-gfm CLI rendering the same Markdown to HTML: {cmark} ms (hyperfine mean)")
PY
