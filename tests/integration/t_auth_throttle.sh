#!/usr/bin/env bash
# t_auth_throttle.sh — failed API-key checks never lock out a key that
# verifies.  From one address (127.0.0.2, a second loopback source):
#   - a stale dashboard key (revoked: its id exists) failing 10 times gets
#     429 for that key, while every valid key from the same address still
#     gets its answer, and unknown keys from it are counted apart;
#   - unknown key ids are counted per address: 429 after 10, valid keys
#     still answered;
#   - the blocks of several buckets of one address write one
#     auth.throttled event per window, not one each;
#   - --trusted-proxy: requests from a trusted peer are counted and
#     logged under the X-Forwarded-For client, others' X-Forwarded-For is
#     ignored; a bad --trusted-proxy value is a usage error.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

fake_start
setup_vault
expect_ok "setup: org acme" -- ov org add acme
RDR=$(api_key rdr reader)
TOK=$(api_key tok token)
STALE=$(api_key stale reader)
expect_ok "setup: the dashboard's key is revoked (it keeps sending it)" -- \
    ov apikey revoke stale
S=$TMP/secret
secret_file "$S" throttle-secret-1
fake_put c1 '{"client_secret":"throttle-secret-1","lifetime":3600}'
expect_ok "setup: cred put acme/c1" -- ov cred put acme c1 --provider genesys \
    --token-url "$FAKE_URL/oauth/token" --client-id c1 --secret-file "$S"
serve_start main || exit 1
wait_until 15 curl -sf -H "Authorization: Bearer $TOK" \
    "$SERVE_URL/v1/orgs/acme/credentials/c1/token"

from2() {	# METHOD PATH KEY [CURL-ARGS]: api without a body, from 127.0.0.2
	local m=$1 p=$2 k=$3
	shift 3
	api "$m" "$p" "$k" "" --interface 127.0.0.2 "$@"
}

codes() {	# N METHOD PATH KEY [CURL-ARGS]: the N status codes, spaced
	local n=$1 i out=
	shift
	for ((i = 0; i < n; i++)); do
		api "$@"
		out="$out $API_CODE"
	done
	echo "$out"
}
tens() { printf " $1%.0s" $(seq "$2"); }

# --- a stale key from a shared address ----------------------------------------
got=$(codes 10 GET /v1/orgs "$STALE" "" --interface 127.0.0.2)
expect_eq "stale key: ten failures are ten 401s" "$(tens 401 10)" "$got"
from2 GET /v1/orgs "$STALE"
expect_problem "stale key: the eleventh: 429" 429 too-many-requests
from2 GET /v1/orgs "$RDR"
expect_status "stale key blocked: a valid reader key from the same address: 200" 200
from2 GET /v1/orgs/acme/credentials/c1/token "$TOK"
expect_status "stale key blocked: a token fetch from the same address: 200" 200
expect_body "stale key blocked: ... the token" '.access_token | startswith("at-c1-")'
got=$(codes 20 GET /v1/orgs/acme/credentials/c1/token "$TOK" "" --interface 127.0.0.2)
expect_eq "stale key blocked: twenty token fetches from that address: all 200" \
    "$(tens 200 20)" "$got"
BAD=ov_1111111111111111_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB
from2 GET /v1/orgs "$BAD"
expect_problem "stale key blocked: an unknown key from that address is counted apart: 401" \
    401 unauthorized

# --- unknown keys, per address --------------------------------------------------
got=$(codes 9 GET /v1/orgs "$BAD" "" --interface 127.0.0.2)
expect_eq "unknown keys: nine more 401s (ten in all)" "$(tens 401 9)" "$got"
from2 GET /v1/orgs "ov_2222222222222222_CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"
expect_problem "unknown keys: any other unknown key from that address: 429" 429 too-many-requests
from2 GET /v1/orgs "not-even-a-key"
expect_problem "unknown keys: a malformed key from that address: 429" 429 too-many-requests
from2 GET /v1/orgs "$RDR"
expect_status "unknown keys blocked: a valid key from that address: 200" 200
api GET /v1/orgs "$BAD"
expect_problem "unknown keys: from 127.0.0.1 the same bad key is a 401" 401 unauthorized

# --- events: one per address per window ----------------------------------------
run events_json --kind auth.throttled
expect_json "events: two blocks of 127.0.0.2 wrote one auth.throttled event" \
    '(map(select(.detail.address == "127.0.0.2")) | length) == 1'
expect_json "events: ... naming the first blocked key id" \
    '.[0].detail.address == "127.0.0.2" and (.[0].detail.key_id | test("^[0-9a-f]{16}$"))'
expect_true "log: the second block is logged (not as an event)" -- \
    grep -aq 'from 127.0.0.2 for unknown keys' "$(serve_log main)"
serve_stop "$SERVE_PID"

# --- trusted proxies ------------------------------------------------------------
serve_start proxy --trusted-proxy 127.0.0.2/32 || exit 1
XFF() { echo "X-Forwarded-For: $1"; }
got=$(codes 10 GET /v1/orgs "$BAD" "" --interface 127.0.0.2 -H "$(XFF "198.51.100.7")")
expect_eq "proxy: ten failures of client 198.51.100.7 via the proxy: 401s" "$(tens 401 10)" "$got"
from2 GET /v1/orgs "$BAD" -H "$(XFF "198.51.100.7")"
expect_problem "proxy: that client's eleventh: 429" 429 too-many-requests
from2 GET /v1/orgs "$BAD" -H "$(XFF "198.51.100.8")"
expect_problem "proxy: another client behind the same proxy: 401, not blocked" 401 unauthorized
from2 GET /v1/orgs "$BAD" -H "$(XFF "198.51.100.7, 198.51.100.8")"
expect_problem "proxy: the rightmost untrusted entry is the client (198.51.100.8)" 401 unauthorized
from2 GET /v1/orgs "$BAD" -H "$(XFF "198.51.100.8, 127.0.0.2")"
expect_problem "proxy: trusted entries are skipped from the right (198.51.100.8)" 401 unauthorized
sleep 0.3
expect_true "proxy: the access log names the forwarded client" -- \
    grep -aq 'ip=198.51.100.7 ' "$(serve_log proxy)"
api GET /v1/orgs "$BAD" "" -H "$(XFF "203.0.113.1")"
sleep 0.3
expect_true "proxy: from an untrusted peer X-Forwarded-For is ignored (ip=127.0.0.1)" -- \
    bash -c "grep -a 'status=401' '$(serve_log proxy)' | tail -n 1 | grep -q 'ip=127.0.0.1 '"
expect_false "proxy: ... and its forged address appears nowhere" -- \
    grep -aq '203.0.113.1' "$(serve_log proxy)"
from2 GET /v1/orgs "$BAD" -H "$(XFF "198.51.100.9")" -H "$(XFF "198.51.100.7")"
expect_problem "proxy: two X-Forwarded-For headers (which one is the proxy's?): 400" \
    400 bad-request
serve_stop "$SERVE_PID"
for bad in "localhost" "10.0.0.1/8" "10.0.0.0/33" "" "10.0.0.0/8,"; do
	expect_fail 1 "--trusted-proxy '$bad': a usage error" "trusted-proxy" -- \
	    timeout 10 "$ORGVAULT" --data-dir "$DIR" serve --listen 127.0.0.1:0 \
	    --trusted-proxy "$bad"
done
