#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, in a temporary directory, on a free port of 127.0.0.1.
#   scripts/postgres-cluster.sh start [--durable]   prints two lines: the cluster's directory, then its admin URL
#   scripts/postgres-cluster.sh stop DIR
# PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user that Debian's package
# creates. Durability is off (fsync) unless --durable: the tests kill Tocsin, never PostgreSQL; benchmarks want
# PostgreSQL's defaults, to compare with SQLite's fsync on every commit.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ]; then
    echo "error: PostgreSQL server binaries not found under /usr/lib/postgresql; run scripts/install-test-deps.sh" >&2
    exit 1
fi

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case "${1:-}" in
start)
    settings="-c fsync=off -c full_page_writes=off"
    if [ "${2:-}" = "--durable" ]; then settings=""; fi
    dir=$(mktemp -d /tmp/tocsin-pg.XXXXXX)
    chmod 755 "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bindir/initdb" -D "$dir/data" -U tocsin --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1; }
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $settings -c max_connections=400" \
        start >/dev/null || { cat "$dir/server.log" >&2; rm -rf "$dir"; exit 1; }
    echo "$dir"
    echo "postgres://tocsin@127.0.0.1:$port/postgres"
    ;;
stop)
    dir=${2:?usage: postgres-cluster.sh stop DIR}
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start | stop DIR" >&2
    exit 2
    ;;
esac
