#!/usr/bin/env bash
# Scripts' cost: requests per generator CPU-second for
#   flags     ceiling -m POST -H ... --body ...          (no script: the anchor)
#   static    ceiling -s static.lua (the same request set from Lua: must equal "flags")
#   request   ceiling -s request.lua vs wrk -s request.lua (20 rotating paths with a counter)
#   response  ceiling -s response.lua vs wrk -s response.lua (a body check per response)
# in ONE run against the same server, tools alternating within each round.
#
# The server is pinned to CPU 0 (`ceiling serve --cpus 0`, release build); each generator in
# turn to CPU 1 (taskset), one thread, CONNS connections, DURATION seconds. Generator CPU is
# user + sys from GNU time. Prints one line per run and the medians per row.
#
# Usage: DURATION=5 ROUNDS=3 CONNS=64 scripts/bench-scripts.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh
need_two_cpus bench-scripts
duration=${DURATION:-5}
rounds=${ROUNDS:-3}
conns=${CONNS:-64}
command -v wrk >/dev/null || { echo "bench-scripts: wrk is not installed" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-scripts: GNU time (/usr/bin/time) is not installed" >&2; exit 1; }
cargo build --release --quiet --bin ceiling
bin=$PWD/target/release/ceiling
out=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; rm -rf "$out"; }
trap cleanup EXIT

cat > "$out/static.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"user":"ceiling","items":[1,2,3]}'
wrk.headers["Content-Type"] = "application/json"
LUA
cat > "$out/request.lua" <<'LUA'
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, "/plaintext?item=" .. (counter % 20))
end
LUA
cat > "$out/response.lua" <<'LUA'
bad = 0
response = function(status, headers, body)
  if status ~= 200 or body ~= "Hello, World!" then bad = bad + 1 end
end
LUA

start_ceiling_serve "$bin" 0 "$out/server.log"
url=$addr/plaintext

# run NAME CMD...: prints "NAME requests cpu_s req_per_cpu_s req_per_s"
run() {
  local name=$1; shift
  /usr/bin/time -f "%U %S" -o "$out/time" taskset -c 1 "$@" > "$out/run.txt" 2>&1
  local n secs cpu
  n=$(awk '/requests in/ {print $1}' "$out/run.txt")
  secs=$(awk '/requests in/ {sub("s,","",$4); print $4}' "$out/run.txt")
  cpu=$(awk '{print $1 + $2}' "$out/time")
  awk -v name="$name" -v n="$n" -v cpu="$cpu" -v s="$secs" \
    'BEGIN { printf "%-16s %10d %6.2f %10.0f %10.0f\n", name, n, cpu, n / cpu, n / s }'
}
common=(-t 1 -c "$conns" -d "${duration}s")
for r in $(seq "$rounds"); do
  run flags "$bin" "${common[@]}" -m POST -H "Content-Type: application/json" \
    --body '{"user":"ceiling","items":[1,2,3]}' "$url"
  run static "$bin" "${common[@]}" -s "$out/static.lua" "$url"
  run request "$bin" "${common[@]}" -s "$out/request.lua" "$url"
  run wrk-request wrk "${common[@]}" -s "$out/request.lua" "$url"
  run response "$bin" "${common[@]}" -s "$out/response.lua" "$url"
  run wrk-response wrk "${common[@]}" -s "$out/response.lua" "$url"
done | tee "$out/all"
echo "# medians of $rounds rounds: row, req/gen-CPU-s, req/s"
for row in flags static request wrk-request response wrk-response; do
  awk -v row="$row" '$1 == row {print $4, $5}' "$out/all" | sort -n |
    awk -v row="$row" '{a[NR]=$1; b[NR]=$2} END {m=int((NR+1)/2); printf "%-16s %10.0f %10.0f\n", row, a[m], b[m]}'
done
