#!/usr/bin/env bash
# The ledger's growth (DESIGN §7): does a claim slow down when the
# deliveries table holds 1,000,000 finished rows? Same claim statement
# (LedgerSQL.claim), same 20,000 pending rows, with and without a finished
# issue of 1,000,000 deliveries beside them, in one throwaway PostgreSQL.
# Prints the claim's execution time in each case and the ratio, and the
# bytes a finished delivery row costs on disk. Then compacts the finished
# issue (`listctl db compact`) and prints the ledger's size before and
# after, the bytes per compacted delivery, the time it took and the claim
# time after it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
FINISHED=${FINISHED:-1000000}
PENDING=${PENDING:-20000}
WORK=$(mktemp -d /tmp/listctl-ledger-growth.XXXXXX)
chmod 755 "$WORK"
. scripts/lib/throwaway-postgres.sh
PORT=$((20000 + RANDOM % 20000))
trap 'throwaway_postgres_stop "$WORK/pg"; rm -rf "$WORK"' EXIT
throwaway_postgres_start "$WORK/pg" "$PORT"
export DATABASE_URL="postgresql://postgres@127.0.0.1:$PORT/postgres"
swift build -c release --product listctl >/dev/null 2>&1 || swift build -c release --product listctl
LISTCTL=$(swift build -c release --show-bin-path)/listctl
"$LISTCTL" migrate >/dev/null
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL")

# The claim of docs/LEDGER.md §2, as LedgerSQL.claim has it, for 12 rows.
CLAIM=$(sed -n '/static let claim = """/,/^        """/p' Sources/ListService/Delivery/LedgerSQL.swift | sed '1d;$d')
claim_ms() {  # issue list: mean execution time of 20 claims (each rolled back), in ms
    local sql=${CLAIM//\$1/$1}
    sql=${sql//\$2/\'bench\'}; sql=${sql//\$3/60}; sql=${sql//\$4/12}; sql=${sql//\$5/$2}
    "${PSQL[@]}" -t -A <<SQL
CREATE TEMP TABLE t (ms double precision);
DO \$\$
DECLARE started timestamptz; i int;
BEGIN
  FOR i IN 1..20 LOOP
    started := clock_timestamp();
    BEGIN
      EXECUTE \$q\$ $sql \$q\$;
      RAISE EXCEPTION 'rollback' USING ERRCODE = 'P0001';
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
    INSERT INTO t VALUES (extract(epoch FROM clock_timestamp() - started) * 1000);
  END LOOP;
END
\$\$;
SELECT round(avg(ms)::numeric, 3) FROM t;
SQL
}

"${PSQL[@]}" <<SQL
INSERT INTO lists (slug, name) VALUES ('big', 'Big');
INSERT INTO subscribers (email, email_key)
    SELECT 'r' || g || '@example.com', 'r' || g || '@example.com' FROM generate_series(1, $FINISHED) g;
INSERT INTO subscriptions (list_id, subscriber_id, status) SELECT 1, id, 'active' FROM subscribers;
-- The issue being sent: PENDING due rows.
INSERT INTO issues (list_id, subject, source, content_sha256, state, scheduled_at)
    VALUES (1, 'Now', '', repeat('a', 64), 'sending', now());
INSERT INTO issue_parts (issue_id, part, subject, html, text, html_bytes, encoded_html_bytes, text_bytes)
    VALUES (1, 1, 'Now', '', '', 0, 0, 0);
INSERT INTO deliveries (issue_id, subscriber_id, email, part_count)
    SELECT 1, id, email, 1 FROM subscribers ORDER BY id LIMIT $PENDING;
VACUUM ANALYZE;
SQL
claim_ms 1 1 >/dev/null  # warm the caches first
BEFORE=$(claim_ms 1 1)
"${PSQL[@]}" <<SQL
-- A finished issue of FINISHED deliveries beside it.
INSERT INTO issues (list_id, subject, source, content_sha256, state, scheduled_at, sent_at)
    VALUES (1, 'Old', '', repeat('b', 64), 'sent', now() - interval '7 days', now() - interval '7 days');
INSERT INTO deliveries (issue_id, subscriber_id, email, part_count, next_part, state)
    SELECT 2, id, email, 1, 2, 'sent' FROM subscribers;
VACUUM ANALYZE;
SQL
claim_ms 1 1 >/dev/null
AFTER=$(claim_ms 1 1)
BYTES=$("${PSQL[@]}" -t -A -c "SELECT pg_total_relation_size('deliveries') / (SELECT count(*) FROM deliveries)")
DUE=$("${PSQL[@]}" -t -A -c "SELECT pg_relation_size('deliveries_due_idx')")
echo "ledger growth: claim of 12 from $PENDING pending rows: ${BEFORE} ms alone, ${AFTER} ms beside $FINISHED finished deliveries"
python3 -c "print(f'  ratio (beside / alone): {float(\"$AFTER\") / float(\"$BEFORE\"):.2f}')"
echo "  deliveries on disk, indexes included: $BYTES bytes per row; the due index (pending rows only): $DUE bytes"

# Compaction (docs/LEDGER.md §11): the finished issue's rows into summaries.
size() { "${PSQL[@]}" -t -A -c "SELECT pg_total_relation_size('deliveries') + pg_total_relation_size('delivery_summaries')"; }
"${PSQL[@]}" -c "CHECKPOINT" >/dev/null
LEDGER_BEFORE=$(size)
START=$(date +%s.%N)
"$LISTCTL" db compact --older-than 1 --json >"$WORK/compact.json"
END=$(date +%s.%N)
# VACUUM marks the deleted rows' space reusable (autovacuum would); VACUUM FULL returns it to the system.
"${PSQL[@]}" -c "VACUUM ANALYZE deliveries" >/dev/null
LEDGER_VACUUMED=$(size)
"${PSQL[@]}" -c "VACUUM (FULL, ANALYZE) deliveries" >/dev/null
LEDGER_FULL=$(size)
SUMMARY=$("${PSQL[@]}" -t -A -c "SELECT pg_total_relation_size('delivery_summaries')")
COMPACTED=$(python3 -c "import json,sys; print(sum(o['deliveriesCompacted'] for o in json.load(open(sys.argv[1]))))" "$WORK/compact.json")
claim_ms 1 1 >/dev/null
COMPACT_CLAIM=$(claim_ms 1 1)
python3 - "$LEDGER_BEFORE" "$LEDGER_VACUUMED" "$LEDGER_FULL" "$SUMMARY" "$COMPACTED" "$START" "$END" "$BEFORE" "$AFTER" "$COMPACT_CLAIM" "$PENDING" <<'PY'
import sys
before, vacuumed, full, summary, compacted = (int(x) for x in sys.argv[1:6])
start, end, alone, beside, compact_claim = (float(x) for x in sys.argv[6:11])
pending = int(sys.argv[11])
mb = lambda b: f"{b / 1e6:,.1f} MB"
print(f"compaction: listctl db compact moved {compacted:,} sent rows in {end - start:.1f} s")
print(f"  ledger (deliveries + delivery_summaries, indexes included): {mb(before)} before; {mb(vacuumed)} after (VACUUM: space reusable); {mb(full)} after VACUUM FULL")
print(f"  the summaries: {mb(summary)}, {summary / compacted:.1f} bytes per compacted delivery (was {(before - full) / compacted + summary / compacted:.0f} as rows)")
print(f"  claim of 12 from {pending} pending rows after compaction: {compact_claim} ms (ratio to alone: {compact_claim / alone:.2f}; to beside the rows: {compact_claim / beside:.2f})")
PY
