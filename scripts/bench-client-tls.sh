#!/usr/bin/env bash
# The generator over HTTPS: requests (and new handshakes) per generator CPU-second, against
# nginx with ssl on one core, the anchors in the same rounds.
#
#   keepalive   kept-alive TLS connections, one request at a time each: ceiling vs
#               `wrk -t1 -cCONNS` over https (issue 15 target: >= 1.3x wrk).
#   handshakes  one request per connection, every connection a new full handshake:
#               ceiling `-c N -n N --tls-resume off` vs `h2load --h1 -t1 -c N -n N`
#               (issue 15 target: >= 1.2x h2load). N connections open at once, each sends
#               one request and closes; nothing is reused, nothing resumed.
#   resumed     ceiling only: `-H 'Connection: close' --tls-resume on`, CONNS connections
#               reconnecting after every response, each reconnect resuming a session.
#
# nginx-light (one worker, CPU 0, ssl with an ECDSA P-256 self-signed certificate made by
# openssl, TLS 1.2 and 1.3, `return 200 "Hello, World!"`); every generator is pinned to CPU 1,
# one thread. Generator CPU time is perf stat's task-clock of the generator process (user +
# sys, its threads included), so the figure is robust to what else the machine does; it is
# requests (or handshakes) completed per generator CPU-second. Rounds alternate the tools;
# the figures are medians of ROUNDS, and the ratio is the median of the per-round ratios.
#
# Also prints the client's crypto limit: one full TLS 1.3 handshake costs the client one
# X25519 key generation, one X25519 agreement and one ECDSA P-256 verification, so at most
# 1 / (2/x25519 + 1/verify) handshakes per CPU-second from `openssl speed`.
#
# Usage: scripts/bench-client-tls.sh          (DURATION=5 ROUNDS=3 CONNS=64 HANDSHAKES=4000)
#   BIN=PATH   ceiling binary (default: target/release/ceiling, built here)
#   MODES="keepalive handshakes resumed"
# Needs: nginx-light, wrk, h2load (nghttp2-client), openssl, perf, taskset, python3, 2+ CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh

duration=${DURATION:-5}
rounds=${ROUNDS:-3}
conns=${CONNS:-64}
handshakes=${HANDSHAKES:-4000}
modes=${MODES:-keepalive handshakes resumed}
server_cpu=0
gen_cpu=1

need_two_cpus bench-client-tls
for tool in nginx wrk h2load openssl perf taskset python3; do
  command -v "$tool" >/dev/null || {
    echo "bench-client-tls.sh: needs $tool (apt-get install -y nginx-light wrk nghttp2-client openssl linux-perf)" >&2
    exit 1
  }
done
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet --bin ceiling
  BIN=$PWD/target/release/ceiling
fi
ulimit -n "$(ulimit -Hn)"

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

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$out/key.pem" -out "$out/cert.pem" 2>/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$out/nginx"
cat >"$out/nginx/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid $out/nginx/nginx.pid;
error_log $out/nginx/error.log crit;
events { worker_connections 16384; }
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
    listen 127.0.0.1:$port ssl;
    ssl_certificate $out/cert.pem;
    ssl_certificate_key $out/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { default_type text/plain; return 200 "Hello, World!"; }
  }
}
EOF
taskset -c "$server_cpu" nginx -p "$out/nginx" -c "$out/nginx/nginx.conf" >"$out/serve.log" 2>&1 &
server_pid=$!
ok=
for _ in $(seq 200); do
  if python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2).close()" 2>/dev/null; then
    ok=1
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$out/serve.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$ok" ] || { echo "nginx did not listen within 20 s" >&2; exit 1; }
url=https://127.0.0.1:$port/plaintext

# count NAME CMD...: task-clock of CMD (ms) into $out/NAME.perf, its output into $out/NAME.out.
count() {
  local name=$1
  shift
  echo "running $name: $*" >&2
  perf stat -x, -e task-clock -o "$out/$name.perf" -- "$@" >"$out/$name.out" 2>&1
}
cpu_s() {
  awk -F, '$3 == "task-clock" {printf "%.4f", $1 / 1000}' "$out/$1.perf"
}
# ceiling_done NAME: "completed handshakes resumed errors" from its JSON result (h2load
# waits as long as it takes: so does ceiling here, --timeout 30s, no handshake timed out).
ceiling_done() {
  python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
c, t = r["counters"], r.get("tls") or {}
print(c["completed"], t.get("handshakes", 0), t.get("resumed", 0), sum(c["errors"].values()))' "$out/$1.json"
}

rows=$out/rows
: >"$rows"
gen=(taskset -c "$gen_cpu")
for round in $(seq "$rounds"); do
  for mode in $modes; do
    case $mode in
    keepalive)
      if count wrk "${gen[@]}" wrk -t1 -c"$conns" -d"${duration}s" "$url"; then
        reqs=$(awk '/requests in/ {print $1}' "$out/wrk.out")
        grep -q 'Socket errors\|Non-2xx' "$out/wrk.out" && grep 'Socket errors\|Non-2xx' "$out/wrk.out" >&2
        echo "keepalive wrk $round $reqs $(cpu_s wrk)" >>"$rows"
      fi
      if count ceiling "${gen[@]}" "$BIN" --cpus "$gen_cpu" -t 1 -c "$conns" -d "${duration}s" -k \
        --json "$out/ceiling.json" "$url"; then
        read -r reqs hs res bad <<<"$(ceiling_done ceiling)"
        [ "$bad" = 0 ] || echo "ceiling keepalive: $bad errors" >&2
        echo "keepalive ceiling $round $reqs $(cpu_s ceiling)" >>"$rows"
      else
        tail -n 5 "$out/ceiling.out" >&2
      fi
      ;;
    handshakes)
      if count h2load "${gen[@]}" h2load --h1 -t1 -c "$handshakes" -n "$handshakes" "$url"; then
        done_=$(awk '/^requests:/ {print $8}' "$out/h2load.out")
        echo "handshakes h2load $round $done_ $(cpu_s h2load)" >>"$rows"
      fi
      if count ceiling "${gen[@]}" "$BIN" --cpus "$gen_cpu" -t 1 -c "$handshakes" -n "$handshakes" -k \
        --tls-resume off --timeout 30s --json "$out/ceiling.json" "$url"; then
        read -r reqs hs res bad <<<"$(ceiling_done ceiling)"
        [ "$bad" = 0 ] || echo "ceiling handshakes: $bad errors" >&2
        [ "$res" = 0 ] || echo "ceiling handshakes: $res resumed (expected none)" >&2
        echo "handshakes ceiling $round $hs $(cpu_s ceiling)" >>"$rows"
      else
        tail -n 5 "$out/ceiling.out" >&2
      fi
      ;;
    resumed)
      if count ceiling "${gen[@]}" "$BIN" --cpus "$gen_cpu" -t 1 -c "$conns" -d "${duration}s" -k \
        --tls-resume on -H 'Connection: close' --json "$out/ceiling.json" "$url"; then
        read -r reqs hs res bad <<<"$(ceiling_done ceiling)"
        echo "resumed ceiling $round $res $(cpu_s ceiling)" >>"$rows"
      else
        tail -n 5 "$out/ceiling.out" >&2
      fi
      ;;
    esac
  done
done

speed=$(openssl speed -seconds 2 ecdsap256 ecdhx25519 2>/dev/null)
verify=$(awk '/256 bits ecdsa \(nistp256\)/ {print $NF}' <<<"$speed")
x25519=$(awk '/253 bits ecdh \(X25519\)/ {print $NF}' <<<"$speed")

echo
echo "server: nginx $(nginx -v 2>&1 | sed 's/.*\///') ssl, 1 worker, taskset -c $server_cpu, $url, OpenSSL $(openssl version | awk '{print $2}')"
echo "generators: taskset -c $gen_cpu, 1 thread; keepalive $conns connections ${duration}s; handshakes -c $handshakes -n $handshakes; $rounds rounds alternating"
echo "machine: $(uname -srm), nproc $(nproc --all), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo "per run: mode tool round done cpu_s"
cat "$rows"
python3 - "$rows" "$verify" "$x25519" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
per = {}
by_round = {}
for mode, tool, rnd, done, cpu in rows:
    v = float(done) / float(cpu) if float(cpu) else 0.0
    per.setdefault((mode, tool), []).append(v)
    by_round.setdefault((mode, rnd), {})[tool] = v
print("%-11s %-8s %16s %8s" % ("mode", "tool", "done/gen-CPU-s", "vs anchor"))
for mode, anchor in (("keepalive", "wrk"), ("handshakes", "h2load"), ("resumed", None)):
    for tool in ("ceiling", anchor):
        if tool is None or (mode, tool) not in per:
            continue
        med = statistics.median(per[(mode, tool)])
        ratio = ""
        if anchor and tool == "ceiling":
            rs = [r["ceiling"] / r[anchor] for (m, _), r in by_round.items()
                  if m == mode and r.get(anchor) and "ceiling" in r]
            if rs:
                ratio = "%.2fx" % statistics.median(rs)
        print("%-11s %-8s %16.0f %8s" % (mode, tool, med, ratio))
try:
    verify, x25519 = float(sys.argv[2]), float(sys.argv[3])
    bound = 1 / (2 / x25519 + 1 / verify)
    print("client crypto limit: openssl speed ECDSA P-256 verify %.0f/s, X25519 %.0f/s -> %.0f full handshakes per CPU-second" % (verify, x25519, bound))
    if ("handshakes", "ceiling") in per:
        print("ceiling full handshakes: %.0f%% of that limit" % (100 * statistics.median(per[("handshakes", "ceiling")]) / bound))
except (ValueError, ZeroDivisionError):
    print("openssl speed gave no figures")
PY
