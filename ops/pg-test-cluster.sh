#!/usr/bin/env bash
# Starts (or stops) a throwaway PostgreSQL cluster for the tests, as a non-root user, on a free
# loopback port. `start` installs the server from Debian packages if it is missing and prints
# the cluster's URL on stdout; `stop DIR` stops the cluster whose files are in DIR and removes
# them. `down DIR` stops its server at once, as a crash would (no shutdown checkpoint), keeping
# the files; `up DIR` starts it again on the same port unless it runs (the chaos tests restart
# PostgreSQL so).
set -euo pipefail

find_bindir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
    done
    return 1
}

# Runs pg_ctl as the owner of the cluster in $1 (PostgreSQL refuses to run as root).
as_owner() {
    local dir=$1
    shift
    if [ "$(id -u)" = 0 ]; then runuser -u "$(stat -c %U "$dir")" -- "$@"; else "$@"; fi
}

case "${1:-start}" in
start)
    if ! bindir=$(find_bindir); then
        echo "installing PostgreSQL from Debian packages" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq postgresql >&2
        bindir=$(find_bindir)
    fi
    user=postgres
    if ! id "$user" >/dev/null 2>&1; then
        user=lienthong-pg
        id "$user" >/dev/null 2>&1 || useradd --system --no-create-home "$user"
    fi
    dir=$(mktemp -d /tmp/lienthong-pg.XXXXXX)
    chown "$user" "$dir"
    chmod 700 "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    run() { if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi; }
    run "$bindir/initdb" -D "$dir/data" -U lienthong --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    echo "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB" \
        > "$dir/options"
    run "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "$(cat "$dir/options")" start >/dev/null
    echo "$dir" > "$dir/.dir"
    echo "postgresql://lienthong@127.0.0.1:$port/postgres"
    echo "$dir" >&2
    ;;
stop)
    dir=${2:?usage: pg-test-cluster.sh stop DIR}
    as_owner "$dir" "$(find_bindir)/pg_ctl" -D "$dir/data" -m fast stop >/dev/null || true
    rm -rf "$dir"
    ;;
down)
    dir=${2:?usage: pg-test-cluster.sh down DIR}
    as_owner "$dir" "$(find_bindir)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
    ;;
up)
    dir=${2:?usage: pg-test-cluster.sh up DIR}
    bindir=$(find_bindir)
    as_owner "$dir" "$bindir/pg_ctl" -D "$dir/data" status >/dev/null ||
        as_owner "$dir" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
            -o "$(cat "$dir/options")" start >/dev/null
    ;;
*)
    echo "usage: pg-test-cluster.sh start | stop DIR | down DIR | up DIR" >&2
    exit 2
    ;;
esac
