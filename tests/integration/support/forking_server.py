#!/usr/bin/env python3
"""A pre-fork HTTP/1.1 server shaped like gunicorn: the master binds one listening
socket, forks WORKERS children that accept on it and do all the work, and only
waits for them (re-forking a worker that exits). Each request burns CPU (WORK loop
iterations) before its 200 answer, so the workers are CPU-bound by design and the
master uses none.

    forking_server.py [--workers N] [--work N] [--max-requests N] [--fail-above N]

--max-requests: a worker exits after that many requests and the master forks a
new one (gunicorn's --max-requests): children start and exit during a run.
--fail-above: a worker answers 503 while it holds more than N open connections.

Prints "listening on 127.0.0.1:PORT" once ready. SIGTERM ends the master and its
workers; a worker whose master is gone exits too.
"""

import argparse
import os
import selectors
import signal
import socket
import sys

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"


def worker(listener, args, master):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    sel = selectors.DefaultSelector()
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, None)
    buffers = {}
    served = 0
    while True:
        if os.getppid() != master:
            os._exit(0)
        for key, _ in sel.select(timeout=0.5):
            if key.data is None:
                try:
                    conn, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buffers[conn] = b""
                sel.register(conn, selectors.EVENT_READ, "conn")
                continue
            conn = key.fileobj
            try:
                data = conn.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(conn)
                del buffers[conn]
                conn.close()
                continue
            buf = buffers[conn] + data
            out = []
            while b"\r\n\r\n" in buf:
                _, buf = buf.split(b"\r\n\r\n", 1)
                if args.fail_above and len(buffers) > args.fail_above:
                    out.append(BUSY)
                    continue
                x = 0
                for i in range(args.work):
                    x += i * i
                out.append(OK)
                served += 1
            buffers[conn] = buf
            if out:
                try:
                    conn.setblocking(True)
                    conn.sendall(b"".join(out))
                    conn.setblocking(False)
                except OSError:
                    pass
            if args.max_requests and served >= args.max_requests:
                os._exit(0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--work", type=int, default=3000)
    p.add_argument("--max-requests", type=int, default=0)
    p.add_argument("--fail-above", type=int, default=0)
    args = p.parse_args()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    master = os.getpid()
    workers = set()

    def spawn():
        pid = os.fork()
        if pid == 0:
            worker(listener, args, master)
            os._exit(0)
        workers.add(pid)

    def stop(*_):
        for pid in list(workers):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for _ in list(workers):
            try:
                os.wait()
            except ChildProcessError:
                break
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    for _ in range(args.workers):
        spawn()
    print("listening on 127.0.0.1:%d" % listener.getsockname()[1], flush=True)
    while True:
        # The master only waits; a worker that exits is reaped (its CPU time goes
        # into the master's cutime) and replaced.
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            return
        except InterruptedError:
            continue
        workers.discard(pid)
        spawn()


if __name__ == "__main__":
    sys.exit(main())
