#!/usr/bin/env bash
# Wake-ups per response when the server is the bottleneck: nginx with one worker on CPU 0,
# the generator pinned to CPU 1 (64 connections, /plaintext, one thread), wrk in the same
# rounds as the anchor.
#
# Counted by `perf stat` on the generator process (its threads included), in the kernel:
# task-clock (the generator's CPU time, user + sys), context-switches (each sleep and
# wake-up of the generator thread), cpu-migrations, every syscall (raw_syscalls:sys_enter)
# and io_uring_enter alone. Per completed request, so the figures are robust to other load
# on the machine; CPU-seconds are medians of alternating rounds.
#
# Usage: scripts/bench-wakeups.sh
#   DURATION=5       seconds per run
#   ROUNDS=3         rounds; the variants alternate within a round
#   CONNS=64         connections
#   VARIANTS="off"   ceiling rows, each run with CEILING_EXPERIMENT_WAIT=VARIANT. "off": the
#                    shipped loop (one completion per wait). The batching experiment of issue
#                    12 read that variable; its code was measured and left out (BENCHMARKS.md,
#                    "Wake-ups when the server is the bottleneck"), so the other values need
#                    BIN= a release build of commit 160adaa: "min:US" (io_uring min-wait,
#                    Linux 6.12+: wait up to US for every live connection's completion, then
#                    return with what came) or "nr:US" (wait for the completions expected
#                    within US at the observed response rate, timeout US); both only while
#                    that rate predicts 2+ completions in US, never under -R.
#   BIN=PATH         ceiling binary (default: target/release/ceiling, built here)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh

duration=${DURATION:-5}
rounds=${ROUNDS:-3}
conns=${CONNS:-64}
variants=${VARIANTS:-off}
server_cpu=0
gen_cpu=1

need_two_cpus bench-wakeups
for tool in perf wrk nginx; do
  command -v "$tool" >/dev/null || { echo "bench-wakeups.sh: needs $tool" >&2; exit 1; }
done
events=task-clock,context-switches,cpu-migrations,raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter
perf stat -e "$events" -- true >/dev/null 2>&1 || {
  echo "bench-wakeups.sh: perf cannot count syscall tracepoints here (root, or kernel.perf_event_paranoid <= -1)" >&2
  exit 1
}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet --bin ceiling
  BIN=$PWD/target/release/ceiling
fi

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

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$out/nginx"
cat >"$out/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $out/nginx/nginx.pid;
error_log $out/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000000;
  keepalive_timeout 300s;
  client_body_temp_path $out/nginx/body;
  proxy_temp_path $out/nginx/proxy;
  fastcgi_temp_path $out/nginx/fastcgi;
  uwsgi_temp_path $out/nginx/uwsgi;
  scgi_temp_path $out/nginx/scgi;
  server {
    listen 127.0.0.1:$port;
    location /plaintext { default_type text/plain; return 200 "Hello, World!"; }
  }
}
EOF
taskset -c "$server_cpu" nginx -p "$out/nginx" -c "$out/nginx/nginx.conf" >"$out/serve.log" 2>&1 &
server_pid=$!
ok=
for _ in $(seq 200); do
  if python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2).close()" 2>/dev/null; then
    ok=1; break
  fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$out/serve.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$ok" ] || { echo "nginx did not listen within 20 s" >&2; exit 1; }
url=http://127.0.0.1:$port/plaintext

# count NAME CMD...: perf stat of CMD into $out/NAME.perf (CSV), its output into $out/NAME.out.
count() {
  local name=$1
  shift
  echo "running $name: $*" >&2
  perf stat -x, -e "$events" -o "$out/$name.perf" -- "$@" >"$out/$name.out" 2>&1
}

# One line per run: tool round requests p50_us p99_us then the perf counts.
rows=$out/rows
: >"$rows"
perf_fields() {
  python3 - "$out/$1.perf" <<'PY'
import sys
v = {}
for line in open(sys.argv[1]):
    f = line.strip().split(",")
    if len(f) > 2 and f[2]:
        try:
            v[f[2]] = float(f[0])
        except ValueError:
            v[f[2]] = 0.0
print(v.get("task-clock", 0) / 1e3, int(v.get("context-switches", 0)), int(v.get("cpu-migrations", 0)),
      int(v.get("raw_syscalls:sys_enter", 0)), int(v.get("syscalls:sys_enter_io_uring_enter", 0)))
PY
}

for round in $(seq "$rounds"); do
  if count wrk taskset -c "$gen_cpu" wrk -t1 -c"$conns" -d"${duration}s" --latency "$url"; then
    read -r reqs p50 p99 < <(python3 - "$out/wrk.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def us(s):
    n, u = re.match(r"([\d.]+)(us|ms|s)", s).groups()
    return float(n) * {"us": 1, "ms": 1e3, "s": 1e6}[u]
reqs = re.search(r"(\d+) requests in", t).group(1)
p = dict(re.findall(r"^\s+(\d+)%\s+(\S+)", t, re.M))
print(reqs, us(p["50"]), us(p["99"]))
PY
)
    echo "wrk $round $reqs $p50 $p99 $(perf_fields wrk)" >>"$rows"
  fi
  for v in $variants; do
    name=ceiling-$v
    if CEILING_EXPERIMENT_WAIT=$v count "$name" taskset -c "$gen_cpu" "$BIN" --cpus "$gen_cpu" -t 1 \
      -c "$conns" -d "${duration}s" --json "$out/$name.json" "$url"; then
      read -r reqs p50 p99 < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
l = {p["percentile"]: p["value_us"] for p in r["latency"]["percentiles"]}
print(r["counters"]["completed"], l[50.0], l[99.0])' "$out/$name.json")
      echo "$name $round $reqs $p50 $p99 $(perf_fields "$name")" >>"$rows"
    else
      tail -n 5 "$out/$name.out" >&2
    fi
  done
done

echo
echo "server: nginx $(nginx -v 2>&1 | sed 's/.*\///'), 1 worker, taskset -c $server_cpu, $url"
echo "generators: taskset -c $gen_cpu, 1 thread, $conns connections, ${duration}s, $rounds rounds alternating"
echo "machine: $(uname -srm), nproc $(nproc --all), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo "per run: tool round requests p50_us p99_us cpu_s ctx_switches migrations syscalls io_uring_enter"
sed 's/^/  /' "$rows"
python3 - "$rows" <<'PY'
import sys, statistics as st
rows, order = {}, []
for line in open(sys.argv[1]):
    f = line.split()
    t = f[0]
    if t not in rows:
        rows[t] = []; order.append(t)
    reqs, p50, p99, cpu, cs, mig, sc, ue = map(float, f[2:])
    rows[t].append(dict(reqs=reqs, p50=p50, p99=p99, cpu=cpu, per_cpu=reqs / cpu if cpu else 0,
                        cs=cs / reqs, sc=sc / reqs, ue=ue / reqs, rps=reqs))
med = lambda t, k: st.median(r[k] for r in rows[t])
base = med("wrk", "per_cpu") if "wrk" in rows else 0
print("%-16s %10s %10s %8s %8s %9s %9s %9s %8s" % ("tool (medians)", "requests", "req/CPU-s", "vs wrk",
      "p50 us", "p99 us", "cs/req", "sys/req", "enter/req"))
for t in order:
    pc = med(t, "per_cpu")
    print("%-16s %10.0f %10.0f %8s %8.0f %9.0f %9.3f %9.3f %8.3f" % (t, med(t, "reqs"), pc,
          "%.2fx" % (pc / base) if base else "n/a", med(t, "p50"), med(t, "p99"), med(t, "cs"),
          med(t, "sc"), med(t, "ue")))
# Paired: each run against wrk and against ceiling-off of the same round, then the median.
by_round = {}
for line in open(sys.argv[1]):
    f = line.split()
    cpu = float(f[5])
    by_round.setdefault(f[1], {})[f[0]] = float(f[2]) / cpu if cpu else 0
print("paired per round (median of ratios): req/CPU-s vs wrk, vs ceiling-off")
for t in order:
    vw = [r[t] / r["wrk"] for r in by_round.values() if t in r and r.get("wrk")]
    vo = [r[t] / r["ceiling-off"] for r in by_round.values() if t in r and r.get("ceiling-off")]
    print("  %-16s %s  %s" % (t, "%.2fx" % st.median(vw) if vw else "n/a",
          "%.3f" % st.median(vo) if vo else "n/a"))
PY
