#!/usr/bin/env bash
# `make test`: starts a throwaway PostgreSQL and the mail test servers on
# loopback, runs the whole Swift test suite against them, stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

WORK=$(mktemp -d /tmp/listctl-test.XXXXXX)
chmod 755 "$WORK"
export LISTCTL_TEST_WORK=$WORK
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGPORT=${LISTCTL_TEST_PGPORT:-$((20000 + RANDOM % 20000))}
PGDATA=$WORK/pgdata

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
    status=$?
    if [ -f "$ROOT/scripts/test-servers.sh" ]; then bash "$ROOT/scripts/test-servers.sh" stop || true; fi
    if [ -d "$PGDATA" ]; then as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
    exit $status
}
trap cleanup EXIT INT TERM

echo "test: starting a throwaway PostgreSQL on 127.0.0.1:$PGPORT" >&2
mkdir -p "$PGDATA"
if [ "$(id -u)" -eq 0 ]; then chown postgres "$PGDATA"; fi
as_postgres "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -o "-p $PGPORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null
export LISTCTL_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT/postgres"

if [ -f scripts/test-servers.sh ]; then
    # Mail test servers (SMTP, provider HTTP APIs); it exports their addresses.
    eval "$(bash scripts/test-servers.sh start)"
fi

echo "test: building (log: build.log in the work folder, shown on failure)" >&2
if ! swift build --build-tests >"$WORK/build.log" 2>&1; then
    grep -vE "^\[[0-9]+/[0-9]+\]" "$WORK/build.log" >&2
    exit 1
fi
echo "test: running the suite" >&2
swift test --skip-build "$@"
