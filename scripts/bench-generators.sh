#!/usr/bin/env bash
# The generator's figure of merit: requests per generator CPU-second, for ceiling and wrk
# (plus oha and h2load when installed), measured in ONE run against the same server.
#
# The server is pinned to CPU 0 (`ceiling serve --cpus 0`, release build; SERVER=nginx uses
# nginx with one worker instead). Each generator runs in turn, pinned to CPU 1, with 64
# connections on /plaintext for DURATION seconds. Generator CPU time is the generator
# process's user + sys (GNU time), so the ratio to wrk cancels most machine noise.
#
# Usage: scripts/bench-generators.sh
#   DURATION=10   seconds per generator run
#   ROUNDS=3      rounds; tools alternate within a round, the table shows medians
#   CONNS=64      connections
#   SERVER=ceiling|nginx
#   ENGINES="auto"  ceiling's --io-engine values, one row each (auto: the direct io_uring
#                   loop; monoio: monoio's io_uring driver; epoll), e.g. ENGINES="auto monoio epoll"
#   BIN=PATH        the ceiling binary measured (default: target/release/ceiling, built here)
#   BASELINE=PATH   another ceiling binary (e.g. a release build of the commit before a
#                   change) run right after each ceiling row, as rows "base-ENGINE", so a
#                   change is measured against its baseline in the same rounds
# Installs wrk and GNU time (and nginx-light with SERVER=nginx) with apt-get when missing.
# oha is a row when it is on PATH: `cargo install oha --locked` adds it (--locked: its newest
# dependencies may want a newer rustc than the one here).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh

duration=${DURATION:-10}
rounds=${ROUNDS:-3}
conns=${CONNS:-64}
server_kind=${SERVER:-ceiling}
engines=${ENGINES:-auto}
server_cpu=0
gen_cpu=1

need_two_cpus bench-generators

apt_install() {
  local sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq "$@" >/dev/null
}
command -v wrk >/dev/null || apt_install wrk
[ -x /usr/bin/time ] || apt_install time
if [ "$server_kind" = nginx ]; then
  command -v nginx >/dev/null || apt_install nginx-light
fi

if [ -n "${BIN:-}" ]; then
  bin=$BIN
else
  cargo build --release --quiet --bin ceiling
  bin=$PWD/target/release/ceiling
fi

out=$(mktemp -d)
server_pid=
gen_pid=
cleanup() {
  # The generator runs under GNU time: stop its child (by PID) as well as time itself.
  local kids=
  [ -n "$gen_pid" ] && kids=$(ps -o pid= --ppid "$gen_pid" 2>/dev/null || true)
  for pid in $kids $gen_pid $server_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the server, pinned to CPU 0 -----------------------------------------------------------
case "$server_kind" in
  ceiling)
    start_ceiling_serve "$bin" "$server_cpu" "$out/serve.log"
    server_desc="ceiling serve --cpus $server_cpu"
    ;;
  nginx)
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
    addr=http://127.0.0.1:$port
    ok=
    for _ in $(seq 200); do
      if python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2).close()" 2>/dev/null; then
        ok=1; break
      fi
      kill -0 "$server_pid" 2>/dev/null || { cat "$out/serve.log" >&2; exit 1; }
      sleep 0.1
    done
    [ -n "$ok" ] || { echo "nginx did not listen within 20 s" >&2; exit 1; }
    server_desc="nginx $(nginx -v 2>&1 | sed 's/.*\///'), 1 worker, taskset -c $server_cpu"
    ;;
  *)
    echo "SERVER must be ceiling or nginx, not '$server_kind'" >&2
    exit 2
    ;;
esac
url="$addr/plaintext"

# --- the generators, one after the other, pinned to CPU 1 ----------------------------------
# run NAME CMD...: runs CMD under GNU time, output in $out/NAME.out, CPU in $out/NAME.cpu.
run() {
  local name=$1
  shift
  echo "running $name: $*" >&2
  /usr/bin/time -f '%U %S' -o "$out/$name.cpu" "$@" >"$out/$name.out" 2>&1 &
  gen_pid=$!
  if ! wait "$gen_pid"; then
    echo "$name failed:" >&2
    tail -n 20 "$out/$name.out" >&2
    gen_pid=
    return 1
  fi
  gen_pid=
}

# Each row: tool round rps requests cpu_s. Tools alternate within each round, so a slow
# stretch of the shared VM hits all of them; the table shows each tool's median round.
rows=()
cpu_of() { awk 'END { printf "%.3f", $1 + $2 }' "$out/$1.cpu"; }

for round in $(seq "$rounds"); do
  if run wrk taskset -c "$gen_cpu" wrk -t1 -c"$conns" -d"${duration}s" "$url"; then
    reqs=$(awk '/requests in/ { print $1 }' "$out/wrk.out")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out/wrk.out")
    rows+=("wrk $round $rps $reqs $(cpu_of wrk)")
  fi

  for engine in $engines; do
    name=ceiling
    [ "$engine" = auto ] || name=ceiling-$engine
    if run "$name" taskset -c "$gen_cpu" "$bin" --cpus "$gen_cpu" -t 1 -c "$conns" -d "${duration}s" \
      --io-engine "$engine" --json "$out/$name.json" "$url"; then
      read -r rps reqs < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["requests_per_sec"], r["counters"]["completed"])' "$out/$name.json")
      rows+=("$name $round $rps $reqs $(cpu_of "$name")")
    fi
    if [ -n "${BASELINE:-}" ] && run "base-$engine" taskset -c "$gen_cpu" "$BASELINE" --cpus "$gen_cpu" -t 1 \
      -c "$conns" -d "${duration}s" --io-engine "$engine" --json "$out/base-$engine.json" "$url"; then
      read -r rps reqs < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["requests_per_sec"], r["counters"]["completed"])' "$out/base-$engine.json")
      rows+=("base-$engine $round $rps $reqs $(cpu_of "base-$engine")")
    fi
  done

  if command -v oha >/dev/null; then
    if run oha taskset -c "$gen_cpu" oha --no-tui --output-format json -c "$conns" -z "${duration}s" "$url"; then
      # Responses received (any status), and requests/s over oha's own total time.
      read -r rps reqs < <(python3 -c '
import json, sys
t = open(sys.argv[1]).read()
r = json.loads(t[t.index("{"):])
n = sum(r["statusCodeDistribution"].values())
print(n / r["summary"]["total"], n)' "$out/oha.out")
      rows+=("oha $round $rps $reqs $(cpu_of oha)")
    fi
  fi

  if command -v h2load >/dev/null; then
    if run h2load taskset -c "$gen_cpu" h2load --h1 -t1 -c"$conns" -D "$duration" "$url"; then
      rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$out/h2load.out")
      reqs=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$out/h2load.out")
      rows+=("h2load $round $rps $reqs $(cpu_of h2load)")
    fi
  fi
done

# --- the table -------------------------------------------------------------------------------
echo
echo "server: $server_desc at $url; generators: CPU $gen_cpu, $conns connections, ${duration}s each, $rounds rounds"
echo "machine: $(uname -srm), $(nproc --all) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo "per round (tool round rps requests gen-CPU-s req/gen-CPU-s):"
printf '%s\n' "${rows[@]}" | awk '{ printf "  %-15s %2d %12.0f %10d %8.2f %12.0f\n", $1, $2, $3, $4, $5, ($5 > 0) ? $4 / $5 : 0 }'
printf '%s\n' "${rows[@]}" | python3 -c '
import sys, statistics
per, rps, order = {}, {}, []
for line in sys.stdin:
    tool, rnd, r, reqs, cpu = line.split()
    if tool not in per:
        order.append(tool); per[tool] = []; rps[tool] = []
    per[tool].append(float(reqs) / float(cpu) if float(cpu) > 0 else 0.0)
    rps[tool].append(float(r))
base = statistics.median(per["wrk"]) if "wrk" in per else 0
print("%-15s %12s %20s %10s" % ("tool", "median rps", "median req/gen-CPU-s", "vs wrk"))
for t in order:
    m = statistics.median(per[t])
    ratio = "%.2fx" % (m / base) if base else "n/a"
    print("%-15s %12.0f %20.0f %10s" % (t, statistics.median(rps[t]), m, ratio))
'
