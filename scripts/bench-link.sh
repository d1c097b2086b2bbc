#!/usr/bin/env bash
# Link saturation: does one generator core fill a 1 Gbit/s link?
#
# Two network namespaces joined by a veth pair; the server side's egress (the direction the
# responses travel) is shaped with `tc qdisc ... tbf rate $RATE`. `ceiling serve` runs in one
# namespace pinned to CPU 0, the generator in the other pinned to CPU 1 (one thread), against
# /bytes/{n} for several n and against /plaintext (13-byte bodies, plain and pipelined).
# One table: body size, req/s, goodput (body bytes) and wire (bytes read: heads + bodies)
# in Gbit/s, goodput as % of the link, generator CPU (user+sys over the run, % of one core).
#
# "Link" is tbf's rate, which counts whole frames (Ethernet + IP + TCP headers): with MTU 1500
# and TCP timestamps at most 1448/1514 = 95.6% of it can be TCP payload.
#
# Usage (root): scripts/bench-link.sh
#   DURATION=5          seconds per row
#   CONNS=64            connections
#   RATE=1gbit          tbf rate
#   MTU=1500            veth MTU
#   SIZES="1024 16384 65536 1048576"   /bytes/{n} rows
#   WRK=1               also run wrk (one thread, pinned the same way) for each row, if installed
# Everything it creates (namespaces, veth, qdisc, server) is removed on exit, even on failure;
# it changes nothing outside its own namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-5}
conns=${CONNS:-64}
rate=${RATE:-1gbit}
mtu=${MTU:-1500}
sizes=${SIZES:-1024 16384 65536 1048576}
with_wrk=${WRK:-1}
server_cpu=0
gen_cpu=1

[ "$(id -u)" -eq 0 ] || { echo "bench-link.sh: needs root (ip netns, tc)" >&2; exit 1; }
for tool in ip tc taskset python3; do
  command -v "$tool" >/dev/null || { echo "bench-link.sh: needs $tool" >&2; exit 1; }
done
[ "$(nproc --all)" -ge 2 ] || { echo "bench-link.sh: needs 2 CPUs (server on 0, generator on 1)" >&2; exit 1; }
command -v wrk >/dev/null || with_wrk=0

cargo build --release --quiet --bin ceiling
bin=$PWD/target/release/ceiling

# Unique names: other people may run namespaces on this machine.
tag=$$
ns_srv=ceil-srv-$tag
ns_gen=ceil-gen-$tag
veth_srv=cls$tag
veth_gen=clg$tag
srv_ip=10.203.0.1
gen_ip=10.203.0.2
out=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  # Deleting a namespace deletes its end of the veth, which deletes the pair and its qdisc;
  # a pair not yet moved (a failure half-way through the setup) is deleted here.
  ip netns del "$ns_srv" 2>/dev/null || true
  ip netns del "$ns_gen" 2>/dev/null || true
  ip link del "$veth_srv" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns_srv"
ip netns add "$ns_gen"
ip link add "$veth_srv" type veth peer name "$veth_gen"
ip link set "$veth_srv" netns "$ns_srv"
ip link set "$veth_gen" netns "$ns_gen"
ip -n "$ns_srv" addr add "$srv_ip/24" dev "$veth_srv"
ip -n "$ns_gen" addr add "$gen_ip/24" dev "$veth_gen"
for ns_dev in "$ns_srv $veth_srv" "$ns_gen $veth_gen"; do
  set -- $ns_dev
  ip -n "$1" link set lo up
  ip -n "$1" link set "$2" mtu "$mtu" up
done
# Responses flow server -> generator: shape the server side's egress. burst must exceed one
# GSO frame (64 KiB) or tbf splits every frame; latency bounds the queue (rate x 10 ms).
# RATE=off: no shaping, to see what the veth path itself carries.
if [ "$rate" != off ]; then
  ip netns exec "$ns_srv" tc qdisc add dev "$veth_srv" root tbf rate "$rate" burst 256kb latency 10ms
  # The requests' direction is shaped the same way, so neither side has a faster path.
  ip netns exec "$ns_gen" tc qdisc add dev "$veth_gen" root tbf rate "$rate" burst 256kb latency 10ms
fi

ip netns exec "$ns_srv" taskset -c "$server_cpu" "$bin" serve --bind "$srv_ip:8080" --cpus "$server_cpu" \
  >"$out/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 200); do
  grep -q 'listening on' "$out/serve.log" && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$out/serve.log" >&2; exit 1; }
  sleep 0.1
done
grep -q 'listening on' "$out/serve.log" || { echo "ceiling serve did not start within 20 s" >&2; exit 1; }
base=http://$srv_ip:8080

cat >"$out/summary.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("WRKSUM %d %d %d\n", summary.requests, summary.bytes, summary.duration))
end
LUA
cat >"$out/pipeline.lua" <<'LUA'
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, wrk.path) end
  req = table.concat(r)
end
request = function() return req end
done = function(summary, latency, requests)
  io.write(string.format("WRKSUM %d %d %d\n", summary.requests, summary.bytes, summary.duration))
end
LUA

# head_len PATH: the response head's size, so goodput counts body bytes of every byte read
# (responses still arriving at the stop included: 64 x 1 MiB in flight is not negligible).
head_len() {
  ip netns exec "$ns_gen" python3 - "$srv_ip" "$1" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], 8080), 5)
s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % sys.argv[2]).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(65536)
print(buf.index(b"\r\n\r\n") + 4)
PY
}

# server_cpu_s: the server's user+sys seconds so far, from /proc/PID/stat.
server_cpu_s() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / hz }' "/proc/$server_pid/stat"
}

# row TOOL LABEL BODY PATH [EXTRA...] -> "tool label body head requests bytes secs cpu_s srv_cpu_s"
row() {
  local tool=$1 label=$2 body=$3 path=$4
  shift 4
  echo "running $tool $label ($path $*)" >&2
  local head srv0 line
  head=$(head_len "$path")
  srv0=$(server_cpu_s)
  line=$(row_of "$tool" "$label" "$body" "$path" "$@")
  echo "$line" | awk -v h="$head" -v s0="$srv0" -v s1="$(server_cpu_s)" '{ $3 = $3 " " h; print $0, s1 - s0 }'
}

row_of() {
  local tool=$1 label=$2 body=$3 path=$4
  shift 4
  if [ "$tool" = ceiling ]; then
    ip netns exec "$ns_gen" taskset -c "$gen_cpu" "$bin" --cpus "$gen_cpu" -t1 -c "$conns" -d "${duration}s" \
      "$@" --json "$out/j" --quiet "$base$path"
    python3 - "$out/j" "$tool" "$label" "$body" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c, g = r["counters"], r["generator_cpu"]
print(sys.argv[2], sys.argv[3], sys.argv[4], c["completed"], c["bytes_read"], r["duration_s"], g["user_s"] + g["sys_s"])
PY
  else
    /usr/bin/time -f '%U %S' -o "$out/t" ip netns exec "$ns_gen" taskset -c "$gen_cpu" \
      wrk -t1 -c"$conns" -d"${duration}s" "$@" "$base$path" >"$out/w"
    read -r reqs bytes us < <(awk '/^WRKSUM/ { print $2, $3, $4 }' "$out/w")
    echo "$tool $label $body $reqs $bytes $(awk -v u="$us" 'BEGIN { print u / 1e6 }') $(awk '{ print $1 + $2 }' "$out/t")"
  fi
}

# pair LABEL BODY PATH CEILING_ARGS WRK_ARGS: both tools on one workload; which goes first
# alternates from pair to pair, so a drift of the shared machine does not favour one.
turn=0
pair() {
  local label=$1 body=$2 path=$3 cargs=$4 wargs=$5
  # shellcheck disable=SC2086 # the extra arguments are word lists on purpose
  if [ "$with_wrk" = 1 ] && [ $((turn % 2)) = 1 ]; then
    row wrk "$label" "$body" "$path" $wargs
    row ceiling "$label" "$body" "$path" $cargs
  else
    row ceiling "$label" "$body" "$path" $cargs
    [ "$with_wrk" = 1 ] && row wrk "$label" "$body" "$path" $wargs
  fi
  turn=$((turn + 1))
}

{
  for n in $sizes; do
    pair "/bytes/$n" "$n" "/bytes/$n" "" "-s $out/summary.lua"
  done
  pair /plaintext 13 /plaintext "" "-s $out/summary.lua"
  pair /plaintext,p16 13 /plaintext "-p 16" "-s $out/pipeline.lua"
  true
} >"$out/rows"

echo
echo "link: veth between two namespaces, tbf rate $rate (burst 256kb, latency 10ms) on both egresses, MTU $mtu"
echo "server: ceiling serve --cpus $server_cpu (taskset -c $server_cpu); generator: CPU $gen_cpu (taskset -c $gen_cpu), -t1 -c$conns, ${duration}s per row"
echo "machine: $(uname -srm), nproc $(nproc --all), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
python3 - "$out/rows" "$rate" "$mtu" <<'PY'
import sys, re
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
m = re.fullmatch(r"([0-9.]+)([kmg]?)bit", sys.argv[2].lower())
link = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)] / 1e9 if m else 1.0
# The most TCP payload the link carries: MTU - IPv4 (20) - TCP with timestamps (32) per
# frame of MTU + Ethernet header (14), which is what tbf counts.
mtu = int(sys.argv[3])
tcp_max = link * (mtu - 52) / (mtu + 14)
print("%-8s %-16s %8s %10s %15s %12s %10s %10s %10s %10s" % ("tool", "path", "body B", "req/s", "goodput Gbit/s", "wire Gbit/s", "% of link", "% TCP max", "gen CPU", "srv CPU"))
for tool, *rest in rows:
    # tool, label (no spaces), then numbers.
    body, head, reqs, nbytes, secs, cpu, srv = rest[-7:]
    label = " ".join(rest[:-7])
    body, head, reqs, nbytes = int(body), int(head), int(reqs), int(nbytes)
    secs, cpu, srv = float(secs), float(cpu), float(srv)
    rps = reqs / secs
    wire = nbytes * 8 / secs / 1e9
    # Body bytes among all bytes read, partial responses at the stop included.
    good = wire * body / (body + head)
    on = sys.argv[2] != "off"
    pct = "%9.1f%%" % (100 * good / link) if on else "%10s" % "-"
    pct_tcp = "%9.1f%%" % (100 * good / tcp_max) if on else "%10s" % "-"
    print("%-8s %-16s %8d %10.0f %15.3f %12.3f %s %s %9.0f%% %9.0f%%" % (tool, label, body, rps, good, wire, pct, pct_tcp, 100 * cpu / secs, 100 * srv / secs))
print("%% TCP max: goodput over the most TCP payload the link carries at MTU %d (%.1f%% of it)" % (mtu, 100 * tcp_max / link))
print("gen CPU, srv CPU: user+sys of the generator and of the server over the row, % of one core")
PY
