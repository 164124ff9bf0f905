# analyze.jq — the double-refresh analysis of chaos.sh.
#
# Inputs (jq -n --slurpfile/--argjson):
#   $req    the fake's request log (GET /_admin/requests): seq, time_ms,
#           path, client_id, grant_type, refresh_token (presented), status
#   $oklog  serve's "refresh … outcome=ok … next=T" lines: {c, t, n} (ms)
#   $ev     the audit events (audit export): credential, kind, time_ms
#   $kills  every kill -9: {k0, k1}, it happened between these times (ms)
#   $rt     the names of the refresh_token credentials
#   $cut    ms: requests from then on (the final CLI refreshes) are left out
#           of the deadline checks
# Output:
#   reused           refresh tokens presented again after a success (a 200
#                    of behaviour ok or slow) for them
#   early            200s before the deadline the previous recorded refresh
#                    (the last ok line logged before the request) had set
#   lost             a 200 followed by another 200 of the same credential
#                    with no refresh.ok event in between (its answer was
#                    never recorded), with kill_between (a kill overlaps
#                    the time from the first request to the second) and
#                    the time from the first request to that kill's end
#   last_unrecorded  a credential's last 200 before $cut that no refresh.ok
#                    event follows

[$req[0][] | select(.client_id != null and
    (.path // "" | test("^/(oauth/token|token|oauth_token\\.do)$")))] as $tok
# A success: 200 with behaviour ok or slow ("garbage" is a 200 too).
| [$tok[] | select(.status == 200 and (.behaviour == "ok" or .behaviour == "slow")
    and .time_ms < $cut)] as $ok200
| [$ev[0][] | select(.kind == "refresh.ok") | {c: .credential, t: .time_ms}] as $okev
| $rt[0] as $rtn
| {
    reused: [
      $tok | map(select(.grant_type == "refresh_token" and .refresh_token != null))
      | group_by([.client_id, .refresh_token])[]
      | sort_by(.seq) as $g
      | ([range(0; $g | length) | select($g[.].status == 200 and
            ($g[.].behaviour == "ok" or $g[.].behaviour == "slow"))] | first) as $i
      | select($i != null and $i < ($g | length) - 1)
      | {c: $g[0].client_id, token: $g[0].refresh_token, statuses: ($g | map(.status))}
    ],
    early: [
      $ok200 | group_by(.client_id)[] | . as $rs
      | $rs[0].client_id as $c
      | [$oklog[0][] | select(.c == $c)] as $L
      | $rs[]
      | . as $r
      | ([$L[] | select(.t < $r.time_ms)] | max_by(.t)) as $prev
      | select($prev != null and $prev.n != null and $r.time_ms < $prev.n)
      | {c: $c, t: $r.time_ms, deadline: $prev.n, before_ms: ($prev.n - $r.time_ms)}
    ],
    lost: [
      $ok200 | group_by(.client_id)[] | sort_by(.time_ms) as $rs
      | $rs[0].client_id as $c
      | [$okev[] | select(.c == $c) | .t] as $E
      | range(0; ($rs | length) - 1)
      | $rs[.] as $a | $rs[. + 1] as $b
      | select(any($E[]; . >= $a.time_ms and . < $b.time_ms) | not)
      | [$kills[0][] | select(.k1 > $a.time_ms and .k0 < $b.time_ms)] as $k
      | {c: $c, rt: ($rtn | index($c) != null), t: $a.time_ms, next_t: $b.time_ms,
         behaviour: $a.behaviour,
         kill_between: ($k | length > 0),
         kill_gap_ms: (if ($k | length) > 0 then ([$k[].k1] | min) - $a.time_ms else null end)}
    ],
    last_unrecorded: [
      $ok200 | group_by(.client_id)[] | max_by(.time_ms) as $l
      | select(any($okev[]; .c == $l.client_id and .t >= $l.time_ms) | not)
      | {c: $l.client_id, t: $l.time_ms}
    ]
  }
