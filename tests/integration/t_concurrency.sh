#!/usr/bin/env bash
# t_concurrency.sh — two writers at once: every write lands, none fails,
# and the audit chain stays whole.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=50
setup_vault
secret_file "$TMP/s" "concurrency-secret"

# writer PREFIX: adds N orgs, one process per add, and puts a credential
# into every 10th; prints one line per failure to its log, then "done".
writer() {
	local p=$1 i fails=0 log=$TMP/misc/$1.log
	: >"$log"
	for i in $(seq 1 "$N"); do
		if ! "$ORGVAULT" --data-dir "$DIR" org add "$p-$i" >>"$log.out" 2>>"$log.err"; then
			fails=$((fails + 1))
			echo "org add $p-$i failed" >>"$log"
		fi
		if [ $((i % 10)) -eq 0 ] && ! "$ORGVAULT" --data-dir "$DIR" cred put "$p-$i" cc \
		    --provider genesys --region us_east_1 --client-id "$p-$i" \
		    --secret-file "$TMP/s" >>"$log.out" 2>>"$log.err"; then
			fails=$((fails + 1))
			echo "cred put $p-$i failed" >>"$log"
		fi
	done
	echo "failures=$fails" >>"$log"
}

# Both start on the same signal (a file appearing), to overlap as much as
# possible.
await_go() {
	while [ ! -e "$TMP/go" ]; do
		sleep 0.01
	done
}
( await_go; writer p1 ) &
W1=$!
bg_track "$W1"
( await_go; writer p2 ) &
W2=$!
bg_track "$W2"
# A reader runs meanwhile too.
( await_go
  for _ in $(seq 1 20); do
	"$ORGVAULT" --data-dir "$DIR" org list --json >/dev/null 2>>"$TMP/misc/reader.err" ||
	    echo "read failed" >>"$TMP/misc/reader.fail"
  done ) &
RD=$!
bg_track "$RD"
t0=$(date +%s.%N)
touch "$TMP/go"
wait "$W1"
wait "$W2"
wait "$RD"
echo "# two writers x $N orgs took $(elapsed_since "$t0")s"

for p in p1 p2; do
	if grep -q '^failures=0$' "$TMP/misc/$p.log"; then
		pass "writer $p had zero failures"
	else
		fail "writer $p had zero failures" "$(head -n 5 "$TMP/misc/$p.log")" \
		    "stderr: $(head -n 5 "$TMP/misc/$p.log.err")"
	fi
	if [ -s "$TMP/misc/$p.log.err" ]; then
		fail "writer $p printed nothing on stderr" "$(head -n 5 "$TMP/misc/$p.log.err")"
	else
		pass "writer $p printed nothing on stderr"
	fi
done
if [ -e "$TMP/misc/reader.fail" ]; then
	fail "concurrent reader never failed" "$(head -n 3 "$TMP/misc/reader.err")"
else
	pass "concurrent reader never failed"
fi

expect_ok "org list --json" -- ov org list --json
expect_json "all $((2 * N)) orgs exist" 'length == $n' --argjson n $((2 * N))
expect_json "p1-1..p1-$N all there" \
    '[.[] | .slug | select(startswith("p1-"))] | length == $n' --argjson n "$N"
expect_json "p2-1..p2-$N all there" \
    '[.[] | .slug | select(startswith("p2-"))] | length == $n' --argjson n "$N"
expect_json "no duplicate slugs" '(map(.slug) | unique | length) == length'
expect_ok "cred list --json" -- ov cred list --json
expect_json "all $((2 * N / 10)) credentials exist" 'length == $n' --argjson n $((2 * N / 10))

NEV=$((2 + 2 * N + 2 * N / 10))	# vault.initialized, key.mac_created
expect_ok "audit events --json" -- ov audit events --json --limit 10000
expect_json "one event per write plus the vault's first two ($NEV)" 'length == $n' --argjson n "$NEV"
expect_json "vault.initialized is event 1" '.[-1].kind == "vault.initialized" and .[-1].id == 1'
expect_json "org.created events: $((2 * N))" \
    '[.[] | select(.kind == "org.created")] | length == $n' --argjson n $((2 * N))
expect_json "event ids are 1..$NEV without gaps" \
    '(map(.id) | sort) == [range(1; $n + 1)]' --argjson n "$NEV"
expect_ok "check passes after concurrent writes" -- ov check --json
expect_json "check: ok, chain and envelopes verified" \
    '.ok == true and .failures == [] and .checked >= $n' --argjson n "$NEV"
