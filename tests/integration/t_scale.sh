#!/usr/bin/env bash
# t_scale.sh — 10 000 orgs x 2 credentials through one import; list,
# spot-check and verify them all.  Timings are printed, never asserted.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# On PostgreSQL 4 000 orgs: its import costs a round trip per statement
# (about 4 ms a line here), and make test-pg has 10 minutes for the
# whole suite; SCALE_NORGS sets it either way.
if on_pg; then NORGS=${SCALE_NORGS:-4000}; else NORGS=${SCALE_NORGS:-10000}; fi
# The last org (its index % 5 == 4 when NORGS is a multiple of 5: a
# region given as a domain), one in the middle, one elsewhere.
LAST=$(printf '%05d' $((NORGS - 1)))
MID=$(printf '%05d' $((NORGS / 2)))
SOME=$(printf '%05d' $((NORGS * 7777 / 10000)))
setup_vault

# Even orgs' cc-a are genesys (regions rotate), cc-b servicenow; client ids
# are distinct: gen-00042-a, sn-00042-b.
awk -v n="$NORGS" 'BEGIN {
	split("us_east_1 eu_west_1 ap_southeast_2 us-west-2 mypurecloud.de", r, " ")
	for (i = 0; i < n; i++) {
		o = sprintf("org-%05d", i)
		printf "{\"org\":\"%s\",\"org_name\":\"Org %d\",\"external_id\":\"ext-%05d\",\"name\":\"cc-a\",\"provider\":\"genesys\",\"region\":\"%s\",\"client_id\":\"gen-%05d-a\",\"client_secret\":\"secret-%05d-a\",\"scope\":\"users:read analytics\"}\n", o, i, i, r[i % 5 + 1], i, i
		printf "{\"org\":\"%s\",\"name\":\"cc-b\",\"provider\":\"servicenow\",\"instance\":\"inst%05d\",\"client_id\":\"sn-%05d-b\",\"client_secret\":\"secret-%05d-b\",\"grant\":\"refresh_token\",\"refresh_token\":\"rt-%05d\"}\n", o, i, i, i, i
	}
}' >"$TMP/import.jsonl"
expect_eq "generated 2 x $NORGS lines" $((2 * NORGS)) "$(wc -l <"$TMP/import.jsonl")"

t0=$(date +%s.%N)
expect_ok "import of $((2 * NORGS)) lines" -- ov import "$TMP/import.jsonl" --json
echo "# import of $((2 * NORGS)) credentials took $(elapsed_since "$t0")s (informative)"
expect_json "import counts" \
    '.lines == $l and .orgs_created == $n and .credentials_created == $l and .credentials_updated == 0' \
    --argjson n "$NORGS" --argjson l $((2 * NORGS))

t0=$(date +%s.%N)
expect_ok "cred list --json" -- ov cred list --json
echo "# cred list of $((2 * NORGS)) took $(elapsed_since "$t0")s (informative)"
expect_json "cred list has $((2 * NORGS)) rows" 'length == $l' --argjson l $((2 * NORGS))
expect_json "client ids are distinct" '(map(.client_id) | unique | length) == length'
expect_json "no secret in the listing" 'all(.[]; (has("client_secret") or has("refresh_token")) | not)'
expect_json "org-00042/cc-b is the servicenow one" \
    '.[] | select(.org == "org-00042" and .name == "cc-b") |
     .client_id == "sn-00042-b" and .provider == "servicenow" and .region == "inst00042"
     and .token_url == "https://inst00042.service-now.com/oauth_token.do"
     and .auth == "client_secret_post" and .grant == "refresh_token" and .has_refresh_token == true'
expect_json "org-00042/cc-a is genesys ap_southeast_2" \
    '.[] | select(.org == "org-00042" and .name == "cc-a") |
     .client_id == "gen-00042-a" and .region == "ap_southeast_2"
     and .token_url == "https://login.mypurecloud.com.au/oauth/token"
     and .expected_scope == "users:read analytics" and .grant == "client_credentials"'
expect_json "org-$LAST/cc-a (region given as a domain) is eu_central_1" \
    '.[] | select(.org == "org-\($n)" and .name == "cc-a") | .client_id == "gen-\($n)-a" and .region == "eu_central_1"' \
    --arg n "$LAST"
expect_json "org-00003/cc-a (region given as us-west-2) is us_west_2" \
    '.[] | select(.org == "org-00003" and .name == "cc-a") | .region == "us_west_2"'
expect_json "half are genesys, half servicenow" \
    '(map(select(.provider == "genesys")) | length) == $n and (map(select(.provider == "servicenow")) | length) == $n' \
    --argjson n "$NORGS"
expect_json "all active" 'all(.[]; .status == "active")'

expect_ok "cred list ORG at scale" -- ov cred list "org-$MID" --json
expect_json "org-$MID has cc-a and cc-b" 'map(.name) == ["cc-a", "cc-b"] and .[1].client_id == "sn-\($n)-b"' --arg n "$MID"
expect_ok "cred list --provider genesys at scale" -- ov cred list --provider genesys --json
expect_json "$NORGS genesys credentials" 'length == $n' --argjson n "$NORGS"
expect_ok "cred show at scale" -- ov cred show "org-$SOME" cc-b --json
expect_json "org-$SOME/cc-b" '.client_id == "sn-\($n)-b"' --arg n "$SOME"

expect_ok "org list --json" -- ov org list --json
expect_json "org list has $NORGS rows" 'length == $n' --argjson n "$NORGS"
expect_json "org-00042 name, external id, 2 credentials" \
    '.[] | select(.slug == "org-00042") | .name == "Org 42" and .external_id == "ext-00042" and .credentials == 2'
expect_json "orgs sorted by slug" '.[0].slug == "org-00000" and .[-1].slug == "org-\($n)"' --arg n "$LAST"

t0=$(date +%s.%N)
expect_ok "check at scale exits 0" -- ov check --json
echo "# check took $(elapsed_since "$t0")s (informative)"
expect_json "check ok, no failures" '.ok == true and .failures == []'
expect_json "check checked at least $((3 * NORGS)) secrets (2 client secrets + 1 refresh token per org)" \
    '.checked >= $n' --argjson n $((3 * NORGS))
expect_eq "secret rows in the database" $((3 * NORGS)) \
    "$(db_sql 'select count(*) from secret_versions')"

# 3 x NORGS events at least (org.created, 2 x credential.created).
LIM=$((3 * NORGS < 10000 ? 3 * NORGS : 10000))
expect_ok "audit events at scale (limit $LIM)" -- ov audit events --json --limit "$LIM"
expect_json "$LIM newest events returned" 'length == $l and .[0].kind == "credential.created"' --argjson l "$LIM"
