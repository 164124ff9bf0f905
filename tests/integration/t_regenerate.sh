#!/usr/bin/env bash
# t_regenerate.sh — `secret regenerate` and `secret rotate-all` against the
# fake Genesys secret API (POST /api/v2/oauth/clients/{id}/secret on the
# fake's own host, which the token URL override points at):
#   - one credential: the provider's new secret is staged, tested, promoted
#     and refreshed with; the old one is dead; the events tell each step;
#   - refresh_token grant (no test), usage errors, unknown names;
#   - an admin token without oauth:client:edit (403), an API answering 500,
#     a reset after the request was sent (outcome unknown), a new secret
#     that does not work yet (it stays pending; secret test/promote later);
#   - regenerate while serve runs: no refresh with the dying secret;
#   - rotate-all --plan/--apply over 200 orgs with some failing and one org
#     without an admin credential, and its stop on a repeated failure;
#   - no secret (old or new) in any output, log or database file.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"

rnd() { head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
R=$(rnd)
S1=CANARY-s1-$R
SA=CANARY-admin-$R
SEC=$TMP/secrets
mkdir -m 700 "$SEC"
secret_file "$SEC/s1" "$S1"
secret_file "$SEC/sa" "$SA"
NORGS=${REGEN_NORGS:-200}

fake_start
setup_vault
expect_ok "setup: org acme" -- ov org add acme
fake_put adm "{\"client_secret\":\"$SA\",\"scope\":\"oauth:client:edit\"}" || exit 1
fake_put weak "{\"client_secret\":\"$SA\",\"scope\":\"oauth:client:view\"}" || exit 1
fake_put cc1 "{\"client_secret\":\"$S1\"}" || exit 1
# put NAME CLIENT SECRET-FILE [cred put options]
put() {
	local name=$1 client=$2 sf=$3
	shift 3
	expect_ok "setup: cred put acme/$name" -- ov cred put acme "$name" --provider genesys \
	    --token-url "$FAKE_URL/oauth/token" --client-id "$client" --secret-file "$sf" "$@"
}
put admin adm "$SEC/sa" --scope oauth:client:edit
put weak weak "$SEC/sa" --scope oauth:client:view
put cc1 cc1 "$SEC/s1" --scope "a b"
expect_ok "setup: a first refresh of cc1 with S1" -- ov cred refresh acme cc1
regens() { fake_field "$1" .secret_regenerations; }

# --- one credential, all steps ---------------------------------------------------------
expect_ok "regenerate acme/cc1 --admin-cred admin" -- \
    ov secret regenerate acme cc1 --admin-cred admin
expect_stdout_contains "... says it is done" "secret regenerate acme/cc1: done"
expect_eq "... the provider made one new secret" 1 "$(regens cc1)"
NEW1=$(fake_field cc1 .client_secret)
expect_true "... which is not S1" -- test "$NEW1" != "$S1"
run ov cred show acme cc1 --json
expect_json "... it is current: nothing pending, active, refreshed with it" \
    '.has_pending_secret == false and .status == "active"'
reqs=$(fake_requests cc1)
expect_eq "... the last token request used the new secret and got 200" "200" \
    "$(jq -r '.[-1].status' <<<"$reqs")"
expect_true "... the API call carried the admin's token (token_client adm)" -- \
    jq -e '[.[] | select(.path | startswith("/api/v2/oauth/clients/cc1/secret"))] |
        length == 1 and .[0].token_client == "adm" and .[0].status == 200' <<<"$reqs"
expect_ok "... a later refresh works (the vault holds the provider's secret)" -- \
    ov cred refresh acme cc1
run events_json --credential cc1
expect_json "events: secret.regenerated, staged, promoted, refresh.ok, in that order" \
    '[.[] | .kind] | reverse | . as $k |
     ($k | index("secret.regenerated")) < ($k | index("secret.promoted")) and
     ($k | index("secret.staged")) < ($k | index("secret.promoted")) and
     ($k | rindex("refresh.ok")) > ($k | index("secret.promoted"))'
expect_json "... secret.regenerated names the admin credential and the 200" \
    '[.[] | select(.kind == "secret.regenerated")][0] |
     .detail.admin_credential == "admin" and .detail.http_status == 200'

expect_ok "regenerate --json" -- ov secret regenerate acme cc1 --admin-cred admin --json
expect_json "... its report" '.state == "ok" and .step == "done" and .outcome == "ok"
    and .regenerated and .staged and .tested and .promoted and .duration_ms >= 0'
expect_eq "... a second new secret" 2 "$(regens cc1)"

# --- refresh_token grant: no test (it would rotate the refresh token) ----------------
fake_put rt1 "{\"client_secret\":\"$S1\",\"refresh_token\":\"rt-seed-$R\"}" || exit 1
secret_file "$SEC/rt" "rt-seed-$R"
put rt1 rt1 "$SEC/s1" --grant refresh_token --refresh-token-file "$SEC/rt"
expect_ok "regenerate a refresh_token credential" -- \
    ov secret regenerate acme rt1 --admin-cred admin --json
expect_json "... promoted and refreshed without a test" \
    '.state == "ok" and .tested == false and .promoted'
expect_eq "... the stored refresh token is the provider's newest" \
    "$(fake_field rt1 .current_refresh_token)" \
    "$(fake_requests rt1 | jq -r '[.[] | select(.status == 200 and .grant_type == "refresh_token")] | length | "rt-rt1-\(.)"')"
expect_ok "... and the next refresh works" -- ov cred refresh acme rt1

# --- usage and unknown names ------------------------------------------------------------
expect_fail 1 "no --admin-cred: usage" "admin-cred" -- ov secret regenerate acme cc1
expect_fail 1 "one argument: usage" "ORG and NAME" -- ov secret regenerate acme --admin-cred admin
expect_fail 1 "the admin credential itself: refused" "own secret" -- \
    ov secret regenerate acme admin --admin-cred admin
expect_fail 2 "unknown credential: exit 2" "cred|nope" -- \
    ov secret regenerate acme nope --admin-cred admin
expect_fail 2 "unknown admin credential: exit 2" "nope" -- \
    ov secret regenerate acme cc1 --admin-cred nope
expect_fail 2 "unknown org: exit 2" "org|ghost" -- \
    ov secret regenerate ghost cc1 --admin-cred admin
fake_put sn1 "{\"client_secret\":\"$S1\"}" || exit 1
expect_ok "setup: a servicenow credential" -- ov cred put acme sn1 --provider servicenow \
    --token-url "$FAKE_URL/oauth_token.do" --client-id sn1 --secret-file "$SEC/s1"
expect_fail 1 "servicenow credential: refused (Genesys only)" "Genesys" -- \
    ov secret regenerate acme sn1 --admin-cred admin
expect_ok "secret regenerate --help" -- ov secret regenerate --help
expect_stdout_contains "... explains the steps" "oauth:client:edit"
expect_eq "no regeneration came from any of those" 2 "$(regens cc1)"

# --- failures: nothing changes, or the new secret stays pending --------------------------
before=$(regens cc1)
expect_fail 5 "admin without oauth:client:edit: exit 5, says so" "lacks oauth:client:edit" -- \
    ov secret regenerate acme cc1 --admin-cred weak
expect_stderr_contains "... and that the current secret is unchanged" "current secret is unchanged"
expect_eq "... no new secret at the provider" "$before" "$(regens cc1)"
expect_ok "... cc1 still refreshes with its secret" -- ov cred refresh acme cc1
run events_json --credential cc1 --kind secret.regenerate_failed
expect_json "... event secret.regenerate_failed with http 403" \
    '.[0].detail.http_status == 403 and .[0].detail.admin_credential == "weak"'

fake_patch cc1 '{"api_behaviour":"500"}'
expect_fail 5 "API answers 500: exit 5, current secret unchanged" "unchanged" -- \
    ov secret regenerate acme cc1 --admin-cred admin
expect_ok "... cc1 still refreshes" -- ov cred refresh acme cc1
fake_patch cc1 '{"api_behaviour":"reset"}'
expect_fail 5 "API resets after the request was sent: outcome unknown, regenerate again" \
    "regenerate again" -- ov secret regenerate acme cc1 --admin-cred admin
run events_json --credential cc1 --kind secret.regenerate_failed
expect_json "... its event says the secret may have been replaced" \
    '.[0].detail.outcome == "outcome_unknown" and (.[0].detail.note | test("regenerate again"))'
fake_patch cc1 '{"api_behaviour":"ok"}'

# The provider makes the secret but refuses it for a while.
fake_patch cc1 '{"behaviour":"invalid_client"}'
t0=$(date +%s)
expect_fail 5 "new secret refused by the token endpoint: exit 5, stays pending" "stays pending" -- \
    ov secret regenerate acme cc1 --admin-cred admin
expect_true "... after 3 tries, a second or two apart ($(($(date +%s) - t0)) s)" -- \
    test "$(fake_requests cc1 | jq '[.[-3:][] | select(.status == 401)] | length')" -eq 3
run ov cred show acme cc1 --json
expect_json "... the new secret is pending" '.has_pending_secret == true'
fake_patch cc1 '{"behaviour":"ok"}'
expect_ok "... secret test now works" -- ov secret test acme cc1
expect_ok "... promote" -- ov secret promote acme cc1
expect_ok "... and refresh with it" -- ov cred refresh acme cc1

# --- regenerate while serve runs --------------------------------------------------------
serve_start regen --listen none || exit 1
mk_short() {
	fake_put "$1" "{\"client_secret\":\"$S1\",\"lifetime\":6}" || exit 1
	put "$1" "$1" "$SEC/s1" --refresh-at 0.1
}
mk_short hot
issued_3() { [ "$(fake_field hot .access_tokens_issued)" -ge 3 ]; }
expect_true "serve: hot is refreshed about every second" -- wait_until 10 issued_3
expect_ok "serve: regenerate hot while serve refreshes it" -- \
    ov secret regenerate acme hot --admin-cred admin
nap 3
run events_json --credential hot
expect_json "serve: no refresh of hot ever met invalid_client" \
    '[.[] | select(.kind == "refresh.invalid_client")] | length == 0'
expect_true "serve: serve goes on refreshing hot with the new secret" -- \
    test "$(fake_requests hot | jq '[.[-3:][] | select(.status == 200)] | length')" -eq 3
serve_stop "$SERVE_PID" 20
expect_eq "serve: stops with exit 0" 0 "$SERVE_RC"

# --- rotate-all over $NORGS orgs ------------------------------------------------------------
# Orgs o001..o$NORGS, each with admin (client a<i>) and main (client m<i>);
# every 40th org's admin lacks the permission; o007 has no admin at all.
bad() { [ $(($1 % 40)) -eq 0 ]; }
: >"$SEC/import.jsonl"
for ((i = 1; i <= NORGS; i++)); do
	o=$(printf 'o%03d' "$i")
	scope=oauth:client:edit
	bad "$i" && scope=oauth:client:view
	fake_put "a$i" "{\"client_secret\":\"$SA\",\"scope\":\"$scope\"}" >/dev/null || exit 1
	fake_put "m$i" "{\"client_secret\":\"$S1\"}" >/dev/null || exit 1
	[ "$i" -ne 7 ] && printf '{"org":"%s","name":"admin","provider":"genesys","token_url":"%s","client_id":"a%d","client_secret":"%s","scope":"%s"}\n' \
	    "$o" "$FAKE_URL/oauth/token" "$i" "$SA" "$scope" >>"$SEC/import.jsonl"
	printf '{"org":"%s","name":"main","provider":"genesys","token_url":"%s","client_id":"m%d","client_secret":"%s"}\n' \
	    "$o" "$FAKE_URL/oauth/token" "$i" "$S1" >>"$SEC/import.jsonl"
done
expect_ok "rotate-all: import $NORGS orgs" -- ov import "$SEC/import.jsonl"
nbad=$((NORGS / 40))
ORGS=$(seq -f 'o%03g' 1 "$NORGS" | paste -sd,)
seq0=$(($(fake_stats | jq .next_seq) - 1))
expect_ok "rotate-all --plan" -- ov secret rotate-all --provider genesys --admin-cred admin \
    --org "$ORGS" --plan --json
expect_json "... plans every main but o007's, skips o007, rotates no admin" \
    ".mode == \"plan\" and .counts.planned == $((NORGS - 1)) and .counts.skipped == 1 and
     ([.results[] | select(.state == \"skipped\")][0].org == \"o007\") and
     ([.results[] | select(.credential == \"admin\")] | length == 0)"
expect_eq "... and changes nothing at the provider" 0 \
    "$(fake_requests "" "$seq0" | jq '[.[] | select(.path | startswith("/api/"))] | length')"
t0=$(date +%s)
expect_exit 5 "rotate-all --apply: exit 5 (some fail)" -- \
    ov secret rotate-all --provider genesys --admin-cred admin --org "$ORGS" --concurrency 8 \
    --apply --json
echo "# rotate-all over $NORGS orgs took $(($(date +%s) - t0)) s (informative)"
expect_json "... $((NORGS - 1 - nbad)) ok, $nbad failed at the call with 403, o007 skipped" \
    ".counts.ok == $((NORGS - 1 - nbad)) and .counts.failed == $nbad and .counts.skipped == 1
     and .counts.not_started == 0 and .stopped == null and
     ([.results[] | select(.state == \"failed\")] | all(.step == \"call\" and .http_status == 403))"
cp "$OUT" "$TMP/misc/apply.json"
okcount=0
for ((i = 1; i <= NORGS; i++)); do
	want=1
	{ bad "$i" || [ "$i" -eq 7 ]; } && want=0
	[ "$(regens "m$i")" -eq "$want" ] && okcount=$((okcount + 1))
done
expect_eq "... the provider regenerated exactly the ok ones" "$NORGS" "$okcount"
expect_eq "... each ok one was refreshed with its new secret (200 after the call)" \
    "$((NORGS - 1 - nbad))" \
    "$(fake_requests | jq '[group_by(.client_id)[] | select(.[0].client_id | test("^m")) |
        select(any(.path | startswith("/api/"))) | select(.[-1].status == 200 and .[-1].path == "/oauth/token")] | length')"
expect_ok "rotate-all: the text report of a plan" -- ov secret rotate-all --provider genesys \
    --admin-cred admin --org o001,o002 --plan
expect_stdout_contains "... a line per credential and a summary" "rotate-all plan: 2 to rotate, 0 skipped"
expect_fail 1 "rotate-all: an unknown region is refused" "region" -- \
    ov secret rotate-all --provider genesys --admin-cred admin --region nowhere --plan
expect_fail 2 "rotate-all: an unknown org is refused" "ghost" -- \
    ov secret rotate-all --provider genesys --admin-cred admin --org o001,ghost --plan
expect_fail 1 "rotate-all: servicenow has no secret API" "Genesys" -- \
    ov secret rotate-all --provider servicenow --admin-cred admin --plan
expect_fail 1 "rotate-all: neither --plan nor --apply" "plan" -- \
    ov secret rotate-all --provider genesys --admin-cred admin
expect_fail 1 "rotate-all: --concurrency 0" "concurrency" -- \
    ov secret rotate-all --provider genesys --admin-cred admin --concurrency 0 --plan

# The same failure again and again: rotate-all stops starting new ones.
for i in $(seq 101 120); do
	fake_patch "m$i" '{"api_behaviour":"500"}' >/dev/null
done
expect_exit 5 "rotate-all: every call failing alike: exit 5" -- \
    ov secret rotate-all --provider genesys --admin-cred admin --concurrency 2 --stop-after 3 \
    --org "$(seq -f 'o%03g' 101 120 | paste -sd,)" --apply --json
expect_json "... stops after 3 alike (at most 3 + 1 in flight), the rest not started" \
    '.counts.failed >= 3 and .counts.failed <= 4 and .counts.not_started == 20 - .counts.failed
     - .counts.ok and .counts.ok == 0 and (.stopped | test("call:server_error.*3 times"))
     and ([.results[] | select(.state == "not_started")] | all(.message | test("not started")))'
expect_eq "... the provider saw only those calls" "$(jq .counts.failed "$OUT")" \
    "$(fake_requests | jq '[.[] | select(.path | test("^/api/v2/oauth/clients/m1(0[1-9]|1[0-9]|20)/secret$")) | select(.status == 500)] | length')"

expect_ok "audit verify: the chain is whole" -- ov audit verify

# --- canaries: no secret, old or new, anywhere ----------------------------------------------
PAT=$TMP/patterns
{
	printf '%s\n' "$S1" "$SA"
	fake_requests >/dev/null
	curl -sS "$FAKE_URL/_admin/clients" | jq -r '.[].client_secret'
	# the secrets the provider replaced are not in its list any more:
	# the canary of the old ones is S1, the same for every client
} | sort -u | grep -v '^$' >"$PAT"
expect_true "control: the patterns hold the regenerated secrets ($(wc -l <"$PAT"))" -- \
    test "$(wc -l <"$PAT")" -ge $((NORGS - nbad))
leaks() {
	grep -alF -f "$PAT" -- "$@" 2>/dev/null
}
expect_eq "no secret in any CLI stdout/stderr ($(ls "$CAP" | wc -l) captures)" "" \
    "$(leaks "$CAP"/*)"
expect_eq "no secret in the database files" "" "$(leaks "$DB" "$DB-wal" "$DB-shm")"
expect_eq "no secret in serve's log or the fake's request log" "" \
    "$(leaks "$(serve_log regen)" "$TMP"/misc/fake-*.log)"
