#!/usr/bin/env bash
# t_audit_verify.sh — `audit verify` names the first broken link for a
# deleted, edited, inserted or reordered event (sqlite3 behind orgvault's
# back); `audit export` writes JSON lines that verify on their own and
# catch the same edits made to the export; GET /v1/audit/verify agrees.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

setup_vault
for o in a b c d e f; do
	expect_ok "setup: org $o" -- ov org add "$o"
done
on_pg || sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
snapshot
NEV=$(db_sql 'select max(id) from events')
expect_true "setup: at least 7 events" -- test "$NEV" -ge 7

# verify_broken NAME ID: audit verify exits 4 and names event ID first.
verify_broken() {
	expect_exit 4 "$1: audit verify exits 4" -- ov audit verify --json
	expect_json "$1: the first broken link is event $2" \
	    ".whole == false and .first_broken_id == $2"
}

expect_ok "whole chain: audit verify exits 0" -- ov audit verify --json
expect_json "whole chain: every event checked" ".whole == true and .checked == $NEV and .first_broken_id == null"
expect_ok "whole chain: text output" -- ov audit verify
expect_stdout_contains "whole chain: says so" "audit chain whole"

db_sql "update events set detail = '{\"name\":\"evil\"}' where id = 3"
verify_broken "event 3 edited" 3
restore
db_sql "delete from events where id = 4"
verify_broken "event 4 deleted" 5
restore
db_sql "update events set id = 100 where id = 5; update events set id = 5 where id = 6; update events set id = 6 where id = 100"
verify_broken "events 5 and 6 swapped" 5
restore
db_sql "insert into events (id, time_ms, actor, org, credential, kind, detail, oauth_error, outcome, hash) select $NEV + 1, time_ms, actor, org, credential, kind, detail, oauth_error, outcome, hash from events where id = 2"
verify_broken "an event appended (a copy of event 2)" $((NEV + 1))
restore
db_sql "delete from events where id = $NEV"
expect_exit 4 "newest event deleted: audit verify exits 4" -- ov audit verify --json
expect_json "newest event deleted: the recorded head says so" '.whole == false and (.problem | test("head|deleted"))'
restore
db_sql "update events set actor = 'x' where id = 2"
expect_exit 4 "check includes the chain" -- ov check
restore

# --- export -----------------------------------------------------------------------
EX=$TMP/misc/export.jsonl
"$ORGVAULT" --data-dir "$DIR" audit export >"$EX" 2>"$TMP/misc/export.err"
expect_eq "export: exit 0" 0 $?
expect_eq "export: one line per event" "$NEV" "$(wc -l <"$EX")"
expect_true "export: every line has hash and prev_hash" -- \
    jq -e -s 'all(.[]; (.hash | length) == 64 and (.prev_hash | length) == 64)' "$EX"
expect_true "export: each prev_hash is the hash before" -- \
    jq -e -s '[range(1; length) as $i | .[$i].prev_hash == .[$i - 1].hash] | all' "$EX"
expect_ok "export verifies on its own" -- ov audit verify --export "$EX" --json
expect_json "export: whole" ".whole == true and .checked == $NEV"
expect_ok "export verifies from stdin" -- sh -c "'$ORGVAULT' --data-dir '$DIR' audit verify --export - <'$EX'"
# The export still verifies after the database's events are gone.
db_sql "delete from events where id > 1"
expect_ok "export verifies without the database's events" -- ov audit verify --export "$EX"
restore

sed '3s/"kind":"org.created"/"kind":"org.deleted"/' "$EX" >"$TMP/misc/edited.jsonl"
expect_exit 4 "export with event 3 edited: exit 4" -- ov audit verify --export "$TMP/misc/edited.jsonl" --json
expect_json "export with event 3 edited: names event 3" '.first_broken_id == 3'
sed '4d' "$EX" >"$TMP/misc/cut.jsonl"
expect_exit 4 "export with a line removed: exit 4" -- ov audit verify --export "$TMP/misc/cut.jsonl" --json
expect_json "export with a line removed: names the next event" '.first_broken_id == 5'
awk 'NR == 5 { l5 = $0; next } NR == 6 { print; print l5; next } { print }' "$EX" >"$TMP/misc/swapped.jsonl"
expect_exit 4 "export with lines swapped: exit 4" -- ov audit verify --export "$TMP/misc/swapped.jsonl" --json

FROM=$(jq -r 'select(.id == 4) | .time' "$EX")
expect_ok "export --since" -- ov audit export --since "${FROM%.*}Z"
expect_true "export --since: only events from then on" -- \
    jq -e -s --arg t "${FROM%.*}Z" 'length >= 1 and all(.[]; .time_ms >= ($t | fromdateiso8601) * 1000)' "$OUT"
expect_ok "export --until in the past: nothing" -- ov audit export --until 2000-01-01T00:00:00Z
expect_eq "export --until in the past: empty" "" "$(cat "$OUT")"
expect_fail 1 "export --since garbage: usage error" "RFC 3339" -- ov audit export --since yesterday

# --- the API -------------------------------------------------------------------------
KEY=$(api_key auditor reader)
serve_start main || exit 1
api GET /v1/audit/verify "$KEY"
expect_status "GET /v1/audit/verify: 200" 200
expect_body "GET /v1/audit/verify: whole" '.whole == true and .checked >= 7'
api GET /v1/audit/verify ""
expect_problem "GET /v1/audit/verify needs a key" 401 unauthorized
serve_stop "$SERVE_PID"
expect_eq "serve exits 0" 0 "$SERVE_RC"
