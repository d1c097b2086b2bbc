#!/usr/bin/env bash
# Generator cost beyond the 64-connection case, ceiling vs wrk in one run against the
# same `ceiling serve` pinned to CPU 0, each generator pinned to CPU 1 (one thread):
#   plain-64      64 connections, /plaintext
#   pipelined-16  64 connections, 16 requests in flight each (wrk: its pipeline Lua script;
#                 ceiling: -p 16 refill, and pipelined-16-batch: --pipeline-mode batch, wrk's shape)
#   conns-1000    1,000 connections
#   conns-10000   10,000 connections (under the 20,000 open-files cap)
#   bytes-1MiB    64 connections, /bytes/1048576
# Prints requests (or bytes) per generator CPU-second (user+sys, GNU time), peak RSS and
# RSS per connection, and ceiling/wrk ratios.
# oha joins as a third tool when it is on PATH (`cargo install oha --locked`); it has no HTTP/1.1
# pipelining, so it has no pipelined-16 row.
# Tools alternate within each scenario and round; the table shows medians over ROUNDS.
# ENGINES lists ceiling's --io-engine values to run (auto: the direct io_uring loop for
# these closed-loop runs; monoio: monoio's io_uring driver; epoll), e.g. ENGINES="auto monoio epoll".
# Usage: DURATION=5 ROUNDS=3 ENGINES="auto monoio" scripts/bench-scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-5}
rounds=${ROUNDS:-1}
engines=${ENGINES:-auto}
command -v wrk >/dev/null || { echo "bench-scale.sh: needs wrk (apt-get install -y wrk)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-scale.sh: needs GNU time (apt-get install -y time)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"
cargo build --release --quiet --bin ceiling
bin=$PWD/target/release/ceiling
out=$(mktemp -d)
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$out"' EXIT

taskset -c 0 "$bin" serve --bind 127.0.0.1:0 --cpus 0 --max-conns-per-worker 15000 >"$out/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$out/serve.log" && break; sleep 0.1; done
base=$(grep -o 'http://[^ ]*' "$out/serve.log" | head -n1)
cat >"$out/pipeline.lua" <<'LUA'
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, wrk.path) end
  req = table.concat(r)
end
request = function() return req end
LUA

# measure TOOL SCENARIO CONNS PATH [EXTRA...] -> "scenario tool conns requests cpu_s rss_kib"
# TOOL is wrk, ceiling (--io-engine auto) or ceiling-ENGINE.
measure() {
  local tool=$1 scenario=$2 conns=$3 path=$4
  shift 4
  if [ "$tool" = wrk ]; then
    /usr/bin/time -f '%U %S %M' -o "$out/t" taskset -c 1 wrk -t1 -c"$conns" -d"${duration}s" "$@" "$base$path" >"$out/o"
    reqs=$(awk '/requests in/ { print $1 }' "$out/o")
  elif [ "$tool" = oha ]; then
    /usr/bin/time -f '%U %S %M' -o "$out/t" taskset -c 1 oha --no-tui --output-format json -c "$conns" \
      -z "${duration}s" "$@" "$base$path" >"$out/o"
    # Responses received, any status (requests cut off at the deadline are not in it).
    reqs=$(python3 -c '
import json, sys
t = open(sys.argv[1]).read()
print(sum(json.loads(t[t.index("{"):])["statusCodeDistribution"].values()))' "$out/o")
  else
    local engine=auto
    [ "$tool" = ceiling ] || engine=${tool#ceiling-}
    /usr/bin/time -f '%U %S %M' -o "$out/t" taskset -c 1 "$bin" --cpus 1 -t1 -c"$conns" -d"${duration}s" \
      --io-engine "$engine" "$@" --json "$out/j" --quiet "$base$path"
    reqs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["counters"]["completed"])' "$out/j")
  fi
  read -r u s rss <"$out/t"
  echo "$scenario $tool $conns $reqs $(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.3f", u + s }') $rss"
}

tools=wrk
for e in $engines; do
  if [ "$e" = auto ]; then tools="$tools ceiling"; else tools="$tools ceiling-$e"; fi
done
command -v oha >/dev/null && tools="$tools oha"
{
  for _ in $(seq "$rounds"); do
    for tool in $tools; do measure "$tool" plain-64 64 /plaintext; done
    for tool in $tools; do
      if [ "$tool" = wrk ]; then
        measure wrk pipelined-16 64 /plaintext -s "$out/pipeline.lua"
      elif [ "$tool" != oha ]; then
        measure "$tool" pipelined-16 64 /plaintext -p 16
        # wrk's pipeline.lua is batch-shaped: this row is the like-for-like one.
        measure "$tool" pipelined-16-batch 64 /plaintext -p 16 --pipeline-mode batch
      fi
    done
    for tool in $tools; do measure "$tool" conns-1000 1000 /plaintext; done
    for tool in $tools; do measure "$tool" conns-10000 10000 /plaintext; done
    for tool in $tools; do measure "$tool" bytes-1MiB 64 /bytes/1048576; done
  done
} >"$out/rows"

echo "server: ceiling serve --cpus 0 at $base; generators on CPU 1, one thread, ${duration}s each, medians of $rounds rounds"
echo "machine: $(uname -srm), $(nproc --all) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
python3 - "$out/rows" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
by, order = {}, []
for r in rows:
    key = (r[0], r[1])
    if key not in by:
        by[key] = []
        order.append(key)
    by[key].append(r)
def med(key):
    rs = by[key]
    per = statistics.median(int(r[3]) / float(r[4]) if float(r[4]) else 0 for r in rs)
    return (int(rs[0][2]), statistics.median(int(r[3]) for r in rs),
            statistics.median(float(r[4]) for r in rs), per,
            statistics.median(int(r[5]) for r in rs))
print("%-18s %-15s %7s %12s %10s %16s %10s %12s %9s" % ("scenario", "tool", "conns", "requests", "gen CPU-s", "req/gen CPU-s", "RSS MiB", "RSS/conn KiB", "vs wrk"))
for scen, tool in order:
    conns, reqs, cpu, per, rss = med((scen, tool))
    base = (scen, "wrk") if (scen, "wrk") in by else (scen.replace("-batch", ""), "wrk")
    ratio = per / med(base)[3] if base in by and med(base)[3] else 0
    print("%-18s %-15s %7d %12d %10.2f %16.0f %10.1f %12.2f %8.2fx" % (scen, tool, conns, reqs, cpu, per, rss / 1024, rss / conns, ratio))
PY
