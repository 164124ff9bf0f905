#!/bin/sh
# coverage.sh BUILD_DIR — line coverage of vault/, rotation/ and admin/
# (and the whole library) from the .gcda files the tests left in
# BUILD_DIR, with lcov.  Prints one line per folder; writes
# BUILD_DIR/coverage.info and an HTML report in BUILD_DIR/coverage/.
set -eu
b=${1:?usage: coverage.sh BUILD_DIR}
top=$(pwd)
lcov --quiet --capture --directory "$b" --base-directory "$top" \
    --output-file "$b/all.info" --rc lcov_branch_coverage=0 2>/dev/null
lcov --quiet --extract "$b/all.info" "$top/util/*" "$top/vault/*" \
    "$top/rotation/*" "$top/admin/*" "$top/cmd/*" \
    --output-file "$b/coverage.info"
genhtml --quiet "$b/coverage.info" --output-directory "$b/coverage" \
    >/dev/null 2>&1 || true
for d in vault rotation admin util cmd; do
	lcov --quiet --extract "$b/coverage.info" "$top/$d/*" \
	    --output-file "$b/$d.info"
	lcov --summary "$b/$d.info" 2>&1 |
	    awk -v d="$d/" '/lines\.*:/ { printf "%-10s %s %s of %s lines)\n", d, $2, $3, $5 }'
done
lcov --summary "$b/coverage.info" 2>&1 |
    awk '/lines\.*:/ { printf "%-10s %s %s of %s lines)\n", "all", $2, $3, $5 }'
