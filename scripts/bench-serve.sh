#!/usr/bin/env bash
# `make bench-serve`: RFC 8058 one-click unsubscribe POSTs through `listctl
# serve` (wrk, CONNECTIONS connections, each request a fresh valid token)
# against pgbench running the endpoint's own transaction (the same
# unsubscribe statement: the UPDATE, its event, the status read) with the
# same client count, same server, same run: pgbench twice (its default simple
# protocol, then -M prepared, as serve prepares the statement), wrk, then
# pgbench prepared and simple again; each baseline is the mean of its two runs.
#
# COUNT (100000) people are on two lists, `a` (for serve) and `b` (for
# pgbench, which picks subscriber ids at random, so a few of its
# transactions find the person already gone: a slightly cheaper statement).
# The tokens are minted by scripts/lib/bench_tokens.py, a Python
# implementation of docs/TOKENS.md, with the same secret serve verifies with.
# Afterwards: every 200 answer is an unsubscribed person with one event.
#
# Environment: COUNT, CONNECTIONS (64), DURATION (10 s), LISTCTL_BIN (skip the
# release build), SWIFT_SCRATCH, KEEP=1 keeps the work folder, PROFILE=1
# records the whole machine with perf during the wrk run and prints where the
# CPU went, by process and by serve's hottest symbols.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-100000}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10}
command -v wrk >/dev/null || { echo "bench-serve: wrk not found; run make setup" >&2; exit 1; }
. scripts/lib/bench-listctl.sh
bench_listctl_bin bench-serve

WORK=$(mktemp -d /tmp/listctl-bench-serve.XXXXXX)
chmod 755 "$WORK"
. scripts/lib/throwaway-postgres.sh
PGDATA=$WORK/pgdata
PGPORT=$((20000 + RANDOM % 20000))
SERVE_PID=
cleanup() {
    status=$?
    if [ -n "$SERVE_PID" ]; then kill "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; fi
    throwaway_postgres_stop "$PGDATA"
    if [ "${KEEP:-0}" = 1 ]; then echo "bench-serve: kept $WORK" >&2; else rm -rf "$WORK"; fi
    exit $status
}
trap cleanup EXIT INT TERM

PG_EXTRA=()
if [ "${PROFILE:-0}" = 1 ]; then PG_EXTRA=(-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all); fi
throwaway_postgres_start "$PGDATA" "$PGPORT" -c max_connections=200 "${PG_EXTRA[@]}"
export DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT/postgres"
export LISTCTL_SECRET=$("$LISTCTL_BIN" secret generate)
export LISTCTL_BASE_URL=https://bench.example.org
export LISTCTL_HOME=$WORK/home
PSQL=("$THROWAWAY_PGBIN/psql" -X -q -A -t "$DATABASE_URL")

"$LISTCTL_BIN" migrate >/dev/null
python3 - "$WORK/people.csv" "$COUNT" <<'PY'
import sys
with open(sys.argv[1], "w") as out:
    out.write("Email,Name,Created_At,Status\r\n")
    for i in range(int(sys.argv[2])):
        out.write(f"reader{i}@bench.example.org,Reader {i},2024-01-02 03:04:05 UTC,Active\r\n")
PY
for list in a b; do
    "$LISTCTL_BIN" lists create "$list" --name "Bench $list" --from "Bench <bench@example.org>" >/dev/null
    "$LISTCTL_BIN" import "$WORK/people.csv" --list "$list" >/dev/null
done
LIST_A=$("${PSQL[@]}" -c "SELECT id FROM lists WHERE slug = 'a'")
LIST_B=$("${PSQL[@]}" -c "SELECT id FROM lists WHERE slug = 'b'")
"${PSQL[@]}" -c "SELECT subscriber_id FROM subscriptions WHERE list_id = $LIST_A ORDER BY random()" \
    | python3 scripts/lib/bench_tokens.py --secret-env LISTCTL_SECRET --list "$LIST_A" --prefix /a > "$WORK/tokens"
read -r MIN_B MAX_B < <("${PSQL[@]}" -F ' ' -c "SELECT min(subscriber_id), max(subscriber_id) FROM subscriptions WHERE list_id = $LIST_B")
"${PSQL[@]}" -c "VACUUM ANALYZE"

# The endpoint's statement (SubscriptionChanges.unsubscribe), for pgbench.
cat > "$WORK/unsubscribe.sql" <<SQL
\set sid random($MIN_B, $MAX_B)
WITH before AS (
    SELECT s.status, sub.email_key FROM subscriptions s JOIN subscribers sub ON sub.id = s.subscriber_id
    WHERE s.list_id = $LIST_B AND s.subscriber_id = :sid
    FOR UPDATE OF s
), changed AS (
    UPDATE subscriptions SET status = 'unsubscribed', status_changed_at = now(), unsubscribed_at = now()
    WHERE list_id = $LIST_B AND subscriber_id = :sid AND status IN ('active', 'pending')
    RETURNING subscriber_id
), event AS (
    INSERT INTO events (kind, list_id, subscriber_id, issue_id, email_key, detail)
    SELECT 'unsubscribed', $LIST_B, :sid, i.id, b.email_key, jsonb_build_object('source', 'one-click'::text)
    FROM changed, before b LEFT JOIN issues i ON i.id = NULL::bigint
    RETURNING 1
)
SELECT b.status, EXISTS (SELECT 1 FROM changed) FROM before b;
SQL

# Each pgbench run starts from everyone on list b active again (and vacuumed), and
# reports which share of its transactions found someone to unsubscribe: the
# rest drew a person already gone, a cheaper statement, in pgbench's favour.
pgbench_run() {
    local log=$WORK/pgbench-$1-$2
    mkdir -p "$log"
    "${PSQL[@]}" -c "UPDATE subscriptions SET status = 'active', unsubscribed_at = NULL WHERE list_id = $LIST_B AND status <> 'active'" \
        -c "DELETE FROM events WHERE list_id = $LIST_B" >/dev/null
    "${PSQL[@]}" -c "VACUUM subscriptions" -c "VACUUM events" >/dev/null
    (cd "$log" && "$THROWAWAY_PGBIN/pgbench" -n -M "$2" -c "$CONNECTIONS" -j 2 -T "$DURATION" -f "$WORK/unsubscribe.sql" -l "$DATABASE_URL" \
        > "$log/out.txt" 2>&1)
    python3 - "$log" <<'PY'
import glob, re, sys
folder = sys.argv[1]
text = open(folder + "/out.txt").read()
tps = float(re.search(r"tps = ([0-9.]+)", text).group(1))
latencies = sorted(int(line.split()[2]) for path in glob.glob(folder + "/pgbench_log.*") for line in open(path))
p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] / 1000
print(f"{tps:.1f} {p(0.5):.2f} {p(0.99):.2f} {len(latencies)}")
PY
}

# The share (%) of the last pgbench run's N transactions that unsubscribed someone.
fresh_share() {
    "${PSQL[@]}" -c "SELECT round(100.0 * count(*) / greatest($1, 1)) FROM events WHERE list_id = $LIST_B"
}

echo "bench-serve: $COUNT people on lists a and b; $CONNECTIONS connections, $DURATION s each run" >&2
read -r TPS1 P50_1 P99_1 N1 < <(pgbench_run 1 simple)
echo "pgbench (baseline 1, simple protocol): $TPS1 tps, p50 $P50_1 ms, p99 $P99_1 ms ($N1 transactions, $(fresh_share "$N1") % unsubscribing someone)"
read -r PTPS1 PP50_1 PP99_1 PN1 < <(pgbench_run 1 prepared)
echo "pgbench (baseline 1, prepared): $PTPS1 tps, p50 $PP50_1 ms, p99 $PP99_1 ms ($PN1 transactions, $(fresh_share "$PN1") % unsubscribing someone)"

"$LISTCTL_BIN" serve --port 0 --no-worker 2> "$WORK/serve.log" &
SERVE_PID=$!
for _ in $(seq 1 200); do grep -q "listening on" "$WORK/serve.log" && break; sleep 0.1; done
PORT=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/serve.log" | head -1)
[ -n "$PORT" ] || { cat "$WORK/serve.log" >&2; exit 1; }
PERF_PID=
if [ "${PROFILE:-0}" = 1 ]; then
    "${PSQL[@]}" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" -c "SELECT pg_stat_statements_reset()" >/dev/null
fi
if [ "${PROFILE:-0}" = 1 ] && command -v perf >/dev/null; then
    perf record -a -g -F 499 -o "$WORK/perf.data" -- sleep "$((DURATION > 3 ? DURATION - 2 : 1))" >/dev/null 2>&1 &
    PERF_PID=$!
fi
TOKENS=$WORK/tokens THREADS=2 HOST_HEADER=bench.example.org \
    wrk -t2 -c "$CONNECTIONS" -d "${DURATION}s" --latency -s scripts/lib/bench-serve.lua "http://127.0.0.1:$PORT" > "$WORK/wrk.txt"
if [ "${PROFILE:-0}" = 1 ]; then
    echo "statements during the wrk run (pg_stat_statements): calls, server ms in all, µs each"
    "${PSQL[@]}" -F ' | ' -c "SELECT calls, round(total_exec_time + total_plan_time), round(1000 * (total_exec_time + total_plan_time) / calls),
        left(regexp_replace(query, '\s+', ' ', 'g'), 90) FROM pg_stat_statements ORDER BY calls DESC LIMIT 8"
fi
if [ -n "$PERF_PID" ]; then
    wait "$PERF_PID" || true
    echo "profile (share of all CPU samples during the wrk run, by process):"
    # (head ends the pipe early: not a failure.)
    { perf report -i "$WORK/perf.data" --no-children --sort comm --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -8; } || true
    echo "profile (serve's hottest symbols, share of all samples):"
    { perf report -i "$WORK/perf.data" --no-children --pid "$SERVE_PID" --sort dso,symbol --stdio 2>/dev/null \
        | grep -E '^ +[0-9.]+%' | sed -E 's/ {2,}/  /g' | cut -c1-150 | head -20; } || true
    echo "profile (PostgreSQL's hottest symbols, share of all samples):"
    { perf report -i "$WORK/perf.data" --no-children --comm postgres --sort symbol --stdio 2>/dev/null \
        | grep -E '^ +[0-9.]+%' | sed -E 's/ {2,}/  /g' | cut -c1-150 | head -20; } || true
fi
RESULT=$(grep '^RESULT' "$WORK/wrk.txt")
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" || true; SERVE_PID=
eval "$(echo "$RESULT" | sed 's/^RESULT //' | tr ' ' '\n' | sed 's/^/W_/')"
WRK_RATE=$(python3 -c "print(f'{$W_ok / $W_seconds:.1f}')")
echo "listctl serve (wrk): $WRK_RATE unsubscribes/s, p50 $W_p50_ms ms, p99 $W_p99_ms ms ($W_ok answered 200, $W_other other, $W_errors socket errors)"

if [ "${PROFILE:-0}" = 1 ]; then "${PSQL[@]}" -c "SELECT pg_stat_statements_reset()" >/dev/null; fi
read -r PTPS2 PP50_2 PP99_2 PN2 < <(pgbench_run 2 prepared)
echo "pgbench (baseline 2, prepared): $PTPS2 tps, p50 $PP50_2 ms, p99 $PP99_2 ms ($PN2 transactions, $(fresh_share "$PN2") % unsubscribing someone)"
read -r TPS2 P50_2 P99_2 N2 < <(pgbench_run 2 simple)
if [ "${PROFILE:-0}" = 1 ]; then
    echo "statements during pgbench 2 (pg_stat_statements): calls, server ms in all, µs each"
    "${PSQL[@]}" -F ' | ' -c "SELECT calls, round(total_exec_time + total_plan_time), round(1000 * (total_exec_time + total_plan_time) / calls),
        left(regexp_replace(query, '\s+', ' ', 'g'), 90) FROM pg_stat_statements ORDER BY calls DESC LIMIT 3"
fi
echo "pgbench (baseline 2, simple protocol): $TPS2 tps, p50 $P50_2 ms, p99 $P99_2 ms ($N2 transactions, $(fresh_share "$N2") % unsubscribing someone)"

# Every 200 is in the database: one unsubscribed subscription and one one-click event each.
read -r DONE EVENTS < <("${PSQL[@]}" -F ' ' -c "
    SELECT (SELECT count(*) FROM subscriptions WHERE list_id = $LIST_A AND status = 'unsubscribed'),
           (SELECT count(*) FROM events WHERE list_id = $LIST_A AND kind = 'unsubscribed' AND detail->>'source' = 'one-click')")
echo "database: $DONE unsubscribed on list a, $EVENTS one-click events"
if [ "$W_ok" -gt "$COUNT" ]; then
    echo "bench-serve: more requests ($W_ok) than tokens ($COUNT): raise COUNT so every request is a new person" >&2; exit 1
fi
if [ "$DONE" -lt "$W_ok" ] || [ "$DONE" != "$EVENTS" ]; then
    echo "bench-serve: FAILED: $W_ok answers 200 but $DONE unsubscribed and $EVENTS events" >&2; exit 1
fi
python3 -c "
base = ($TPS1 + $TPS2) / 2
prepared = ($PTPS1 + $PTPS2) / 2
print(f'ratio: {$WRK_RATE / base:.2f} of pgbench ({$WRK_RATE} / {base:.1f}, its default simple protocol); target >= 0.5, aim 0.7')
print(f'ratio against pgbench -M prepared: {$WRK_RATE / prepared:.2f} ({$WRK_RATE} / {prepared:.1f}; serve prepares the statement too)')"
