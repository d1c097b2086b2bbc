#!/usr/bin/env bash
# Requests (and handshakes) per server CPU-second over HTTPS: `ceiling serve
# --tls` against nginx with ssl, same certificate, in one run.
#
# Each server is pinned to CPU 0, one worker, and driven by wrk over https
# pinned to CPU 1 (`wrk -t1 -c64`, /plaintext) in three modes:
#   keepalive  one request at a time per kept-alive TLS connection;
#   pipelined  wrk's pipeline script, depth 16;
#   close      `Connection: close`: one request per connection, so each
#              request pays a full TLS handshake (wrk resumes no sessions);
#   bulk       GET /bytes/1048576 on kept-alive connections: 1 MiB answers, so
#              requests per CPU-second are MiB encrypted per CPU-second (nginx
#              serves a 1 MiB file from its root for the same answer).
# Server CPU time is utime+stime from /proc/PID/stat (all nginx processes; the
# ceiling process sums its threads), read before and after each wrk run. The
# figure of merit is requests per server CPU-second. Rounds alternate between
# the servers; each figure is the run with the median of RUNS rounds.
#
# The certificate is ECDSA P-256, self-signed for localhost/127.0.0.1, made
# with openssl and given to both servers (ceiling with --cert/--key).
#
# Usage: scripts/bench-server-tls.sh                       (DURATION=5s RUNS=3)
#   CEILINGS="awslc=/tmp/a ring=/tmp/b" scripts/bench-server-tls.sh
#       compares several ceiling binaries (e.g. the two crypto providers);
#   TLS=0 NGINX=0 CEILINGS="before=/tmp/old after=/tmp/new" MODES="keepalive pipelined"
#       compares plain-HTTP builds (the TLS change's cost on the plain path).
# Needs: wrk, nginx-light, openssl, taskset, python3, 2+ CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-5s}
runs=${RUNS:-3}
conns=${CONNECTIONS:-64}
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
tls=${TLS:-1}
with_nginx=${NGINX:-1}
modes=${MODES:-keepalive pipelined close}

for tool in wrk nginx openssl taskset python3; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "bench-server-tls.sh: $tool is missing; install it (apt-get install -y wrk nginx-light openssl util-linux python3)" >&2
    exit 1
  }
done

if [ -z "${CEILINGS:-}" ]; then
  cargo build --release --quiet --bin ceiling
  CEILINGS="ceiling=$PWD/target/release/ceiling"
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
tck=$(getconf CLK_TCK)
scheme=http
[ "$tls" = 1 ] && scheme=https

cpu_ticks() {
  local total=0 p t
  for p in "$@"; do
    t=$(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')
    total=$((total + t))
  done
  echo "$total"
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench-server-tls.sh: nothing listens on port $1" >&2
  return 1
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null

cat >"$tmp/pipeline.lua" <<'LUA'
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, wrk.path) end
  req = table.concat(r)
end
request = function() return req end
LUA

# measure NAME MODE URL PIDS...: prints "req/s|server-CPU-s|requests per server CPU-s".
measure() {
  local name=$1 mode=$2 url=$3
  shift 3
  local extra=()
  [ "$mode" = pipelined ] && extra=(-s "$tmp/pipeline.lua")
  [ "$mode" = close ] && extra=(-H "Connection: close")
  taskset -c "$client_cpu" wrk -t1 -c"$conns" -d1s "${extra[@]}" "$url" >/dev/null
  local before after out reqs rps cpu_s per_cpu
  before=$(cpu_ticks "$@")
  out=$(taskset -c "$client_cpu" wrk -t1 -c"$conns" -d"$duration" "${extra[@]}" "$url")
  after=$(cpu_ticks "$@")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
    echo "bench-server-tls.sh: $name $mode: $(grep 'Non-2xx\|Socket errors' <<<"$out" | tr '\n' ' ')" >&2
  fi
  cpu_s=$(awk -v t="$((after - before))" -v hz="$tck" 'BEGIN {printf "%.2f", t / hz}')
  per_cpu=$(awk -v r="$reqs" -v c="$cpu_s" 'BEGIN {if (c > 0) printf "%.0f", r / c; else print 0}')
  echo "$rps|$cpu_s|$per_cpu"
}

names=()
declare -A url_of pids_of
for entry in $CEILINGS; do
  name=${entry%%=*}
  bin=${entry#*=}
  args=(serve --bind 127.0.0.1:0 --cpus "$server_cpu")
  [ "$tls" = 1 ] && args+=(--cert "$tmp/cert.pem" --key "$tmp/key.pem")
  taskset -c "$server_cpu" "$bin" "${args[@]}" >"$tmp/$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  addr=
  for _ in $(seq 200); do
    addr=$(grep -o "listening on $scheme://[^ ]*" "$tmp/$name.log" | head -n1 | sed 's/listening on //' || true)
    [ -n "$addr" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/$name.log" >&2; exit 1; }
    sleep 0.05
  done
  [ -n "$addr" ] || { echo "bench-server-tls.sh: $name did not start" >&2; exit 1; }
  echo "# $name: $(head -n1 "$tmp/$name.log")"
  names+=("$name")
  url_of[$name]=$addr
  pids_of[$name]=$pid
done

if [ "$with_nginx" = 1 ]; then
  port=$(free_port)
  mkdir -p "$tmp/nginx" "$tmp/www/bytes"
  head -c 1048576 /dev/zero | tr '\0' x >"$tmp/www/bytes/1048576"
  # nginx's workers run as an unprivileged user: let them read the file.
  chmod 755 "$tmp" "$tmp/www" "$tmp/www/bytes"
  chmod 644 "$tmp/www/bytes/1048576"
  ssl_listen=""
  ssl_conf=""
  if [ "$tls" = 1 ]; then
    ssl_listen=" ssl"
    ssl_conf="ssl_certificate $tmp/cert.pem; ssl_certificate_key $tmp/key.pem; ssl_protocols TLSv1.2 TLSv1.3;"
  fi
  cat >"$tmp/nginx.conf" <<CONF
worker_processes 1;
worker_cpu_affinity $(printf '%x' $((1 << server_cpu)));
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx/error.log crit;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  keepalive_requests 100000000;
  client_body_temp_path $tmp/nginx/body;
  server {
    listen 127.0.0.1:$port$ssl_listen;
    $ssl_conf
    location / { return 200 "Hello, World!"; }
    location /bytes/ { root $tmp/www; }
  }
}
CONF
  taskset -c "$server_cpu" nginx -p "$tmp/nginx" -c "$tmp/nginx.conf" &
  nginx_pid=$!
  pids+=("$nginx_pid")
  wait_port "$port"
  npids="$nginx_pid $(pgrep -P "$nginx_pid" | tr '\n' ' ')"
  echo "# nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') on $scheme://127.0.0.1:$port, OpenSSL $(openssl version | awk '{print $2}')"
  names+=(nginx)
  url_of[nginx]=$scheme://127.0.0.1:$port
  pids_of[nginx]=$npids
fi

if [ "$tls" = 1 ]; then
  for name in "${names[@]}"; do
    hostport=${url_of[$name]#https://}
    neg=$(echo | openssl s_client -connect "$hostport" -servername localhost 2>/dev/null |
      awk '/^New, / {print $2, $5} /Server Temp Key/ {sub(/.*Temp Key: /, ""); print}' | tr '\n' ' ')
    echo "# $name negotiates (openssl s_client): $neg"
  done
fi

declare -A runs_of
for _ in $(seq "$runs"); do
  for mode in $modes; do
    for name in "${names[@]}"; do
      # shellcheck disable=SC2086
      path=/plaintext
      [ "$mode" = bulk ] && path=/bytes/1048576
      runs_of[$name,$mode]+="$(measure "$name" "$mode" "${url_of[$name]}$path" ${pids_of[$name]}) "
    done
  done
done

median_row() {
  tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -t'|' -k3,3n |
    awk '{rows[NR] = $0} END {print rows[int((NR + 1) / 2)]}'
}

echo "# wrk -t1 -c$conns -d$duration over $scheme, server on CPU $server_cpu, wrk on CPU $client_cpu, /plaintext; median of $runs round(s); nproc $(nproc), kernel $(uname -r)"
printf '%-10s %-10s %12s %14s %20s\n' server mode req/s server-CPU-s req/server-CPU-s
for mode in $modes; do
  for name in "${names[@]}"; do
    IFS='|' read -r rps cpu per <<<"$(median_row "${runs_of[$name,$mode]}")"
    printf '%-10s %-10s %12s %14s %20s\n' "$name" "$mode" "$rps" "$cpu" "$per"
  done
done
