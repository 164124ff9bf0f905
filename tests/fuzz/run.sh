#!/bin/sh
# run.sh — runs libFuzzer targets for FUZZ_SECONDS each (make fuzz).
#
#   FUZZ_SECONDS=60 BUILD=build-fuzz sh tests/fuzz/run.sh BUILD/fuzz/fuzz_NAME...
#
# Seeds come from tests/fuzz/corpus/NAME/ and the dictionary from
# tests/fuzz/NAME.dict; new corpus entries are written to
# BUILD/corpus/NAME/ (kept between runs, never into the repository),
# crashes to BUILD/crashes/NAME-*, the full output to BUILD/logs/NAME.log.
# Prints one line per target (executions, coverage, corpus size) and
# exits 1 if any target crashed, leaked, timed out or ran out of memory,
# naming the reproducer.
set -u
here=$(dirname "$0")
seconds=${FUZZ_SECONDS:-60}
build=${BUILD:-build-fuzz}
failed=0

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

for bin in "$@"; do
	target=$(basename "$bin")
	name=${target#fuzz_}
	corpus=$build/corpus/$name
	crashes=$build/crashes
	log=$build/logs/$name.log
	tmp=$build/tmp/$name
	mkdir -p "$corpus" "$crashes" "$build/logs" "$tmp"
	# The loop's list was expanded when it started: "$@" is free now.
	set -- -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
	    -artifact_prefix="$crashes/$name-"
	[ -f "$here/$name.dict" ] && set -- "$@" -dict="$here/$name.dict"
	set -- "$@" "$corpus"
	[ -d "$here/corpus/$name" ] && set -- "$@" "$here/corpus/$name"
	echo "== $target: ${seconds}s" >&2
	# Marks the start: reproducers newer than it are this run's.
	stamp=$tmp/.start
	: > "$stamp"
	TMPDIR=$tmp "$bin" "$@" > "$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')
	echo "$target: ${execs:-?} execs (${rate:-?}/s), cov ${cov:-?}," \
	    "ft ${ft:-?}, corpus ${corp:-?}"
	if [ "$rc" != 0 ]; then
		failed=1
		echo "$target FAILED (exit $rc); the end of $log:" >&2
		grep -E 'ERROR|SUMMARY|invariant|runtime error' "$log" |
		    head -n 5 >&2
		for f in $(find "$crashes" -name "$name-*" -newer "$stamp"); do
			echo "reproduce with: $bin $f" >&2
		done
	fi
	rm -rf "$tmp"
done
exit $failed
