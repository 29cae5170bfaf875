#!/usr/bin/env bash
# Runs a command with LIENTHONG_TEST_DATABASE_URL set, starting a throwaway PostgreSQL cluster
# for it when none is given, and stopping that cluster afterwards. The cluster's directory is
# exported as LIENTHONG_TEST_PG_DIR, so that tests may stop and start its server.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${LIENTHONG_TEST_DATABASE_URL:-}" ]; then
    dirfile=$(mktemp)
    if url=$("$here/pg-test-cluster.sh" start 2>"$dirfile"); then
        dir=$(tail -n 1 "$dirfile")
        trap '"$here/pg-test-cluster.sh" stop "$dir"' EXIT
        export LIENTHONG_TEST_DATABASE_URL="$url" LIENTHONG_TEST_PG_DIR="$dir"
    else
        cat "$dirfile" >&2
        echo "no PostgreSQL could be started: its tests will be skipped" >&2
    fi
    rm -f "$dirfile"
fi
"$@"
