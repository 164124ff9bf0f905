#!/usr/bin/env bash
# t_resource.sh — resource faults while serve rotates refresh tokens:
#   (a) the database locked by another process past the busy timeout,
#   (b) the disk full (a 3 MiB tmpfs data dir; root only),
# each hitting refreshes the provider has already answered (rotating the
# refresh token);
#   (c) a token endpoint whose host name does not resolve: transient
#       failures with backoff, no storm, the others unaffected;
#   (d) serve out of file descriptors (its limit lowered with prlimit
#       while idle connections hold them): no crash, tokens served again
#       and refreshes recover once descriptors are free;
#   (e) the database files turned read-only under a running serve
#       (chattr +i: writes through its open descriptors fail), like (a).  The new tokens must not be lost: serve keeps them in
# memory, the token broker serves them, and they are recorded once the
# database takes writes again.  Afterwards no refresh token was ever
# presented stale, each stored one is the newest (a refresh with it
# works), and `check` and `audit verify` pass.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

SMALL=$TMP/small
trap 'chattr -i "$TMP/vault/orgvault.db" "$TMP/vault/orgvault.db-wal" 2>/dev/null
    mountpoint -q "$SMALL" && umount -l "$SMALL"; _fk_exit' EXIT

fake_start
NAMES="r1 r2 r3"

# setup_creds: three refresh_token credentials whose provider answers
# after 1.5 s (so a refresh is often in flight), 30 s tokens (they
# outlive the faults), refreshed at 5 % of their life.
setup_creds() {
	local n
	expect_ok "$1: org acme" -- ov org add acme
	for n in $NAMES; do
		fake_put "$n" "{\"client_secret\":\"s-$n\",\"refresh_token\":\"seed-$n\",\"lifetime\":30,\"behaviour\":\"slow\",\"delay_ms\":1500,\"reset\":true}" ||
		    exit 1
		secret_file "$TMP/s-$n" "s-$n"
		secret_file "$TMP/rt-$n" "seed-$n"
		expect_ok "$1: cred put acme/$n" -- ov cred put acme "$n" --provider genesys \
		    --token-url "$FAKE_URL/oauth/token" --client-id "$n" --secret-file "$TMP/s-$n" \
		    --grant refresh_token --refresh-token-file "$TMP/rt-$n" --refresh-at 0.05
	done
}
issued() { fake_field "$1" .access_tokens_issued; }
all_have_2() {
	local n
	for n in $NAMES; do
		[ "$(issued "$n")" -ge 2 ] || return 1
	done
}
in_flight() { [ "$(fake_stats | jq .in_flight)" -ge 1 ]; }
parked_logged() { grep -aq 'kept in memory' "$(serve_log "$1")"; }
# broker_during SECONDS: token GETs of every credential until then;
# "code name token" lines into $TMP/misc/during.
broker_during() {
	local end=$(($(now_ms) + $1 * 1000)) n
	: >"$TMP/misc/during"
	while [ "$(now_ms)" -lt "$end" ]; do
		for n in $NAMES; do
			curl -s --max-time 10 -w ' %{http_code}\n' -H "Authorization: Bearer $TOK" \
			    "$SERVE_URL/v1/orgs/acme/credentials/$n/token" |
			    jq -Rr --arg n "$n" '. as $l | ($l | split(" ") | .[-1]) as $c |
			        ($l | sub(" [0-9]+$"; "") | try fromjson catch {}) as $b |
			        "\($c) \($n) \($b.access_token // "-")"' >>"$TMP/misc/during"
		done
		sleep 0.2
	done
	# The newest token issued, and what the broker serves now: a
	# refresh answered while the last round ran is served a moment
	# later (parked under the fault, from memory), so poll up to 1 s.
	for n in $NAMES; do
		local want got i
		for ((i = 0; i < 10; i++)); do
			want=at-$n-$(issued "$n")
			got=$(curl -s --max-time 5 -H "Authorization: Bearer $TOK" \
			    "$SERVE_URL/v1/orgs/acme/credentials/$n/token" |
			    jq -r '.access_token // "-"' 2>/dev/null)
			[ "$got" = "$want" ] && break
			sleep 0.1
		done
		echo "$n $want $got"
	done >"$TMP/misc/newest"
}
# settle_checks TAG LOGNAME: after the fault is gone.
settle_checks() {
	local tag=$1 n ok=0 stale=0 parked
	parked=$(grep -ao 'refresh of acme/r[0-9] not recorded' "$(serve_log "$2")" | sort -u |
	    sed 's/.*acme\///; s/ .*//' | paste -sd' ')
	expect_eq "$tag: the broker answered 200 all along ($(wc -l <"$TMP/misc/during") GETs)" "" \
	    "$(awk '$1 != 200' "$TMP/misc/during" | head -n 5)"
	for n in $parked; do
		# The token served after the park is the provider's newest.
		expect_eq "$tag: $n (parked): the broker served its newest token from memory" \
		    "$(awk -v n="$n" '$1 == n { print $2 }' "$TMP/misc/newest")" \
		    "$(awk -v n="$n" '$1 == n { print $3 }' "$TMP/misc/newest")"
	done
	for n in $NAMES; do
		[ "$(fake_field "$n" .stale_presentations)" -eq 0 ] || stale=$((stale + 1))
	done
	expect_eq "$tag: no refresh token was ever presented stale" 0 "$stale"
	serve_stop "$SERVE_PID" 20
	expect_eq "$tag: serve stops with exit 0" 0 "$SERVE_RC"
	expect_true "$tag: serve logged no loss" -- \
	    sh -c "! grep -aq 'was lost' '$(serve_log "$2")'"
	expect_clean_log "$tag: no crash or sanitizer report" "$(serve_log "$2")"
	for n in $NAMES; do
		fake_patch "$n" '{"behaviour":"ok"}' >/dev/null
		run ov cred refresh acme "$n"
		[ "$RC" -eq 0 ] && ok=$((ok + 1))
	done
	expect_eq "$tag: each stored refresh token is the newest (a refresh with it works)" 3 "$ok"
	expect_ok "$tag: check" -- ov check
	expect_ok "$tag: audit verify" -- ov audit verify
}

# --- (a) the database locked past the busy timeout ------------------------------------------
setup_vault
setup_creds locked
TOK=$(api_key tok token)
export ORGVAULT_BUSY_TIMEOUT_MS=300
serve_start locked || exit 1
unset ORGVAULT_BUSY_TIMEOUT_MS
expect_true "locked: every credential has its second token" -- wait_until 30 all_have_2
wait_until 10 in_flight
# Another process holds the write lock for 6 s; GETs for the first 4,
# then the newest token polled (up to 1 s), still under the lock: the
# broker can only have it from memory.
if on_pg; then
	(db_lock_lines /dev/null; sleep 6; db_unlock_lines) | db_shell >/dev/null 2>&1 &
else
	(printf '.timeout 5000\nBEGIN EXCLUSIVE;\n'; sleep 6; printf 'COMMIT;\n') |
	    sqlite3 "$DB" >/dev/null 2>&1 &
fi
lock_pid=$!
bg_track "$lock_pid"
broker_during 4
wait "$lock_pid"
expect_true "locked: an answered refresh could not be recorded and was kept in memory" -- \
    parked_logged locked
expect_true "locked: serve said what was wrong (locked)" -- \
    grep -aq 'is locked by another process' "$(serve_log locked)"
nap 2
n_ok=$(events_json --kind refresh.ok | jq length)
settle_checks locked locked
expect_true "locked: the parked refreshes were recorded afterwards ($n_ok refresh.ok events)" -- \
    test "$n_ok" -ge 6

# --- (c) a host name that does not resolve ----------------------------------------------
serve_start dns || exit 1
expect_ok "dns: a credential on login.orgvault-test.invalid" -- ov cred put acme nx \
    --provider genesys --token-url https://login.orgvault-test.invalid/oauth/token \
    --client-id nx --secret-file "$TMP/s-r1"
nap 10
run events_json --credential nx
cp "$OUT" "$TMP/misc/nx-events"
expect_json "dns: its attempts are transient network failures" \
    '[.[] | select(.kind | startswith("refresh."))] | length >= 2 and
     all(.kind == "refresh.failed" and (.detail.description | test("resolve"; "i")))'
n=$(jq '[.[] | select(.kind | startswith("refresh."))] | length' "$TMP/misc/nx-events")
expect_true "dns: backed off, no storm ($n attempts in 10 s)" -- test "$n" -le 8
run ov cred show acme nx --json
expect_json "dns: status failing, the error says the name does not resolve" \
    '.status == "failing" and (.last_error | test("resolve"; "i"))'
before=$(issued r1)
nap 2
expect_true "dns: the other credentials go on refreshing" -- test "$(issued r1)" -gt "$before"
expect_ok "dns: cred rm nx" -- ov cred rm acme nx

# --- (d) out of file descriptors -----------------------------------------------------------
nfd=$(ls /proc/"$SERVE_PID"/fd | wc -l)
soft=$(awk '/Max open files/ { print $4 }' /proc/"$SERVE_PID"/limits)
prlimit --pid "$SERVE_PID" --nofile=$((nfd + 6)):
# Idle connections (bash /dev/tcp) hold the descriptors for 6 s.
for i in $(seq 1 20); do
	(exec 3<>"/dev/tcp/127.0.0.1/$SERVE_PORT" && sleep 6) 2>/dev/null &
	bg_track $!
done
nap 2
expect_true "fds: serve is at its descriptor limit ($(ls /proc/"$SERVE_PID"/fd | wc -l) open)" -- \
    test "$(ls /proc/"$SERVE_PID"/fd | wc -l)" -ge $((nfd + 5))
before=$(fake_stats | jq .requests)
nap 2
expect_true "fds: serve is alive" -- kill -0 "$SERVE_PID"
wait_free() { [ "$(ls /proc/"$SERVE_PID"/fd | wc -l)" -le $((nfd + 2)) ]; }
expect_true "fds: the held connections end" -- wait_until 20 wait_free
prlimit --pid "$SERVE_PID" --nofile="$soft":
api GET /v1/orgs/acme/credentials/r1/token "$TOK"
expect_status "fds: afterwards the token broker answers" 200
after=$(issued r1)
nap 3
expect_true "fds: and refreshes go on" -- test "$(issued r1)" -gt "$after"
serve_stop "$SERVE_PID" 20
expect_eq "fds: serve stops with exit 0" 0 "$SERVE_RC"
expect_clean_log "fds: no crash or sanitizer report" "$(serve_log dns)"
expect_true "fds: serve logged the shortage (libmicrohttpd's accept errors)" -- \
    grep -aqiE 'http: .*(too many open files|descriptor|resource limit)' "$(serve_log dns)"

# --- (e) the database turned read-only -------------------------------------------------------
for n in $NAMES; do
	fake_patch "$n" '{"behaviour":"slow","delay_ms":1500}' >/dev/null
done
serve_start ro || exit 1
wait_until 10 in_flight
if on_pg; then
	# PostgreSQL's counterpart: the server goes away (a restart, a cut
	# network) under a running serve, and comes back.  A key and the
	# tokens asked for once before are served from memory meanwhile.
	for n in $NAMES; do
		api GET "/v1/orgs/acme/credentials/$n/token" "$TOK"
	done
	expect_status "server stopped: (before) the broker answers" 200
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null
	broker_during 4
	expect_true "server stopped: an answered refresh could not be recorded and was kept in memory" -- \
	    parked_logged ro
	expect_true "server stopped: serve said what was wrong (unreachable)" -- \
	    grep -aqE 'not recorded: .*unreachable' "$(serve_log ro)"
	expect_true "server stopped: serve logged the lost connection" -- \
	    grep -aq 'lost the connection to postgresql://' "$(serve_log ro)"
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_LOG" -w -t 30 -o "-p $PG_PORT" \
	    start >/dev/null
	nap 3
	settle_checks "server back" ro
elif chattr +i "$DB" "$DB-wal"; then
	broker_during 4
	expect_true "read-only: an answered refresh could not be recorded and was kept in memory" -- \
	    parked_logged ro
	expect_true "read-only: serve said what was wrong" -- \
	    grep -aqE 'not recorded: .*(read-only|I/O error|not permitted)' "$(serve_log ro)"
	chattr -i "$DB" "$DB-wal"
	nap 2
	settle_checks read-only ro
else
	fail "read-only: chattr +i is needed on $TMP's file system (root, ext4/tmpfs)"
fi

# --- (b) the disk full ----------------------------------------------------------------------
if on_pg; then
	pass "disk full: skipped on PostgreSQL (the server's disk is its own; a server that fails writes is (e))"
elif need_root "disk full: needs root to mount a tmpfs"; then
	mkdir -p "$SMALL"
	mount -t tmpfs -o size=3m,mode=0700 tmpfs "$SMALL"
	DIR=$SMALL/vault
	DB=$DIR/orgvault.db
	setup_vault
	setup_creds full
	TOK=$(api_key tok2 token)
	serve_start full || exit 1
	expect_true "full: every credential has its second token" -- wait_until 30 all_have_2
	wait_until 10 in_flight
	dd if=/dev/zero of="$SMALL/filler" bs=64k >/dev/null 2>&1
	expect_true "full: the tmpfs is full" -- test "$(df --output=avail "$SMALL" | tail -n 1)" -le 64
	broker_during 4
	expect_true "full: an answered refresh could not be recorded and was kept in memory" -- \
	    parked_logged full
	expect_true "full: serve said what was wrong (disk full)" -- \
	    grep -aq 'disk full' "$(serve_log full)"
	expect_true "full: serve is alive" -- kill -0 "$SERVE_PID"
	rm -f "$SMALL/filler"
	nap 2
	settle_checks full full
	expect_ok "full: SQLite integrity" -- sqlite3 "$DB" 'PRAGMA integrity_check;'
	expect_stdout_contains "full: ... ok" "ok"
	umount -l "$SMALL"
fi
