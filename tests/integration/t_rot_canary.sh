#!/usr/bin/env bash
# t_rot_canary.sh — secrets stay secret while tokens rotate.  Canary
# client secrets and refresh tokens for 3 credentials; `serve -v -v`
# refreshes and rotates them for ~10 s (with a few failures on the way).
# Afterwards no canary, no refresh token the fake issued or was shown,
# no access token it issued, and no Basic credential may appear in the
# serve log, in any CLI output (but `token`'s stdout, whose job is to
# print the access token), or in orgvault.db, -wal, -shm (also copied
# while serve ran).  Positive controls prove the greps can see them.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
db_log_statements
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"

rnd() { head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
R=$(rnd)
CID1=cid1-$R CID2=cid2-$R CID3=cid3-$R
CS1=CANARY-cs1-$R-$(rnd) CS2=CANARY-cs2-$R-$(rnd) CS3=CANARY-cs3-$R-$(rnd)
RT1=CANARY-rt1-$R-$(rnd) RT2=CANARY-rt2-$R-$(rnd)
RUN_S=${OV_CANARY_SECONDS:-10}

fake_start
setup_vault
expect_ok "setup: org acme" -- ov org add acme
fake_put "$CID1" "{\"client_secret\":\"$CS1\",\"lifetime\":2,\"refresh_token\":\"$RT1\"}" || exit 1
fake_put "$CID2" "{\"client_secret\":\"$CS2\",\"lifetime\":2,\"refresh_token\":\"$RT2\",\"script\":[\"ok\",\"500\",\"ok\",\"429\"],\"retry_after\":1}" || exit 1
fake_put "$CID3" "{\"client_secret\":\"$CS3\",\"lifetime\":2,\"script\":[\"ok\",\"garbage\",\"ok\",\"invalid_scope\"]}" || exit 1

secret_file "$TMP/cs1" "$CS1"
secret_file "$TMP/rt1" "$RT1"
expect_ok "setup: cred put cn1 (refresh grant, Basic, secrets from files)" -- ov cred put acme cn1 \
    --provider genesys --token-url "$FAKE_URL/oauth/token" --client-id "$CID1" \
    --secret-file "$TMP/cs1" --grant refresh_token --refresh-token-file "$TMP/rt1" --scope "a b"
secret_file "$TMP/rt2" "$RT2"
expect_ok "setup: cred put cn2 (servicenow, refresh grant, secret from stdin)" -- ov cred put acme cn2 \
    --provider servicenow --instance x --token-url "$FAKE_URL/oauth_token.do" --client-id "$CID2" \
    --secret-file - --grant refresh_token --refresh-token-file "$TMP/rt2" <<<"$CS2"
jq -cn --arg c "$CID3" --arg s "$CS3" --arg u "$FAKE_URL/token" \
    '{org: "acme", name: "cn3", provider: "oauth2", token_url: $u, client_id: $c,
      client_secret: $s, auth: "post", scope: "x"}' >"$TMP/import.jsonl"
expect_ok "setup: import cn3 (client credentials, post)" -- ov import "$TMP/import.jsonl"
rm -f "$TMP/import.jsonl" "$TMP/cs1" "$TMP/rt1" "$TMP/rt2"

TOKEN_OUTS=()	# captures whose stdout is an access token by design
serve_start canary -v -v || exit 1
SPID=$SERVE_PID
nap 3
# The CLI, while serve runs: reads, a manual refresh, token.
run ov cred show acme cn1 --json
run ov cred list --json
run ov cred refresh acme cn1 --json
run ov token acme cn1
TOKEN_OUTS+=("$OUT")
run ov token acme cn3 --json
TOKEN_OUTS+=("$OUT")
run events_json
nap $((RUN_S / 2))
mkdir -p "$TMP/midrun"
if on_pg; then
	# PostgreSQL's files (WAL, heap) and its server log, mid-run.
	while read -r f; do
		cp "$f" "$TMP/midrun/$(echo "$f" | tr / _)" 2>/dev/null
	done < <(db_files)
else
	for f in orgvault.db orgvault.db-wal orgvault.db-shm; do
		[ -e "$DIR/$f" ] && cp "$DIR/$f" "$TMP/midrun/$f"
	done
fi
nap $((RUN_S - RUN_S / 2))
serve_stop "$SPID" 30
expect_eq "serve -v -v: SIGTERM exits 0" 0 "$SERVE_RC"
LOG=$(serve_log canary)
expect_clean_log "serve: no sanitizer report" "$LOG"
if on_pg; then
	expect_true "the mid-run copy has PostgreSQL's WAL (the greps cover it)" -- \
	    sh -c "ls '$TMP/midrun' | grep -q pg_wal"
else
	expect_true "the mid-run copy has a WAL (the greps cover it)" -- test -s "$TMP/midrun/orgvault.db-wal"
fi

# The CLI after: every read-only command that shows credentials or events.
for c in "cred show acme cn1 --json" "cred show acme cn2" "cred show acme cn3 --json" \
    "cred list --json" "cred list" "audit events --json --limit 10000" "audit events" \
    "audit drift --json" "audit revocations --json" "audit revocations" "check" "check --json"; do
	# shellcheck disable=SC2086
	run ov $c
done
run ov -v -v cred refresh acme cn2 --json
run ov -v -v token acme cn2
TOKEN_OUTS+=("$OUT")

# --- what must not appear -------------------------------------------------------
PAT=$TMP/patterns
{
	printf '%s\n' "$CS1" "$CS2" "$CS3" "$RT1" "$RT2"
	for c in "$CID1" "$CID2" "$CID3"; do
		fake_client "$c" | jq -r '.current_refresh_token // empty'
		n=$(fake_field "$c" .access_tokens_issued)
		for ((i = 1; i <= n; i++)); do
			echo "at-$c-$i"
		done
	done
	fake_requests | jq -r '.[].refresh_token // empty'
	# The Basic credentials as sent (the ids and secrets need no escaping).
	printf '%s' "$CID1:$CS1" | base64 -w0; echo
	printf '%s' "$CID3:$CS3" | base64 -w0; echo
} | sort -u | grep -v '^$' >"$PAT"
nrt=$(grep -c '^rt-' "$PAT")
nat=$(grep -c '^at-' "$PAT")
if [ "$nrt" -ge 6 ] && [ "$nat" -ge 10 ]; then
	pass "serve rotated and refreshed: $nrt issued refresh tokens, $nat access tokens to look for"
else
	fail "serve rotated and refreshed enough to be a test" "$nrt refresh tokens, $nat access tokens"
fi
expect_true "cn2 went through a 500 and a 429 (failure paths logged too)" -- \
    jq -e 'map(.status) | index(500) != null and index(429) != null' <<<"$(fake_requests "$CID2")"

# Positive controls: grep -aF -f finds them where they are meant to be.
fake_requests >"$TMP/control.json"
expect_true "control: the patterns are found in the fake's own request log" -- \
    grep -aqF -f "$PAT" "$TMP/control.json"
cp "$DIR/orgvault.db" "$TMP/control.db"
printf '\001\002%s\003' "$RT1" >>"$TMP/control.db"
expect_true "control: a refresh token planted in a copy of the database is found" -- \
    grep -aqF -f "$PAT" "$TMP/control.db"
tok_hit=0
for f in "${TOKEN_OUTS[@]}"; do
	grep -aqF -f "$PAT" "$f" && tok_hit=$((tok_hit + 1))
done
expect_eq "control: every token stdout holds an issued access token" "${#TOKEN_OUTS[@]}" "$tok_hit"

# The checks.
leaks() {	# leaks FILE...: prints the files that hold a pattern
	local f
	for f in "$@"; do
		[ -e "$f" ] || continue
		if grep -aqF -f "$PAT" "$f"; then
			echo "$f: $(grep -aoF -f "$PAT" "$f" | sort -u | head -n 3 | tr '\n' ' ')"
		fi
	done
}
expect_eq "nothing secret in the serve log (-v -v)" "" "$(leaks "$LOG" "$TMP/serve-canary.out")"
cli=()
for f in "$CAP"/*; do
	skip=0
	for t in "${TOKEN_OUTS[@]}"; do
		[ "$f" = "$t" ] && skip=1
	done
	[ "$skip" -eq 0 ] && cli+=("$f")
done
expect_eq "nothing secret in any CLI stdout/stderr (${#cli[@]} captures)" "" "$(leaks "${cli[@]}")"
mapfile -t DBF < <(db_files)
expect_eq "nothing secret in the database's files (${#DBF[@]})" "" "$(leaks "${DBF[@]}")"
expect_eq "nothing secret in the mid-run copies of orgvault.db, -wal, -shm" "" \
    "$(leaks "$TMP"/midrun/*)"
expect_eq "nothing secret anywhere else in the data directory" "" \
    "$(leaks $(find "$DIR" -type f ! -name master.key))"
