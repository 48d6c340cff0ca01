#!/usr/bin/env bash
# `make test`: starts a throwaway PostgreSQL and the mail test servers on
# loopback, runs the whole Swift test suite against them, stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

WORK=$(mktemp -d /tmp/listctl-test.XXXXXX)
chmod 755 "$WORK"
export LISTCTL_TEST_WORK=$WORK
. scripts/lib/throwaway-postgres.sh
PGPORT=${LISTCTL_TEST_PGPORT:-$((20000 + RANDOM % 20000))}
PGDATA=$WORK/pgdata

cleanup() {
    status=$?
    if [ -f "$ROOT/scripts/test-servers.sh" ]; then bash "$ROOT/scripts/test-servers.sh" stop || true; fi
    throwaway_postgres_stop "$PGDATA"
    rm -rf "$WORK"
    exit $status
}
trap cleanup EXIT INT TERM

echo "test: starting a throwaway PostgreSQL on 127.0.0.1:$PGPORT" >&2
throwaway_postgres_start "$PGDATA" "$PGPORT" -c max_connections=200
export LISTCTL_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT/postgres"

if [ -f scripts/test-servers.sh ]; then
    # Mail test servers (SMTP, provider HTTP APIs); it exports their addresses.
    eval "$(bash scripts/test-servers.sh start)"
fi

echo "test: building (log: build.log in the work folder, shown on failure)" >&2
# LISTCTL_SCRATCH: a build folder of its own (two checkouts' test runs side by side).
SCRATCH=(${LISTCTL_SCRATCH:+--scratch-path "$LISTCTL_SCRATCH"})
if ! swift build --build-tests "${SCRATCH[@]}" >"$WORK/build.log" 2>&1; then
    grep -vE "^\[[0-9]+/[0-9]+\]" "$WORK/build.log" >&2
    exit 1
fi
# The browser tests' screenshots, kept after the run (a test artefact).
export LISTCTL_SCREENSHOTS=${LISTCTL_SCREENSHOTS:-$ROOT/test-artifacts/screenshots}
echo "test: running the suite (screenshots: $LISTCTL_SCREENSHOTS)" >&2
swift test --skip-build "${SCRATCH[@]}" "$@"
