#!/usr/bin/env bash
# t_change_master.sh — `key change-master`: key file → key file (made
# by the user, then generated), → passphrase, passphrase → passphrase,
# → key file.  After each change the old key is refused (exit 4 where
# it is a wrong key), check and audit verify pass, secrets, rotated
# refresh tokens, access tokens, API keys and webhooks still work.  The
# on-disk state of a crash between the commit and the rename still
# opens; a stale master.key.new is ignored; a running serve, a broken
# audit chain and wrong arguments are refused.  Canaries: no secret,
# passphrase or key byte in any output, log, event or database file.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

rnd() { head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
RUNID=$(rnd)
CS=CANARY-cm-client-secret-$RUNID
RT=CANARY-cm-refresh-token-$RUNID
HOOK=CANARY-cm-webhook-secret-$RUNID
PP1=CANARY-cm-passphrase-one-$RUNID
PP2=CANARY-cm-passphrase-two-$RUNID
SEC=$TMP/secrets	# plaintext and keys live here, outside CAP
mkdir -m 700 "$SEC"
secret_file "$SEC/cs" "$CS"
secret_file "$SEC/rt" "$RT"
secret_file "$SEC/hook" "$HOOK"
secret_file "$SEC/pp1" "$PP1"
secret_file "$SEC/pp2" "$PP2"
hex_of() { od -An -v -tx1 "$1" | tr -d ' \n'; }

# --- a vault with one of everything ------------------------------------------
fake_start
fake_put cc "$(jq -cn --arg s "$CS" '{client_secret: $s, lifetime: 3600}')" || exit 1
fake_put rt "$(jq -cn --arg s "$CS" --arg r "$RT" \
    '{client_secret: $s, refresh_token: $r, rotate_refresh: true, lifetime: 3600}')" || exit 1
setup_vault
expect_ok "setup: org" -- ov org add acme
expect_ok "setup: client-credentials credential" -- ov cred put acme cc \
    --provider oauth2 --token-url "$FAKE_URL/token" --client-id cc --secret-file "$SEC/cs"
expect_ok "setup: refresh-token credential" -- ov cred put acme rt \
    --provider oauth2 --token-url "$FAKE_URL/token" --client-id rt --secret-file "$SEC/cs" \
    --grant refresh_token --refresh-token-file "$SEC/rt"
expect_ok "setup: cc has a token" -- ov cred refresh acme cc
expect_ok "setup: rt has a token (its refresh token rotated)" -- ov cred refresh acme rt
expect_ok "setup: a webhook" -- ov webhook add http://127.0.0.1:9/hook --secret-file "$SEC/hook"
expect_ok "setup: data key version 2" -- ov key rotate
APIKEY=$(api_key dash reader)
expect_true "setup: an API key" -- test -n "$APIKEY"
cp -p "$KEY" "$SEC/key0"

# all_there NAME [GLOBAL-OPTIONS...]: the vault opens and everything works.
all_there() {
	local n=$1
	shift
	expect_ok "$n: check" -- ov "$@" check --json
	expect_json "$n: check found no failure" '.ok == true and .failures == []'
	expect_ok "$n: audit verify" -- ov "$@" audit verify --json
	expect_json "$n: the chain is whole" '.whole == true'
	expect_ok "$n: key.master_changed is in the chain" -- \
	    ov "$@" audit events --kind key.master_changed --json
	expect_json "$n: ... never with key material" \
	    '.[0].detail | keys == ["data_keys", "events_rehashed", "generated", "mode", "previous_mode"]'
	expect_ok "$n: token (the stored access token opens)" -- ov "$@" token acme cc --json
	expect_ok "$n: cred refresh (client secret)" -- ov "$@" cred refresh acme cc
	expect_ok "$n: cred refresh (the rotated refresh token)" -- ov "$@" cred refresh acme rt
	expect_ok "$n: key status: both data keys" -- ov "$@" key status --json
	expect_json "$n: ... versions 1 and 2" '[.[].version] == [1, 2]'
}

# --- wrong arguments ---------------------------------------------------------------
expect_ok "--help" -- ov key change-master --help
expect_stdout_contains "--help shows change-master" "--new-passphrase-file"
expect_fail 1 "no new key: usage" "exactly one" -- ov key change-master
expect_fail 1 "two new keys: usage" "exactly one" -- \
    ov key change-master --generate --new-passphrase-file "$SEC/pp1"
expect_fail 1 "--kdf-cost without a passphrase: usage" "kdf-cost" -- \
    ov key change-master --generate --kdf-cost interactive
expect_fail 1 "unknown --kdf-cost: usage" "kdf-cost" -- \
    ov key change-master --new-passphrase-file "$SEC/pp1" --kdf-cost cheap
expect_fail 1 "unknown option: usage" "unknown option" -- ov key change-master --new-key x
expect_fail 1 "an extra argument: usage" "unexpected" -- ov key change-master --generate extra
expect_fail 1 "a short new passphrase" "at least 8" -- \
    ov key change-master --new-passphrase-file <(printf 'short\n')
expect_eq "refusals left the key file alone" "$(sha_of "$SEC/key0")" "$(sha_of "$KEY")"

# --- refused while serve runs ---------------------------------------------------------
serve_start main || exit 1
api GET /v1/health "$APIKEY"
expect_status "setup: the API key works under serve" 200
expect_fail 3 "refused while serve has the vault open (exit 3)" "another process" -- \
    env ORGVAULT_BUSY_TIMEOUT_MS=300 "$ORGVAULT" --data-dir "$DIR" key change-master --generate
expect_false "no master.key.new left" -- test -e "$DIR/master.key.new"
serve_stop "$SERVE_PID"
expect_eq "serve exits 0" 0 "$SERVE_RC"

# --- refused on a broken audit chain --------------------------------------------------
snapshot
db_sql "update events set actor = 'mallory' where id = 2"
expect_fail 4 "broken audit chain: refused (exit 4)" "audit verify" -- \
    ov key change-master --generate
expect_eq "broken chain: the key file is unchanged" "$(sha_of "$SEC/key0")" "$(sha_of "$KEY")"
expect_false "broken chain: no master.key.new" -- test -e "$DIR/master.key.new"
restore

# --- key file → a key file the user made ---------------------------------------------------
head -c 32 /dev/urandom >"$SEC/key1"
chmod 644 "$SEC/key1"
expect_fail 4 "new key file readable by others: refused, says chmod 600" "chmod 600" -- \
    ov key change-master --new-key-file "$SEC/key1"
chmod 600 "$SEC/key1"
expect_fail 2 "new key file missing: exit 2, says how to make one" "head -c 32" -- \
    ov key change-master --new-key-file "$SEC/nonesuch"
expect_fail 1 "the current key as the new one: refused" "current" -- \
    ov key change-master --new-key-file "$SEC/key0"
expect_ok "change-master --new-key-file" -- ov key change-master --new-key-file "$SEC/key1" --json
expect_json "... reports key_file mode, 2 data keys" \
    '.mode == "key_file" and .data_keys == 2 and .events_rehashed > 5'
expect_eq "master.key holds the given key" "$(sha_of "$SEC/key1")" "$(sha_of "$KEY")"
expect_eq "master.key is 0600" 600 "$(mode_of "$KEY")"
expect_false "no master.key.new left" -- test -e "$DIR/master.key.new"
all_there "key file 1"
serve_start after || exit 1
api GET /v1/health "$APIKEY"
expect_status "key file 1: the API key still verifies" 200
serve_stop "$SERVE_PID"
cp -p "$KEY" "$SEC/keep"
cp -p "$SEC/key0" "$KEY"
expect_fail 4 "the old key file is refused (exit 4)" "wrong master key file" -- ov org list
cp -p "$SEC/keep" "$KEY"

# --- key file → generated key file --------------------------------------------------------
expect_ok "change-master --generate" -- ov key change-master --generate
expect_stdout_contains "... says to back up the key" "back it up"
cp -p "$KEY" "$SEC/key2"
expect_false "a new key was made" -- cmp -s "$SEC/key1" "$SEC/key2"
expect_eq "generated master.key is 0600" 600 "$(mode_of "$KEY")"
all_there "key file 2"

# --- a crash between commit and rename: reproduced on disk ---------------------------------
# (the old master.key back in place, the new key still master.key.new)
expect_ok "change-master --generate (to crash)" -- ov key change-master --generate
cp -p "$KEY" "$SEC/key3"
mv "$KEY" "$DIR/master.key.new"
cp -p "$SEC/key2" "$KEY"
expect_ok "after the crash: the vault opens (master.key.new verifies)" -- ov check
expect_eq "after the crash: master.key is the new key" "$(sha_of "$SEC/key3")" "$(sha_of "$KEY")"
expect_false "after the crash: the rename was finished" -- test -e "$DIR/master.key.new"
all_there "after the crash"
# ... and a crash before the commit: a stale master.key.new is not used.
head -c 32 /dev/urandom >"$DIR/master.key.new"
chmod 600 "$DIR/master.key.new"
expect_ok "stale master.key.new: the vault opens with master.key" -- ov check
expect_eq "stale master.key.new: master.key unchanged" "$(sha_of "$SEC/key3")" "$(sha_of "$KEY")"

# --- key file → passphrase --------------------------------------------------------------
expect_ok "change-master --new-passphrase-file" -- \
    ov key change-master --new-passphrase-file "$SEC/pp1" --kdf-cost interactive --json
expect_json "... reports passphrase mode" '.mode == "passphrase" and .key_file == null'
expect_false "master.key was deleted (stale master.key.new too)" -- \
    test -e "$KEY" -o -e "$DIR/master.key.new"
expect_fail 1 "no passphrase given: says it is a passphrase vault" "passphrase" -- ov org list
cp -p "$SEC/key3" "$KEY"
expect_fail 1 "the old key file opens nothing" "passphrase" -- ov org list
rm -f "$KEY"
all_there "passphrase 1" --passphrase-file "$SEC/pp1"

# --- passphrase → passphrase (old one from stdin) ------------------------------------------------
expect_ok "change-master to another passphrase" -- ov --passphrase-file - key change-master \
    --new-passphrase-file "$SEC/pp2" --kdf-cost interactive <"$SEC/pp1"
expect_fail 4 "the old passphrase is refused (exit 4)" "wrong passphrase" -- \
    ov --passphrase-file "$SEC/pp1" org list
expect_fail 1 "stdin cannot hold both passphrases" "stdin" -- ov --passphrase-file - \
    key change-master --new-passphrase-file - <"$SEC/pp2"
all_there "passphrase 2" --passphrase-file "$SEC/pp2"

# --- passphrase → key file -------------------------------------------------------------------
head -c 32 /dev/urandom >"$SEC/key4"
chmod 600 "$SEC/key4"
expect_ok "change-master back to a key file" -- ov --passphrase-file "$SEC/pp2" \
    key change-master --new-key-file "$SEC/key4"
expect_eq "master.key holds the given key" "$(sha_of "$SEC/key4")" "$(sha_of "$KEY")"
expect_fail 1 "the old passphrase: the vault wants its key file now" "key file" -- \
    ov --passphrase-file "$SEC/pp2" org list
all_there "key file 4"
expect_true "no kdf settings left" -- \
    test "$(db_sql "select count(*) from vault_meta where key like 'kdf_%'")" = 0
run events_json --kind key.master_changed
expect_json "six key.master_changed events, modes in order" \
    '[.[].detail.mode] | reverse == ["key_file", "key_file", "key_file", "passphrase", "passphrase", "key_file"]'

# --- canaries ---------------------------------------------------------------------------------
expect_ok "sqlite3 dump for the scan" -- db_dump
expect_true "control: the scan finds a passphrase in its file" -- grep -qaF -- "$PP1" "$SEC/pp1"
expect_true "control: the scan finds a key's bytes in its file" -- \
    sh -c "od -An -v -tx1 '$KEY' | tr -d ' \n' | grep -qF '$(hex_of "$SEC/key4")'"
for s in "$CS" "$RT" "$HOOK" "$PP1" "$PP2"; do
	n=$(grep -rlaF -- "$s" "$CAP" "$TMP"/serve-*.log "$DIR" 2>/dev/null | wc -l)
	expect_eq "canary ${s%%-$RUNID} is in no output, log or vault file" 0 "$n"
done
for k in key0 key1 key2 key3 key4; do
	h=$(hex_of "$SEC/$k")
	n=0
	for f in "$CAP"/* "$TMP"/serve-*.log "$DIR"/*; do
		[ -f "$f" ] || continue
		case $f in "$KEY") continue ;; esac
		if hex_of "$f" | grep -qF "$h" || grep -qaF "$h" "$f"; then
			n=$((n + 1))
		fi
	done
	expect_eq "key $k: its bytes are in no output, log or database file" 0 "$n"
done
