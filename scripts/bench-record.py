#!/usr/bin/env python3
"""End-to-end cost of two ceiling builds, paired and alternating: the record path's
check that nothing got slower (issue 12, "one record path").

    scripts/bench-record.py OLD_BIN NEW_BIN ROUNDS [ceiling run flags...]
    e.g. scripts/bench-record.py /tmp/ceiling-old /tmp/ceiling-new 10 -t1 -c64 --cpus 1 -n 300000

Starts NEW_BIN's `serve --cpus 0` on an ephemeral port, then per round runs both
generators (order alternating) with the flags given plus --quiet --json. Per run:
the generator's user+sys CPU per completed request (getrusage of the child), its
Requests/sec, and the wall time outside the measured interval (start-up and the
end: joining workers, folding, writing). Prints per-round figures and medians,
with the paired new/old ratio.
"""
import json, os, resource, statistics, subprocess, sys, time

old, new, rounds, args = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
bins = {"old": old, "new": new}
srv = subprocess.Popen([new, "serve", "--cpus", "0", "--bind", "127.0.0.1:0"],
                       stdout=subprocess.PIPE, text=True)
addr = srv.stdout.readline().split("http://")[1].split()[0]
url = f"http://{addr}/plaintext"


def one(which):
    out = f"/tmp/bench-record-{os.getpid()}-{which}.json"
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([bins[which]] + args + ["--quiet", "--json", out, url], check=True)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    j = json.load(open(out))
    os.unlink(out)
    n = j["counters"]["completed"]
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return cpu / n * 1e6, j["requests_per_sec"], (wall - j["duration_s"]) * 1e3


rows = []
try:
    for r in range(rounds):
        order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
        got = {w: one(w) for w in order}
        rows.append(got)
        print("round %d: old %.3f us/req %.0f req/s outside %.1f ms | new %.3f us/req %.0f req/s outside %.1f ms"
              % (r, *got["old"], *got["new"]), flush=True)
finally:
    srv.kill()
    srv.wait()
med = lambda w, i: statistics.median(x[w][i] for x in rows)
ratio = lambda i: statistics.median(x["new"][i] / x["old"][i] for x in rows)
print("flags:", " ".join(args), "| nproc", os.cpu_count(), "| kernel", os.uname().release)
print("CPU per request, us: old %.3f new %.3f (paired new/old %.3f)" % (med("old", 0), med("new", 0), ratio(0)))
print("Requests/sec:        old %.0f new %.0f (paired new/old %.3f)" % (med("old", 1), med("new", 1), ratio(1)))
print("wall outside the measured interval, ms: old %.1f new %.1f" % (med("old", 2), med("new", 2)))
