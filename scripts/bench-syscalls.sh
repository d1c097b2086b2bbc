#!/usr/bin/env bash
# Syscalls per completed request, for ceiling (io_uring and epoll), wrk and, when installed,
# h2load and oha, against the same pinned `ceiling serve`.
#
# Counted with `perf stat` on the generator process only (its threads included):
# raw_syscalls:sys_enter (every syscall) and every syscalls:sys_enter_* tracepoint, so the
# table says both how many and which (wrk, for one, makes two epoll_ctl calls per request). perf counts in the kernel
# (no ptrace stop per call as with strace -c, which would slow the generator several-fold).
# The server is pinned to CPU 0, each generator to CPU 1 (one thread), 64 connections on
# /plaintext for DURATION seconds, one after the other.
#
# Usage: scripts/bench-syscalls.sh
#   DURATION=5   seconds per tool
#   CONNS=64     connections
#   PIPELINE=1   ceiling -p (wrk/h2load/oha are not pipelined: keep 1 for a like-for-like table)
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-5}
conns=${CONNS:-64}
pipeline=${PIPELINE:-1}
server_cpu=0
gen_cpu=1

command -v perf >/dev/null || { echo "bench-syscalls.sh: needs perf (apt-get install -y linux-perf)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench-syscalls.sh: needs wrk (apt-get install -y wrk)" >&2; exit 1; }
perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1 || {
  echo "bench-syscalls.sh: perf cannot count syscall tracepoints here (root, or kernel.perf_event_paranoid <= -1, and tracefs needed)" >&2
  exit 1
}

cargo build --release --quiet --bin ceiling
bin=$PWD/target/release/ceiling
out=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

taskset -c "$server_cpu" "$bin" serve --bind 127.0.0.1:0 --cpus "$server_cpu" >"$out/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 200); do
  grep -q 'listening on' "$out/serve.log" && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$out/serve.log" >&2; exit 1; }
  sleep 0.1
done
base=$(grep -o 'http://[^ ]*' "$out/serve.log" | head -n1)
[ -n "$base" ] || { echo "ceiling serve did not start within 20 s" >&2; exit 1; }
url=$base/plaintext

# Every syscall tracepoint: the total, io_uring_enter, and which calls dominate.
events='raw_syscalls:sys_enter,syscalls:sys_enter_*'

# measure NAME CMD... : perf counts into $out/NAME.perf, output into $out/NAME.out
measure() {
  local name=$1
  shift
  echo "running $name: $*" >&2
  perf stat -x, -e "$events" -o "$out/$name.perf" -- taskset -c "$gen_cpu" "$@" >"$out/$name.out" 2>&1
}

: >"$out/done"
measure ceiling-uring "$bin" --cpus "$gen_cpu" -t1 -c "$conns" -p "$pipeline" -d "${duration}s" --io-engine uring \
  --json "$out/u.json" --quiet "$url"
python3 -c 'import json,sys; print("ceiling-uring", json.load(open(sys.argv[1]))["counters"]["completed"])' "$out/u.json" >>"$out/done"
measure ceiling-epoll "$bin" --cpus "$gen_cpu" -t1 -c "$conns" -p "$pipeline" -d "${duration}s" --io-engine epoll \
  --json "$out/e.json" --quiet "$url"
python3 -c 'import json,sys; print("ceiling-epoll", json.load(open(sys.argv[1]))["counters"]["completed"])' "$out/e.json" >>"$out/done"
measure wrk wrk -t1 -c"$conns" -d"${duration}s" "$url"
echo "wrk $(awk '/requests in/ { print $1 }' "$out/wrk.out")" >>"$out/done"
if command -v h2load >/dev/null; then
  measure h2load h2load --h1 -t1 -c"$conns" -D "$duration" "$url"
  echo "h2load $(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$out/h2load.out")" >>"$out/done"
fi
if command -v oha >/dev/null; then
  measure oha oha --no-tui --output-format json -c "$conns" -z "${duration}s" "$url"
  python3 - "$out/oha.out" >>"$out/done" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
r = json.loads(text[text.index("{"):])
# Responses received, whatever their status (requests aborted at the deadline are not in it).
print("oha", sum(r["statusCodeDistribution"].values()))
PY
fi

echo
echo "server: ceiling serve --cpus $server_cpu at $base; generators: taskset -c $gen_cpu, one thread, $conns connections, ${duration}s, /plaintext, ceiling -p $pipeline"
echo "machine: $(uname -srm), nproc $(nproc --all), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
python3 - "$out" <<'PY'
import os, sys
out = sys.argv[1]
done = dict(l.split() for l in open(os.path.join(out, "done")) if len(l.split()) == 2)
cols = ["raw_syscalls:sys_enter", "syscalls:sys_enter_io_uring_enter"]
rows = []
for tool, n in done.items():
    counts = {}
    for line in open(os.path.join(out, tool + ".perf")):
        f = line.strip().split(",")
        if len(f) > 2 and f[0].replace(".", "").isdigit():
            counts[f[2]] = float(f[0])
    rows.append((tool, int(n), counts))
print("%-14s %10s %14s %14s %18s  %s" % ("tool", "requests", "syscalls", "per request", "io_uring_enter/req", "top calls per request"))
for tool, n, c in rows:
    total = c.get(cols[0], 0)
    ue = c.get(cols[1], 0)
    top = sorted(((v, k.split("sys_enter_")[1]) for k, v in c.items() if k.startswith("syscalls:") and v > 0), reverse=True)[:4]
    tops = ", ".join("%s %.2f" % (k, v / n) for v, k in top) if n else ""
    print("%-14s %10d %14d %14.3f %18.3f  %s" % (tool, n, total, total / n if n else 0, ue / n if n else 0, tops))
PY
