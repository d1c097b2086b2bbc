#!/usr/bin/env python3
"""A stalling HTTP/1.1 server for coordinated-omission comparisons.

Answers every request at once, except during the last STALL seconds of every PERIOD
seconds (from its start), when it holds the answers until the stall ends. For requests
at a constant rate well below capacity the true latency distribution is known: a share
STALL/PERIOD waits uniformly between 0 and STALL, the rest see the unstalled latency.

Usage: stall-server.py [PERIOD [STALL]]   (defaults 1.0 0.2); prints its port, then serves.
"""
import socket
import sys
import threading
import time

P = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
S = float(sys.argv[2]) if len(sys.argv) > 2 else 0.2
t0 = time.monotonic()
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(1024)
print(ls.getsockname()[1], flush=True)


def serve(c):
    try:
        answer(c)
    except OSError:
        pass  # the client closed or reset: nothing to report
    finally:
        c.close()


def answer(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    while True:
        d = c.recv(65536)
        if not d:
            return
        buf += d
        n = buf.count(b"\r\n\r\n")
        if not n:
            continue
        buf = buf[buf.rfind(b"\r\n\r\n") + 4:]
        ph = (time.monotonic() - t0) % P
        if ph >= P - S:
            time.sleep(P - ph)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" * n)


while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
