# lib.sh — shared helpers of the orgvault integration tests.
#
# Sourced by every tests/integration/t_*.sh.  Gives each test:
#   TMP        a private temp dir (mktemp -d), removed on exit
#   DIR, DB, KEY   the data dir, its database and key file under TMP
#   ov ARGS    runs "$ORGVAULT" --data-dir "$DIR" ARGS
#   run CMD    runs CMD capturing stdout/stderr to files: sets RC, OUT, ERR
#              (every capture is kept under $CAP for secret-leak greps)
#   assertions that print "ok - NAME" / "not ok - NAME" (+ "#" context)
#   bg_track PID   a background process to kill (with its children) on exit
#
# KEEP_TMP=1 keeps TMP (its path is printed) for looking into a failure.
#
# OV_TEST_DB=pg (make test-pg) runs the test on PostgreSQL: a cluster of
# its own (tests/pg/cluster.sh, stopped on exit), and ORGVAULT becomes
# tests/pg/orgvault-pg, which gives each data directory a schema.
#   db_sql SQL     runs SQL on the vault of $DIR (sqlite3 "$DB", or psql
#                  on its schema; hex() and group_concat() work on both)
#   db_dump [DIR]  a dump of that database (sqlite3 .dump, or pg_dump)
#   on_pg          true when the engine is PostgreSQL
#   sqlite_only WHY   ends a SQLite-only test with a pass on PostgreSQL,
#                  printing why it does not apply
#
# Results: on exit the counts "PASS FAIL" are written to $OV_RESULTS_FILE
# (set by run.sh) and a summary line is printed; the exit status is 0
# only when nothing failed.
#
# Conventions: tests use `set -u`, never `set -e`: every assertion runs
# and reports.

set -u

if [ -z "${ORGVAULT:-}" ]; then
	echo "ORGVAULT is not set (path of the orgvault binary)" >&2
	exit 2
fi
case $ORGVAULT in
/*) ;;
*) ORGVAULT=$(cd "$(dirname "$ORGVAULT")" && pwd)/$(basename "$ORGVAULT") ;;
esac
if [ ! -x "$ORGVAULT" ]; then
	echo "ORGVAULT=$ORGVAULT is not an executable file" >&2
	exit 2
fi
export ORGVAULT

# Nothing from the caller's environment may steer the binary.
unset ORGVAULT_DATA_DIR ORGVAULT_PASSPHRASE_FILE ORGVAULT_BUSY_TIMEOUT_MS \
    XDG_DATA_HOME
# The fake OAuth server, webhook receivers and attackers listen on
# loopback, which the outbound policy refuses unless allowed
# (t_outbound.sh unsets this to try the policy itself).
export ORGVAULT_ENDPOINT_ALLOW=127.0.0.0/8

TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d -t "ov-${TEST_NAME}.XXXXXX") || {
	echo "mktemp failed" >&2
	exit 2
}
DIR=$TMP/vault
DB=$DIR/orgvault.db
KEY=$DIR/master.key
CAP=$TMP/cap		# stdout/stderr of every `run`
CMDLOG=$TMP/cmdlog	# the command lines, kept apart from CAP
mkdir -p "$CAP" "$CMDLOG" "$TMP/misc"

PASS=0
FAIL=0
NCAP=0
RC=0
OUT=/dev/null
ERR=/dev/null
BG_PIDS=()

on_pg() {
	[ "${OV_TEST_DB:-sqlite}" = pg ]
}

if on_pg; then
	_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	# shellcheck source=../pg/cluster.sh
	. "$_here/../pg/cluster.sh"
	_pgdir=$(mktemp -d -t "ov-pg-${TEST_NAME}.XXXXXX") || exit 2
	if ! pg_cluster_start "$_pgdir"; then
		echo "not ok - $TEST_NAME: cannot start PostgreSQL" >&2
		rm -rf "$_pgdir"
		exit 1
	fi
	# Shims for the tests' SQL only (schema public, not the vault's).
	pg_psql "CREATE FUNCTION public.hex(b BYTEA) RETURNS TEXT LANGUAGE sql
	    IMMUTABLE AS \$\$ SELECT upper(encode(b, 'hex')) \$\$;
	    CREATE FUNCTION public.gc_step(acc TEXT, v TEXT, sep TEXT) RETURNS
	    TEXT LANGUAGE sql IMMUTABLE AS \$\$ SELECT CASE WHEN v IS NULL THEN
	    acc WHEN acc IS NULL THEN v ELSE acc || sep || v END \$\$;
	    CREATE AGGREGATE public.group_concat(TEXT, TEXT) (SFUNC =
	    public.gc_step, STYPE = TEXT)" >/dev/null
	export OV_REAL_ORGVAULT=$ORGVAULT
	ORGVAULT=$_here/../pg/orgvault-pg
	export ORGVAULT
fi

# The schema orgvault-pg gives a data directory.
pg_schema_of() {
	echo "v$(printf '%s' "$(realpath -m -- "$1")" | sha1sum | cut -c1-24)"
}

db_sql() {
	if on_pg; then
		PGOPTIONS="-c search_path=$(pg_schema_of "$DIR"),public" \
		    psql -X -q -At -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" \
		    -U postgres -d orgvault -c "$1"
	else
		sqlite3 "$DB" "$1"
	fi
}

db_dump() {	# db_dump [DIR]: of $DIR's vault, or DIR's
	local DIR=${1:-$DIR}
	local DB=$DIR/orgvault.db
	if on_pg; then
		# Without the identity sequences' positions (a rolled-back
		# insert moves them; they hold no content) and the random
		# \restrict key of pg_dump 15.14+.
		pg_as "$PG_BIN/pg_dump" -h "$PG_SOCK" -p "$PG_PORT" -U postgres \
		    -n "$(pg_schema_of "$DIR")" orgvault | grep -Ev '^(SELECT pg_catalog.setval\(|\\(un)?restrict )'
		return "${PIPESTATUS[0]}"
	else
		sqlite3 "$DB" .dump
	fi
}

# db_shell: an interactive session on $DIR's database reading stdin (a
# FIFO); db_lock_lines MARKER: what makes it hold the write lock that
# every orgvault writer takes, then touch MARKER; db_unlock_lines: what
# ends it.  On PostgreSQL the lock is orgvault's transaction advisory
# lock (vault/db_pg.c).
db_shell() {
	if on_pg; then
		psql -X -q -At -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d orgvault
	else
		sqlite3 "$DB"
	fi
}

db_lock_lines() {
	if on_pg; then
		printf "BEGIN; SELECT pg_advisory_xact_lock(28535, hashtext('%s'));\n\\! touch %s\n" \
		    "$(pg_schema_of "$DIR")" "$1"
	else
		printf 'BEGIN IMMEDIATE;\n.shell touch %s\n' "$1"
	fi
}

db_unlock_lines() {
	if on_pg; then
		printf 'COMMIT;\n\\q\n'
	else
		printf 'COMMIT;\n.quit\n'
	fi
}

sqlite_only() {
	if on_pg; then
		echo "ok - $TEST_NAME: skipped on PostgreSQL: $1"
		PASS=$((PASS + 1))
		exit 0
	fi
}

# ---------------------------------------------------------------- cleanup

_children() {
	if command -v pgrep >/dev/null 2>&1; then
		pgrep -P "$1" 2>/dev/null
	else
		cat /proc/"$1"/task/*/children 2>/dev/null
	fi
}

# Kills a process we started and its descendants, by pid.
kill_tree() {
	local p=$1 c
	for c in $(_children "$p"); do
		kill_tree "$c"
	done
	kill "$p" 2>/dev/null
}

bg_track() {
	BG_PIDS+=("$1")
}

_cleanup() {
	[ -n "${KEEP_TMP:-}" ] && { echo "# kept $TMP"; TMP=; }
	local p
	trap - EXIT INT TERM HUP
	for p in "${BG_PIDS[@]}"; do
		kill_tree "$p"
	done
	for p in "${BG_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	exec 3>&- 4>&-
	if on_pg && [ -n "${PG_DIR:-}" ]; then
		[ -n "${KEEP_TMP:-}" ] && cp "$PG_LOG" "/tmp/$TEST_NAME.pg.log" 2>/dev/null
		pg_cluster_stop
	fi
	if [ -n "${TMP:-}" ] && [ -d "$TMP" ]; then
		chmod -R u+rwX "$TMP" 2>/dev/null
		rm -rf "$TMP"
	fi
	if [ -n "${OV_RESULTS_FILE:-}" ]; then
		echo "$PASS $FAIL" >"$OV_RESULTS_FILE"
	fi
	echo "# $TEST_NAME: $PASS passed, $FAIL failed"
	if [ "$FAIL" -eq 0 ] && [ "$PASS" -gt 0 ]; then
		exit 0
	fi
	exit 1
}
trap _cleanup EXIT
trap 'echo "not ok - $TEST_NAME: interrupted"; FAIL=$((FAIL + 1)); exit 1' \
    INT TERM HUP

# ---------------------------------------------------------------- running

ov() {
	"$ORGVAULT" --data-dir "$DIR" "$@"
}

# ov as user nobody (setpriv), for tests where root would bypass modes.
ov_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    "$ORGVAULT" --data-dir "$DIR" "$@"
}

# run CMD...: stdout → $OUT, stderr → $ERR, status → $RC.  Stdin is the
# caller's, so `run ov cred put ... --secret-file - <file` works.
run() {
	NCAP=$((NCAP + 1))
	OUT=$CAP/$NCAP.out
	ERR=$CAP/$NCAP.err
	printf '%s\n' "$*" >"$CMDLOG/$NCAP"
	"$@" >"$OUT" 2>"$ERR"
	RC=$?
	# make coverage: a process run as another user cannot update the
	# build's .gcda files, and gcov says so on stderr; not ours.
	[ -n "${OV_COVERAGE:-}" ] && sed -i '/^profiling:/d' "$ERR"
	return 0
}

# --------------------------------------------------------------- reporting

pass() {
	PASS=$((PASS + 1))
	echo "ok - $TEST_NAME: $1"
}

# fail NAME [DETAIL...]
fail() {
	local name=$1 l
	shift
	FAIL=$((FAIL + 1))
	echo "not ok - $TEST_NAME: $name"
	for l in "$@"; do
		printf '%s\n' "$l" | sed 's/^/#   /'
	done
	return 1
}

# Context of the last `run`, for a failure report.
context() {
	echo "#   command: $(cat "$CMDLOG/$NCAP" 2>/dev/null)"
	echo "#   exit code: $RC"
	if [ -s "$ERR" ]; then
		head -c 2000 "$ERR" | head -n 12 | sed 's/^/#   stderr| /'
	else
		echo "#   stderr: (empty)"
	fi
	if [ -s "$OUT" ]; then
		head -c 2000 "$OUT" | head -n 12 | sed 's/^/#   stdout| /'
	else
		echo "#   stdout: (empty)"
	fi
}

# A sanitizer report or a signal is a failure whatever the exit code.
_crashed() {
	if grep -aqE 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer' "$ERR" 2>/dev/null; then
		echo "sanitizer report on stderr"
		return 0
	fi
	if [ "$RC" -ge 128 ]; then
		echo "killed by signal $((RC - 128)) (exit $RC): crash"
		return 0
	fi
	return 1
}

# True when $RC is one of the codes in "4" or "4|5".
_code_in() {
	case "|$1|" in
	*"|$RC|"*) return 0 ;;
	esac
	return 1
}

# expect_exit CODES NAME -- CMD...   CODES: "0", "4|5", ...
expect_exit() {
	local want=$1 name=$2 why
	shift 2
	[ "${1:-}" = -- ] && shift
	run "$@"
	if why=$(_crashed); then
		fail "$name" "$why"
		context
		return 1
	fi
	if ! _code_in "$want"; then
		fail "$name" "expected exit code $want, got $RC"
		context
		return 1
	fi
	pass "$name"
}

expect_ok() {
	local name=$1
	shift
	expect_exit 0 "$name" "$@"
}

# expect_fail CODES NAME REGEX -- CMD...
# The command must exit with one of CODES and explain itself on stderr:
# the first "orgvault: " line matches REGEX (extended, case-insensitive).
# Unless it is a usage error (stderr then shows "usage:"), stderr must be
# exactly that one line.
expect_fail() {
	local want=$1 name=$2 re=$3 why first nlines
	shift 3
	[ "${1:-}" = -- ] && shift
	run "$@"
	if why=$(_crashed); then
		fail "$name" "$why"
		context
		return 1
	fi
	if ! _code_in "$want"; then
		fail "$name" "expected exit code $want, got $RC"
		context
		return 1
	fi
	first=$(grep -a -m1 '^orgvault: ' "$ERR")
	if [ -z "$first" ]; then
		fail "$name" "no 'orgvault: ' error line on stderr"
		context
		return 1
	fi
	if ! grep -a -q '^usage:' "$ERR"; then
		nlines=$(wc -l <"$ERR")
		if [ "$nlines" -ne 1 ] || ! head -n1 "$ERR" | grep -aq '^orgvault: '; then
			fail "$name" "stderr should be exactly one 'orgvault: ' line, has $nlines line(s)"
			context
			return 1
		fi
	fi
	if [ -n "$re" ] && ! printf '%s\n' "$first" | grep -aEiq -- "$re"; then
		fail "$name" "error message does not match /$re/"
		context
		return 1
	fi
	pass "$name"
}

# expect_stdout_contains NAME STRING   (last run, fixed string)
expect_stdout_contains() {
	if grep -aqF -- "$2" "$OUT"; then
		pass "$1"
	else
		fail "$1" "stdout lacks '$2'"
		context
	fi
}

expect_stdout_lacks() {
	if grep -aqF -- "$2" "$OUT"; then
		fail "$1" "stdout holds '$2'"
		context
	else
		pass "$1"
	fi
}

expect_stderr_contains() {
	if grep -aqF -- "$2" "$ERR"; then
		pass "$1"
	else
		fail "$1" "stderr lacks '$2'"
		context
	fi
}

expect_stderr_lacks() {
	if grep -aqF -- "$2" "$ERR"; then
		fail "$1" "stderr holds '$2'"
		context
	else
		pass "$1"
	fi
}

# expect_json NAME FILTER [JQ-OPTION...]: FILTER, run by jq on the last
# stdout, must output `true` — at least once, and nothing but `true`.
# (An empty stdout, a select() that matches nothing, or invalid JSON fail;
# jq 1.6's `-e` would let the first two pass.)
expect_json() {
	local name=$1 filter=$2 got
	shift 2
	if [ ! -s "$OUT" ]; then
		fail "$name" "stdout is empty, expected JSON for: $filter"
		context
		return 1
	fi
	if got=$(jq -c "$@" "$filter" "$OUT" 2>&1) && [ -n "$got" ] &&
	    ! printf '%s\n' "$got" | grep -qvx 'true'; then
		pass "$name"
	else
		fail "$name" "jq '$filter' gave: $(printf '%s' "${got:-(no output)}" | head -c 300)"
		context
		return 1
	fi
}

# expect_eq NAME WANT GOT
expect_eq() {
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1" "expected: '$2'" "actual:   '$3'"
	fi
}

# expect_true NAME -- CMD...: a shell condition (not orgvault) holds.
expect_true() {
	local name=$1 out
	shift
	[ "${1:-}" = -- ] && shift
	if out=$("$@" 2>&1); then
		pass "$name"
	else
		fail "$name" "condition failed: $*" \
		    "output: $(printf '%s' "$out" | head -c 300)"
	fi
}

expect_false() {
	local name=$1 out
	shift
	[ "${1:-}" = -- ] && shift
	if out=$("$@" 2>&1); then
		fail "$name" "condition unexpectedly held: $*" \
		    "output: $(printf '%s' "$out" | head -c 300)"
	else
		pass "$name"
	fi
}

# ----------------------------------------------------------------- helpers

# Octal mode of a file ("600").
mode_of() {
	stat -c %a "$1"
}

size_of() {
	stat -c %s "$1"
}

sha_of() {
	sha256sum "$1" | cut -d' ' -f1
}

# need_root WHAT: true as root; otherwise records a failure saying why.
need_root() {
	if [ "$(id -u)" -eq 0 ]; then
		return 0
	fi
	fail "$1" "this test must run as root (it uses chown/setpriv)"
	return 1
}

# Fresh key-file vault in $DIR (counts as an assertion).
setup_vault() {
	expect_ok "setup: init vault" -- ov init
}

# dbq SQL: an edit of $DB with the sqlite3 CLI (an attacker's, in the
# tamper tests), waiting out serve's write locks; an edit that did not
# happen fails the test.
dbq() {
	if on_pg; then
		db_sql "$@"
	else
		sqlite3 -cmd ".timeout 10000" "$DB" "$@"
	fi || {
		fail "database edit failed: $*"
		return 1
	}
}

# A secret file holding one line: secret_file PATH VALUE
secret_file() {
	printf '%s\n' "$2" >"$1"
	chmod 600 "$1"
}

# Saves / restores the data dir (for tests that damage it).
# db_files: the files that hold the vault's data, one per line: SQLite's
# file, WAL, SHM and journal; on PostgreSQL every file of the test's
# cluster (heap, WAL, the server log).
db_files() {
	if on_pg; then
		find "$PG_DIR" -type f
	else
		printf '%s\n' "$DB" "$DB-wal" "$DB-shm" "$DB-journal"
	fi
}

# db_log_statements: PostgreSQL logs every statement with its parameters
# from now on (for the canary scans of its log); nothing on SQLite.
db_log_statements() {
	on_pg || return 0
	pg_psql "ALTER SYSTEM SET log_statement = 'all'" >/dev/null &&
	    pg_psql "SELECT pg_reload_conf()" >/dev/null
}

# db_blob HEX: the SQL literal of a blob (X'..' on SQLite, a bytea on
# PostgreSQL).
db_blob() {
	if on_pg; then
		printf "'\\x%s'::bytea" "$1"
	else
		printf "X'%s'" "$1"
	fi
}

# copy_vault SRC DST: a copy of the vault of data directory SRC at DST
# (cp -a; on PostgreSQL also its schema, under DST's name).
copy_vault() {
	cp -a "$1" "$2" || return 1
	if on_pg; then
		local from to
		from=$(pg_schema_of "$1")
		to=$(pg_schema_of "$2")
		pg_as "$PG_BIN/pg_dump" -h "$PG_SOCK" -p "$PG_PORT" -U postgres \
		    -n "$from" orgvault | sed "s/$from/$to/g" |
		    psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" \
		    -U postgres -d orgvault >/dev/null
	fi
}

# snapshot / restore: the data directory, and on PostgreSQL its schema
# (a pg_dump, restored into a schema dropped first).
snapshot() {
	rm -rf "$TMP/snapshot"
	cp -a "$DIR" "$TMP/snapshot"
	if on_pg; then
		pg_as "$PG_BIN/pg_dump" -h "$PG_SOCK" -p "$PG_PORT" -U postgres \
		    -n "$(pg_schema_of "$DIR")" orgvault >"$TMP/snapshot.sql"
	fi
}

restore() {
	rm -rf "$DIR"
	cp -a "$TMP/snapshot" "$DIR"
	if on_pg; then
		pg_psql "DROP SCHEMA $(pg_schema_of "$DIR") CASCADE" >/dev/null
		psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" \
		    -U postgres -d orgvault -f "$TMP/snapshot.sql" >/dev/null
	fi
}

# Prints elapsed seconds since $1 (date +%s.%N).
elapsed_since() {
	awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'
}

# Polls until a file exists (or timeout seconds pass): wait_for_file F T
wait_for_file() {
	local f=$1 t=${2:-10} i=0
	while [ ! -e "$f" ]; do
		i=$((i + 1))
		[ "$i" -gt $((t * 20)) ] && return 1
		sleep 0.05
	done
	return 0
}
