#!/usr/bin/env python3
"""rawhttp.py HOST PORT [SOURCE-ADDRESS] — sends the bytes of standard
input to HOST:PORT as they are (no HTTP library: duplicate or broken
framing goes out unchanged), half-closes, and prints the status code of
the first answer ("none" when the server closed without one) and then
the answer's head on the following lines. Exit 0 whenever it connected.
"""
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
data = sys.stdin.buffer.read()
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(15)
if len(sys.argv) > 3:
    s.bind((sys.argv[3], 0))
s.connect((host, port))
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = b""
try:
    while b"\r\n\r\n" not in got:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
except (socket.timeout, ConnectionResetError):
    pass
s.close()
line = got.split(b"\r\n", 1)[0].decode("latin-1")
parts = line.split(" ")
print(parts[1] if len(parts) > 1 and line.startswith("HTTP/") else "none")
sys.stdout.write(got.split(b"\r\n\r\n", 1)[0].decode("latin-1") + "\n")
