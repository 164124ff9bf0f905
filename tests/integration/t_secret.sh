#!/usr/bin/env bash
# t_secret.sh — client-secret rotation against the fake OAuth server:
# stage S2 while the provider still wants S1 (test fails, invalid_client,
# nothing recorded), switch the provider to S2 (test passes, still
# nothing recorded), promote (refresh works with S2), roll back (S1 is
# current again and the provider refuses it), discard; usage errors and
# exit codes; the audit events; and the canaries S1 and S2 appear in no
# output, log or database file.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"

rnd() { head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
R=$(rnd)
S1=CANARY-s1-$R-$(rnd)
S2=CANARY-s2-$R-$(rnd)
S3=CANARY-s3-$R-$(rnd)
SEC=$TMP/secrets	# plaintext lives here, outside $CAP
mkdir -m 700 "$SEC"
secret_file "$SEC/s1" "$S1"
secret_file "$SEC/s2" "$S2"
secret_file "$SEC/s3" "$S3"

fake_start
setup_vault
expect_ok "setup: org acme" -- ov org add acme
fake_put cc1 "{\"client_secret\":\"$S1\",\"lifetime\":3600}" || exit 1
expect_ok "setup: cred put acme/cc1 with S1" -- ov cred put acme cc1 --provider genesys \
    --token-url "$FAKE_URL/oauth/token" --client-id cc1 --secret-file "$SEC/s1" --scope "a b"
expect_ok "setup: a first refresh with S1 works" -- ov cred refresh acme cc1
# token_now NAME: `ov token acme cc1` → $TOKEN.  Its stdout, an access
# token by design, leaves $CAP (which the canary greps read).
token_now() {
	expect_ok "$1" -- ov token acme cc1
	TOKEN=$(cat "$OUT")
	mv "$OUT" "$TMP/misc/token.$NCAP"
}
token_now "setup: token"
AT1=$TOKEN
expect_eq "setup: the token is the fake's first" "at-cc1-1" "$AT1"

# show_json: `cred show --json` of acme/cc1 into $OUT.
show_json() {
	run ov cred show acme "${1:-cc1}" --json
}
# nevents [audit-events options]: how many events match.
nevents() {
	events_json "$@" | jq length
}
nrefresh_events() {
	events_json --credential cc1 | jq '[.[] | select(.kind | startswith("refresh."))] | length'
}
last_status() {
	fake_requests cc1 | jq '.[-1].status'
}
# expect_unrecorded WHEN: the tests so far recorded nothing: the same
# access token, credential and events as when show-before was taken.
expect_unrecorded() {
	token_now "$1: token still works"
	expect_eq "$1: the current access token is untouched" "$AT1" "$TOKEN"
	show_json
	expect_eq "$1: the credential is unchanged (status, deadlines, errors)" \
	    "$(cat "$TMP/misc/show-before")" "$(cat "$OUT")"
	expect_eq "$1: no event recorded" "$EV_BEFORE" "$(nevents)"
	expect_eq "$1: no refresh.* event" "$RF_BEFORE" "$(nrefresh_events)"
}

# --- stage ----------------------------------------------------------------------
expect_ok "stage S2 from stdin" -- ov secret stage acme cc1 --secret-file - <"$SEC/s2"
expect_stdout_contains "stage says what it did" "acme/cc1: pending client secret staged"
show_json
expect_json "cred show: has_pending_secret after stage" '.has_pending_secret == true'
run events_json --kind secret.staged
expect_json "event secret.staged names versions (2, none replaced)" \
    'length == 1 and .[0].credential == "cc1" and .[0].detail.version == 2
     and .[0].detail.replaced_pending == null'

# --- test while the provider still wants S1 ---------------------------------------
show_json
cp "$OUT" "$TMP/misc/show-before"
EV_BEFORE=$(nevents)
RF_BEFORE=$(nrefresh_events)
ISSUED_BEFORE=$(fake_field cc1 .access_tokens_issued)
expect_exit 5 "test: the provider refuses S2: exit 5" -- ov secret test acme cc1
expect_stdout_contains "test: prints invalid_client" "secret test acme/cc1: invalid_client"
expect_exit 5 "test --json: exit 5" -- ov -v -v secret test acme cc1 --json
expect_json "test --json: outcome invalid_client, works false, http 401" \
    '.outcome == "invalid_client" and .works == false and .http_status == 401
     and .error == "invalid_client" and .org == "acme" and .credential == "cc1"'
expect_stderr_contains "test -v -v: logs the outcome" "secret test org=acme credential=cc1 outcome=invalid_client"
expect_true "test: the fake answered 401 with a client_credentials grant" -- \
    jq -e '.[-1].status == 401 and .[-1].grant_type == "client_credentials" and .[-1].auth_method == "basic"' \
    <<<"$(fake_requests cc1)"
expect_unrecorded "failed test"

# --- the provider switches to S2 ----------------------------------------------------
fake_patch cc1 "{\"client_secret\":\"$S2\"}"
expect_ok "test: the provider takes S2: exit 0" -- ov secret test acme cc1
expect_stdout_contains "test: prints ok" "secret test acme/cc1: ok"
expect_ok "test --json: exit 0" -- ov secret test acme cc1 --json
expect_json "test --json: outcome ok, works, http 200" \
    '.outcome == "ok" and .works == true and .http_status == 200 and .error == ""'
expect_stdout_lacks "test --json: no access token in the output" "at-cc1-"
expect_eq "test: the fake issued two tokens for the tests" \
    "$((ISSUED_BEFORE + 2))" "$(fake_field cc1 .access_tokens_issued)"
expect_unrecorded "passing test"
# (A `cred refresh` here would promote S2 itself, as serve does: the
# automatic switch; t_import_safe.sh tests it.  This part is the manual
# protocol.)

# --- promote ------------------------------------------------------------------------
expect_ok "promote" -- ov secret promote acme cc1 --json
expect_json "promote: nothing pending, active again, due now" \
    '.has_pending_secret == false and .status == "active" and .next_refresh_at == null
     and .consecutive_failures == 0'
run events_json --kind secret.promoted
expect_json "event secret.promoted: current 2, previous 1, status_before active" \
    'length == 1 and .[0].detail.current == 2 and .[0].detail.previous == 1
     and .[0].detail.deleted == null and .[0].detail.status_before == "active"'
OK_BEFORE=$(fake_field cc1 .successes)
expect_ok "cred refresh after promote: ok" -- ov cred refresh acme cc1 --json
expect_json "cred refresh after promote: outcome ok, active" '.outcome == "ok" and .status == "active"'
expect_eq "the fake counted one more success (it takes only S2)" \
    "$((OK_BEFORE + 1))" "$(fake_field cc1 .successes)"
expect_eq "the fake answered that refresh 200" 200 "$(last_status)"
token_now "token after promote"
expect_true "token after promote: a new access token" -- test "$TOKEN" != "$AT1"

# --- rollback -------------------------------------------------------------------------
expect_ok "rollback" -- ov secret rollback acme cc1
expect_stdout_contains "rollback says what it did" "acme/cc1: rolled back to the previous client secret"
run events_json --kind secret.rolled_back
expect_json "event secret.rolled_back: current 1, previous 2" \
    'length == 1 and .[0].detail.current == 1 and .[0].detail.previous == 2'
expect_exit 5 "cred refresh after rollback: S1 is refused (exit 5)" -- ov cred refresh acme cc1 --json
expect_json "cred refresh after rollback: invalid_client" \
    '.outcome == "invalid_client" and .status == "invalid_client"'
expect_eq "the fake answered that refresh 401" 401 "$(last_status)"
expect_ok "rollback again swaps back to S2" -- ov secret rollback acme cc1 --json
expect_json "rollback again: active and due" '.status == "active" and .next_refresh_at == null'
expect_ok "cred refresh with S2 current again: ok" -- ov cred refresh acme cc1

# --- discard --------------------------------------------------------------------------
expect_ok "stage S3 (a file)" -- ov secret stage acme cc1 --secret-file "$SEC/s3" --json
expect_json "stage --json: the credential, pending" '.has_pending_secret == true and .name == "cc1"'
expect_ok "stage S1 over it (replaces the pending S3)" -- ov secret stage acme cc1 --secret-file "$SEC/s1"
run events_json --kind secret.staged
expect_json "second and third stage events: the replaced pending version is named" \
    'length == 3 and .[0].detail.replaced_pending == .[1].detail.version'
expect_ok "discard" -- ov secret discard acme cc1
expect_stdout_contains "discard says what it did" "acme/cc1: pending client secret discarded"
show_json
expect_json "discard: nothing pending" '.has_pending_secret == false'
run events_json --kind secret.discarded
expect_json "event secret.discarded names the version" 'length == 1 and (.[0].detail.version | type) == "number"'
expect_ok "cred refresh after discard: S2 is still current" -- ov cred refresh acme cc1

# --- errors ---------------------------------------------------------------------------
expect_fail 2 "promote with nothing pending: exit 2" "no pending client secret" -- ov secret promote acme cc1
expect_fail 2 "test with nothing pending: exit 2" "no pending client secret" -- ov secret test acme cc1
expect_fail 2 "discard with nothing pending: exit 2" "no pending client secret" -- ov secret discard acme cc1
fake_put cc2 "{\"client_secret\":\"$S1\"}" || exit 1
expect_ok "setup: cred put acme/cc2 (one secret, no previous)" -- ov cred put acme cc2 --provider genesys \
    --token-url "$FAKE_URL/oauth/token" --client-id cc2 --secret-file "$SEC/s1"
expect_fail 2 "rollback without a previous secret: exit 2" "no previous client secret" -- \
    ov secret rollback acme cc2
expect_fail 2 "stage on an unknown credential: exit 2" "" -- ov secret stage acme nope --secret-file "$SEC/s2"
expect_fail 2 "stage in an unknown org: exit 2" "" -- ov secret stage nope cc1 --secret-file - <"$SEC/s2"
expect_fail 2 "promote of an unknown credential: exit 2" "" -- ov secret promote acme nope
expect_fail 2 "test of an unknown credential: exit 2" "" -- ov secret test acme nope
expect_fail 2 "rollback in an unknown org: exit 2" "" -- ov secret rollback nope cc1
expect_fail 2 "discard of an unknown credential: exit 2" "" -- ov secret discard acme nope
expect_fail 1 "secret without a command: exit 1" "command" -- ov secret
expect_fail 1 "unknown secret command: exit 1" "unknown command" -- ov secret rotate acme cc1
expect_fail 1 "stage without --secret-file: exit 1" "secret-file" -- ov secret stage acme cc1
expect_fail 1 "stage without NAME: exit 1" "ORG and NAME" -- ov secret stage acme --secret-file "$SEC/s2"
expect_fail 1 "promote with too many arguments: exit 1" "ORG and NAME" -- ov secret promote acme cc1 extra
expect_fail 1 "--secret-file on test: exit 1" "only for" -- ov secret test acme cc1 --secret-file "$SEC/s2"
expect_fail 1 "an unknown option: exit 1" "unknown option" -- ov secret promote acme cc1 --force
expect_fail 1 "an abbreviated option is refused: exit 1" "unknown option" -- \
    ov secret stage acme cc1 --secret "$SEC/s2"
expect_fail 1 "stage of an empty secret: exit 1" "" -- ov secret stage acme cc1 --secret-file - </dev/null
expect_fail 2 "stage from a missing file: exit 2" "" -- ov secret stage acme cc1 --secret-file "$SEC/none"
show_json
expect_json "failed stages left nothing pending" '.has_pending_secret == false'
expect_ok "secret --help: exit 0" -- ov secret --help
expect_stdout_contains "secret --help explains the protocol" "stage -> test -> promote"
expect_ok "secret stage --help: exit 0" -- ov secret stage --help
expect_stdout_contains "secret stage --help lists the exit codes" "Exit codes:"
expect_ok "orgvault --help lists secret" -- ov --help
expect_stdout_contains "orgvault --help lists secret" "secret "

# A refresh-token credential: a test would rotate its refresh token.
fake_put rt1 "{\"client_secret\":\"$S1\",\"refresh_token\":\"rt-seed-$R\"}" || exit 1
secret_file "$SEC/rt" "rt-seed-$R"
expect_ok "setup: a refresh_token credential" -- ov cred put acme rt1 --provider genesys \
    --token-url "$FAKE_URL/oauth/token" --client-id rt1 --secret-file "$SEC/s1" \
    --grant refresh_token --refresh-token-file "$SEC/rt"
expect_ok "stage on a refresh_token credential" -- ov secret stage acme rt1 --secret-file "$SEC/s2"
expect_fail 1 "test of a refresh_token credential: exit 1" "client_credentials" -- \
    ov secret test acme rt1
expect_eq "…and no request was sent" 0 "$(fake_requests rt1 | jq length)"

expect_ok "audit verify: the chain is whole" -- ov audit verify

# --- canaries -------------------------------------------------------------------------
PAT=$TMP/patterns
{
	printf '%s\n' "$S1" "$S2" "$S3"
	for c in cc1 cc2; do
		printf '%s' "$c:$S1" | base64 -w0; echo
		printf '%s' "$c:$S2" | base64 -w0; echo
		n=$(fake_field "$c" .access_tokens_issued)
		for ((i = 1; i <= n; i++)); do
			echo "at-$c-$i"
		done
	done
} | sort -u | grep -v '^$' >"$PAT"
cp "$DIR/orgvault.db" "$TMP/misc/control.db"
printf '\001%s\002' "$S2" >>"$TMP/misc/control.db"
expect_true "control: S2 planted in a copy of the database is found" -- \
    grep -aqF -f "$PAT" "$TMP/misc/control.db"
# leaks FILE...: the files that hold a pattern (none: empty).
leaks() {
	grep -alF -f "$PAT" -- "$@" 2>/dev/null
}
expect_eq "no secret or test token in any CLI stdout/stderr ($(ls "$CAP" | wc -l) captures)" "" \
    "$(leaks "$CAP"/*)"
expect_eq "no secret in orgvault.db, -wal, -shm" "" "$(leaks "$DB" "$DB-wal" "$DB-shm" "$DB-journal")"
expect_eq "no secret anywhere in the data directory" "" \
    "$(leaks $(find "$DIR" -type f ! -name master.key))"
expect_eq "no secret in the fake's request log" "" "$(leaks "$TMP/misc/fake-main.log")"
