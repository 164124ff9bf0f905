#!/usr/bin/env bash
# t_outbound.sh — the outbound policy (util/netpolicy.h):
#   - store time: token and webhook URLs naming or resolving to loopback,
#     private, link-local, unique-local, multicast, reserved or unspecified
#     addresses, in any spelling (IPv6, IPv4-mapped, NAT64, decimal, octal,
#     hex, short IPv4), are refused (CLI exit 1, API 422) unless allowed by
#     --endpoint-allow or ORGVAULT_ENDPOINT_ALLOW; a name that does not
#     resolve is taken; the flag replaces the variable;
#   - connect time: a credential stored while loopback was allowed is not
#     sent to it by a serve (or a `cred refresh`) that does not allow it:
#     no request reaches the fake, the failure names the policy;
#   - proxies: http_proxy / HTTPS_PROXY / ALL_PROXY in the environment are
#     ignored (a "proxy" listening on loopback gets nothing); --proxy URL
#     is used when given.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

fake_start
setup_vault
expect_ok "setup: org acme" -- ov org add acme
S=$TMP/secret
secret_file "$S" outbound-secret-1
OPK=$(api_key op operator)

nopolicy() {	# CMD...: without the tests' loopback allowance
	env -u ORGVAULT_ENDPOINT_ALLOW "$@"
}
ovn() { nopolicy "$ORGVAULT" --data-dir "$DIR" "$@"; }

# --- store time ---------------------------------------------------------------
i=0
for url in "$FAKE_URL/oauth/token" "http://127.0.0.2:9/token" \
    "https://10.0.0.1/token" "https://172.16.5.4/token" "https://192.168.1.1/token" \
    "https://169.254.169.254/latest/meta-data" "https://100.64.0.1/token" \
    "https://0.0.0.0/token" "https://224.0.0.1/token" "https://240.0.0.1/token" \
    "https://[::1]/token" "https://[fd00::1]/token" "https://[fe80::1]/token" \
    "https://[::]/token" "https://[ff02::1]/token" \
    "https://[::ffff:127.0.0.1]/token" "https://[::ffff:a9fe:a9fe]/token" \
    "https://[64:ff9b::a9fe:a9fe]/token" "https://[2002:a00:1::]/token" \
    "https://2130706433/token" "https://0177.0.0.1/token" "https://0x7f.1/token" \
    "https://127.1/token" "https://017700000001/token" "http://localhost:8080/token"; do
	i=$((i + 1))
	expect_fail 1 "store: $url refused (exit 1)" "outbound policy|https" -- \
	    ovn cred put acme bad$i --provider oauth2 --token-url "$url" \
	    --client-id x --secret-file "$S"
done
expect_fail 1 "store: the message names the class and the fix" \
    "169.254.169.254 is a link-local address.*--endpoint-allow" -- \
    ovn cred put acme meta --provider oauth2 \
    --token-url https://169.254.169.254/token --client-id x --secret-file "$S"
run ovn cred list acme --json
expect_json "store: none of them was stored" 'length == 0'
expect_ok "store: a public address is taken" -- ovn cred put acme pub \
    --provider oauth2 --token-url https://203.0.113.10/token --client-id x \
    --secret-file "$S"
expect_ok "store: a name that does not resolve now is taken" -- ovn cred put acme \
    future --provider oauth2 --token-url https://login.no-such-host.invalid/token \
    --client-id x --secret-file "$S"
expect_ok "store: a Genesys region (derived URL) is taken" -- ovn cred put acme gen \
    --provider genesys --region eu_west_1 --client-id x --secret-file "$S"
expect_ok "store: --endpoint-allow lets 127.0.0.0/8 in" -- \
    nopolicy "$ORGVAULT" --data-dir "$DIR" --endpoint-allow 127.0.0.0/8 cred put acme \
    allowed --provider oauth2 --token-url "http://127.0.0.2:9/token" --client-id x \
    --secret-file "$S"
expect_fail 1 "store: --endpoint-allow replaces the variable (10/8 only: 127/8 refused)" \
    "loopback" -- "$ORGVAULT" --data-dir "$DIR" --endpoint-allow 10.0.0.0/8 cred put \
    acme allowed2 --provider oauth2 --token-url "http://127.0.0.2:9/token" \
    --client-id x --secret-file "$S"
expect_fail 1 "store: a bad --endpoint-allow is a usage error" "endpoint-allow" -- \
    "$ORGVAULT" --data-dir "$DIR" --endpoint-allow 127.0.0.1/8 org list
expect_fail 1 "store: a bad ORGVAULT_ENDPOINT_ALLOW is a usage error" \
    "ORGVAULT_ENDPOINT_ALLOW" -- env ORGVAULT_ENDPOINT_ALLOW=localhost \
    "$ORGVAULT" --data-dir "$DIR" org list
expect_fail 1 "store: a webhook to loopback is refused" "loopback" -- \
    ovn webhook add "http://127.0.0.1:9/hook" --secret-file "$S"

# The API, on a serve that does not allow loopback.
"$ORGVAULT" --data-dir "$DIR" apikey list >/dev/null 2>&1
# env execs serve: $! is serve's pid, which the test stops.
env -u ORGVAULT_ENDPOINT_ALLOW "$ORGVAULT" --data-dir "$DIR" serve \
    --listen 127.0.0.1:0 >/dev/null 2>"$TMP/serve-strict.log" &
STRICT=$!
bg_track "$STRICT"
wait_until 20 grep -aq 'serving ' "$TMP/serve-strict.log"
SERVE_PORT=$(grep -ao 'listening on [^ ]*' "$TMP/serve-strict.log" | tail -n 1 | sed 's/.*://')
SERVE_URL=http://127.0.0.1:$SERVE_PORT
api PUT /v1/orgs/acme/credentials/viaapi "$OPK" \
    "$(jq -cn '{provider: "oauth2", token_url: "https://[fd12::1]/token",
        client_id: "x", client_secret: "outbound-secret-1"}')"
expect_problem "api: a unique-local token URL: 422" 422 validation
expect_body "api: ... naming the policy" '.detail | test("outbound policy")'

# --- connect time -------------------------------------------------------------
fake_put c1 '{"client_secret":"outbound-secret-1","lifetime":3600}'
expect_ok "connect: c1 stored while the fake (loopback) is allowed" -- \
    ov cred put acme c1 --provider genesys --token-url "$FAKE_URL/oauth/token" \
    --client-id c1 --secret-file "$S"
wait_until 15 bash -c "'$ORGVAULT' --data-dir '$DIR' cred show acme c1 --json |
    jq -e '.consecutive_failures >= 1' >/dev/null"
run ov cred show acme c1 --json
expect_json "connect: serve without the allowance does not send it: failing" \
    '.consecutive_failures >= 1 and (.last_error | test("policy.*loopback"))'
expect_eq "connect: the fake got no request" 0 "$(fake_requests c1 | jq length)"
expect_fail "1|4|5" "connect: cred refresh without the allowance: refused" "policy|loopback" -- \
    ovn cred refresh acme c1
expect_eq "connect: ... and the fake still got nothing" 0 "$(fake_requests c1 | jq length)"
kill "$STRICT" 2>/dev/null
wait "$STRICT" 2>/dev/null

# --- proxies from the environment are ignored ----------------------------------
PROXYLOG=$TMP/proxy.log
python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(16)
open(sys.argv[1] + ".port", "w").write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept(); c.settimeout(2)
    try:
        d = c.recv(65536)
    except Exception:
        d = b""
    open(sys.argv[1], "ab").write(b"CONNECTION " + d + b"\n"); c.close()
' "$PROXYLOG" &
bg_track $!
wait_until 10 test -s "$PROXYLOG.port"
PP=$(cat "$PROXYLOG.port")
: >"$PROXYLOG"
fake_put c2 '{"client_secret":"outbound-secret-1","lifetime":3600}'
expect_ok "proxy: c2 stored" -- ov cred put acme c2 --provider genesys \
    --token-url "$FAKE_URL/oauth/token" --client-id c2 --secret-file "$S"
expect_ok "proxy: a refresh with http_proxy/HTTPS_PROXY/ALL_PROXY set works" -- \
    env http_proxy=http://127.0.0.1:$PP HTTPS_PROXY=http://127.0.0.1:$PP \
    ALL_PROXY=http://127.0.0.1:$PP "$ORGVAULT" --data-dir "$DIR" cred refresh acme c2
expect_eq "proxy: ... it went to the fake" 1 "$(fake_requests c2 | jq length)"
expect_false "proxy: ... and the environment's proxy got nothing" -- test -s "$PROXYLOG"
run "$ORGVAULT" --data-dir "$DIR" --proxy "http://127.0.0.1:$PP" cred refresh acme c2
expect_true "proxy: --proxy URL is used when given" -- grep -aq CONNECTION "$PROXYLOG"
expect_fail 1 "proxy: a --proxy that is not an http(s) URL is a usage error" "proxy" -- \
    "$ORGVAULT" --data-dir "$DIR" --proxy socks5://127.0.0.1:1 org list
# A proxy password on the command line is a secret in argv.
expect_fail 1 "proxy: a --proxy with user:password is refused" "no user name or password" -- \
    "$ORGVAULT" --data-dir "$DIR" --proxy "http://ov:proxy-canary-pw@127.0.0.1:$PP" org list
expect_stderr_lacks "proxy: ... and the refusal does not echo the password" "proxy-canary-pw"
