#!/usr/bin/env bash
# run-unit.sh — runs unit test binaries that need a PostgreSQL server
# (tests/unit/test_db_pg.c) against a throwaway cluster, stopped after.
#   bash tests/pg/run-unit.sh BINARY...
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/cluster.sh"
dir=$(mktemp -d -t ov-pg-unit.XXXXXX) || exit 2
trap 'pg_cluster_stop' EXIT
pg_cluster_start "$dir" || { echo "run-unit.sh: cannot start PostgreSQL" >&2; exit 1; }
export OV_PG_URL="postgresql:///orgvault?host=$PG_SOCK&port=$PG_PORT&user=orgvault"
export OV_PG_ADMIN_URL="postgresql:///orgvault?host=$PG_SOCK&port=$PG_PORT&user=postgres"
fail=0
for t in "$@"; do
	echo "== $t"
	"$t" || fail=1
done
exit $fail
