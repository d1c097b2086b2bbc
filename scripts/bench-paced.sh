#!/usr/bin/env bash
# Paced runs (-R): generator CPU, schedule keeping and schedule lag, against `ceiling serve`
# pinned to CPU 0, the generator pinned to CPU 1 (release build).
#
# Cases (each ROUNDS times, ceiling and BASELINE alternating within a round):
#   low       -R 1000 over 10 connections: generator CPU as a share of one core
#   accuracy  -R 5000 over 16 connections: schedule lag p50/p99, corrected vs uncorrected p90
#   half      -R (half the closed-loop rate) over 64 connections: lag p99
#   high      -R (95% of the closed-loop rate) over 64 connections: % sent, lag p99
# The closed-loop rate is measured first (ceiling, 64 connections, DURATION seconds, median of
# ROUNDS), on the same pinning.
#
# Usage: scripts/bench-paced.sh
#   DURATION=5  seconds per run
#   ROUNDS=3    rounds; the table shows medians
#   BASELINE=PATH  another ceiling binary, rows "base"
#   ENGINE=auto    --io-engine for every run (auto: the direct io_uring loop)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh

duration=${DURATION:-5}
rounds=${ROUNDS:-3}
engine=${ENGINE:-auto}
server_cpu=0
gen_cpu=1

need_two_cpus bench-paced
[ -x /usr/bin/time ] || { echo "bench-paced: needs GNU time (/usr/bin/time)" >&2; exit 1; }

cargo build --release --quiet --bin ceiling
bin=$PWD/target/release/ceiling

out=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
  rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_ceiling_serve "$bin" "$server_cpu" "$out/serve.log"
url="$addr/plaintext"

# gen NAME BIN ARGS...: one pinned run; appends "NAME json cpu_s" to $out/rows.
gen() {
  local name=$1 b=$2
  shift 2
  local n
  n=$(wc -l <"$out/rows" 2>/dev/null || echo 0)
  local json="$out/$name-$n.json"
  echo "running $name: $*" >&2
  /usr/bin/time -f '%U %S' -o "$out/cpu" taskset -c "$gen_cpu" "$b" --cpus "$gen_cpu" -t 1 \
    -d "${duration}s" --io-engine "$engine" --json "$json" "$@" "$url" >/dev/null 2>"$out/err" \
    || { cat "$out/err" >&2; return 1; }
  echo "$name $json $(awk '{ print $1 + $2 }' "$out/cpu")" >>"$out/rows"
}

: >"$out/rows"
for _ in $(seq "$rounds"); do gen closed "$bin" -c 64; done
closed=$(python3 - "$out/rows" <<'EOF'
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print(int(statistics.median(json.load(open(j))["requests_per_sec"] for n, j, c in rows if n == "closed")))
EOF
)
half=$((closed / 2))
high=$((closed * 95 / 100))
echo "closed loop: $closed req/s; half $half, 95% $high" >&2

for _ in $(seq "$rounds"); do
  for who in ceiling ${BASELINE:+base}; do
    b=$bin
    [ "$who" = base ] && b=$BASELINE
    gen "$who-low" "$b" -c 10 -R 1000
    gen "$who-accuracy" "$b" -c 16 -R 5000
    gen "$who-half" "$b" -c 64 -R "$half"
    gen "$who-high" "$b" -c 64 -R "$high"
  done
done

echo
echo "server: ceiling serve --cpus $server_cpu at $url; generator: CPU $gen_cpu, -t 1, ${duration}s, --io-engine $engine, $rounds rounds (medians)"
echo "machine: $(uname -srm), $(nproc --all) CPUs; closed loop (64 connections): $closed req/s"
python3 - "$out/rows" "$duration" <<'EOF'
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
duration = float(sys.argv[2])
def pct(lat, p):
    return next(x["value_us"] for x in lat["percentiles"] if x["percentile"] == p)
table = {}
order = []
for name, path, cpu in rows:
    if name == "closed":
        continue
    r = json.load(open(path))
    rate = r["rate"]
    row = {
        "asked": rate["asked"],
        "cpu % core": 100 * float(cpu) / duration,
        "us CPU/req": 1e6 * float(cpu) / max(1, r["counters"]["sent"]),
        "% sent": rate["achieved_pct"],
        "lag p50 us": pct(rate["lag"], 50.0),
        "lag p99 us": pct(rate["lag"], 99.0),
        "p90 corr us": pct(r["latency"], 90.0),
        "p90 uncorr us": pct(rate["uncorrected_latency"], 90.0),
        "p99 corr us": pct(r["latency"], 99.0),
    }
    if name not in table:
        table[name] = []
        order.append(name)
    table[name].append(row)
cols = ["asked", "cpu % core", "us CPU/req", "% sent", "lag p50 us", "lag p99 us", "p90 corr us", "p90 uncorr us", "p99 corr us"]
print("%-18s" % "case" + "".join("%14s" % c for c in cols))
for name in order:
    med = {c: statistics.median(r[c] for r in table[name]) for c in cols}
    print("%-18s" % name + "".join("%14.1f" % med[c] for c in cols))
EOF
