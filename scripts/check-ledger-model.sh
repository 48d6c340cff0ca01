#!/usr/bin/env bash
# Model-checks the delivery ledger's protocol (Tests/Model/ledger.pml, see
# docs/LEDGER.md §10) with spin: each check is exhaustive within its bounds.
# Prints one line per check and exits non-zero if any check fails.
# `make test` runs it through Tests/MigrationsTests/LedgerModelTests.swift.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$PWD/Tests/Model/ledger.pml
command -v spin >/dev/null || { echo "check-ledger-model: spin is missing; run \`make test\` (scripts/setup.sh installs it)" >&2; exit 1; }
command -v gcc >/dev/null || { echo "check-ledger-model: gcc is missing; run \`make test\`" >&2; exit 1; }
WORK=$(mktemp -d /tmp/ledger-model.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
status=0

# check NAME EXPECT(ok|violation) "SPIN DEFINES" "GCC DEFINES" "PAN ARGS"
check() {
    local name=$1 expect=$2 defines=$3 cflags=$4 panargs=$5 dir=$WORK/$1
    mkdir -p "$dir" && cp "$MODEL" "$dir/ledger.pml"
    (cd "$dir" && spin $defines -a ledger.pml >spin.log 2>&1 && gcc -w -O2 $cflags -DMEMLIM=3000 -o pan pan.c >gcc.log 2>&1) \
        || { echo "$name: spin or gcc failed"; cat "$dir"/*.log; status=1; return; }
    local start=$SECONDS
    (cd "$dir" && ./pan $panargs >pan.log 2>&1) || true
    local errors states depth
    errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$dir/pan.log" | head -1)
    states=$(sed -n 's/^ *\([0-9e+.]*\) states, stored.*/\1/p' "$dir/pan.log" | head -1)
    depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' "$dir/pan.log" | head -1)
    local incomplete=""
    if grep -q "reached -DMEMLIM bound\|max search depth too small" "$dir/pan.log"; then incomplete=" (INCOMPLETE search)"; fi
    echo "$name: errors: ${errors:-?}, states stored: ${states:-?}, depth: ${depth:-?}, time: $((SECONDS - start)) s$incomplete [spin $defines; gcc $cflags; pan $panargs]"
    if [ "$expect" = ok ]; then
        if [ "${errors:-1}" != 0 ] || [ -n "$incomplete" ]; then status=1; grep -E "pan:|assert" "$dir/pan.log" | head -5; fi
    else
        if [ "${errors:-0}" = 0 ]; then status=1; echo "$name: expected a violation, spin found none"; else echo "$name: found as expected: $(grep -m1 -E "assertion violated|invalid end state" "$dir/pan.log")"; fi
    fi
}

# Safety (assertions and invalid end states = a delivery left non-final with every process stuck):
# a crash and a stalled lease with unknown outcomes retried; then crashes with retries, unsubscribe and cancel.
check safety-stall    ok "-DMAX_CRASH=1 -DMAX_STALL=1 -DMAX_ATTEMPTS=1 -DNO_ENV" "-DSAFETY -DCOLLAPSE" "-m100000"
check safety-env      ok "-DMAX_CRASH=1 -DMAX_STALL=0 -DMAX_ATTEMPTS=2"          "-DSAFETY -DCOLLAPSE" "-m100000"
# Termination: no cycle at all in the state graph (no progress labels, so any cycle is a
# non-progress cycle), hence every run is finite and ends in a valid end state.
check termination     ok "-DMAX_CRASH=1 -DMAX_STALL=1 -DMAX_ATTEMPTS=1 -DMAX_UNKNOWN=1 -DNO_ENV" "-DNP -DCOLLAPSE" "-l -m100000"
# The broken variant: an acknowledgement that does not check lease_owner must be caught.
check broken-ack violation "-DUNCONDITIONAL_ACK -DMAX_CRASH=0 -DMAX_STALL=1 -DMAX_ATTEMPTS=1 -DNO_ENV" "-DSAFETY" "-m100000"
if [ "${1:-}" = --deep ]; then
    check deep ok "-DMAX_CRASH=2 -DMAX_STALL=1 -DMAX_ATTEMPTS=2" "-DSAFETY -DCOLLAPSE" "-m100000"
fi
exit $status
