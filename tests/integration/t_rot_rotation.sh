#!/usr/bin/env bash
# t_rot_rotation.sh — refresh-token rotation never loses the newest
# refresh token: 50 sequential `cred refresh` cycles, ~20 cycles under
# `serve`; the outcome-unknown path (a refresh sent, no answer) that
# explains a later invalid_grant; a late answer that rotated the token
# after orgvault's timeout (no blind replay, DESIGN.md); SIGTERM while a
# refresh hangs.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"

fake_start
setup_vault
expect_ok "setup: org acme" -- ov org add acme
SECRET=rot-secret-1
S=$TMP/secret
secret_file "$S" "$SECRET"

# mkrt NAME LIFETIME [FAKE-FIELDS]: refresh-token credential acme/NAME,
# fake client NAME with current refresh token rt-seed-NAME.
mkrt() {
	local name=$1 life=$2 extra=${3:-}
	fake_put "$name" "$(jq -cn --arg s "$SECRET" --arg n "$name" --argjson l "$life" \
	    --argjson e "{$extra}" \
	    '{client_secret: $s, lifetime: $l, refresh_token: ("rt-seed-" + $n), rotate_refresh: true} + $e')" ||
	    return 1
	secret_file "$TMP/rt-$name" "rt-seed-$name"
	run ov cred put acme "$name" --provider oauth2 --token-url "$FAKE_URL/token" \
	    --client-id "$name" --secret-file "$S" --grant refresh_token \
	    --refresh-token-file "$TMP/rt-$name"
	if [ "$RC" -ne 0 ]; then
		fail "setup: cred put acme/$name"
		context
		return 1
	fi
}

# The presented refresh tokens must form the chain seed, rt-N-1, rt-N-2...
# (each request presents the token the previous success issued).
chain_ok() {	# chain_ok NAME
	fake_requests "$1" | jq -e --arg n "$1" '
	    map(select(.status == 200) | .refresh_token) as $p
	    | ($p | length) > 0
	    and $p[0] == ("rt-seed-" + $n)
	    and all(range(1; $p | length); $p[.] == ("rt-" + $n + "-" + (. | tostring)))'
}

# --- 50 sequential cycles -----------------------------------------------------
mkrt seq 2
fails=0
for i in $(seq 50); do
	run ov cred refresh acme seq
	if [ "$RC" -ne 0 ]; then
		fails=$((fails + 1))
		[ "$fails" -eq 1 ] && context
	fi
done
expect_eq "50 cycles: every cred refresh exited 0" 0 "$fails"
expect_eq "50 cycles: the fake's family holds the seed and 50 issued tokens" 51 \
    "$(fake_field seq .issued_refresh_tokens)"
expect_eq "50 cycles: current refresh token is rt-seq-50" rt-seq-50 "$(fake_field seq .current_refresh_token)"
expect_eq "50 cycles: stale_presentations 0" 0 "$(fake_field seq .stale_presentations)"
expect_eq "50 cycles: family not revoked" false "$(fake_field seq .family_revoked)"
expect_true "50 cycles: each request presented the newest token" -- chain_ok seq
expect_ok "50 cycles: one more refresh succeeds (the stored token is the newest)" -- \
    ov cred refresh acme seq
expect_eq "50 cycles: ... and it presented rt-seq-50" rt-seq-50 \
    "$(fake_requests seq | jq -r '.[-1].refresh_token')"
run events_json --credential seq --kind refresh.ok
expect_json "50 cycles: 51 refresh.ok events, all rotated" \
    'length == 51 and all(.detail.refresh_token_rotated == true)'

# --- ~20 cycles under serve ---------------------------------------------------------
for n in sa sb sc; do
	mkrt "$n" 2
done
serve_start main || exit 1
SPID=$SERVE_PID
enough() {
	local n
	for n in sa sb sc; do
		[ "$(fake_field "$n" .successes)" -ge 20 ] || return 1
	done
}
expect_true "serve: 20 rotations of each of 3 credentials (2 s tokens)" -- wait_until 90 enough
serve_stop "$SPID" 30
expect_eq "serve: SIGTERM exits 0" 0 "$SERVE_RC"
expect_clean_log "serve: no sanitizer report" "$(serve_log main)"
for n in sa sb sc; do
	expect_eq "serve $n: stale_presentations 0" 0 "$(fake_field "$n" .stale_presentations)"
	expect_eq "serve $n: family not revoked" false "$(fake_field "$n" .family_revoked)"
	expect_true "serve $n: every request presented the newest token" -- chain_ok "$n"
	expect_true "serve $n: no failed request" -- \
	    jq -e 'all(.status == 200)' <<<"$(fake_requests "$n")"
	expect_ok "serve $n: one more cred refresh succeeds" -- ov cred refresh acme "$n"
done
run events_json --kind credential.revoked
expect_json "serve: no credential.revoked event" 'length == 0'

# --- outcome unknown ----------------------------------------------------------------------
# A refresh sent in full and never answered (hang, --timeout 2) may have
# rotated the token at the provider: refresh.outcome_unknown.  A later
# invalid_grant is then explained by it (likely_cause).  The later attempt
# is the operator's `cred refresh`, after serve is stopped, so this part
# holds whether or not serve retries an unknown outcome by itself.
mkrt unk 3600 '"behaviour":"hang"'
serve_start unk --timeout 2 || exit 1
SPID=$SERVE_PID
has_unknown() {	# has_unknown CRED
	[ "$(events_json --credential "$1" --kind refresh.outcome_unknown | jq length)" -ge 1 ]
}
expect_true "hang under serve --timeout 2: refresh.outcome_unknown event" -- wait_until 30 has_unknown unk
serve_stop "$SPID" 30
expect_eq "unknown-outcome serve: SIGTERM exits 0" 0 "$SERVE_RC"
expect_clean_log "unknown-outcome serve: no sanitizer report" "$(serve_log unk)"
run events_json --credential unk --kind refresh.outcome_unknown
expect_json "outcome unknown: the event took the 2 s timeout" '.[-1].detail.duration_ms >= 1900'
expect_json "outcome unknown: the event explains it" '.[-1].detail.description | test("[Tt]imeout")'
expect_true "outcome unknown: the credential is not revoked" -- \
    jq -e '.status != "revoked" and .last_error != ""' <<<"$(ov cred show acme unk --json)"
expect_eq "outcome unknown: the fake rotated nothing (still the seed)" "rt-seed-unk 1" \
    "$(fake_field unk '.current_refresh_token + " " + (.issued_refresh_tokens | tostring)')"
fake_patch unk '{"behaviour":"invalid_grant"}'
expect_exit 5 "then invalid_grant: cred refresh exits 5" -- ov cred refresh acme unk --json
expect_json "then invalid_grant: outcome revoked" '.outcome == "revoked" and .status == "revoked"'
run events_json --credential unk --kind credential.revoked
expect_json "revoked after an unknown outcome: detail has likely_cause" \
    'length == 1 and (.[0].detail.likely_cause | type == "string" and length > 10)'
expect_json "revoked after an unknown outcome: detail has earlier_outcome_unknown_at" \
    '.[0].detail.earlier_outcome_unknown_at | type == "string" and (sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601) > 0'
run ov audit revocations --json
expect_json "the revocation ledger carries the likely cause" \
    'map(select(.credential == "unk"))[0].detail.likely_cause != null'

# The provider got the refresh and rotated the token, but its answer came
# after orgvault's timeout (slow 2.5 s > --timeout 2).  DESIGN.md: an
# attempt whose outcome is unknown "is not blindly replayed with a refresh
# token that the provider may have rotated".  Replaying the old token is a
# reuse that revokes the whole family at an RFC 9700 provider.
mkrt late 3600 '"script":["slow"],"delay_ms":2500'
serve_start late --timeout 2 || exit 1
SPID=$SERVE_PID
expect_true "late answer: refresh.outcome_unknown event" -- wait_until 30 has_unknown late
nap 6
expect_eq "late answer: the possibly-rotated refresh token is not replayed (stale_presentations 0)" 0 \
    "$(fake_field late .stale_presentations)"
expect_eq "late answer: the token family is not revoked by a replay" false "$(fake_field late .family_revoked)"
serve_stop "$SPID" 30
expect_eq "late-answer serve: SIGTERM exits 0" 0 "$SERVE_RC"
expect_clean_log "late-answer serve: no sanitizer report" "$(serve_log late)"

# SIGTERM while a refresh hangs (default --timeout 15 s): serve waits the
# 10 s grace, records the attempt as outcome unknown, and exits 0.
mkrt stop 3600 '"behaviour":"hang"'
serve_start stop || exit 1
SPID=$SERVE_PID
in_flight() {
	[ "$(fake_requests stop | jq 'map(select(.status == 0)) | length')" -ge 1 ]
}
expect_true "SIGTERM with a hanging refresh: the request is in flight" -- wait_until 20 in_flight
serve_stop "$SPID" 40
expect_eq "SIGTERM with a hanging refresh: exit 0" 0 "$SERVE_RC"
if [ "$SERVE_RC" != timeout ] && awk -v s="$SERVE_STOP_S" 'BEGIN { exit !(s <= 15) }'; then
	pass "SIGTERM with a hanging refresh: gone within the 10 s grace + 5 s (${SERVE_STOP_S} s)"
else
	fail "SIGTERM with a hanging refresh: gone within the 10 s grace + 5 s" "${SERVE_STOP_S} s"
fi
expect_clean_log "hanging-refresh serve: no sanitizer report" "$(serve_log stop)"
run events_json --credential stop --kind refresh.outcome_unknown
expect_json "SIGTERM with a hanging refresh: recorded as outcome unknown (stopped before the answer)" \
    'length == 1 and (.[0].detail.description | test("stopped before"))'
expect_true "SIGTERM with a hanging refresh: the lease is released" -- \
    test -z "$(db_sql "SELECT lease_owner FROM credentials WHERE name = 'stop' AND lease_owner IS NOT NULL")"

# A plain invalid_grant (no unknown outcome before it) has no likely_cause.
mkrt plain 3600 '"behaviour":"invalid_grant"'
run ov cred refresh acme plain
run events_json --credential plain --kind credential.revoked
expect_json "plain invalid_grant: no likely_cause" 'length == 1 and (.[0].detail | has("likely_cause") | not)'
expect_ok "check: the vault is whole" -- ov check
