#!/usr/bin/env bash
# t_rot_twoserve.sh — two `serve` processes on one data directory for
# 30 s, 20 refresh-token credentials with rotating refresh tokens and
# 3-second access tokens: leases must make every refresh happen once.
# A double refresh would present a rotated (stale) refresh token, which
# the fake counts and answers by revoking the family (RFC 9700).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"

N=20
RUN_S=${OV_TWOSERVE_SECONDS:-30}

fake_start
setup_vault
expect_ok "setup: org acme" -- ov org add acme
SECRET=two-secret-1
S=$TMP/secret
secret_file "$S" "$SECRET"

# All credentials in one import (refresh_token grant, /token endpoint).
: >"$TMP/import.jsonl"
for i in $(seq -w 1 $N); do
	fake_put "t$i" "{\"client_secret\":\"$SECRET\",\"lifetime\":3,\"refresh_token\":\"rt-seed-t$i\",\"rotate_refresh\":true}" ||
	    exit 1
	jq -cn --arg i "$i" --arg s "$SECRET" --arg u "$FAKE_URL/token" \
	    '{org: "acme", name: ("t" + $i), provider: "oauth2", token_url: $u,
	      client_id: ("t" + $i), client_secret: $s, grant: "refresh_token",
	      refresh_token: ("rt-seed-t" + $i)}' >>"$TMP/import.jsonl"
done
expect_ok "setup: import $N refresh-token credentials" -- ov import "$TMP/import.jsonl"
rm -f "$TMP/import.jsonl"

serve_start a || exit 1
PA=$SERVE_PID
serve_start b || exit 1
PB=$SERVE_PID
nap "$RUN_S"
expect_true "serve a still runs after ${RUN_S} s" -- _fk_alive "$PA"
expect_true "serve b still runs after ${RUN_S} s" -- _fk_alive "$PB"
serve_stop "$PA" 30
expect_eq "serve a: SIGTERM exits 0" 0 "$SERVE_RC"
serve_stop "$PB" 30
expect_eq "serve b: SIGTERM exits 0" 0 "$SERVE_RC"
expect_clean_log "serve a: no sanitizer report" "$(serve_log a)"
expect_clean_log "serve b: no sanitizer report" "$(serve_log b)"
for x in a b; do
	expect_false "serve $x: no refresh lost its record (no 'not recorded' warning)" -- \
	    grep -q 'not recorded' "$(serve_log $x)"
done
na=$(grep -c 'outcome=ok' "$(serve_log a)")
nb=$(grep -c 'outcome=ok' "$(serve_log b)")
echo "# refreshes logged: serve a $na, serve b $nb"

fake_client_all() {
	_fk_http GET /_admin/clients
	cat "$_FK_BODY"
}
all=$(fake_client_all)
expect_eq "fake knows the $N clients" "$N" "$(jq length <<<"$all")"
expect_eq "zero stale_presentations across all clients" 0 \
    "$(jq '[.[].stale_presentations] | add' <<<"$all")"
expect_eq "zero revoked families" 0 "$(jq '[.[] | select(.family_revoked)] | length' <<<"$all")"
min=$(jq '[.[].successes] | min' <<<"$all")
if [ "$min" -ge 5 ]; then
	pass "every credential was refreshed repeatedly (min $min successes in ${RUN_S} s)"
else
	fail "every credential was refreshed repeatedly" "min successes: $min"
fi
expect_eq "no failed token request" 0 "$(fake_requests | jq 'map(select(.status != 200)) | length')"

# Per client: successive successful requests at least 1 s apart (a
# 3 s token is refreshed at issued + 2 s, issued in whole seconds).
close=$(fake_requests | jq -r '
    map(select(.status == 200)) | group_by(.client_id)
    | map(. as $r | [range(1; $r | length) | select($r[.].time_ms - $r[. - 1].time_ms < 1000)
        | "\($r[.].client_id): \($r[. - 1].time_ms) → \($r[.].time_ms)"])
    | add | .[]')
if [ -z "$close" ]; then
	pass "no two successful requests of one client within 1 s (no double refresh)"
else
	fail "no two successful requests of one client within 1 s (no double refresh)" \
	    "$(printf '%s\n' "$close" | head -n 5)"
fi
run events_json --kind credential.revoked
expect_json "no credential.revoked event" 'length == 0'
run ov audit revocations --json
expect_json "the revocation ledger is empty" 'length == 0'
run ov cred list acme --json
expect_json "all $N credentials active" 'length == $n and all(.status == "active")' --argjson n "$N"

# The stored refresh token is the newest: one more refresh of each works.
bad=0
for i in $(seq -w 1 $N); do
	run ov cred refresh acme "t$i"
	[ "$RC" -eq 0 ] || bad=$((bad + 1))
done
expect_eq "one more cred refresh of each credential succeeds" 0 "$bad"
expect_eq "... and still zero stale_presentations" 0 \
    "$(fake_client_all | jq '[.[].stale_presentations] | add')"
expect_ok "check: the vault is whole" -- ov check
