#!/usr/bin/env bash
# t_webhook.sh — push alerts against a loopback receiver (webhook-rx):
# revoked, invalid_client, scope_drift, failing and recovered arrive at
# least once, signed (verified here with openssl), with the documented
# headers; 500s are retried; a delivery held when serve is killed -9,
# and those queued meanwhile, all arrive after a restart; `webhook rm`
# stops deliveries; no secret in any payload, header, log or file.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"

WEBHOOK_RX=${WEBHOOK_RX:-$(dirname "$FAKE_OAUTH")/webhook-rx}
if [ ! -x "$WEBHOOK_RX" ]; then
	fail "WEBHOOK_RX='$WEBHOOK_RX' is not an executable (make build/webhook-rx)"
	exit 1
fi
if ! command -v openssl >/dev/null 2>&1; then
	fail "the 'openssl' command is needed to verify signatures (make deps-test)"
	exit 1
fi

# Canaries: none may show up anywhere but where they were given.
RUN=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
SECRET=cs-canary-$RUN
WH_SECRET=whsec-canary-$RUN-0123456789
S=$TMP/secret
WH=$TMP/wh.key
secret_file "$S" "$SECRET"
secret_file "$WH" "$WH_SECRET"

# --- the receiver --------------------------------------------------------------
RXLOG=$TMP/misc/rx.log
"$WEBHOOK_RX" --port 0 --port-file "$TMP/misc/rx.port" --log "$RXLOG" \
    2>"$TMP/misc/rx.err" &
RX_PID=$!
_FK_PIDS+=("$RX_PID")
wait_until 10 test -s "$TMP/misc/rx.port" || {
	fail "setup: webhook-rx did not start" "$(head -c 300 "$TMP/misc/rx.err")"
	exit 1
}
RX_URL=http://127.0.0.1:$(cat "$TMP/misc/rx.port")
: >>"$RXLOG"

# rx_control QUERY: fail=N&status=S&hang=N&hang_ms=M
rx_control() {
	curl -sS --max-time 5 "$RX_URL/_control?$1" >/dev/null
}

# Delivered alerts (answered 200) at PATH as "event:credential" lines.
rx_delivered() {
	jq -r --arg p "$1" 'select(.path == $p and .status == 200) | .body | fromjson
	    | "\(.event):\(.credential)"' "$RXLOG" | sort -u
}

pending_n() {
	"$ORGVAULT" --data-dir "$DIR" webhook deliveries --pending --json | jq length
}

no_pending() {
	[ "$(pending_n)" = 0 ]
}

# Verifies the signature of one logged request (a JSON line) with KEY.
sig_ok() {
	local line=$1 key=$2 ts sig body want
	ts=$(jq -r '.headers["x-orgvault-timestamp"]' <<<"$line")
	sig=$(jq -r '.headers["x-orgvault-signature"]' <<<"$line")
	body=$(jq -j '.body' <<<"$line")
	want=sha256=$(printf '%s.%s' "$ts" "$body" |
	    openssl dgst -sha256 -hmac "$key" | sed 's/^.*= *//')
	[ "$want" = "$sig" ]
}

# --- credentials at the fake OAuth server ----------------------------------------
fake_start
setup_vault
expect_ok "setup: org acme" -- ov org add acme

# mk NAME FAKE-FIELDS [cred put options]: fake client + credential acme/NAME.
mk() {
	local name=$1 extra=$2
	shift 2
	fake_put "$name" "$(jq -cn --arg s "$SECRET" --argjson e "{$extra}" \
	    '{client_secret: $s, lifetime: 3600} + $e')" || return 1
	run ov cred put acme "$name" --provider genesys \
	    --token-url "$FAKE_URL/oauth/token" --client-id "$name" \
	    --secret-file "$S" --scope "a b" "$@"
	[ "$RC" -eq 0 ] || { fail "setup: cred put acme/$name"; context; }
}
mkrt() {
	local name=$1 extra=$2
	shift 2
	secret_file "$TMP/rt-$name" "rt-seed-$name-$RUN"
	mk "$name" "\"refresh_token\":\"rt-seed-$name-$RUN\"${extra:+,$extra}" \
	    --grant refresh_token --refresh-token-file "$TMP/rt-$name" "$@"
}

# --- add, list ---------------------------------------------------------------------
expect_ok "add: signing secret from stdin, all events (--json)" -- \
    ov webhook add "$RX_URL/hook" --secret-file - --json <"$WH"
expect_json "add --json: id 1, every event, nothing pending" \
    '.id == 1 and .events == ["revoked","invalid_client","secret_or_grant_refused","scope_drift","failing","recovered","tampered"] and .pending == 0'
expect_ok "add: a second webhook for recovered only" -- \
    ov webhook add "$RX_URL/only-recovered" --events recovered --secret-file "$WH"
expect_stdout_contains "add: says which webhook" "added webhook 2"
expect_fail 3 "add: the same URL twice is a conflict" "already posts to" -- \
    ov webhook add "$RX_URL/hook" --secret-file "$WH"
expect_fail 1 "add: plain http to a non-loopback host is refused" "https" -- \
    ov webhook add "http://example.com/hook" --secret-file "$WH"
expect_fail 1 "add: an unknown event is refused" "not an event" -- \
    ov webhook add "https://example.com/h" --events revoked,bogus --secret-file "$WH"
secret_file "$TMP/short" short
expect_fail 1 "add: a signing secret under 16 bytes is refused" "16" -- \
    ov webhook add "https://example.com/h" --secret-file "$TMP/short"
expect_fail 1 "add: --secret-file is required" "secret-file" -- \
    ov webhook add "https://example.com/h"
expect_ok "list --json" -- ov webhook list --json
expect_json "list: two webhooks, no secret field" \
    'length == 2 and all(.[]; has("secret") | not) and .[1].events == ["recovered"]'
expect_stdout_lacks "list: never the signing secret" "$WH_SECRET"
expect_ok "webhook --help" -- ov webhook --help
expect_stdout_contains "help documents the signature header" "X-Orgvault-Signature"

# --- alerts, queued while serve is down -----------------------------------------------
mkrt rg1 '"behaviour":"invalid_grant"'
run ov cred refresh acme rg1
mk ic1 '"behaviour":"invalid_client"'
run ov cred refresh acme ic1
run ov cred refresh acme ic1		# still invalid_client: no second alert
mk dr1 '"scope":"a b admin"'
run ov cred refresh acme dr1
mk fl1 '"behaviour":"invalid_scope"'
run ov cred refresh acme fl1
mk ok1 ''
run ov cred refresh acme ok1		# fine all along: no alert
fake_patch rg1 '{"behaviour":"ok"}'
run ov cred put acme rg1 --refresh-token-file "$TMP/rt-rg1"
run ov cred refresh acme rg1		# revoked → recovered
fake_patch fl1 '{"behaviour":"ok"}'
run ov cred refresh acme fl1		# failing → recovered
expect_ok "deliveries --pending --json" -- ov webhook deliveries --pending --json
expect_json "queued: 6 alerts for webhook 1, 2 recovered for webhook 2" \
    '(map(select(.webhook_id == 1)) | length) == 6 and
     (map(select(.webhook_id == 2)) | length == 2 and all(.event == "recovered"))'
expect_json "queued: the alerts expected, nothing for ok1" \
    '[.[] | select(.webhook_id == 1) | .event] | sort ==
     ["failing","invalid_client","recovered","recovered","revoked","scope_drift"]'
expect_json "queued: undelivered, no attempt yet" \
    'all(.[]; .delivered == false and .attempts == 0 and .last_status == null)'
expect_eq "nothing was sent without serve" 0 "$(wc -l <"$RXLOG")"

# --- serve delivers; the first two answers are 500 -------------------------------------
rx_control "fail=2&status=500"
serve_start a --listen none
expect_true "serve delivers every alert (500s retried)" -- wait_until 25 no_pending
expect_eq "webhook 1 got each alert" \
    "$(printf '%s\n' failing:fl1 invalid_client:ic1 recovered:fl1 recovered:rg1 revoked:rg1 scope_drift:dr1)" \
    "$(rx_delivered /hook)"
expect_eq "webhook 2 got only recovered" "$(printf '%s\n' recovered:fl1 recovered:rg1)" \
    "$(rx_delivered /only-recovered)"
expect_eq "two requests were answered 500" 2 \
    "$(jq -s 'map(select(.status == 500)) | length' "$RXLOG")"
RETRIED=$(jq -s -r 'map(select(.status == 500) | .headers["x-orgvault-delivery"]) | join(" ")' "$RXLOG")
for id in $RETRIED; do
	expect_true "delivery $id answered 500 was retried and answered 200, same body" -- \
	    jq -s -e --arg id "$id" '[.[] | select(.headers["x-orgvault-delivery"] == $id)]
	        | (map(.status) | index(200)) != null and (map(.body) | unique | length) == 1' "$RXLOG"
done
run ov webhook deliveries --json
expect_json "deliveries: all delivered, 2xx, retried ones with 2 attempts" \
    'all(.[]; .delivered and .last_status == 200 and .next_attempt_at == null)
     and (map(select(.attempts >= 2)) | length) == 2'

# Every request: the documented headers, a signature that verifies.
N_OK=0
N_BAD=0
while IFS= read -r line; do
	if sig_ok "$line" "$WH_SECRET"; then
		N_OK=$((N_OK + 1))
	else
		N_BAD=$((N_BAD + 1))
	fi
done < <(jq -c 'select(.status != 0)' "$RXLOG")
expect_true "every signature verifies with the secret ($N_OK ok)" -- test "$N_BAD" -eq 0 -a "$N_OK" -ge 10
first=$(head -n 1 "$RXLOG")
expect_false "a signature does not verify with another key" -- sig_ok "$first" "not-the-secret-$RUN"
expect_true "headers: POST, JSON, event and delivery match the body, fresh timestamp" -- \
    jq -s -e --argjson now "$(date +%s)" 'all(.[];
        (.body | fromjson) as $b | (.headers["x-orgvault-timestamp"] | tonumber) as $t
        | .method == "POST" and .headers["content-type"] == "application/json"
        and .headers["x-orgvault-event"] == $b.event
        and .headers["x-orgvault-delivery"] == ($b.id | tostring)
        and $t <= $now and $t > $now - 120
        and (.headers["x-orgvault-signature"] | test("^sha256=[0-9a-f]{64}$")))' "$RXLOG"
expect_true "payloads: id, time, org, credential, status, the audit event and its detail" -- \
    jq -s -e 'all(.[]; .body | fromjson | (.id | type) == "number" and .org == "acme"
        and (.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$"))
        and (.audit_event_id | type) == "number" and (.detail | type) == "object"
        and (.status | type) == "string")' "$RXLOG"
expect_true "payloads: revoked names credential.revoked with its context" -- \
    jq -s -e 'map(.body | fromjson | select(.event == "revoked"))[0]
        | .audit_kind == "credential.revoked" and .status == "revoked" and .detail.attempts == 1' "$RXLOG"
expect_true "payloads: recovered says the state it left" -- \
    jq -s -e '[.[] | .body | fromjson | select(.event == "recovered") | "\(.credential):\(.recovered_from)"]
        | unique == ["fl1:failing", "rg1:revoked"]' "$RXLOG"
expect_true "payloads: scope_drift carries the drift" -- \
    jq -s -e 'map(.body | fromjson | select(.event == "scope_drift"))[0].detail.extra == ["admin"]' "$RXLOG"
run events_json --credential rg1 --kind credential.revoked
REV_ID=$(jq '.[0].id' "$OUT")
expect_true "payloads: audit_event_id is the audit event's id" -- \
    jq -s -e --argjson id "$REV_ID" 'map(.body | fromjson | select(.event == "revoked"))[0].audit_event_id == $id' "$RXLOG"
serve_stop "$SERVE_PID"
expect_eq "serve stops cleanly (exit 0)" 0 "$SERVE_RC"
expect_true "serve logged the deliveries by webhook and delivery id" -- \
    grep -q 'webhook 1 delivery [0-9]* (revoked): delivered' "$(serve_log a)"

# --- webhook rm drops what is pending and stops deliveries ----------------------------------
fake_patch ic1 "{\"client_secret\":\"$SECRET\",\"behaviour\":\"ok\"}"
run ov cred put acme ic1 --secret-file "$S"
run ov cred refresh acme ic1		# invalid_client → recovered
expect_eq "recovered ic1 queued for both webhooks" 2 "$(pending_n)"
expect_ok "rm 2 (by id)" -- ov webhook rm 2
expect_stdout_contains "rm says what it dropped" "1 undelivered alert(s) dropped"
expect_fail 2 "rm of a removed webhook: exit 2" "no webhook" -- ov webhook rm 2
expect_ok "list after rm" -- ov webhook list --json
expect_json "list: only webhook 1 is left" 'length == 1 and .[0].id == 1'
run events_json --kind webhook.removed
expect_json "event webhook.removed names the webhook and what was dropped" \
    'length == 1 and .[0].detail.webhook_id == 2 and .[0].detail.dropped_deliveries == 1'
N_ONLY=$(jq -s 'map(select(.path == "/only-recovered")) | length' "$RXLOG")

# --- kill -9 with a delivery in flight and others queued -------------------------------
mkrt rv2 '"behaviour":"invalid_grant"'
run ov cred refresh acme rv2		# a second revoked alert, queued
expect_eq "two alerts queued before serve starts" 2 "$(pending_n)"
rx_control "hang=1&hang_ms=60000"
serve_start b --listen none
held() {
	jq -s -e 'map(select(.status == 0)) | length == 1' "$RXLOG"
}
expect_true "serve sent one alert the receiver holds" -- wait_until 15 held
HELD_ID=$(jq -s -r 'map(select(.status == 0))[0].headers["x-orgvault-delivery"]' "$RXLOG")
serve_kill9 "$SERVE_PID"
mk fl2 '"behaviour":"invalid_scope"'
run ov cred refresh acme fl2		# failing, queued while serve is dead
expect_eq "after kill -9: three alerts undelivered" 3 "$(pending_n)"
rx_control "hang=0"
serve_start c --listen none
expect_true "after the restart every alert is delivered (the held one after its lease)" -- \
    wait_until 40 no_pending
expect_eq "webhook 1 got the alerts of the killed run" \
    "$(printf '%s\n' failing:fl1 failing:fl2 invalid_client:ic1 recovered:fl1 recovered:ic1 recovered:rg1 revoked:rg1 revoked:rv2 scope_drift:dr1)" \
    "$(rx_delivered /hook)"
expect_true "the held delivery ($HELD_ID) was sent again and answered 200" -- \
    jq -s -e --arg id "$HELD_ID" 'map(select(.headers["x-orgvault-delivery"] == $id and .status == 200)) | length >= 1' "$RXLOG"
expect_eq "nothing was sent to the removed webhook" "$N_ONLY" \
    "$(jq -s 'map(select(.path == "/only-recovered")) | length' "$RXLOG")"
serve_stop "$SERVE_PID"
expect_eq "serve stops cleanly after the restart (exit 0)" 0 "$SERVE_RC"
for n in a b c; do
	expect_clean_log "serve $n: no crash or sanitizer report" "$(serve_log $n)"
done

# --- no secret anywhere ------------------------------------------------------------------
expect_ok "check: webhook secrets open" -- ov check --json
expect_json "check ok" '.ok == true and .failures == []'
on_pg || sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null 2>&1
for c in "$WH_SECRET" "$SECRET" "rt-seed-rg1-$RUN" "rt-rg1-" "at-ok1-1" "at-rg1-1"; do
	expect_false "the receiver never saw '${c:0:14}…' (bodies, headers)" -- grep -aqF -- "$c" "$RXLOG"
done
for c in "$WH_SECRET" "$SECRET" "rt-seed-rg1-$RUN"; do
	expect_false "no '${c:0:14}…' in serve logs or CLI output" -- \
	    grep -raqF -- "$c" "$TMP"/serve-*.log "$CAP"
	expect_false "no '${c:0:14}…' in the database files" -- \
	    grep -raqF -- "$c" "$DIR"
done
run events_json --kind webhook.added
expect_json "events webhook.added (2), no secret" 'length == 2 and all(.[]; .detail | has("url") and (tostring | contains("whsec") | not))'
