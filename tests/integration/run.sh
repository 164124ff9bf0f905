#!/usr/bin/env bash
# run.sh — runs every tests/integration/t_*.sh (in name order, each in its
# own bash process) against the binary named by $ORGVAULT, and prints the
# totals as the last line, exactly "N passed, N failed" (read by CI).
# Exit 0 only when nothing failed.
#
#   ORGVAULT=$PWD/build/orgvault bash tests/integration/run.sh [t_name ...]
#
# Optional arguments restrict the run to the named tests (t_init or
# t_init.sh).  OV_TEST_TIMEOUT (seconds, default 900) bounds each file.
# OV_TEST_JOBS (default 1) runs that many files at once, each one's output
# held back and printed whole when it ends; a file with the line
# "# run.sh: alone" (load tests, whose timing the others would disturb,
# or which load the machine for the others) always runs by itself.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# TESTS_DIR (make test-long) runs the t_*.sh of another folder instead.
tdir=$here
[ -n "${TESTS_DIR:-}" ] && tdir=$(cd "$TESTS_DIR" && pwd)
passed=0
failed=0

finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
	exit $?
}

if [ -z "${ORGVAULT:-}" ] || [ ! -x "$ORGVAULT" ]; then
	echo "not ok - run.sh: ORGVAULT='${ORGVAULT:-}' is not an executable (set it to the absolute path of build/orgvault)"
	failed=1
	finish
fi
case $ORGVAULT in
/*) ;;
*) ORGVAULT=$(cd "$(dirname "$ORGVAULT")" && pwd)/$(basename "$ORGVAULT") ;;
esac
export ORGVAULT

for tool in jq sqlite3 setpriv; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "not ok - run.sh: the '$tool' command is needed by the tests (make deps-test)"
		failed=$((failed + 1))
	fi
done
[ "$failed" -eq 0 ] || finish

tests=()
if [ $# -gt 0 ]; then
	for t in "$@"; do
		t=${t%.sh}
		tests+=("$tdir/${t##*/}.sh")
	done
else
	for t in "$tdir"/t_*.sh; do
		[ -e "$t" ] && tests+=("$t")
	done
fi

jobs=${OV_TEST_JOBS:-1}
case $jobs in ''|*[!0-9]*|0) jobs=1 ;; esac
work=$(mktemp -d -t ov-run.XXXXXX) || exit 2
declare -A name_of=() t0_of=()
trap 'rm -rf "$work"' EXIT
# timeout(1) runs each test in its own process group: pass signals on.
trap 'for c in "${!name_of[@]}"; do kill "$c" 2>/dev/null; done; wait
      echo "not ok - run.sh: interrupted"; failed=$((failed + 1)); finish' INT TERM HUP
start=$(date +%s)

# launch FILE: starts one test file in the background.
launch() {
	local name
	name=$(basename "$1" .sh)
	: >"$work/$name.res"
	if [ "$jobs" -gt 1 ]; then
		OV_RESULTS_FILE=$work/$name.res timeout --kill-after=10 "${OV_TEST_TIMEOUT:-900}" \
		    bash "$1" >"$work/$name.out" 2>&1 &
	else
		echo "== $name"
		OV_RESULTS_FILE=$work/$name.res timeout --kill-after=10 "${OV_TEST_TIMEOUT:-900}" \
		    bash "$1" &
	fi
	name_of[$!]=$name
	t0_of[$!]=$(date +%s)
}

# no_leftovers NAME: a test stops every process it starts.  Those name
# its private directory (lib.sh: /tmp/ov-NAME.XXXXXX) in their arguments;
# any still running a second after the test ended is a failure, and is
# killed.
no_leftovers() {
	local pat="/ov-$1\\.[A-Za-z0-9]{6}(/| |$)" left
	pgrep -f -- "$pat" >/dev/null || return 0
	sleep 1
	left=$(pgrep -f -- "$pat" | paste -sd, -)
	[ -n "$left" ] || return 0
	echo "not ok - $1: left processes running: $(ps -o pid=,args= -p "$left" | cut -c1-160 | paste -sd';' -)"
	pkill -KILL -f -- "$pat"
	return 1
}

# reap: waits for one running test file and reports it.
reap() {
	local pid rc name p=0 f=0
	wait -n -p pid "${!name_of[@]}"
	rc=$?
	name=${name_of[$pid]}
	if [ "$jobs" -gt 1 ]; then
		echo "== $name"
		cat "$work/$name.out"
	fi
	if [ -s "$work/$name.res" ]; then
		read -r p f <"$work/$name.res"
	fi
	case "$p $f" in
	*[!0-9\ ]*) p=0 f=0 ;;
	esac
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "not ok - $name: timed out after ${OV_TEST_TIMEOUT:-900}s"
		f=$((f + 1))
	elif [ ! -s "$work/$name.res" ]; then
		echo "not ok - $name: died before reporting (exit $rc)"
		f=$((f + 1))
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name: exited $rc with no failed assertion"
		f=$((f + 1))
	elif [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name: ran no assertion"
		f=$((f + 1))
	fi
	if ! no_leftovers "$name"; then
		f=$((f + 1))
	fi
	echo "== $name: $p passed, $f failed ($(($(date +%s) - t0_of[$pid]))s)"
	passed=$((passed + p))
	failed=$((failed + f))
	unset "name_of[$pid]" "t0_of[$pid]"
}

for t in "${tests[@]}"; do
	if grep -qx '# run.sh: alone' "$t"; then
		while [ "${#name_of[@]}" -gt 0 ]; do reap; done
		launch "$t"
		reap
		continue
	fi
	while [ "${#name_of[@]}" -ge "$jobs" ]; do reap; done
	launch "$t"
done
while [ "${#name_of[@]}" -gt 0 ]; do reap; done

echo "== total time $(($(date +%s) - start))s"
finish
