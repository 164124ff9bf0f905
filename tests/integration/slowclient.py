#!/usr/bin/env python3
"""slowclient.py MODE HOST PORT [OPTIONS] — slow and idle HTTP clients
for t_slowclients.sh, on raw sockets (optionally TLS, not verified).
Each mode prints one JSON object on its last line; times are seconds
from each socket's connect.

  hold N       N connections that send nothing; after --wait S reports
               how many are still open ("open"), then opens one more and
               reports whether the server closed it within 2 s
               ("extra_closed"); then prints "held" (a line of its own,
               before the JSON) and keeps them --keep S seconds.
  trickle N    N connections each sending --prefix at once, then one
               byte of --trickle every --every S (nothing with
               --trickle ''); reports when the server closed each
               ("closed", "min", "max"), giving up after --max S.
  keepalive    one connection: --prefix (a whole request) answered, then
               --then idle (send nothing), trickle (the next request
               line, a byte a second) or requests (the request again
               every --every S, --count times); reports "answered" and
               "closed_after" (from the last answer; null: still open).
  flood N      N connections each sending --prefix and --body-bytes of
               body at once; prints "ready" when all is sent, then keeps
               them --keep S seconds (or until standard input closes).

--src ADDR binds the local address (a second loopback, 127.0.0.2).
"""
import argparse
import json
import resource
import select
import socket
import ssl
import sys
import time


def unescape(s):
    return s.encode("latin-1").decode("unicode_escape").encode("latin-1")


def connect(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if a.src:
        s.bind((a.src, 0))
    s.settimeout(10)
    s.connect((a.host, a.port))
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname="localhost")
    return s


def closed_now(s):
    """True when the server has closed s (EOF or reset), without waiting."""
    try:
        r, _, _ = select.select([s], [], [], 0)
        if not r:
            return False
        s.setblocking(False)
        try:
            return s.recv(4096) == b""
        finally:
            s.setblocking(True)
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    except (OSError, ssl.SSLError):
        return True


def wait_closed(s, limit):
    """Seconds until the server closes s (None: still open after limit)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if closed_now(s):
            return time.monotonic() - t0
        select.select([s], [], [], 0.05)
    return None


def mode_hold(a):
    socks = [connect(a) for _ in range(a.n)]
    time.sleep(a.wait)
    still = [s for s in socks if not closed_now(s)]
    extra_closed = None
    try:
        x = connect(a)
        extra_closed = wait_closed(x, 2.0) is not None
        x.close()
    except OSError:
        extra_closed = True
    print("held", flush=True)
    time.sleep(a.keep)
    out = {"n": a.n, "open": len(still), "extra_closed": extra_closed}
    for s in socks:
        s.close()
    return out


def mode_trickle(a):
    prefix, drip = unescape(a.prefix), unescape(a.trickle)
    socks, born, died = [], [], {}
    for _ in range(a.n):
        s = connect(a)
        born.append(time.monotonic())
        if prefix:
            s.sendall(prefix)
        socks.append(s)
    sent, t_next = 0, time.monotonic() + a.every
    t_end = time.monotonic() + a.max
    while len(died) < a.n and time.monotonic() < t_end:
        live = [i for i in range(a.n) if i not in died]
        r, _, _ = select.select([socks[i] for i in live], [], [],
                                max(0, min(t_next, t_end) - time.monotonic()))
        for i in live:
            if socks[i] in r and closed_now(socks[i]):
                died[i] = time.monotonic() - born[i]
        if time.monotonic() >= t_next and drip:
            b = drip[sent % len(drip):sent % len(drip) + 1]
            for i in [i for i in range(a.n) if i not in died]:
                try:
                    socks[i].sendall(b)
                except (OSError, ssl.SSLError):
                    died[i] = time.monotonic() - born[i]
            sent += 1
        if time.monotonic() >= t_next:
            t_next += a.every
    times = sorted(died.values())
    for s in socks:
        s.close()
    return {"n": a.n, "closed": len(times),
            "min": round(times[0], 2) if times else None,
            "max": round(times[-1], 2) if times else None,
            "bytes_sent": sent}


def read_answer(s):
    """The status of one answer on s (its body read too), or None."""
    got = b""
    while b"\r\n\r\n" not in got:
        c = s.recv(65536)
        if not c:
            return None
        got += c
    head, body = got.split(b"\r\n\r\n", 1)
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v.strip())
    while len(body) < n:
        c = s.recv(65536)
        if not c:
            return None
        body += c
    return int(head.split(b" ")[1])


def mode_keepalive(a):
    req = unescape(a.prefix)
    s = connect(a)
    answered = []
    s.sendall(req)
    answered.append(read_answer(s))
    t_last = time.monotonic()
    if a.then == "requests":
        for _ in range(a.count):
            time.sleep(a.every)
            try:
                s.sendall(req)
                answered.append(read_answer(s))
            except (OSError, ssl.SSLError):
                answered.append(None)
                break
            t_last = time.monotonic()
        closed = wait_closed(s, 0.5)
    elif a.then == "trickle":
        closed = None
        for b in req:
            try:
                s.sendall(bytes([b]))
            except (OSError, ssl.SSLError):
                closed = time.monotonic() - t_last
                break
            if wait_closed(s, 1.0) is not None:
                closed = time.monotonic() - t_last
                break
            if time.monotonic() - t_last > a.max:
                break
    else:
        closed = wait_closed(s, a.max)
    s.close()
    return {"answered": answered, "closed_after":
            round(closed, 2) if closed is not None else None}


def mode_flood(a):
    prefix = unescape(a.prefix)
    body = b"x" * a.body_bytes
    socks = []
    for _ in range(a.n):
        s = connect(a)
        s.sendall(prefix + body)
        socks.append(s)
    time.sleep(0.5)
    still = sum(1 for s in socks if not closed_now(s))
    print("ready", flush=True)
    r, _, _ = select.select([sys.stdin], [], [], a.keep)
    for s in socks:
        s.close()
    return {"n": a.n, "open": still}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("n", type=int, nargs="?", default=1)
    p.add_argument("--src")
    p.add_argument("--tls", action="store_true")
    p.add_argument("--wait", type=float, default=1.0)
    p.add_argument("--keep", type=float, default=0.0)
    p.add_argument("--prefix", default="")
    p.add_argument("--trickle", default="")
    p.add_argument("--every", type=float, default=1.0)
    p.add_argument("--max", type=float, default=12.0)
    p.add_argument("--then", default="idle")
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--body-bytes", type=int, default=0)
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, a.n + 64))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    out = {"hold": mode_hold, "trickle": mode_trickle,
           "keepalive": mode_keepalive, "flood": mode_flood}[a.mode](a)
    print(json.dumps(out), flush=True)


main()
