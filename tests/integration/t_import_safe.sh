#!/usr/bin/env bash
# t_import_safe.sh — imports that never destroy a rotated token, and one
# refresh path (issue 10, findings 5 and 6).
#
#   - a refresh-token credential imported, rotated twice, then the same
#     file imported again: refused (exit 3), nothing changed, the next
#     refresh presents the newest token (the provider sees no replay);
#   - --replace-secrets with the rotated-away token: still refused (a
#     replay), by import, cred put and the API alike;
#   - an unchanged file imported again: every credential unchanged (no new
#     secret version, not made due);
#   - --dry-run [--json] says per line what would change;
#   - export writes every org and credential without a secret, and
#     importing the export changes nothing (a round trip);
#   - cred refresh on a credential whose current secret is refused and
#     whose pending one works promotes the pending one, as serve does.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

SECRET=cs-imp-$RANDOM$RANDOM
fake_start
setup_vault
fake_put acme-rt "$(jq -cn --arg s "$SECRET" '{client_secret: $s, refresh_token: "rt-seed-imp", rotate_refresh: true}')"
fake_put acme-cc "$(jq -cn --arg s "$SECRET" '{client_secret: $s}')"
fake_put beta-cc "$(jq -cn --arg s "$SECRET" '{client_secret: $s}')"
F=$TMP/onboard.jsonl
{
	jq -cn --arg u "$FAKE_URL/token" --arg s "$SECRET" '{org: "acme", org_name: "Acme",
	    name: "rt", provider: "oauth2", token_url: $u, client_id: "acme-rt",
	    client_secret: $s, grant: "refresh_token", refresh_token: "rt-seed-imp"}'
	jq -cn --arg u "$FAKE_URL/token" --arg s "$SECRET" '{org: "acme", name: "cc",
	    provider: "oauth2", token_url: $u, client_id: "acme-cc", client_secret: $s,
	    scope: "read"}'
	jq -cn --arg u "$FAKE_URL/token" --arg s "$SECRET" '{org: "beta", org_name: "Beta",
	    external_id: "b-1", name: "cc", provider: "oauth2", token_url: $u,
	    client_id: "beta-cc", client_secret: $s}'
} >"$F"
expect_ok "import: the onboarding file" -- ov import "$F"
expect_stdout_contains "import: 3 created" "3 credential(s) created"
for c in "acme rt" "acme cc" "beta cc"; do
	expect_ok "setup: refresh $c" -- ov cred refresh $c
done
expect_ok "rotate: a second refresh of acme/rt" -- ov cred refresh acme rt
expect_eq "rotate: the provider's current refresh token is rt-acme-rt-2" rt-acme-rt-2 \
    "$(fake_field acme-rt .current_refresh_token)"
sum() {
	db_sql "SELECT count(*), coalesce(max(id), 0) FROM secret_versions;
	    SELECT group_concat(coalesce(next_refresh_at, 0)) FROM credentials"
}
before=$(sum)

# --- the same file again: refused, nothing changes -------------------------------------
expect_exit 3 "re-import: refused (exit 3)" -- ov import "$F"
expect_stderr_contains "re-import: line 1 is listed as refused" "line 1 refused"
expect_stderr_contains "re-import: ... because it is a rotated-away refresh token" "rotated away"
expect_stderr_contains "re-import: nothing was imported" "nothing was imported"
expect_eq "re-import: no secret version added, nothing made due" "$before" "$(sum)"
expect_exit 3 "re-import --replace-secrets: the rotated-away token is still refused" -- \
    ov import --replace-secrets "$F"
expect_stderr_contains "re-import --replace-secrets: says replay" "replay"
expect_eq "re-import --replace-secrets: nothing changed" "$before" "$(sum)"
secret_file "$TMP/seed" rt-seed-imp
expect_fail 3 "cred put: the rotated-away refresh token is refused" 'rotated away' -- \
    ov cred put acme rt --refresh-token-file "$TMP/seed"
expect_ok "rotate: the next refresh works" -- ov cred refresh acme rt
expect_eq "rotate: ... presenting the newest token" rt-acme-rt-2 \
    "$(fake_requests acme-rt | jq -r 'last | .refresh_token')"
expect_eq "rotate: the provider saw no replay" 0 "$(fake_field acme-rt .stale_presentations)"
expect_eq "rotate: the family is alive" false "$(fake_field acme-rt .family_revoked)"

# --- an unchanged file: nothing changes ------------------------------------------------
grep -v '"rt"' "$F" >"$TMP/cc-only.jsonl"
before=$(sum)
expect_ok "unchanged: import of the same client-credentials lines" -- \
    ov import "$TMP/cc-only.jsonl" --json
expect_json "unchanged: 2 credentials unchanged, none updated" \
    '.credentials_unchanged == 2 and .credentials_updated == 0 and .credentials_created == 0'
expect_eq "unchanged: no new secret version, nothing made due" "$before" "$(sum)"
run events_json --kind credential.updated
expect_json "unchanged: the events say the secrets were unchanged" \
    'map(select(.detail.secrets_unchanged == ["client_secret"])) | length == 2'

# --- a different secret: refused without --replace-secrets ------------------------------
sed "s/$SECRET/$SECRET-new/" "$TMP/cc-only.jsonl" >"$TMP/new-secret.jsonl"
expect_exit 3 "new secret: refused without --replace-secrets" -- ov import "$TMP/new-secret.jsonl"
expect_stderr_contains "new secret: line 1 listed" "line 1 refused"
expect_stderr_contains "new secret: line 2 listed" "line 2 refused"
expect_stderr_contains "new secret: names the option" "--replace-secrets"
expect_eq "new secret: nothing changed" "$before" "$(sum)"
expect_exit 3 "dry run: the same refusals" -- ov import --dry-run --json "$TMP/new-secret.jsonl"
expect_json "dry run --json: one object per line, both refused" \
    'length == 2 and all(.action == "refused" and (.error | test("replace-secrets")))' --slurp
expect_ok "dry run with --replace-secrets: would replace" -- \
    ov import --dry-run --json --replace-secrets "$TMP/new-secret.jsonl"
expect_json "dry run --json: each would replace the client secret" \
    'length == 2 and all(.action == "updated" and .secrets_replaced == ["client_secret"])' --slurp
expect_eq "dry run: nothing changed" "$before" "$(sum)"
fake_patch acme-cc "$(jq -cn --arg s "$SECRET-new" '{client_secret: $s}')"
fake_patch beta-cc "$(jq -cn --arg s "$SECRET-new" '{client_secret: $s}')"
expect_ok "replace: import --replace-secrets" -- ov import --replace-secrets "$TMP/new-secret.jsonl"
expect_ok "replace: the new secret works" -- ov cred refresh acme cc

# --- export and the round trip -----------------------------------------------------------
expect_ok "export: to stdout" -- ov export
cp "$OUT" "$TMP/export.jsonl"
expect_json "export: 2 orgs then 3 credentials" \
    'length == 5 and (.[0:2] | map(.org)) == ["acme", "beta"] and (.[2:] | map(.name)) == ["cc", "rt", "cc"]' --slurp
expect_json "export: beta keeps its name and external id" \
    '.[1] == {org: "beta", org_name: "Beta", external_id: "b-1"}' --slurp
expect_json "export: import's field names, no secret" \
    '.[2:] | all(has("client_secret") or has("refresh_token") | not) and all(has("token_url") and has("client_id") and has("grant") and has("scope"))' --slurp
expect_false "export: no secret value anywhere" -- \
    grep -qE "$SECRET|rt-acme|rt-seed" "$TMP/export.jsonl"
before=$(sum)
expect_ok "round trip: import the export" -- ov import "$TMP/export.jsonl" --json
expect_json "round trip: nothing created or updated" \
    '.credentials_unchanged == 3 and .credentials_updated == 0 and .credentials_created == 0 and .orgs_created == 0 and .orgs_updated == 0'
expect_eq "round trip: no secret version added, nothing made due" "$before" "$(sum)"
expect_ok "export to a file" -- ov export "$TMP/export2.jsonl"
expect_eq "export to a file: mode 600" 600 "$(mode_of "$TMP/export2.jsonl")"
expect_true "export to a file: the same lines" -- cmp -s "$TMP/export.jsonl" "$TMP/export2.jsonl"
expect_fail 1 "export: an unknown option is a usage error" 'unknown option' -- ov export --bogus

# --- one refresh path: the CLI tries the pending secret ----------------------------------
secret_file "$TMP/next" "$SECRET-next"
expect_ok "pending: stage the next secret" -- ov secret stage acme cc --secret-file "$TMP/next"
fake_patch acme-cc "$(jq -cn --arg s "$SECRET-next" '{client_secret: $s}')"
expect_ok "pending: cred refresh with the current secret refused: ok" -- \
    ov cred refresh acme cc --json
expect_json "pending: outcome ok, nothing pending any more" \
    '.outcome == "ok" and .has_pending_secret == false and .status == "active"'
run events_json --credential cc --org acme
expect_json "pending: secret.promoted, and the refresh event says the pending one was tried" \
    '(map(select(.kind == "secret.promoted")) | length == 1) and (map(select(.kind == "refresh.ok"))[0].detail.pending_secret_tried == true)'
n=$(fake_requests acme-cc | jq length)
expect_ok "pending: the promoted secret is current (a second refresh)" -- ov cred refresh acme cc
expect_eq "pending: ... in one request" $((n + 1)) "$(fake_requests acme-cc | jq length)"
expect_false "no secret in any output" -- grep -rqaF -- "$SECRET" "$CAP"
