#!/usr/bin/env bash
# Requests per server CPU-second: `ceiling serve` against nginx, in one run.
#
# Each server is pinned to CPU 0 and driven by wrk pinned to CPU 1
# (`wrk -t1 -c64`, /plaintext), without pipelining and with wrk's pipeline
# script at depth 16. Server CPU time is utime+stime from /proc/PID/stat
# (every nginx process; the ceiling process, whose stat sums its threads), read
# before and after each wrk run. The figure of merit is requests per server
# CPU-second, a ratio, so most machine noise cancels.
#
# Usage: scripts/bench-server.sh                 (DURATION=10s, RUNS=3 by default)
#        DURATION=5s RUNS=1 scripts/bench-server.sh
# Needs: wrk and nginx-light (installed with apt-get when missing), taskset, python3, 2+ CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh

duration=${DURATION:-10s}
runs=${RUNS:-3}
conns=${CONNECTIONS:-64}
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}

# The anchors are installed by this script when missing (Debian/Ubuntu).
if ! command -v wrk >/dev/null 2>&1 || ! command -v nginx >/dev/null 2>&1; then
  sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "bench-server.sh: installing wrk and nginx-light with apt-get" >&2
  $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq wrk nginx-light >/dev/null
fi
for tool in wrk nginx taskset python3; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "bench-server.sh: $tool is missing; install it (apt-get install -y wrk nginx-light util-linux python3)" >&2
    exit 1
  }
done
if [ "$(nproc)" -lt 2 ]; then
  echo "bench-server.sh: needs at least 2 CPUs (server and wrk on different cores)" >&2
  exit 1
fi

cargo build --release --quiet --bin ceiling
bin=$PWD/target/release/ceiling

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

tck=$(getconf CLK_TCK)

# utime+stime in clock ticks of the given PIDs (a process's stat sums its threads).
cpu_ticks() {
  local total=0 p t
  for p in "$@"; do
    # Fields after the ")" that closes the command name: utime is the 12th, stime the 13th.
    t=$(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')
    total=$((total + t))
  done
  echo "$total"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
  local port=$1
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench-server.sh: nothing listens on port $port" >&2
  return 1
}

cat >"$tmp/pipeline.lua" <<'LUA'
-- wrk pipelining: 16 requests per write, as in wrk's scripts/pipeline.lua.
init = function(args)
  local r = {}
  for i = 1, 16 do
    r[i] = wrk.format(nil, wrk.path)
  end
  req = table.concat(r)
end
request = function()
  return req
end
LUA

# measure NAME MODE URL PIDS...: one wrk run; prints "req/s|server-CPU-s|requests per server CPU-s".
measure() {
  local name=$1 mode=$2 url=$3
  shift 3
  local script=()
  [ "$mode" = pipelined ] && script=(-s "$tmp/pipeline.lua")
  # Warm up connections and caches, unmeasured.
  taskset -c "$client_cpu" wrk -t1 -c"$conns" -d1s "${script[@]}" "$url" >/dev/null
  local before after out reqs rps cpu_s per_cpu
  before=$(cpu_ticks "$@")
  out=$(taskset -c "$client_cpu" wrk -t1 -c"$conns" -d"$duration" "${script[@]}" "$url")
  after=$(cpu_ticks "$@")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
    echo "bench-server.sh: $name $mode had errors:" >&2
    grep 'Non-2xx\|Socket errors' <<<"$out" >&2
  fi
  cpu_s=$(awk -v t="$((after - before))" -v hz="$tck" 'BEGIN {printf "%.2f", t / hz}')
  per_cpu=$(awk -v r="$reqs" -v c="$cpu_s" 'BEGIN {if (c > 0) printf "%.0f", r / c; else print 0}')
  echo "$rps|$cpu_s|$per_cpu"
}

# --- ceiling serve: one worker on the server CPU ---
start_ceiling_serve "$bin" "$server_cpu" "$tmp/ceiling.log"
ceiling_pid=$server_pid
pids+=("$ceiling_pid")
echo "# $(head -n1 "$tmp/ceiling.log")"

# --- nginx: one worker, `return 200`, access log off, pinned to the server CPU ---
port=$(free_port)
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx.conf" <<CONF
worker_processes 1;
worker_cpu_affinity $(printf '%x' $((1 << server_cpu)));
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx/error.log warn;
events {
  worker_connections 4096;
}
http {
  access_log off;
  default_type text/plain;
  # nginx closes keep-alive connections after 1000 requests by default; wrk
  # would then spend time reconnecting, which is not what is measured here.
  keepalive_requests 100000000;
  client_body_temp_path $tmp/nginx/body;
  server {
    listen 127.0.0.1:$port;
    location / {
      return 200 "Hello, World!";
    }
  }
}
CONF
taskset -c "$server_cpu" nginx -p "$tmp/nginx" -c "$tmp/nginx.conf" &
nginx_pid=$!
pids+=("$nginx_pid")
wait_port "$port"
nginx_pids=("$nginx_pid")
while read -r child; do nginx_pids+=("$child"); done < <(pgrep -P "$nginx_pid")
echo "# nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') on http://127.0.0.1:$port (master ${nginx_pids[0]}, workers ${nginx_pids[*]:1})"

# Both servers stay up (the idle one costs nothing) and the runs alternate
# between them, so slow drift of the machine affects both alike; each figure
# is the run with the median requests per server CPU-second.
declare -A runs_of
for _ in $(seq "$runs"); do
  for mode in plain pipelined; do
    runs_of[ceiling,$mode]+="$(measure ceiling "$mode" "$addr/plaintext" "$ceiling_pid") "
    runs_of[nginx,$mode]+="$(measure nginx "$mode" "http://127.0.0.1:$port/plaintext" "${nginx_pids[@]}") "
  done
done

# median_row "a|b|c a|b|c ...": the row with the median third field.
median_row() {
  tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -t'|' -k3,3n |
    awk '{rows[NR] = $0} END {print rows[int((NR + 1) / 2)]}'
}

# --- table ---
echo "# wrk -t1 -c$conns -d$duration, server on CPU $server_cpu, wrk on CPU $client_cpu, /plaintext; pipelined = depth 16; median of $runs run(s)"
printf '%-8s %-10s %12s %14s %20s\n' server mode req/s server-CPU-s req/server-CPU-s
declare -A per_of
for mode in plain pipelined; do
  for name in ceiling nginx; do
    IFS='|' read -r rps cpu per <<<"$(median_row "${runs_of[$name,$mode]}")"
    printf '%-8s %-10s %12s %14s %20s\n' "$name" "$mode" "$rps" "$cpu" "$per"
    per_of[$name]=$per
  done
  awk -v c="${per_of[ceiling]}" -v n="${per_of[nginx]}" -v m="$mode" \
    'BEGIN {printf "ratio ceiling/nginx, %s: %.2fx (requests per server CPU-second)\n", m, c / n}'
done
