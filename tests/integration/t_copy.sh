#!/usr/bin/env bash
# t_copy.sh — `orgvault copy --to DATABASE`: a SQLite vault with orgs,
# credentials, tokens, a rotated refresh token, an API key and a webhook
# is copied into an empty PostgreSQL schema and back into a SQLite file:
# every table with its row count, `check` of each copy passes, the
# copies list the same credentials, serve the same access token, take
# the same API key, hand out new ids after the copied ones, and both
# audit chains record the copy.  Refused: a target that is not empty,
# SQLite to SQLite, a password in --to, a source a serve holds open.
# Nothing in plaintext reaches the PostgreSQL dump.
#
# The copies between engines need a PostgreSQL server: on SQLite (make
# test) only the refusals run; make test-pg runs all of it.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

REAL=${OV_REAL_ORGVAULT:-$ORGVAULT}
# lite DIR ARGS...: the binary on DIR's SQLite file, whatever the mode.
lite() {
	local d=$1
	shift
	"$REAL" --data-dir "$d" --database sqlite "$@"
}

SRC=$TMP/src
run lite "$SRC" init
expect_eq "setup: init a SQLite vault" 0 "$RC"

run lite "$SRC" copy --help
expect_eq "copy --help: exit 0" 0 "$RC"
expect_stdout_contains "copy --help: names --to" "--to DATABASE"
run lite "$SRC" copy
expect_eq "copy without --to: usage (exit 1)" 1 "$RC"
expect_stderr_contains "... names what is missing" "--to"
run lite "$SRC" copy --to sqlite
expect_eq "SQLite to the same SQLite file: refused (exit 1)" 1 "$RC"
expect_stderr_contains "... and says why" "already in"
run lite "$SRC" copy --to 'postgresql://orgvault:hunter2-canary@127.0.0.1/x'
expect_eq "a password in --to: exit 1" 1 "$RC"
expect_stderr_lacks "... not echoed" "hunter2-canary"
run lite "$SRC" copy --to 'mysql://x'
expect_eq "an engine orgvault does not know: exit 1" 1 "$RC"

if ! on_pg; then
	pass "copies between engines: skipped on SQLite (they need a PostgreSQL server: make test-pg)"
	exit 0
fi

# --- a SQLite vault with something in every table ------------------------------------------------
fake_start
SECRET=copy-client-secret-canary-7f3a
fake_put cc "{\"client_secret\":\"$SECRET\",\"lifetime\":3600}" || exit 1
fake_put rr "{\"client_secret\":\"$SECRET\",\"refresh_token\":\"copy-rt-canary-1\",\"lifetime\":3600,\"rotate_refresh\":true}" || exit 1
secret_file "$TMP/s" "$SECRET"
secret_file "$TMP/rt" "copy-rt-canary-1"
secret_file "$TMP/wh" "copy-webhook-secret-canary-00"
run lite "$SRC" org add acme
expect_eq "setup: org add" 0 "$RC"
run lite "$SRC" cred put acme cc --provider genesys --token-url "$FAKE_URL/oauth/token" \
    --client-id cc --secret-file "$TMP/s"
expect_eq "setup: cred put acme/cc" 0 "$RC"
run lite "$SRC" cred put acme rr --provider genesys --token-url "$FAKE_URL/oauth/token" \
    --client-id rr --secret-file "$TMP/s" --grant refresh_token --refresh-token-file "$TMP/rt"
expect_eq "setup: cred put acme/rr" 0 "$RC"
run lite "$SRC" --endpoint-allow 127.0.0.0/8 webhook add "http://127.0.0.1:9/hook" --secret-file "$TMP/wh"
expect_eq "setup: webhook add" 0 "$RC"
# More rows than one batch of the copy (2 000) in several tables.
awk -v u="$FAKE_URL/oauth/token" 'BEGIN { for (i = 0; i < 2100; i++)
    printf "{\"org\":\"bulk\",\"name\":\"b%d\",\"provider\":\"oauth2\",\"token_url\":\"%s\",\"client_id\":\"cc\",\"client_secret\":\"other-secret\"}\n", i, u }' >"$TMP/bulk.jsonl"
run lite "$SRC" import "$TMP/bulk.jsonl"
expect_eq "setup: import 2 100 credentials" 0 "$RC"
# The newest credential is removed: its id is never handed out again.
run lite "$SRC" cred put acme zz --provider genesys --token-url "$FAKE_URL/oauth/token" \
    --client-id zz --secret-file "$TMP/s"
run lite "$SRC" cred rm acme zz
expect_eq "setup: the newest credential (acme/zz) removed" 0 "$RC"
HIGH=$(sqlite3 "$SRC/orgvault.db" "SELECT seq FROM sqlite_sequence WHERE name = 'credentials'")
expect_true "setup: the source's credential ids went up to $HIGH" -- test "${HIGH:-0}" -gt 2100
TOK=$(lite "$SRC" apikey create tok --role token 2>/dev/null)
expect_true "setup: API key" -- test -n "$TOK"

DIR=$SRC
export ORGVAULT_DATABASE=sqlite
serve_start src || exit 1
have_tokens() {
	[ "$(lite "$SRC" cred list acme --json | jq '[.[] | select(.expires_at != null)] | length')" = 2 ]
}
expect_true "setup: both credentials have a token" -- wait_until 20 have_tokens
api GET /v1/orgs/acme/credentials/cc/token "$TOK"
expect_status "setup: the source serves acme/cc" 200
AT=$(jq -r '.access_token // empty' "$API_BODY")
# serve holds the source open: copy is refused.
run lite "$SRC" copy --to "$(pg_url c1)"
expect_eq "a source that serve holds open: exit 3" 3 "$RC"
serve_stop "$SERVE_PID" 20
unset ORGVAULT_DATABASE
expect_eq "setup: serve exit 0" 0 "$SERVE_RC"
expect_true "setup: a refresh token was rotated (retired digests exist)" -- \
    test "$(sqlite3 "$SRC/orgvault.db" 'SELECT count(*) FROM retired_refresh_tokens')" -ge 1
run lite "$SRC" cred list --json
SRC_LIST=$(jq -S 'map(del(.last_used_at))' "$OUT")

# --- SQLite -> PostgreSQL --------------------------------------------------------------------------
U1=$(pg_url c1)
run lite "$SRC" copy --to "$U1" --json
expect_eq "SQLite -> PostgreSQL: exit 0" 0 "$RC"
expect_json "... the check of the copy passed" '.check.ok == true and .check.checked > 0 and (.check.failures | length) == 0'
cp "$OUT" "$TMP/copy1.json"
tables=$(sqlite3 "$SRC/orgvault.db" "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('schema_migrations', 'sqlite_sequence') ORDER BY name")
expect_eq "... every table of the vault was copied" "$(echo "$tables" | tr '\n' ' ')" \
    "$(jq -r '.tables | keys | join(" ")' "$TMP/copy1.json") "
mism=
for t in $tables; do
	n=$(sqlite3 "$SRC/orgvault.db" "SELECT count(*) FROM $t")
	# The source's own vault.copied_to came after the copy.
	[ "$t" = events ] && n=$((n - 1))
	[ "$(jq -r --arg t "$t" '.tables[$t]' "$TMP/copy1.json")" = "$n" ] || mism="$mism $t"
done
expect_eq "... each with the source's row count" "" "$mism"
expect_true "... more than a batch (2 000) of credentials and events" -- \
    jq -e '.tables.credentials == 2102 and .tables.events > 2100 and .tables.tokens >= 2' "$TMP/copy1.json"

p1() { "$REAL" --data-dir "$SRC" --database "$U1" "$@"; }
run p1 cred list --json
expect_eq "the copy lists the same credentials" "$SRC_LIST" "$(jq -S 'map(del(.last_used_at))' "$OUT")"
run p1 audit verify
expect_eq "the copy's audit chain verifies" 0 "$RC"
run p1 version
expect_eq "version on the copy: exit 0" 0 "$RC"
expect_stdout_contains "... names the database and its schema" "(schema c1): PostgreSQL "
expect_stdout_contains "... and the libpq linked in" "libpq "
run p1 audit events --kind vault.copied --json
expect_json "the copy's chain records vault.copied from the SQLite file" \
    'length == 1 and (.[0].detail.from | endswith("orgvault.db"))'
run lite "$SRC" audit events --kind vault.copied_to --json
expect_json "the source's chain records vault.copied_to, without a password" \
    'length == 1 and (.[0].detail.to | startswith("postgresql://orgvault@")) and .[0].detail.rows > 0'
run p1 org add beta
expect_eq "the copy hands out new ids after the copied ones (org add)" 0 "$RC"
run p1 cred put beta b1 --provider genesys --token-url "$FAKE_URL/oauth/token" --client-id cc --secret-file "$TMP/s"
expect_eq "... and cred put" 0 "$RC"
B1=$(pg_psql "SELECT id FROM c1.credentials WHERE name = 'b1'" | tail -n 1)
expect_true "... whose id ($B1) is past every id the source handed out ($HIGH)" -- \
    test "${B1:-0}" -gt "$HIGH"
DUMP=$TMP/copy1.sql
pg_as "$PG_BIN/pg_dump" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -n c1 orgvault >"$DUMP"
expect_true "pg_dump of the copy was written" -- test -s "$DUMP"
for c in "$SECRET" copy-webhook-secret-canary-00 "$TOK" "$AT"; do
	expect_false "pg_dump of the copy: no ${c:0:12}…" -- grep -aqF "$c" "$DUMP"
done

run lite "$SRC" copy --to "$U1"
expect_eq "copy into a schema that holds a vault: exit 3" 3 "$RC"
expect_stderr_contains "... says it is not empty" "not empty"

# serve on the copy: the same token, the same key.
export ORGVAULT_DATABASE=$U1
serve_start pg || exit 1
api GET /v1/orgs/acme/credentials/cc/token "$TOK"
expect_status "serve on the copy takes the source's API key and serves acme/cc" 200
expect_eq "... the source's access token" "$AT" "$(jq -r '.access_token // empty' "$API_BODY")"
serve_stop "$SERVE_PID" 20
unset ORGVAULT_DATABASE
expect_eq "serve on the copy: exit 0" 0 "$SERVE_RC"

# --- PostgreSQL -> SQLite ------------------------------------------------------------------------
DST=$TMP/dst
install -d -m 700 "$DST"
install -m 600 "$SRC/master.key" "$DST/master.key"
run "$REAL" --data-dir "$DST" --database "$U1" copy --to sqlite
expect_eq "PostgreSQL -> SQLite: exit 0" 0 "$RC"
expect_stdout_contains "... the check of the copy passed" "check of the copy: ok"
run p1 cred list --json
want=$(jq length "$OUT")
run lite "$DST" cred list --json
expect_eq "the SQLite copy lists the copy's credentials" "$want" "$(jq length "$OUT")"
run lite "$DST" check
expect_eq "check of the SQLite copy: exit 0" 0 "$RC"
run lite "$DST" org add gamma
expect_eq "the SQLite copy hands out new ids" 0 "$RC"
run lite "$DST" cred put gamma g1 --provider genesys --token-url "$FAKE_URL/oauth/token" --client-id cc --secret-file "$TMP/s"
G1=$(sqlite3 "$DST/orgvault.db" "SELECT id FROM credentials WHERE name = 'g1'")
expect_true "... past every id PostgreSQL handed out (g1 $G1 > b1 $B1)" -- test "${G1:-0}" -gt "${B1:-0}"
run "$REAL" --data-dir "$DST" --database "$U1" copy --to sqlite
expect_eq "copy onto an existing SQLite file: exit 3" 3 "$RC"

run "$REAL" --data-dir "$SRC" --database "$U1" copy --to "$U1"
expect_eq "a PostgreSQL vault onto itself: exit 3" 3 "$RC"

# A passphrase vault, the passphrase on stdin: read once for both opens.
PV=$TMP/pv
secret_file "$TMP/pp" "copy-passphrase-canary-0001"
run lite "$PV" init --passphrase-file "$TMP/pp" --kdf-cost interactive
expect_eq "setup: a passphrase vault" 0 "$RC"
run "$REAL" --data-dir "$PV" --database sqlite --passphrase-file - copy --to "$(pg_url c3)" <"$TMP/pp"
expect_eq "passphrase on stdin: copy exit 0" 0 "$RC"
expect_stdout_contains "... and the check of the copy passed" "check of the copy: ok"

# A wrong master key opens nothing, and copies nothing.
W=$TMP/wrong
run lite "$W" init
run "$REAL" --data-dir "$W" --database "$U1" copy --to "$(pg_url c2)"
expect_eq "a wrong master key: exit 4" 4 "$RC"
expect_eq "... nothing in the target schema" "0" \
    "$(pg_psql "SELECT count(*) FROM pg_tables WHERE schemaname = 'c2'" | tail -n 1)"
