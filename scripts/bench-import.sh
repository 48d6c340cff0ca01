#!/usr/bin/env bash
# `make bench-import`: times a 1,000,000-row TinyLetter-style import on fresh
# databases of one throwaway PostgreSQL, in the same run:
#   (a) psql \copy of the CSV into an unlogged table          (the floor)
#   (b) psql running listctl's own SQL (`listctl import --print-sql`): COPY of
#       the staging rows listctl produces, then the merge statements
#   (c) listctl import of the CSV, under /usr/bin/time -v (peak RSS)
#   (bx), (cx) the same with --exclusive (`--print-sql --exclusive` for bx):
#       tables locked, subscription foreign keys checked in bulk
#   (d) a second listctl import of the same people, 10% now unsubscribed
# and prints c/b and cx/bx (each path against its own baseline), c/a, rows
# per second and peak RSS. b, c, bx, cx alternate RUNS times (default 3); the
# best of each counts. Results: docs/BENCHMARKS-import.md.
#
# Environment: ROWS (default 1000000), RUNS (default 3), LISTCTL_BIN (skip the release build),
# SWIFT_SCRATCH (a --scratch-path for the build), KEEP=1 keeps the work folder.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROWS=${ROWS:-1000000}

. scripts/lib/bench-listctl.sh
bench_listctl_bin bench

WORK=$(mktemp -d /tmp/listctl-bench.XXXXXX)
chmod 755 "$WORK"
. scripts/lib/throwaway-postgres.sh
PGPORT=${LISTCTL_BENCH_PGPORT:-$((20000 + RANDOM % 20000))}
PGDATA=$WORK/pgdata
cleanup() {
    status=$?
    throwaway_postgres_stop "$PGDATA"
    if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; else echo "bench: kept $WORK" >&2; fi
    exit $status
}
trap cleanup EXIT INT TERM

echo "bench: starting a throwaway PostgreSQL on 127.0.0.1:$PGPORT (fsync off)" >&2
throwaway_postgres_start "$PGDATA" "$PGPORT" -c shared_buffers=256MB -c max_wal_size=4GB
BASE="postgresql://postgres@127.0.0.1:$PGPORT"
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

CSV=$WORK/subscribers.csv
echo "bench: generating $ROWS rows (TinyLetter layout)" >&2
awk -v rows="$ROWS" 'BEGIN {
    srand(42)
    printf "Email,Name,Created_At,Notes\r\n"
    split("example.com Gmail.com yahoo.com Fastmail.FM posteo.de mail.example.org", domains, " ")
    for (i = 1; i <= rows; i++) {
        d = domains[1 + (i % 6)]
        note = (i % 10 == 0) ? "\"met at a talk, \"\"2019\"\"\"" : ""
        printf "Reader.%d@%s,Reader %d,2014-%02d-%02d %02d:%02d:%02d UTC,%s\r\n", i, d, i, 1 + i % 12, 1 + i % 28, i % 24, i % 60, i % 60, note
    }
}' > "$CSV"
SIZE=$(stat -c %s "$CSV")

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }

fresh_db() {
    psql_q "$BASE/postgres" -c "CREATE DATABASE $1"
    if [ "$2" = migrate ]; then DATABASE_URL="$BASE/$1" "$LISTCTL_BIN" migrate >/dev/null; fi
}

# (a) the floor: raw CSV into an unlogged table.
fresh_db bench_a none
psql_q "$BASE/bench_a" -c "CREATE UNLOGGED TABLE raw (email text, name text, created_at text, notes text)"
t0=$(now)
psql_q "$BASE/bench_a" -c "\\copy raw FROM '$CSV' WITH (FORMAT csv, HEADER true)"
t1=$(now)
A=$(elapsed "$t0" "$t1")

# (b) and (c), and their --exclusive twins, alternated RUNS times (default
# 3) on fresh databases; the best of each is reported, because on a shared
# machine a single run measures the neighbours as much as the import.
"$LISTCTL_BIN" import --print-sql | sed "s|STAGING_FILE|$WORK/staging.tsv|" > "$WORK/import.sql"
"$LISTCTL_BIN" import --print-sql --exclusive | sed "s|STAGING_FILE|$WORK/staging.tsv|" > "$WORK/import-exclusive.sql"
t0=$(now)
"$LISTCTL_BIN" import --write-staging "$WORK/staging.tsv" "$CSV" 2>/dev/null
t1=$(now)
P=$(elapsed "$t0" "$t1")
declare -A BEST SERIES
RSS_KB=0
better() { [ -z "${BEST[$1]:-}" ] || [ "$(echo "$2 < ${BEST[$1]}" | bc)" = 1 ]; }
record() {
    SERIES[$1]="${SERIES[$1]:-} $(printf '%.2f' "$2")"
    if better "$1" "$2"; then BEST[$1]=$2; fi
}
# psql running SCRIPT on a fresh database NAME; sets T to the seconds.
run_psql() {
    local name=$1 script=$2 list_id t0 t1
    fresh_db "$name" migrate
    list_id=$(psql_q "$BASE/$name" -At -c "INSERT INTO lists (slug, name) VALUES ('main', 'main') RETURNING id")
    t0=$(now)
    psql_q "$BASE/$name" -v list_id="$list_id" -f "$script" >/dev/null
    t1=$(now)
    COUNT_B=$(psql_q "$BASE/$name" -At -c "SELECT count(*) FROM subscriptions")
    psql_q "$BASE/postgres" -c "DROP DATABASE $name"
    T=$(elapsed "$t0" "$t1")
}
# listctl import [FLAGS] on a fresh database NAME, kept; sets T to the seconds.
run_listctl() {
    local name=$1 t0 t1 rss
    shift
    fresh_db "$name" migrate
    psql_q "$BASE/$name" -c "INSERT INTO lists (slug, name) VALUES ('main', 'main')"
    t0=$(now)
    DATABASE_URL="$BASE/$name" /usr/bin/time -v -o "$WORK/time.txt" "$LISTCTL_BIN" import "$CSV" --list main --json "$@" > "$WORK/$name.json"
    t1=$(now)
    rss=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$WORK/time.txt")
    if [ "$rss" -gt "$RSS_KB" ]; then RSS_KB=$rss; fi
    T=$(elapsed "$t0" "$t1")
}
for run in $(seq 1 "${RUNS:-3}"); do
    # Only the last run's (c) database is kept, for (d).
    if [ "$run" -gt 1 ]; then psql_q "$BASE/postgres" -c "DROP DATABASE bench_c$((run - 1))"; fi
    run_psql "bench_b$run" "$WORK/import.sql"; b=$T
    run_listctl "bench_c$run"; c=$T
    run_psql "bench_bx$run" "$WORK/import-exclusive.sql"; bx=$T
    run_listctl "bench_cx$run" --exclusive; cx=$T
    cp "$WORK/bench_cx$run.json" "$WORK/cx.json"
    psql_q "$BASE/postgres" -c "DROP DATABASE bench_cx$run"
    record b "$b"; record c "$c"; record bx "$bx"; record cx "$cx"
    echo "bench: run $run: b $b s, c $c s, bx $bx s, cx $cx s, load $(cut -d' ' -f1 /proc/loadavg)" >&2
    LAST_RUN=$run
done
cp "$WORK/bench_c$LAST_RUN.json" "$WORK/c.json"
B=${BEST[b]}; C=${BEST[c]}; BX=${BEST[bx]}; CX=${BEST[cx]}

# (d) a second export of the same people a month later, into the last (c)
# database: every row already stored, one in ten now unsubscribed (the update
# path, on tables whose statistics are as stale as right after a big import).
CSV2=$WORK/subscribers-later.csv
awk -F, 'NR == 1 { sub(/\r$/, ""); print $0 ",unsubscribed\r"; next }
         { sub(/\r$/, ""); print $0 "," ((NR % 10 == 0) ? "true" : "false") "\r" }' "$CSV" > "$CSV2"
t0=$(now)
DATABASE_URL="$BASE/bench_c$LAST_RUN" "$LISTCTL_BIN" import "$CSV2" --list main --json > "$WORK/d.json"
t1=$(now)
D=$(elapsed "$t0" "$t1")

COUNT_C=$(psql_q "$BASE/bench_c$LAST_RUN" -At -c "SELECT count(*) FROM subscriptions WHERE status = 'active'")

printf '\nlistctl import benchmark: %s rows, %s MB CSV, PostgreSQL %s, %s\n' "$ROWS" "$((SIZE / 1048576))" \
    "$(psql_q "$BASE/postgres" -At -c 'SHOW server_version')" "$(date -u +%Y-%m-%dT%H:%MZ)"
printf '  (a) psql \\copy into an unlogged table   %8.2f s\n' "$A"
printf '  (b) psql running listctl'"'"'s SQL          %8.2f s   (best of:%s; subscriptions: %s)\n' "$B" "${SERIES[b]}" "$COUNT_B"
printf '  (c) listctl import                      %8.2f s   (best of:%s; active after d: %s)\n' "$C" "${SERIES[c]}" "$COUNT_C"
printf '  (bx) psql, --exclusive SQL              %8.2f s   (best of:%s)\n' "$BX" "${SERIES[bx]}"
printf '  (cx) listctl import --exclusive         %8.2f s   (best of:%s)\n' "$CX" "${SERIES[cx]}"
printf '      listctl parse+validate only (to file) %6.2f s\n' "$P"
printf '  (d) listctl import, same people again, 10%% unsubscribed %6.2f s\n' "$D"
printf '  c/b   = %.2f   (default path, target <= 1.30)\n' "$(echo "$C / $B" | bc -l)"
printf '  cx/bx = %.2f   (--exclusive, target <= 1.30)\n' "$(echo "$CX / $BX" | bc -l)"
printf '  c/cx  = %.2f   (the cost of not locking anyone out)\n' "$(echo "$C / $CX" | bc -l)"
printf '  c/a   = %.2f\n' "$(echo "$C / $A" | bc -l)"
printf '  listctl rows/s = %.0f (default), %.0f (--exclusive)\n' "$(echo "$ROWS / $C" | bc -l)" "$(echo "$ROWS / $CX" | bc -l)"
printf '  listctl peak RSS = %.1f MB   (target <= 100 MB)\n' "$(echo "$RSS_KB / 1024" | bc -l)"
echo "  (c) summary: $(cat "$WORK/c.json")"
echo "  (cx) summary: $(cat "$WORK/cx.json")"
echo "  (d) summary: $(cat "$WORK/d.json")"
