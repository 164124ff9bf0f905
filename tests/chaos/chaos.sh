#!/usr/bin/env bash
# chaos.sh — orgvault under chaos on one machine (issue 6): `serve`
# killed -9 every few seconds while it answers token-broker load and the
# fake OAuth server misbehaves; then a clean phase and end checks.
#
#   make chaos                  (about 6 minutes: 5 of chaos by default)
#   ORGVAULT=build/orgvault FAKE_OAUTH=build/fake-oauth \
#       WEBHOOK_RX=build/webhook-rx bash tests/chaos/chaos.sh
#
# Exit 0 only when every end check passes.  Needs curl, jq, flock.
# Copy the binaries somewhere private first when others rebuild build/.
#
# Parameters (environment):
#   CHAOS_SECONDS      length of the chaos phase (300)
#   CHAOS_CREDS        general credentials (40): every 4th client_credentials,
#                      the others refresh_token with rotation; plus 4
#                      incident credentials (ig1, ig2, ic1, dr1, below)
#   CHAOS_ORGS         orgs they are spread over (4)
#   CHAOS_LIFETIME     access-token lifetime at the fake, s (10)
#   CHAOS_REFRESH_AT   --refresh-at (0.4: a refresh every 4 s)
#   CHAOS_KILL_MIN, CHAOS_KILL_MAX   seconds between two kill -9 (3, 5)
#   CHAOS_SERVE2_PERIOD  a second serve runs in every other period of this
#                      many seconds (60: minutes 2, 4, ...)
#   CHAOS_FAULT_EVERY  seconds between fault injections (1.5)
#   CHAOS_FAULT_CLIENTS  clients given a fault each time (3)
#   CHAOS_OUTAGE_EVERY seconds between 3-second whole-server outages (45)
#   CHAOS_INCIDENT_EVERY  seconds between incidents (20)
#   CHAOS_OPERATOR_EVERY  seconds between operator passes (4)
#   CHAOS_LOAD_LOOPS   curl loops on the token broker (3)
#   CHAOS_LOAD_PAUSE   pause between two batches of 20 GETs of a loop (0.05)
#   CHAOS_TIMEOUT      serve --timeout (4); CHAOS_SLOW_MS the "slow" delay (1500)
#   CHAOS_SETTLE       least length of the final clean phase, s (30)
#   CHAOS_PORT, CHAOS_PORT2  the fixed API ports of serve 1 and 2 (free
#                      ones picked in 20000-29999, below the ephemeral range)
#   CHAOS_KEEP=1       keep the run's files (always kept when a check fails;
#                      CHAOS_ARTIFACTS names the directory)
#
# What runs (every process is stopped at the end, Ctrl-C included):
#   - fake-oauth: one client per credential; refresh_token clients rotate
#     their refresh token on every refresh (a presented older one counts
#     in stale_presentations and revokes the family).  Token URLs mix the
#     genesys, RFC 6749 and servicenow endpoints.
#   - serve 1 on 127.0.0.1:CHAOS_PORT, killed -9 every KILL_MIN..KILL_MAX s
#     and restarted at once; in every other SERVE2_PERIOD a second serve
#     on CHAOS_PORT2 shares the data dir, and a third of the kills hit it.
#     Both are stopped with SIGTERM at the end of the chaos (exit 0 wanted).
#   - broker load: LOAD_LOOPS curl loops GET …/token of random credentials
#     with a token-role key (the last loop on serve 2 while it runs),
#     answers classed as 200, 503, 409, refused (serve down), cut (serve
#     killed mid-answer), timeout, other; a 200 with expires_in <= 0 is an
#     expired token served.
#   - fault cycler: every FAULT_EVERY s the next fault of 429, 500, hang,
#     reset, garbage, slow is scripted (1-3 requests) on FAULT_CLIENTS
#     random general clients, which then go back to ok; every OUTAGE_EVERY
#     s every general client answers 500, 503, reset or hang for 3 s; now
#     and then the webhook receiver answers 500 or holds a delivery.
#   - incidents, one every INCIDENT_EVERY s in turn: ig1/ig2 answer
#     invalid_grant (revoked, alert) and the operator re-authorizes them
#     (a new refresh token at the fake, `cred put --refresh-token-file`);
#     ic1 answers invalid_client and gets a new client secret (fake and
#     `cred put --secret-file`); dr1 grants an extra "admin" scope for a
#     while (scope_drift).
#   - operator: every OPERATOR_EVERY s, each credential held as `unknown`
#     is examined against the fake's state and request log (the provider's
#     view): if the fake issued a refresh token that the vault never
#     recorded (fake successes - refresh.ok events - earlier losses = 1,
#     and the fake's last request is that success), the rotation was lost
#     (a kill while the request was in flight, or after the answer and
#     before the commit: the window DESIGN.md names): the operator
#     re-authorizes.  If not (= 0), the operator
#     retries with `cred refresh` (safe: the stored token is current).
#     Anything else is an anomaly.  Held credentials are classed by what
#     the fake saw after the last recorded refresh: nothing (kill between
#     lease and request), a success (rotated, answer lost), no answer
#     (hang/reset/timeout), another answer that was not stored.  A
#     success is a 200 of behaviour ok or slow ("garbage" is a 200 too).
#   - webhook: all events to a webhook-rx receiver.
#
# Final phase: the loops stop, every fake client answers ok, both serves
# get SIGTERM, a fresh serve runs; the operator resolves what is held,
# revoked, invalid_client or failing; then at least SETTLE s until every
# credential is active and no webhook delivery is pending; SIGTERM.
#
# End checks:
#   1 no lost rotation: zero stale_presentations and no revoked family at
#     the fake; per refresh_token credential, fake successes = refresh.ok
#     events + rotations the operator found lost in the window; those
#     equal the 200s the analysis finds unrecorded; a final `cred refresh`
#     of every credential succeeds (its stored refresh token is the
#     newest) and stale_presentations stays 0.
#   2 no double refresh for one deadline, from the fake's request log, the
#     audit events and serve's `refresh … outcome=ok … next=T` lines: no
#     refresh token presented again after a success; no success before
#     the deadline the previous recorded refresh set; two successes for
#     one deadline only when the first answer was never recorded and a
#     kill -9 came in between (counted as "answers lost to kill -9").
#   3 no webhook lost: every delivery in `webhook deliveries` is delivered
#     and was received (answered 200) by the receiver, ids compared.
#   4 `orgvault check` and `orgvault audit verify` exit 0.
#   Also: no serve died by itself, every SIGTERM exit 0, no crash or
#   sanitizer report, no "not recorded" refresh in any log, no broker
#   answer outside the classes above (5xx but 503, 401, 404 ...), no
#   expired token served, no anomaly noted by the loops.
# A summary with the counts ends the output.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../integration/lib.sh"
. "$HERE/../integration/fake.sh"
. "$HERE/../integration/api.sh"

WEBHOOK_RX=${WEBHOOK_RX:-$(dirname "$FAKE_OAUTH")/webhook-rx}
if [ ! -x "$WEBHOOK_RX" ]; then
	fail "WEBHOOK_RX='$WEBHOOK_RX' is not an executable (build/webhook-rx)"
	exit 1
fi
for _tool in flock awk; do
	command -v "$_tool" >/dev/null 2>&1 || {
		fail "the '$_tool' command is needed"
		exit 1
	}
done

SECONDS_TOTAL=${CHAOS_SECONDS:-300}
NCRED=${CHAOS_CREDS:-40}
NORGS=${CHAOS_ORGS:-4}
LIFETIME=${CHAOS_LIFETIME:-10}
REFRESH_AT=${CHAOS_REFRESH_AT:-0.4}
KILL_MIN=${CHAOS_KILL_MIN:-3}
KILL_MAX=${CHAOS_KILL_MAX:-5}
S2_PERIOD=${CHAOS_SERVE2_PERIOD:-60}
FAULT_EVERY=${CHAOS_FAULT_EVERY:-1.5}
FAULT_CLIENTS=${CHAOS_FAULT_CLIENTS:-3}
OUTAGE_EVERY=${CHAOS_OUTAGE_EVERY:-45}
INCIDENT_EVERY=${CHAOS_INCIDENT_EVERY:-20}
OPERATOR_EVERY=${CHAOS_OPERATOR_EVERY:-4}
LOAD_LOOPS=${CHAOS_LOAD_LOOPS:-3}
LOAD_PAUSE=${CHAOS_LOAD_PAUSE:-0.05}
TIMEOUT=${CHAOS_TIMEOUT:-4}
SLOW_MS=${CHAOS_SLOW_MS:-1500}
SETTLE=${CHAOS_SETTLE:-30}

CH=$TMP/chaos
mkdir -p "$CH/serve" "$CH/lost" "$CH/reauth" "$CH/load"
STOP=$CH/stop			# the fault, incident and operator loops stop
LOAD_STOP=$CH/load.stop		# the load loops stop
S2_UP=$CH/serve2.up		# serve 2's phase: the last load loop uses it
T_START=$(date +%s%3N)

# ------------------------------------------------------------------ notes
# Loops run in subshells: they report through files, never via pass/fail.

note() {
	printf '%s %s\n' "$(date +%H:%M:%S.%3N)" "$*" >>"$CH/timeline"
}

anomaly() {
	printf '%s %s\n' "$(date +%H:%M:%S.%3N)" "$*" >>"$CH/anomalies"
	note "ANOMALY $*"
}

# count KEY [N]: adds N (1) to counter KEY (lines of "KEY N", summed later).
count() {
	printf '%s %s\n' "$1" "${2:-1}" >>"$CH/counts"
}

counted() {
	awk -v k="$1" '$1 == k { n += $2 } END { print n + 0 }' "$CH/counts" 2>/dev/null
}

# Random number of seconds in [A, B], two decimals.
rand_between() {
	awk -v a="$1" -v b="$2" -v r="$RANDOM" 'BEGIN { printf "%.2f", a + (b - a) * r / 32767 }'
}

# ------------------------------------------------------------- artifacts

_chaos_exit() {
	local keep=${CHAOS_KEEP:-0} dst
	: >"$STOP" 2>/dev/null
	: >"$LOAD_STOP" 2>/dev/null
	if [ "$FAIL" -gt 0 ] || [ "$keep" = 1 ]; then
		dst=${CHAOS_ARTIFACTS:-$(mktemp -d -t chaos-artifacts.XXXXXX)}
		mkdir -p "$dst" && cp -a "$TMP/." "$dst/" 2>/dev/null &&
		    echo "# chaos: the run's files are kept in $dst"
	fi
	_fk_exit
}
trap _chaos_exit EXIT

# ------------------------------------------------------------- fake calls
# Subshell-safe (fake.sh's helpers share one body file).

fk() {
	if [ $# -ge 3 ]; then
		curl -sf --max-time 10 -X "$1" -H 'Content-Type: application/json' \
		    --data-binary "$3" "$FAKE_URL$2"
	else
		curl -sf --max-time 10 -X "$1" "$FAKE_URL$2"
	fi
}

fpatch() {
	fk PATCH "/_admin/clients/$1" "$2" >/dev/null ||
	    anomaly "fake: PATCH $1 $2 failed"
}

rx_control() {
	curl -sf --max-time 5 "$RX_URL/_control?$1" >/dev/null
}

# ms since the epoch of an RFC 3339 time with or without milliseconds.
JQ_MS='def ms: (sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601) * 1000
    + ([capture("\\.(?<f>[0-9]{3})Z$").f][0] // "0" | tonumber);'

# -------------------------------------------------------------- the ports

port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 10000))
		if port_free "$p" && [ "$p" != "${PORT1:-}" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

PORT1=${CHAOS_PORT:-$(pick_port)}
PORT2=${CHAOS_PORT2:-$(pick_port)}
if [ -z "$PORT1" ] || [ -z "$PORT2" ] || ! port_free "$PORT1" || ! port_free "$PORT2"; then
	fail "setup: no free ports ($PORT1, $PORT2)"
	exit 1
fi

# ------------------------------------------------------------------ setup

fake_start
RXLOG=$CH/rx.log
"$WEBHOOK_RX" --port 0 --port-file "$CH/rx.port" --log "$RXLOG" 2>"$CH/rx.err" &
_FK_PIDS+=("$!")
wait_until 10 test -s "$CH/rx.port" || {
	fail "setup: webhook-rx did not start" "$(head -c 300 "$CH/rx.err")"
	exit 1
}
RX_URL=http://127.0.0.1:$(cat "$CH/rx.port")
: >>"$RXLOG"

setup_vault
ORGS=(acme globex initech umbrella hooli stark wayne tyrell)
[ "$NORGS" -gt ${#ORGS[@]} ] && NORGS=${#ORGS[@]}
declare -A ORG_OF
GENERAL=() RT=() CC=() ALL=()
INCIDENT=(ig1 ig2 ic1 dr1)
SECRET_BASE=chaos-secret
: >"$CH/import.jsonl"

# add_cred NAME GRANT PROVIDER-INDEX [SCOPE]
add_cred() {
	local c=$1 grant=$2 k=$3 scope=${4:-} org provider path
	org=${ORGS[$((k % NORGS))]}
	case $((k % 3)) in
	0) provider=genesys path=/oauth/token ;;
	1) provider=oauth2 path=/token ;;
	*) provider=servicenow path=/oauth_token.do ;;
	esac
	ORG_OF[$c]=$org
	ALL+=("$c")
	fk PUT "/_admin/clients/$c" "$(jq -cn --arg s "$SECRET_BASE-$c" \
	    --argjson l "$LIFETIME" --arg rt "rt-seed-$c" --argjson d "$SLOW_MS" \
	    --argjson rot "$([ "$grant" = refresh_token ] && echo true || echo false)" \
	    '{client_secret: $s, lifetime: $l, refresh_token: $rt,
	      rotate_refresh: $rot, delay_ms: $d, retry_after: 1}')" >/dev/null || {
		fail "setup: fake client $c"
		exit 1
	}
	jq -cn --arg o "$org" --arg n "$c" --arg p "$provider" \
	    --arg u "$FAKE_URL$path" --arg s "$SECRET_BASE-$c" --arg g "$grant" \
	    --arg rt "rt-seed-$c" --arg at "$REFRESH_AT" --arg sc "$scope" \
	    '{org: $o, name: $n, provider: $p, token_url: $u, client_id: $n,
	      client_secret: $s, grant: $g, refresh_at: $at}
	     + (if $g == "refresh_token" then {refresh_token: $rt} else {} end)
	     + (if $sc != "" then {scope: $sc} else {} end)' >>"$CH/import.jsonl"
}

for ((i = 1; i <= NCRED; i++)); do
	c=$(printf 'c%02d' "$i")
	GENERAL+=("$c")
	if [ $((i % 4)) -eq 0 ]; then
		CC+=("$c")
		add_cred "$c" client_credentials "$i"
	else
		RT+=("$c")
		add_cred "$c" refresh_token "$i"
	fi
done
# (Not ServiceNow for ig: its invalid_grant is a 401 access_denied,
# which orgvault takes for invalid_client, as documented.)
add_cred ig1 refresh_token 1
add_cred ig2 refresh_token 3
add_cred ic1 client_credentials 2
add_cred dr1 client_credentials 4 "a b"
RT+=(ig1 ig2)
CC+=(ic1 dr1)
expect_ok "setup: import ${#ALL[@]} credentials over $NORGS orgs" -- ov import "$CH/import.jsonl"
rm -f "$CH/import.jsonl"
TOK=$(api_key chaos-broker token)
expect_true "setup: a token-role API key" -- test -n "$TOK"
secret_file "$CH/wh.key" "whsec-chaos-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
expect_ok "setup: webhook to the receiver" -- ov webhook add "$RX_URL/hook" \
    --secret-file "$CH/wh.key" --events revoked,invalid_client,scope_drift,failing,recovered

# ------------------------------------------------------------------ serve

declare -A SPID SN
SPID[1]='' SPID[2]='' SN[1]=0 SN[2]=0
SERVE_OPTS=(--log-format json --timeout "$TIMEOUT" --connect-timeout 2
    --host-rate 6000/60 --retry-after-cap 5)

port_of() {
	if [ "$1" = 1 ]; then echo "$PORT1"; else echo "$PORT2"; fi
}

# start_serve WHICH [TAG]: serve WHICH (1 or 2) on its port; 3 tries.
start_serve() {
	local w=$1 tag=${2:-} try name log pid i rc
	for ((try = 1; try <= 3; try++)); do
		SN[$w]=$((SN[$w] + 1))
		name=s$w-$(printf '%03d' "${SN[$w]}")$tag
		log=$CH/serve/$name.log
		"$ORGVAULT" --data-dir "$DIR" serve --listen "127.0.0.1:$(port_of "$w")" \
		    "${SERVE_OPTS[@]}" >>"$CH/serve/$name.out" 2>>"$log" &
		pid=$!
		_FK_PIDS+=("$pid")
		for ((i = 0; i < 400; i++)); do
			grep -aq '"serving ' "$log" 2>/dev/null && break
			_fk_alive "$pid" || break
			sleep 0.05
		done
		if grep -aq '"serving ' "$log" 2>/dev/null && _fk_alive "$pid"; then
			SPID[$w]=$pid
			count "start.s$w"
			printf '%s start s%s %s %s\n' "$(now_ms)" "$w" "$pid" "$name" >>"$CH/kills"
			return 0
		fi
		rc=0
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" || rc=$?
		_fk_forget "$pid"
		count "start_failed.s$w"
		anomaly "serve $name did not start (exit $rc): $(tail -c 300 "$log" | tr '\n' ' ')"
		sleep 0.5
	done
	SPID[$w]=
	return 1
}

# alive_or_note WHICH: false (and an anomaly) when serve WHICH died by itself.
alive_or_note() {
	local w=$1 p=${SPID[$1]} rc=0
	[ -n "$p" ] || return 1
	_fk_alive "$p" && return 0
	wait "$p" || rc=$?
	_fk_forget "$p"
	SPID[$w]=
	count "died.s$w"
	anomaly "serve $w (pid $p) died by itself, exit $rc"
	return 1
}

kill9_serve() {
	local w=$1 p=${SPID[$1]} k0
	alive_or_note "$w" || return 0
	# The kill happened between these two times (ms).
	k0=$(now_ms)
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	printf '%s kill s%s %s %s\n' "$k0" "$w" "$p" "$(now_ms)" >>"$CH/kills"
	_fk_forget "$p"
	SPID[$w]=
	count "kill.s$w"
}

# term_serve WHICH: SIGTERM; exit 0 wanted (a check at the end).
term_serve() {
	local w=$1 p=${SPID[$1]}
	alive_or_note "$w" || return 0
	printf '%s term s%s %s\n' "$(now_ms)" "$w" "$p" >>"$CH/kills"
	serve_stop "$p" 30
	SPID[$w]=
	count "term.s$w"
	if [ "$SERVE_RC" != 0 ]; then
		count "term_bad.s$w"
		anomaly "serve $w (pid $p): SIGTERM gave exit $SERVE_RC after $SERVE_STOP_S s"
	fi
	note "serve $w stopped by SIGTERM in $SERVE_STOP_S s (exit $SERVE_RC)"
}

# --------------------------------------------------------------- operator

cred_field() {
	ov cred show "${ORG_OF[$1]}" "$1" --json 2>/dev/null | jq -r "$2"
}

# reauth NAME: what an operator does for a lost refresh token: a new one
# from the provider (installed at the fake), put into the vault.
reauth() {
	local c=$1 k tok
	k=$(($(cat "$CH/reauth/$c" 2>/dev/null || echo 0) + 1))
	echo "$k" >"$CH/reauth/$c"
	tok=rt-reauth-$c-$k
	fpatch "$c" "{\"behaviour\":\"ok\",\"refresh_token\":\"$tok\"}"
	secret_file "$CH/rt.$c" "$tok"
	if ! ov cred put "${ORG_OF[$c]}" "$c" --refresh-token-file "$CH/rt.$c" \
	    >/dev/null 2>>"$CH/operator.err"; then
		anomaly "operator: cred put $c --refresh-token-file failed"
		return 1
	fi
	count op.reauth
}

# new_secret NAME: a new client secret at the fake and in the vault.
new_secret() {
	local c=$1 k s
	k=$(($(cat "$CH/reauth/$c" 2>/dev/null || echo 0) + 1))
	echo "$k" >"$CH/reauth/$c"
	s=$SECRET_BASE-$c-new$k
	fpatch "$c" "{\"behaviour\":\"ok\",\"client_secret\":\"$s\"}"
	secret_file "$CH/cs.$c" "$s"
	if ! ov cred put "${ORG_OF[$c]}" "$c" --secret-file "$CH/cs.$c" \
	    >/dev/null 2>>"$CH/operator.err"; then
		anomaly "operator: cred put $c --secret-file failed"
		return 1
	fi
	count op.new_secret
}

# resolve_held NAME [reauth]: examines a credential held as `unknown`
# against the fake's view, classes it, and releases it (retry, or
# re-authorization when the rotation was lost or MODE says so).
# Returns 2 when a slow answer to it is still pending at the fake.
resolve_held() {
	local c=$1 mode=${2:-retry} reqs succ ev okev lost diff info cls cause act rc
	reqs=$(fk GET "/_admin/requests?client_id=$c") || return 2
	if jq -e 'length > 0 and (.[-1] | .status == 0 and .behaviour == "slow")' \
	    <<<"$reqs" >/dev/null; then
		return 2
	fi
	succ=$(fk GET "/_admin/clients/$c" | jq .successes)
	ev=$(ov audit events --credential "$c" --limit 10000 --json 2>/dev/null) || return 2
	okev=$(jq '[.[] | select(.kind == "refresh.ok")] | length' <<<"$ev")
	lost=$(cat "$CH/lost/$c" 2>/dev/null || echo 0)
	diff=$((succ - okev - lost))
	cause=$(jq -r '[.[] | select(.kind == "refresh.outcome_unknown")][0].detail
	    | if .lease_owner then "kill" else "no-answer" end' <<<"$ev")
	# What the fake saw after the last recorded refresh or put.  A
	# success is a 200 of behaviour ok or slow (garbage is a 200 too).
	info=$(jq -rn "$JQ_MS"' ([$ev[0][] | select(.kind == "refresh.ok" or .kind == "credential.updated")][0].time // null
	        | if . then ms else 0 end) as $t
	    | [$reqs[0][] | select(.time_ms > $t)
	       | .ok = (.status == 200 and (.behaviour == "ok" or .behaviour == "slow"))] as $a
	    | "\($a | length) \([$a[] | select(.ok)] | length) \($a[-1].status // "-") \($a[-1].behaviour // "-") \($a[-1].ok // false)"' \
	    --slurpfile ev <(printf '%s' "$ev") --slurpfile reqs <(printf '%s' "$reqs"))
	set -- $info
	# $1 requests after the last recorded refresh, $2 of them successes,
	# $3 the last one's status, $4 its behaviour, $5 whether a success.
	if [ "$1" = 0 ]; then
		cls=nothing_sent
	elif [ "$5" = true ]; then
		cls=rotated_answer_lost
	elif [ "$3" = 0 ]; then
		cls=sent_no_answer
	else
		cls=answered_not_stored
	fi
	if [ "$diff" -lt 0 ] || [ "$diff" -gt 1 ] || [ "$2" != "$diff" ] ||
	    { [ "$diff" = 1 ] && [ "$cls" != rotated_answer_lost ]; }; then
		anomaly "held $c: fake successes $succ, refresh.ok events $okev, lost before $lost, after the last recorded refresh: $info"
		act=reauth_anomaly
		[ "$diff" -ge 1 ] && echo $((lost + diff)) >"$CH/lost/$c"
		reauth "$c"
	elif [ "$diff" = 1 ]; then
		echo $((lost + 1)) >"$CH/lost/$c"
		act=reauth
		reauth "$c"
	elif [ "$mode" = reauth ]; then
		act=reauth
		reauth "$c"
	else
		act=retry
		ov cred refresh "${ORG_OF[$c]}" "$c" >/dev/null 2>>"$CH/operator.err"
		rc=$?
		act="retry:$rc"
		count op.retry
	fi
	count "held.$cause"
	count "held.$cause.$cls"
	printf '%s %s cause=%s class=%s diff=%s action=%s after=[%s]\n' \
	    "$(date +%H:%M:%S.%3N)" "$c" "$cause" "$cls" "$diff" "$act" "$info" >>"$CH/held.log"
	return 0
}

# One pass over the held credentials.
operator_pass() {
	local c
	for c in $(ov cred list --status unknown --json 2>/dev/null | jq -r '.[].name'); do
		# An incident in progress owns its credential.
		(
			flock -n 9 || exit 0
			resolve_held "$c"
		) 9>"$CH/lock.$c"
	done
}

operator_loop() {
	while [ ! -e "$STOP" ]; do
		sleep "$OPERATOR_EVERY"
		[ -e "$STOP" ] && break
		operator_pass
	done
}

# ----------------------------------------------------------------- faults

FAULTS=(429 500 hang reset garbage slow)
OUTAGES=(500 reset 503 hang)

json_script() {
	local f=$1 n=$2 s='' i
	for ((i = 0; i < n; i++)); do
		s+="${s:+,}\"$f\""
	done
	echo "[$s]"
}

fault_loop() {
	local k=0 f c n j o=0 tick_outage tick_rx
	tick_outage=$(awk -v a="$OUTAGE_EVERY" -v b="$FAULT_EVERY" 'BEGIN { printf "%d", a / b }')
	tick_rx=$(awk -v b="$FAULT_EVERY" 'BEGIN { printf "%d", 30 / b }')
	[ "$tick_outage" -ge 1 ] || tick_outage=30
	[ "$tick_rx" -ge 1 ] || tick_rx=20
	while [ ! -e "$STOP" ]; do
		sleep "$FAULT_EVERY"
		[ -e "$STOP" ] && break
		k=$((k + 1))
		f=${FAULTS[$((k % ${#FAULTS[@]}))]}
		for ((j = 0; j < FAULT_CLIENTS; j++)); do
			c=${GENERAL[$((RANDOM % ${#GENERAL[@]}))]}
			n=$((1 + RANDOM % 3))
			fk PATCH "/_admin/clients/$c" "{\"script\":$(json_script "$f" "$n")}" \
			    >/dev/null && count "inject.$f" "$n"
		done
		if [ $((k % tick_outage)) -eq 0 ]; then
			f=${OUTAGES[$((o % ${#OUTAGES[@]}))]}
			o=$((o + 1))
			note "outage: every general client answers $f for 3 s"
			for c in "${GENERAL[@]}"; do
				fpatch "$c" "{\"behaviour\":\"$f\"}"
			done
			count "outage.$f"
			sleep 3
			for c in "${GENERAL[@]}"; do
				fpatch "$c" '{"behaviour":"ok"}'
			done
			note "outage over"
		fi
		if [ $((k % tick_rx)) -eq 0 ]; then
			if [ $(((k / tick_rx) % 2)) -eq 0 ]; then
				rx_control "fail=3&status=500" && count rx.fail500 3
			else
				rx_control "hang=1&hang_ms=20000" && count rx.hang 1
			fi
		fi
	done
}

# incident NAME: one incident on a dedicated credential (see the header).
# wait_status NAME SECONDS STATUS...: polls until one of the statuses.
wait_status() {
	local c=$1 t=$2 s end
	shift 2
	end=$(($(now_ms) + t * 1000))
	while [ "$(now_ms)" -lt "$end" ]; do
		s=$(cred_field "$c" .status)
		case " $* " in *" $s "*) echo "$s"; return 0 ;; esac
		[ -e "$STOP" ] && [ "$t" -gt 5 ] && end=$(($(now_ms) + 5000)) && t=5
		sleep 0.5
	done
	echo "$s"
	return 1
}

incident() {
	local c=$1 s n0 n1 end
	case $c in
	ig*)
		fpatch "$c" '{"behaviour":"invalid_grant"}'
		count inject.invalid_grant
		s=$(wait_status "$c" 30 revoked unknown)
		case $s in
		revoked)
			count incident.revoked
			note "incident $c: revoked; re-authorized"
			reauth "$c"
			;;
		unknown)
			count incident.held
			note "incident $c: held (a kill landed); resolved"
			resolve_held "$c" reauth || { sleep 2; resolve_held "$c" reauth; }
			;;
		*)
			count incident.missed
			note "incident $c: still $s after 30 s; back to ok"
			fpatch "$c" '{"behaviour":"ok"}'
			;;
		esac
		;;
	ic*)
		fpatch "$c" '{"behaviour":"invalid_client"}'
		count inject.invalid_client
		s=$(wait_status "$c" 30 invalid_client)
		if [ "$s" = invalid_client ]; then
			count incident.invalid_client
			note "incident $c: invalid_client; new secret"
			new_secret "$c"
		else
			# (A new secret now would refresh before the deadline.)
			count incident.missed
			note "incident $c: still $s after 30 s; back to ok"
			fpatch "$c" '{"behaviour":"ok"}'
		fi
		;;
	dr*)
		n0=$(ov audit events --credential "$c" --kind scope_drift --limit 10000 --json | jq length)
		fpatch "$c" '{"scope":"a b admin"}'
		count inject.scope_drift
		end=$(($(now_ms) + 30000))
		n1=$n0
		while [ "$(now_ms)" -lt "$end" ] && [ "$n1" = "$n0" ] && [ ! -e "$STOP" ]; do
			sleep 0.5
			n1=$(ov audit events --credential "$c" --kind scope_drift --limit 10000 --json | jq length)
		done
		if [ "$n1" != "$n0" ]; then
			count incident.scope_drift
		else
			count incident.missed
		fi
		note "incident $c: scope drift events $n0 -> $n1; scope back"
		fk PATCH "/_admin/clients/$c" '{"scope":null}' >/dev/null ||
		    anomaly "fake: cannot reset the scope of $c"
		;;
	esac
}

incident_loop() {
	local k=0 c
	while [ ! -e "$STOP" ]; do
		sleep "$INCIDENT_EVERY"
		[ -e "$STOP" ] && break
		c=${INCIDENT[$((k % ${#INCIDENT[@]}))]}
		k=$((k + 1))
		(
			flock 9
			incident "$c"
		) 9>"$CH/lock.$c"
	done
}

# ------------------------------------------------------------------- load

# load_loop I: batches of 20 token GETs of random credentials (keep-alive,
# one curl), to serve 1 (the last loop: to serve 2 while it runs).
load_loop() {
	local i=$1 out urls n c port rc
	out=$CH/load/$i.txt
	while [ ! -e "$LOAD_STOP" ]; do
		port=$PORT1
		[ "$i" = "$LOAD_LOOPS" ] && [ -e "$S2_UP" ] && port=$PORT2
		urls=()
		for ((n = 0; n < 20; n++)); do
			c=${ALL[$((RANDOM % ${#ALL[@]}))]}
			urls+=("http://127.0.0.1:$port/v1/orgs/${ORG_OF[$c]}/credentials/$c/token")
		done
		curl -s --max-time 10 --connect-timeout 2 -H "Authorization: Bearer $TOK" \
		    -w '\n@ %{http_code} %{exitcode}\n' "${urls[@]}" >>"$out" 2>/dev/null
		rc=$?
		if [ "$rc" = 7 ]; then
			sleep 0.2
		else
			sleep "$LOAD_PAUSE"
		fi
	done
}

# Classes the answers of the load loops: "CLASS COUNT" lines.
load_classes() {
	cat "$CH"/load/*.txt 2>/dev/null | awk '
	/^@ / {
		code = $2; ex = $3
		if (code == "200") {
			c = "200"
			if (body !~ /"access_token"/ || !match(body, /"expires_in":-?[0-9]+/))
				c = "200_bad_body"
			else if (substr(body, RSTART + 13, RLENGTH - 13) + 0 <= 0)
				c = "200_expired"
		} else if (code == "503" || code == "409") c = code
		else if (code == "000" && ex == "7") c = "refused"
		else if (code == "000" && (ex == "52" || ex == "56" || ex == "55")) c = "cut"
		else if (code == "000" && ex == "28") c = "timeout"
		else c = "other_" code "_" ex
		n[c]++; body = ""; next
	}
	{ body = body $0 }
	END { for (c in n) print c, n[c] }' | sort
}

# --------------------------------------------------------------- the run

note "chaos: ${#ALL[@]} credentials (${#RT[@]} refresh_token, ${#CC[@]} client_credentials), $SECONDS_TOTAL s, ports $PORT1/$PORT2"
echo "# chaos: ${#ALL[@]} credentials, ${SECONDS_TOTAL} s of kill -9 every ${KILL_MIN}-${KILL_MAX} s, serve on 127.0.0.1:$PORT1 (second serve :$PORT2)"
start_serve 1 || {
	fail "setup: serve 1 does not start"
	exit 1
}
# The first tokens before the load starts.
all_have_tokens() {
	[ "$(ov cred list --json | jq '[.[] | select(.last_success_at == null)] | length')" = 0 ]
}
wait_until 30 all_have_tokens || note "not every credential had a token after 30 s"

LOAD_PIDS=()
for ((i = 1; i <= LOAD_LOOPS; i++)); do
	load_loop "$i" &
	bg_track "$!"
	LOAD_PIDS+=("$!")
done
fault_loop &
bg_track "$!"
CTRL_PIDS=("$!")
incident_loop &
bg_track "$!"
CTRL_PIDS+=("$!")
operator_loop &
bg_track "$!"
CTRL_PIDS+=("$!")

T0=$(now_ms)
END_MS=$((T0 + SECONDS_TOTAL * 1000))
while [ "$(now_ms)" -lt "$END_MS" ]; do
	nap "$(rand_between "$KILL_MIN" "$KILL_MAX")"
	el=$((($(now_ms) - T0) / 1000))
	if [ $(((el / S2_PERIOD) % 2)) -eq 1 ]; then
		if [ -z "${SPID[2]}" ]; then
			note "second serve phase begins"
			start_serve 2 && : >"$S2_UP"
		fi
	elif [ -e "$S2_UP" ] || [ -n "${SPID[2]}" ]; then
		rm -f "$S2_UP"
		term_serve 2
		note "second serve phase ends"
	fi
	[ "$(now_ms)" -ge "$END_MS" ] && break
	victim=1
	[ -n "${SPID[2]}" ] && [ $((RANDOM % 3)) -eq 0 ] && victim=2
	alive_or_note 1 || start_serve 1
	[ -e "$S2_UP" ] && { alive_or_note 2 || start_serve 2; }
	kill9_serve "$victim"
	start_serve "$victim"
done
note "chaos phase over"

# ---------------------------------------------------------- final phase

: >"$STOP"
wait_done=$(($(now_ms) + 120000))
for p in "${CTRL_PIDS[@]}"; do
	while _fk_alive "$p" && [ "$(now_ms)" -lt "$wait_done" ]; do
		sleep 0.2
	done
	if _fk_alive "$p"; then
		anomaly "a control loop (pid $p) did not stop within 120 s"
		kill_tree "$p"
	fi
	wait "$p" 2>/dev/null
done
for c in "${ALL[@]}"; do
	fpatch "$c" '{"behaviour":"ok","script":[]}'
done
fk PATCH /_admin/clients/dr1 '{"scope":null}' >/dev/null
rx_control "fail=0&hang=0"
rm -f "$S2_UP"
term_serve 2
term_serve 1
note "faults off; both serves stopped; the final serve starts"
start_serve 1 -final || {
	fail "final: serve does not start"
	exit 1
}
FINAL_START=$(now_ms)

# The operator resolves whatever is not active.
final_round=0
while :; do
	bad=$(ov cred list --json | jq -r '.[] | select(.status != "active") | "\(.name) \(.status)"')
	[ -z "$bad" ] && break
	final_round=$((final_round + 1))
	[ "$final_round" -gt 60 ] && break
	while read -r c s; do
		[ -n "$c" ] || continue
		case $s in
		unknown)
			resolve_held "$c"
			;;
		revoked)
			case $c in ig*) ;; *) anomaly "final: $c is revoked" ;; esac
			reauth "$c"
			;;
		invalid_client)
			case $c in ic*) ;; *) anomaly "final: $c is invalid_client" ;; esac
			new_secret "$c"
			;;
		failing)
			ov cred refresh "${ORG_OF[$c]}" "$c" >/dev/null 2>>"$CH/operator.err" &&
			    count op.final_retry
			;;
		*)
			anomaly "final: $c has status $s"
			;;
		esac
	done <<<"$bad"
	sleep 2
done

pending() {
	ov webhook deliveries --pending --json | jq length
}
settled() {
	[ $(($(now_ms) - FINAL_START)) -ge $((SETTLE * 1000)) ] &&
	    [ "$(ov cred list --json | jq '[.[] | select(.status != "active")] | length')" = 0 ] &&
	    [ "$(pending)" = 0 ]
}
if ! wait_until $((SETTLE + 120)) settled; then
	anomaly "final: not settled: $(ov cred list --json | jq -c '[.[] | select(.status != "active") | {name, status, last_error}]'), $(pending) webhook deliveries pending"
fi
: >"$LOAD_STOP"
for p in "${LOAD_PIDS[@]}"; do
	wait "$p" 2>/dev/null
done
term_serve 1
CUTOFF=$(now_ms)
DURATION_S=$(((CUTOFF - T_START) / 1000))
note "final serve stopped; checks"

# ---------------------------------------------------------------- checks

cat "$CH"/serve/*.log >"$CH/serve-all.log" 2>/dev/null
fk GET /_admin/clients >"$CH/clients.json"
ov audit export >"$CH/events.jsonl"
jq -s '.' "$CH/events.jsonl" >"$CH/events.json"
jq -cn --argjson rt "$(printf '%s\n' "${RT[@]}" | jq -R . | jq -s .)" '$rt' >"$CH/rt.json"
jq -cn --argjson cc "$(printf '%s\n' "${CC[@]}" | jq -R . | jq -s .)" '$cc' >"$CH/cc.json"

# 1. no lost rotation --------------------------------------------------------
expect_eq "no stale refresh token was ever presented (sum of stale_presentations)" 0 \
    "$(jq '[.[].stale_presentations] | add' "$CH/clients.json")"
expect_eq "no token family was revoked" 0 \
    "$(jq '[.[] | select(.family_revoked)] | length' "$CH/clients.json")"
for c in "${ALL[@]}"; do
	echo "$c $(cat "$CH/lost/$c" 2>/dev/null || echo 0)"
done >"$CH/lost.txt"
acct=$(jq -rn --slurpfile cl "$CH/clients.json" --slurpfile ev "$CH/events.json" \
    --slurpfile rt "$CH/rt.json" --rawfile lost "$CH/lost.txt" '
    ($lost | split("\n") | map(select(. != "") | split(" ") | {(.[0]): (.[1] | tonumber)}) | add) as $L
    | ($ev[0] | map(select(.kind == "refresh.ok")) | group_by(.credential)
       | map({(.[0].credential): length}) | add) as $ok
    | $cl[0][] | select(.client_id as $id | $rt[0] | index($id))
    | select(.successes != (($ok[.client_id] // 0) + ($L[.client_id] // 0)))
    | "\(.client_id): fake successes \(.successes), refresh.ok events \($ok[.client_id] // 0), rotations lost in the window \($L[.client_id] // 0)"')
expect_eq "every rotation the fake made is recorded, or was found lost in the window and re-authorized" "" "$acct"

# 2. double refreshes, from the fake's log, the events and serve's logs -------
fk GET /_admin/requests >"$CH/requests.json"
jq -cR "$JQ_MS"' fromjson? | select(.msg? // "" | test("^refresh org=[^ ]+ credential=[^ ]+ outcome=ok "))
    | {c: (.msg | capture("credential=(?<c>[^ ]+)").c), t: (.time | ms),
       n: (.msg | capture("next=(?<n>[^ ]+)$").n | if . == "none" then null else ms end)}' \
    "$CH/serve-all.log" 2>/dev/null | jq -s . >"$CH/oklog.json"
awk '$2 == "kill" { printf "{\"k0\": %s, \"k1\": %s}\n", $1, $5 }' "$CH/kills" | jq -s . >"$CH/kills.json"
jq -n --slurpfile req "$CH/requests.json" --slurpfile oklog "$CH/oklog.json" \
    --slurpfile ev "$CH/events.json" --slurpfile kills "$CH/kills.json" \
    --slurpfile rt "$CH/rt.json" --argjson cut "$CUTOFF" \
    -f "$HERE/analyze.jq" >"$CH/analysis.json"
an() {
	jq -r "$1" "$CH/analysis.json"
}
expect_eq "no refresh token presented again after it was answered 200" "" \
    "$(an '.reused[] | "\(.c) \(.token): \(.statuses)"' | head -n 10)"
expect_eq "no 200 before the deadline the previous recorded refresh set" "" \
    "$(an '.early[] | "\(.c) at \(.t): \(.before_ms) ms before next=\(.deadline)"' | head -n 10)"
expect_eq "two 200s for one deadline only around a kill -9 that lost the first answer" "" \
    "$(an '.lost[] | select(.kill_between | not) | "\(.c): 200 at \(.t), next 200 at \(.next_t), no record, no kill between"' | head -n 10)"
expect_eq "the last 200 of every credential is recorded" "" \
    "$(an '.last_unrecorded[] | "\(.c) at \(.t)"' | head -n 10)"
LOST_RT=$(an '[.lost[] | select(.rt)] | length')
LOST_CC=$(an '[.lost[] | select(.rt | not)] | length')
LOST_OP=$(awk '{ n += $2 } END { print n + 0 }' "$CH/lost.txt")
expect_eq "refresh_token answers lost to kill -9 = rotations the operator found lost and re-authorized" \
    "$LOST_RT" "$LOST_OP"

# 3. webhooks ---------------------------------------------------------------------
ov webhook deliveries --limit 100000 --json >"$CH/deliveries.json" 2>"$CH/deliveries.err" ||
    ov webhook deliveries --limit 10000 --json >"$CH/deliveries.json"
jq -s '[.[] | select(.status == 200) | .headers["x-orgvault-delivery"] | tonumber] | unique' \
    "$RXLOG" >"$CH/rx-ids.json"
expect_eq "every webhook delivery is delivered" "" \
    "$(jq -r '.[] | select(.delivered | not) | "\(.id) \(.event) attempts \(.attempts) \(.last_error)"' "$CH/deliveries.json" | head -n 10)"
expect_eq "every delivery the vault recorded was received (answered 200)" "" \
    "$(jq -rn --slurpfile d "$CH/deliveries.json" --slurpfile rx "$CH/rx-ids.json" \
        '($d[0] | map(.id)) - $rx[0] | .[]' | head -n 10 | tr '\n' ' ')"
expect_eq "the receiver got nothing the vault does not list" "" \
    "$(jq -rn --slurpfile d "$CH/deliveries.json" --slurpfile rx "$CH/rx-ids.json" \
        '$rx[0] - ($d[0] | map(.id)) | .[]' | head -n 10 | tr '\n' ' ')"

# 4. check and audit verify ---------------------------------------------------------
expect_ok "orgvault check" -- ov check
expect_ok "orgvault audit verify" -- ov audit verify

# The stored refresh token of each credential is the newest: one more refresh.
bad=()
for c in "${ALL[@]}"; do
	ov cred refresh "${ORG_OF[$c]}" "$c" >/dev/null 2>>"$CH/final-refresh.err" || bad+=("$c")
done
expect_eq "a final cred refresh of every credential succeeds" "" "${bad[*]}"
fk GET /_admin/clients >"$CH/clients-after.json"
expect_eq "... and no stale refresh token was presented by it" 0 \
    "$(jq '[.[].stale_presentations] | add' "$CH/clients-after.json")"

# Processes and logs --------------------------------------------------------------
expect_clean_log "no crash or sanitizer report in any serve log" "$CH/serve-all.log"
expect_eq "no refresh left unrecorded in any serve log" "" \
    "$(grep -a 'not recorded\|was lost to' "$CH/serve-all.log" | head -n 5)"
expect_eq "no serve died by itself" 0 "$(($(counted died.s1) + $(counted died.s2)))"
expect_eq "no serve failed to start" 0 "$(($(counted start_failed.s1) + $(counted start_failed.s2)))"
expect_eq "every SIGTERM exit 0" 0 "$(($(counted term_bad.s1) + $(counted term_bad.s2)))"
load_classes >"$CH/load-classes.txt"
expect_eq "the broker answered only 200, 503 or 409 (or nothing while serve was down)" "" \
    "$(grep -v '^\(200\|503\|409\|refused\|cut\|timeout\) ' "$CH/load-classes.txt" | tr '\n' ' ')"
expect_eq "no anomaly noted during the run" "" "$(head -n 20 "$CH/anomalies" 2>/dev/null)"

# ---------------------------------------------------------------- summary

lc() {
	awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$CH/load-classes.txt"
}
served() {
	jq -r --arg b "$1" '[.[] | select(.behaviour == $b)] | length' "$CH/requests.json"
}
held_total=$(($(counted held.kill) + $(counted held.no-answer)))
D_TOTAL=$(jq length "$CH/deliveries.json")
RX_REQ=$(jq -s 'length' "$RXLOG")
cat <<EOF
# ---------------------------------------------------------------- chaos summary
# duration: ${DURATION_S} s (chaos ${SECONDS_TOTAL} s, then the clean phase and checks)
# credentials: ${#ALL[@]} (${#RT[@]} refresh_token rotating, ${#CC[@]} client_credentials) in $NORGS orgs; ${LIFETIME} s tokens, --refresh-at $REFRESH_AT
# kill -9: serve 1 $(counted kill.s1), serve 2 $(counted kill.s2); starts: serve 1 $(counted start.s1), serve 2 $(counted start.s2); SIGTERM stops $(($(counted term.s1) + $(counted term.s2))) (not exit 0: $(($(counted term_bad.s1) + $(counted term_bad.s2)))); died by itself: $(($(counted died.s1) + $(counted died.s2)))
# refreshes (successes at the fake): $(jq '[.[].successes] | add' "$CH/clients.json") of $(jq '[.[] | select(.path != null)] | length' "$CH/requests.json") token requests
# faults injected (scripted requests): 429 $(counted inject.429), 500 $(counted inject.500), hang $(counted inject.hang), reset $(counted inject.reset), garbage $(counted inject.garbage), slow $(counted inject.slow); outages (3 s, all general clients): 500 $(counted outage.500), 503 $(counted outage.503), reset $(counted outage.reset), hang $(counted outage.hang)
# faults served by the fake: 429 $(served 429), 500 $(served 500), 503 $(served 503), hang $(served hang), reset $(served reset), garbage $(served garbage), slow $(served slow), invalid_grant $(served invalid_grant), invalid_client $(served invalid_client)
# incidents: invalid_grant $(counted inject.invalid_grant) (revoked $(counted incident.revoked), held $(counted incident.held)), invalid_client $(counted inject.invalid_client) (landed $(counted incident.invalid_client)), scope_drift $(counted inject.scope_drift) (landed $(counted incident.scope_drift)), missed $(counted incident.missed)
# token requests to the broker: $(awk '{ n += $2 } END { print n + 0 }' "$CH/load-classes.txt"): 200 $(lc 200), 503 $(lc 503), 409 $(lc 409), refused (serve down) $(lc refused), cut by a kill $(lc cut), timeout $(lc timeout), other $(grep -v '^\(200\|503\|409\|refused\|cut\|timeout\) ' "$CH/load-classes.txt" | awk '{ n += $2 } END { print n + 0 }'); expired token served $(lc 200_expired)
# held as unknown (episodes the operator resolved): $held_total — after a kill $(counted held.kill) (rotated, answer lost $(counted held.kill.rotated_answer_lost); sent, no answer $(counted held.kill.sent_no_answer); answered, not stored $(counted held.kill.answered_not_stored); lease taken, nothing sent $(counted held.kill.nothing_sent)); no answer (hang/reset/timeout) $(counted held.no-answer) (rotated $(counted held.no-answer.rotated_answer_lost))
# operator: retries $(counted op.retry), re-authorizations $(counted op.reauth), new secrets $(counted op.new_secret), final retries of failing $(counted op.final_retry)
# answers lost to kill -9 (200 never recorded, the next 200 after a kill): refresh_token $LOST_RT (re-authorized: $LOST_OP), client_credentials $LOST_CC; of all, in flight at the kill (slow answers) $(an '[.lost[] | select(.behaviour == "slow")] | length'), answered before it $(an '[.lost[] | select(.behaviour != "slow")] | length') (request to the kill's end at most $(an '[.lost[] | select(.behaviour != "slow") | .kill_gap_ms // empty] | max // 0') ms); early or double refreshes: $(an '(.early | length) + (.reused | length) + ([.lost[] | select(.kill_between | not)] | length)')
# webhooks: $D_TOTAL deliveries ($(jq -r 'group_by(.event) | map("\(.[0].event) \(length)") | join(", ")' "$CH/deliveries.json")), received $(jq length "$CH/rx-ids.json") distinct in $RX_REQ requests (receiver faults: 500 x$(counted rx.fail500), hold x$(counted rx.hang))
EOF
