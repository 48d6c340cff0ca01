# Sourced by scripts/test.sh and scripts/bench-import.sh: a throwaway
# PostgreSQL on 127.0.0.1, fsync off, no Unix socket.
#   throwaway_postgres_start DATADIR PORT [extra "-c name=value" settings...]
#   throwaway_postgres_stop DATADIR
# As root the server runs as the postgres user (PostgreSQL refuses root).

THROWAWAY_PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

as_postgres() {
    # From "/": the postgres user may not be able to enter the caller's directory.
    if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

throwaway_postgres_start() {
    local data=$1 port=$2
    shift 2
    mkdir -p "$data"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$data"; fi
    as_postgres "$THROWAWAY_PGBIN/initdb" -D "$data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
    as_postgres "$THROWAWAY_PGBIN/pg_ctl" -D "$data" -l "$data/server.log" -w \
        -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off $*" \
        start >/dev/null
}

throwaway_postgres_stop() {
    if [ -d "$1" ]; then as_postgres "$THROWAWAY_PGBIN/pg_ctl" -D "$1" -m immediate stop >/dev/null 2>&1 || true; fi
}
