# engine.sh — what the benches share about the storage engine (sourced).
#
# BENCH_DB=sqlite (default) or pg.  On pg, engine_start starts a
# throwaway PostgreSQL cluster in a temp directory (tests/pg/cluster.sh:
# a Unix socket in that directory, loopback only) and every vault directory
# gets a schema of its own; engine_stop stops it.
#
#   ov DIR ARGS...        orgvault on DIR's vault, on the chosen engine
#   db_args DIR           DB_ARGS: the same as an option (background runs)
#   engine_load DIR       JSON lines on stdin into a new vault DIR; on
#                         PostgreSQL imported into SQLite and moved with
#                         `orgvault copy` (one INSERT per row: a 100 000
#                         credential import is round-trip bound there)
#   engine_sql DIR SQL    one SQL statement on DIR's vault, rows on stdout
#   record FIGURE VALUE   one figure for the side-by-side table
#                         ($BENCH_TABLE, when set)
ENGINE=${BENCH_DB:-sqlite}
_bench_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

engine_start() {
	[ "$ENGINE" = pg ] || return 0
	# shellcheck source=../pg/cluster.sh
	. "$_bench_here/../pg/cluster.sh"
	# A directory of its own: user postgres cannot enter $tmp (0700).
	pg_cluster_start "$(mktemp -d -t ov-bench-pg.XXXXXX)" ||
	    { echo "cannot start PostgreSQL"; exit 1; }
	# The test clusters run without fsync; a bench measures durable
	# commits, as SQLite's synchronous=FULL makes them.
	PG_DB=postgres pg_psql "ALTER SYSTEM SET fsync = on" >/dev/null &&
	    PG_DB=postgres pg_psql "ALTER SYSTEM SET full_page_writes = on" >/dev/null &&
	    PG_DB=postgres pg_psql "SELECT pg_reload_conf()" >/dev/null ||
	    { echo "cannot turn fsync on"; exit 1; }
}

engine_stop() {
	[ "$ENGINE" = pg ] && [ -n "${PG_DIR:-}" ] && pg_cluster_stop
	return 0
}

_schema() { echo "b_$(basename "$1" | tr -c 'a-z0-9_\n' _)"; }

# db_args DIR: DB_ARGS, the --database option for DIR's vault (none on
# SQLite).  For processes started in the background, whose pid must be
# orgvault's own: "$OV" --data-dir "$d" "${DB_ARGS[@]}" serve ... &
db_args() {
	DB_ARGS=()
	[ "$ENGINE" = pg ] && DB_ARGS=(--database "$(pg_url "$(_schema "$1")")")
	return 0
}

ov() {
	local d=$1
	shift
	db_args "$d"
	"$OV" --data-dir "$d" "${DB_ARGS[@]}" "$@"
}

engine_load() {
	local d=$1
	if [ "$ENGINE" = pg ]; then
		"$OV" --data-dir "$d" --database sqlite init >/dev/null &&
		    "$OV" --data-dir "$d" --database sqlite import - >/dev/null &&
		    "$OV" --data-dir "$d" --database sqlite copy \
			--to "$(pg_url "$(_schema "$d")")" >/dev/null &&
		    rm -f "$d/orgvault.db" "$d/orgvault.db-wal" "$d/orgvault.db-shm"
	else
		ov "$d" init >/dev/null && ov "$d" import - >/dev/null
	fi
}

engine_sql() {
	if [ "$ENGINE" = pg ]; then
		PGOPTIONS="-c search_path=$(_schema "$1")" psql -X -q -At \
		    -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d orgvault -c "$2"
	else
		sqlite3 "$1/orgvault.db" "$2"
	fi
}

record() {
	[ -n "${BENCH_TABLE:-}" ] && printf '%s\t%s\t%s\n' "$1" "$ENGINE" "$2" >>"$BENCH_TABLE"
	return 0
}

# engine_server_ticks: CPU ticks (user + system) of the PostgreSQL
# server's processes so far, the postmaster and its children; 0 on
# SQLite (the engine runs inside orgvault).
engine_server_ticks() {
	local pm p t=0
	if [ "$ENGINE" = pg ] && pm=$(head -n 1 "$PG_DIR/data/postmaster.pid" 2>/dev/null); then
		for p in "$pm" $(pgrep -P "$pm"); do
			t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
		done
	fi
	echo "$t"
}
